//go:build e2e

package remote

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/hostexec/hostexectest"
	"github.com/vanixiets/vanixiets/tasks/nettest"
)

// testSSHD is a real OpenSSH sshd on a loopback port chosen by the kernel.
type testSSHD struct {
	port       int
	hostPub    ssh.PublicKey
	clientKey  string
	knownHosts string
	log        string // sshd's log file
}

func writeKey(t *testing.T, path string) (ed25519.PrivateKey, ssh.PublicKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	assert.NilError(t, err)
	blk, err := ssh.MarshalPrivateKey(priv, "")
	assert.NilError(t, err)
	var buf bytes.Buffer
	assert.NilError(t, pemEncode(&buf, blk))
	assert.NilError(t, os.WriteFile(path, buf.Bytes(), 0o600))
	pub, err := ssh.NewPublicKey(priv.Public())
	assert.NilError(t, err)
	return priv, pub
}

// startSSHD starts it; extra lines go into its sshd_config.
func startSSHD(t *testing.T, extra ...string) *testSSHD {
	t.Helper()
	nettest.NeedSSHD(t)
	dir := t.TempDir()
	assert.NilError(t, os.Chmod(dir, 0o755))
	_, hostPub := writeKey(t, filepath.Join(dir, "host_key"))
	_, clientPub := writeKey(t, filepath.Join(dir, "client_key"))
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(clientPub), 0o600))
	port := nettest.FreePort(t)
	log := nettest.SSHD(t, dir, port, extra...)
	kh := filepath.Join(dir, "known_hosts")
	line := fmt.Sprintf("[testhost]:%d %s", port, ssh.MarshalAuthorizedKey(hostPub))
	assert.NilError(t, os.WriteFile(kh, []byte(line), 0o644))
	return &testSSHD{port: port, hostPub: hostPub, clientKey: filepath.Join(dir, "client_key"), knownHosts: kh, log: log}
}

func (s *testSSHD) config() Config {
	return Config{Addr: "127.0.0.1", Port: s.port, HostKeyAlias: "testhost", KnownHosts: []string{s.knownHosts},
		KeyFiles: []string{s.clientKey}, NoAgent: true, ConnectTimeout: 3 * time.Second}
}

func TestRunAgainstSSHD(t *testing.T) {
	s := startSSHD(t)
	ctx := context.Background()
	c, err := Dial(ctx, s.config())
	assert.NilError(t, err)
	defer c.Close()

	// The shared cases, every runner's, with the host named as the
	// client names it.
	hostexectest.Conform(t, s.config().Name(), c.Run)
	// The same connection serves many sessions at once.
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() { _, err := c.Output(ctx, "true", nil); errs <- err }()
	}
	for i := 0; i < 8; i++ {
		assert.NilError(t, <-errs)
	}
}

func TestCancelStopsCommand(t *testing.T) {
	s := startSSHD(t)
	c, err := Dial(context.Background(), s.config())
	assert.NilError(t, err)
	defer c.Close()
	// The remote command records its PID; once it runs, the session is
	// cancelled. Run must return at once, without waiting for a command
	// that may never end. (It asks sshd to signal the command, but sshd
	// refuses signals to sessions of root, which runs without privilege
	// separation after login: "session signalling requires privilege
	// separation". So the command outlives the session here, and the test
	// ends it itself.)
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for {
			if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
				cancel()
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	err = c.Run(ctx, "echo $$ > "+pidFile+"; exec sleep 30", nil, nil, nil)
	assert.ErrorIs(t, err, context.Canceled)
	b, err := os.ReadFile(pidFile)
	assert.NilError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	assert.NilError(t, err)
	// Still running: Run did not wait for it.
	assert.NilError(t, syscall.Kill(pid, 0), "the remote command ended before Run returned")
	assert.NilError(t, syscall.Kill(pid, syscall.SIGKILL))
}

func TestHostKeyRefused(t *testing.T) {
	s := startSSHD(t)
	other := filepath.Join(t.TempDir(), "k")
	_, otherPub := writeKey(t, other)

	changed := filepath.Join(t.TempDir(), "known_hosts")
	assert.NilError(t, os.WriteFile(changed, []byte(fmt.Sprintf("[testhost]:%d %s", s.port, ssh.MarshalAuthorizedKey(otherPub))), 0o644))
	empty := filepath.Join(t.TempDir(), "known_hosts")
	assert.NilError(t, os.WriteFile(empty, []byte(fmt.Sprintf("[otherhost]:%d %s", s.port, ssh.MarshalAuthorizedKey(otherPub))), 0o644))

	tests := []struct {
		name, kh string
		want     []string
	}{
		{"changed", changed, []string{"CHANGED", ssh.FingerprintSHA256(s.hostPub), ssh.FingerprintSHA256(otherPub)}},
		{"unknown", empty, []string{"unknown", ssh.FingerprintSHA256(s.hostPub)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := s.config()
			cfg.KnownHosts = []string{tc.kh}
			_, err := Dial(context.Background(), cfg)
			var hk *HostKeyError
			assert.Assert(t, errors.As(err, &hk), "%v", err)
			for _, w := range tc.want {
				assert.Assert(t, is.Contains(err.Error(), w))
			}
		})
	}
}

func TestConnectTimeout(t *testing.T) {
	// A listener that accepts and never speaks: the handshake must time out.
	silent := nettest.Silent(t)
	kh := filepath.Join(t.TempDir(), "kh")
	assert.NilError(t, os.WriteFile(kh, nil, 0o644))
	key := filepath.Join(t.TempDir(), "k")
	writeKey(t, key)
	_, err := Dial(context.Background(), Config{Addr: "127.0.0.1", Port: silent.Port, KnownHosts: []string{kh},
		KeyFiles: []string{key}, NoAgent: true, ConnectTimeout: 500 * time.Millisecond})
	assert.ErrorContains(t, err, "within 500ms")
}
