package remote

import (
	"testing"
	"time"

	"gotest.tools/v3/assert"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in, user, host string
		port           int
		err            string
	}{
		{in: "root@cinnabar", user: "root", host: "cinnabar"},
		{in: "cinnabar", user: "root", host: "cinnabar"},
		{in: "admin@10.0.0.2:2222", user: "admin", host: "10.0.0.2", port: 2222},
		{in: "root@[fd00::1]:22", user: "root", host: "fd00::1", port: 22},
		{in: "root@fd00::1", user: "root", host: "fd00::1"},
		{in: "", err: "empty deploy target"},
		{in: "@host", err: "empty user"},
		{in: "root@host:99999", err: "bad port"},
		{in: "root@[fd00::1", err: "missing ']'"},
		{in: "root@a b", err: "bad host name"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			u, h, p, err := ParseTarget(tc.in)
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				return
			}
			assert.NilError(t, err)
			assert.Equal(t, u, tc.user)
			assert.Equal(t, h, tc.host)
			assert.Equal(t, p, tc.port)
		})
	}
}

// labConfig is shaped like the ssh_config the lab writes.
const labConfig = `# Written by the vanixiets lab
Host cinnabar 10.237.0.2
  HostName 10.237.0.2
  Port 22
  User root
  HostKeyAlias cinnabar

Host galena 10.237.0.6
  HostName 10.237.0.6
  Port 2200
  User root
  HostKeyAlias galena

Host *
  IdentityFile "/tmp/lab dir/client_ed25519"
  IdentitiesOnly yes
  UserKnownHostsFile /tmp/lab/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  ConnectTimeout 5
`

func TestResolve(t *testing.T) {
	cfg, err := ParseSSHConfig([]byte(labConfig))
	assert.NilError(t, err)
	tests := []struct {
		target string
		want   Config
	}{
		{"root@cinnabar", Config{Addr: "10.237.0.2", Port: 22, User: "root", HostKeyAlias: "cinnabar",
			KnownHosts: []string{"/tmp/lab/known_hosts"}, KeyFiles: []string{"/tmp/lab dir/client_ed25519"}, NoAgent: true, ConnectTimeout: 5 * time.Second}},
		{"deploy@galena", Config{Addr: "10.237.0.6", Port: 2200, User: "deploy", HostKeyAlias: "galena",
			KnownHosts: []string{"/tmp/lab/known_hosts"}, KeyFiles: []string{"/tmp/lab dir/client_ed25519"}, NoAgent: true, ConnectTimeout: 5 * time.Second}},
		{"root@elsewhere:2022", Config{Addr: "elsewhere", Port: 2022, User: "root",
			KnownHosts: []string{"/tmp/lab/known_hosts"}, KeyFiles: []string{"/tmp/lab dir/client_ed25519"}, NoAgent: true, ConnectTimeout: 5 * time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			got, err := Resolve(tc.target, cfg, nil)
			assert.NilError(t, err)
			assert.DeepEqual(t, got, tc.want)
		})
	}
	assert.Assert(t, cfg.Has("cinnabar"))
	assert.Assert(t, !cfg.Has("stibnite"))
}

func TestParseSSHConfigErrors(t *testing.T) {
	_, err := ParseSSHConfig([]byte("Host a\n  Match all\n"))
	assert.ErrorContains(t, err, "Match blocks")
	_, err = ParseSSHConfig([]byte("Host a\n  Lonely\n"))
	assert.ErrorContains(t, err, "line 2")
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{"abc": "abc", "/nix/store/x-y": "/nix/store/x-y", "a b": "'a b'", "it's": `'it'\''s'`, "": "''"} {
		assert.Equal(t, Quote(in), want)
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"root@cinnabar", "a@[::1]:22", "h:1", "@", "x@y@z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, h, p, err := ParseTarget(s)
		if err != nil {
			return
		}
		if u == "" || h == "" || p < 0 || p > 65535 {
			t.Fatalf("ParseTarget(%q) = %q %q %d", s, u, h, p)
		}
	})
}

func FuzzParseSSHConfig(f *testing.F) {
	f.Add(labConfig)
	f.Add("Host a b\nHostName=x\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseSSHConfig([]byte(s))
		if err != nil {
			return
		}
		c.Lookup("cinnabar")
		Resolve("root@cinnabar", c, []string{"/dev/null"})
	})
}
