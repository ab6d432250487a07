package fakehcloud

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"
	"golang.org/x/crypto/ssh"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/fakeapi"
)

// start runs a fake on a free loopback port for the test and returns a real
// hcloud-go client (the library the terraform provider is built on) for it.
// It also returns the endpoint.
func start(t *testing.T, cfg Config) (*Fake, *hcloud.Client, string) {
	t.Helper()
	f, err := New(cfg)
	assert.NilError(t, err)
	s, err := f.Start("127.0.0.1:0")
	assert.NilError(t, err)
	t.Cleanup(func() { s.Close() })
	c := hcloud.NewClient(hcloud.WithEndpoint(s.URL), hcloud.WithToken(LabToken),
		hcloud.WithPollOpts(hcloud.PollOpts{BackoffFunc: hcloud.ConstantBackoff(0)}),
		hcloud.WithRetryOpts(hcloud.RetryOpts{MaxRetries: 0, BackoffFunc: hcloud.ConstantBackoff(0)}))
	return f, c, s.URL
}

func pubKey(t *testing.T) string {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	assert.NilError(t, err)
	sp, err := ssh.NewPublicKey(pub)
	assert.NilError(t, err)
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp)))
}

func TestServerLifecycleWithRealClient(t *testing.T) {
	ctx := context.Background()
	be := NewMemoryBackend()
	r, c, _ := start(t, Config{Backend: be, StateFile: filepath.Join(t.TempDir(), "fake.json")})

	key, _, err := c.SSHKey.Create(ctx, hcloud.SSHKeyCreateOpts{Name: "admin", PublicKey: pubKey(t)})
	assert.NilError(t, err)
	assert.Check(t, len(key.Fingerprint) == 47, "md5 fingerprint, got %q", key.Fingerprint)
	got, _, err := c.SSHKey.Get(ctx, "admin")
	assert.NilError(t, err)
	assert.Equal(t, got.ID, key.ID)

	st, _, err := c.ServerType.Get(ctx, "cx22")
	assert.NilError(t, err)
	assert.Assert(t, st != nil)
	assert.Equal(t, st.Architecture, hcloud.ArchitectureX86)
	im, _, err := c.Image.GetForArchitecture(ctx, "ubuntu-24.04", st.Architecture)
	assert.NilError(t, err)
	assert.Assert(t, im != nil)
	assert.Equal(t, im.Architecture, hcloud.ArchitectureX86)

	res, _, err := c.Server.Create(ctx, hcloud.ServerCreateOpts{Name: "cinnabar", ServerType: &hcloud.ServerType{Name: "cx22"},
		Image: im, Location: &hcloud.Location{Name: "nbg1"}, SSHKeys: []*hcloud.SSHKey{key}})
	assert.NilError(t, err)
	assert.NilError(t, c.Action.WaitFor(ctx, append([]*hcloud.Action{res.Action}, res.NextActions...)...))
	assert.Equal(t, res.Server.PublicNet.IPv4.IP.String(), "192.0.2.10")
	assert.DeepEqual(t, be.Hosts(), []string{"cinnabar"})

	srv, _, err := c.Server.GetByName(ctx, "cinnabar")
	assert.NilError(t, err)
	assert.Equal(t, srv.Location.Name, "nbg1")
	assert.Equal(t, srv.ServerType.Name, "cx22")
	assert.Equal(t, srv.Image.Name, "ubuntu-24.04")

	_, _, err = c.Server.Create(ctx, hcloud.ServerCreateOpts{Name: "cinnabar", ServerType: &hcloud.ServerType{Name: "cx22"}, Image: im})
	assert.Check(t, hcloud.IsError(err, hcloud.ErrorCodeUniquenessError), "duplicate name: %v", err)

	// A restarted fake reads its state file back.
	f2, err := New(Config{Backend: be, StateFile: r.cfg.StateFile})
	assert.NilError(t, err)
	assert.DeepEqual(t, f2.ServerNames(), []string{"cinnabar"})

	dr, _, err := c.Server.DeleteWithResult(ctx, srv)
	assert.NilError(t, err)
	assert.NilError(t, c.Action.WaitFor(ctx, dr.Action))
	assert.Check(t, is.Len(be.Hosts(), 0))
	gone, _, err := c.Server.GetByID(ctx, srv.ID)
	assert.NilError(t, err)
	assert.Assert(t, gone == nil, "deleted server is not found (404 maps to nil)")
}

