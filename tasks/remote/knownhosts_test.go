package remote

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/fsutil"
)

// hostKeys makes n host keys and the known_hosts text listing host i
// under "h<i>,10.0.0.<i>".
func hostKeys(t testing.TB, n int) ([]ssh.PublicKey, string) {
	var keys []ssh.PublicKey
	var b strings.Builder
	for i := 0; i < n; i++ {
		pub, _, err := ed25519.GenerateKey(nil)
		assert.NilError(t, err)
		k, err := ssh.NewPublicKey(pub)
		assert.NilError(t, err)
		keys = append(keys, k)
		fmt.Fprintf(&b, "h%d,10.0.%d.%d %s", i, i/250, i%250, ssh.MarshalAuthorizedKey(k))
	}
	return keys, b.String()
}

func check(cb ssh.HostKeyCallback, host string, k ssh.PublicKey) error {
	return cb(net.JoinHostPort(host, "22"), &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 22}, k)
}

// TestKnownHostsDB: the shared parse answers as knownhosts.New does, and
// a rewritten file (even of the same size) is read again.
func TestKnownHostsDB(t *testing.T) {
	keys, text := hostKeys(t, 64)
	p := filepath.Join(t.TempDir(), "known_hosts")
	assert.NilError(t, fsutil.WriteFile(p, []byte(text), 0o644))
	fresh, err := knownhosts.New(p)
	assert.NilError(t, err)
	for _, tc := range []struct {
		host string
		key  ssh.PublicKey
		want string // "" accepted, "changed", "unknown"
	}{
		{"h0", keys[0], ""},
		{"h63", keys[63], ""},
		{"h5", keys[6], "changed"},
		{"nobody", keys[1], "unknown"},
	} {
		t.Run(tc.host+"-"+tc.want, func(t *testing.T) {
			cb, err := knownHostsDB([]string{p})
			assert.NilError(t, err)
			got, want := check(cb, tc.host, tc.key), check(fresh, tc.host, tc.key)
			assert.Equal(t, fmt.Sprint(got), fmt.Sprint(want))
			var ke *knownhosts.KeyError
			switch tc.want {
			case "":
				assert.NilError(t, got)
			case "changed":
				assert.Assert(t, errors.As(got, &ke) && len(ke.Want) == 1, "%v", got)
			case "unknown":
				assert.Assert(t, errors.As(got, &ke) && len(ke.Want) == 0, "%v", got)
			}
		})
	}
	// h0 gets h1's key in a file of the same size, written atomically: the
	// next dial reads it.
	swapped := strings.Replace(text, "h1,", "hX,", 1)
	swapped = strings.Replace(swapped, "h0,", "h1,", 1)
	swapped = strings.Replace(swapped, "hX,", "h0,", 1)
	assert.Equal(t, len(swapped), len(text))
	assert.NilError(t, fsutil.WriteFile(p, []byte(swapped), 0o644))
	cb, err := knownHostsDB([]string{p})
	assert.NilError(t, err)
	assert.NilError(t, check(cb, "h0", keys[1]))
	assert.Assert(t, check(cb, "h0", keys[0]) != nil)
	// A file that went away is an error, not the old answer.
	assert.NilError(t, os.Remove(p))
	_, err = knownHostsDB([]string{p})
	assert.Assert(t, err != nil)
}

// BenchmarkKnownHostsPerDial: the host key check a dial builds, from a
// known_hosts of 64 and of 1,024 hosts: parsed every time (as before) or
// shared (knownHostsDB). Shared, a dial's cost does not grow with the file.
func BenchmarkKnownHostsPerDial(b *testing.B) {
	for _, n := range []int{64, 1024} {
		keys, text := hostKeys(b, n)
		p := filepath.Join(b.TempDir(), "known_hosts")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
		for _, way := range []struct {
			name string
			cb   func() (ssh.HostKeyCallback, error)
		}{
			{"parsed", func() (ssh.HostKeyCallback, error) { return knownhosts.New(p) }},
			{"shared", func() (ssh.HostKeyCallback, error) { return knownHostsDB([]string{p}) }},
		} {
			b.Run(fmt.Sprintf("%d-%s", n, way.name), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					cb, err := way.cb()
					if err != nil {
						b.Fatal(err)
					}
					if err := check(cb, "h1", keys[1]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
