package fakegcp

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/fakehcloud"
)

// keyBackend is a memory backend whose machines present a host key, as
// the lab's do (fakehcloud.HostKeys); err fails the look-up.
type keyBackend struct {
	*fakehcloud.MemoryBackend
	key ssh.PublicKey
	err error
}

func (b keyBackend) SSHHostKey(ctx context.Context, name string) (ssh.PublicKey, error) {
	return b.key, b.err
}

// TestSerialPortHostKey: getSerialPortOutput reports the host key the
// instance's sshd presents between cloud-init's markers (what a deployer
// checks its first connection against), pages by start, and answers bad
// ports, unknown instances and a backend without keys as Compute Engine
// would.
func TestSerialPortHostKey(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	assert.NilError(t, err)
	key, err := ssh.NewPublicKey(pub)
	assert.NilError(t, err)
	authorized := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	serial := instancesPath("us-central1-a") + "/scheelite/serialPort"
	block := HostKeysBegin + "\n" + authorized + " root@scheelite\n" + HostKeysEnd + "\n"

	cases := []struct {
		name    string
		backend fakehcloud.Backend
		query   string
		path    string
		status  int
		want    string // contents, or the error message's part
	}{
		{name: "the host's key", backend: keyBackend{fakehcloud.NewMemoryBackend(), key, nil}, status: 200, want: "scheelite login: \n" + block},
		{name: "from start", backend: keyBackend{fakehcloud.NewMemoryBackend(), key, nil}, query: "?start=18", status: 200, want: block},
		{name: "start past the end", backend: keyBackend{fakehcloud.NewMemoryBackend(), key, nil}, query: "?start=100000", status: 200, want: ""},
		{name: "another port is silent", backend: keyBackend{fakehcloud.NewMemoryBackend(), key, nil}, query: "?port=2", status: 200, want: ""},
		{name: "no sshd, no keys", backend: fakehcloud.NewMemoryBackend(), status: 200, want: "scheelite login: \n"},
		{name: "bad port", backend: fakehcloud.NewMemoryBackend(), query: "?port=5", status: 400, want: "Invalid value for field 'port': '5'"},
		{name: "bad start", backend: fakehcloud.NewMemoryBackend(), query: "?start=-1", status: 400, want: "Invalid value for field 'start': '-1'"},
		{name: "unknown instance", backend: fakehcloud.NewMemoryBackend(), path: instancesPath("us-central1-a") + "/galena/serialPort",
			status: 404, want: "instances/galena' was not found"},
		{name: "key unknown to the backend", backend: keyBackend{fakehcloud.NewMemoryBackend(), nil, errors.New("no host scheelite")},
			status: 500, want: "instance scheelite: host key: no host scheelite"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := New(Config{Backend: tc.backend})
			assert.NilError(t, err)
			code, _ := call(t, f, "POST", instancesPath("us-central1-a"), instanceBody("scheelite", "us-central1-a", "g2-standard-4", gpu("", 0, "TERMINATE")))
			assert.Equal(t, code, 200)
			p := serial
			if tc.path != "" {
				p = tc.path
			}
			code, out := call(t, f, "GET", p+tc.query, "")
			assert.Equal(t, code, tc.status, "%v", out)
			if tc.status != 200 {
				assert.Check(t, is.Contains(errMessage(out), tc.want))
				return
			}
			assert.Equal(t, out["kind"], "compute#serialPortOutput")
			assert.Equal(t, out["contents"], tc.want)
			assert.Check(t, strings.HasSuffix(out["selfLink"].(string), "/instances/scheelite/serialPort"))
		})
	}
}