func TestLabTokenHasHetznerLength(t *testing.T) {
	assert.Equal(t, len(LabToken), 64, "the provider refuses tokens of any other length")
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	_, c, url := start(t, Config{})
	tests := []struct {
		name string
		call func() error
		code hcloud.ErrorCode
	}{
		{"bad token", func() error {
			bad := hcloud.NewClient(hcloud.WithEndpoint(url), hcloud.WithToken(strings.Repeat("x", 64)),
				hcloud.WithRetryOpts(hcloud.RetryOpts{MaxRetries: 0, BackoffFunc: hcloud.ConstantBackoff(0)}))
			_, err := bad.Server.All(ctx)
			return err
		}, hcloud.ErrorCodeUnauthorized},
		{"unknown server type", func() error {
			_, _, err := c.Server.Create(ctx, hcloud.ServerCreateOpts{Name: "x", ServerType: &hcloud.ServerType{Name: "nope"}, Image: &hcloud.Image{Name: "ubuntu-24.04"}})
			return err
		}, hcloud.ErrorCodeInvalidInput},
		{"bad hostname", func() error {
			_, _, err := c.Server.Create(ctx, hcloud.ServerCreateOpts{Name: "no_underscores", ServerType: &hcloud.ServerType{Name: "cx22"}, Image: &hcloud.Image{Name: "ubuntu-24.04"}})
			return err
		}, hcloud.ErrorCodeInvalidInput},
		{"missing ssh key", func() error {
			_, _, err := c.Server.Create(ctx, hcloud.ServerCreateOpts{Name: "x", ServerType: &hcloud.ServerType{Name: "cx22"}, Image: &hcloud.Image{Name: "ubuntu-24.04"}, SSHKeys: []*hcloud.SSHKey{{ID: 999}}})
			return err
		}, hcloud.ErrorCodeInvalidInput},
		{"bad public key", func() error {
			_, _, err := c.SSHKey.Create(ctx, hcloud.SSHKeyCreateOpts{Name: "k", PublicKey: "ssh-ed25519 garbage"})
			return err
		}, hcloud.ErrorCodeInvalidInput},
		{"delete missing server", func() error {
			_, _, err := c.Server.DeleteWithResult(ctx, &hcloud.Server{ID: 12345})
			return err
		}, hcloud.ErrorCodeNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			assert.Assert(t, err != nil)
			assert.Check(t, hcloud.IsError(err, tc.code), "want %s, got %v", tc.code, err)
		})
	}
}

func TestFaultInjection(t *testing.T) {
	ctx := context.Background()
	ft, err := fakeapi.ParseFault("POST /servers#2=500")
	assert.NilError(t, err)
	r, c, _ := start(t, Config{Faults: []fakeapi.Fault{ft}})
	opts := func(n string) hcloud.ServerCreateOpts {
		return hcloud.ServerCreateOpts{Name: n, ServerType: &hcloud.ServerType{Name: "cx22"}, Image: &hcloud.Image{Name: "ubuntu-24.04"}}
	}
	_, _, err = c.Server.Create(ctx, opts("a"))
	assert.NilError(t, err)
	_, resp, err := c.Server.Create(ctx, opts("b"))
	assert.ErrorContains(t, err, "injected fault")
	assert.Equal(t, resp.StatusCode, http.StatusInternalServerError)
	assert.Check(t, hcloud.IsError(err, hcloud.ErrorCodeServerError))
	_, _, err = c.Server.Create(ctx, opts("b"))
	assert.NilError(t, err, "only the 2nd request fails")
	assert.DeepEqual(t, r.ServerNames(), []string{"a", "b"})
	assert.Equal(t, r.Calls()["POST /servers"], 3)
}
