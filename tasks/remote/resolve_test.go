package remote

import (
	"os"
	"path/filepath"
	"strings"
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

// userConfig is shaped like a laptop owner's ~/.ssh/config: the laptops
// behind the zerotier controller, reached through it.
const userConfig = `Host zt
  HostName 10.147.17.1
  User ops
  Port 2222

Host *.zt !skip.zt
  HostName %h.example
  ProxyJump zt
  IdentityFile ~/.ssh/laptops_%r.pub
  IdentitiesOnly yes

Host chain
  HostName 10.0.0.9
  ProxyJump root@first,second:2200

Host first
  ProxyJump bastion

Host second
  ProxyJump ignored

Host direct
  ProxyJump none
  IdentityAgent none

Host loop
  ProxyJump loop

Host secretive
  IdentityAgent ~/Library/Containers/com.maxgoedjen.Secretive.SecretAgent/Data/socket.ssh

Host 1password
  IdentityAgent "~/Library/Group Containers/2BUA8C4S2C.com.1password/t/agent.sock"

Host onepassword
  IdentityAgent $ONEPASSWORD_SOCK
  IdentityFile %d/.ssh/op.pub
  IdentityFile ~/.ssh/second.pub

Host *
  UserKnownHostsFile ~/.ssh/known_hosts ~/.ssh/known_hosts.d/%n
  ConnectTimeout 7
`

func TestResolve(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "/run/agent.sock")
	t.Setenv("ONEPASSWORD_SOCK", "/run/1password.sock")
	home, local := Home(), localUser()
	lab, err := ParseSSHConfig([]byte(labConfig))
	assert.NilError(t, err)
	user, err := ParseSSHConfig([]byte(userConfig))
	assert.NilError(t, err)
	labKH := []string{"/tmp/lab/known_hosts"}
	labKey := []string{"/tmp/lab dir/client_ed25519"}
	userKH := func(n string) []string {
		return []string{home + "/.ssh/known_hosts", home + "/.ssh/known_hosts.d/" + n}
	}
	tests := []struct {
		name, target string
		cfg          *SSHConfig
		known        []string
		want         Config
	}{
		{"lab host", "root@cinnabar", lab, nil, Config{Addr: "10.237.0.2", Host: "cinnabar", Port: 22, User: "root", HostKeyAlias: "cinnabar",
			KnownHosts: labKH, KeyFiles: labKey, IdentitiesOnly: true, AgentSocket: "/run/agent.sock", ConnectTimeout: 5 * time.Second}},
		{"target's user beats the file's", "deploy@galena", lab, nil, Config{Addr: "10.237.0.6", Host: "galena", Port: 2200, User: "deploy", HostKeyAlias: "galena",
			KnownHosts: labKH, KeyFiles: labKey, IdentitiesOnly: true, AgentSocket: "/run/agent.sock", ConnectTimeout: 5 * time.Second}},
		{"target's port beats the file's", "root@galena:2022", lab, nil, Config{Addr: "10.237.0.6", Host: "galena", Port: 2022, User: "root", HostKeyAlias: "galena",
			KnownHosts: labKH, KeyFiles: labKey, IdentitiesOnly: true, AgentSocket: "/run/agent.sock", ConnectTimeout: 5 * time.Second}},
		{"no file", "root@elsewhere:2022", nil, []string{"/etc/kh"}, Config{Addr: "elsewhere", Host: "elsewhere", Port: 2022, User: "root",
			KnownHosts: []string{"/etc/kh"}, AgentSocket: "/run/agent.sock"}},
		{"laptop behind the controller", "root@mac1.zt", user, nil, Config{Addr: "mac1.zt.example", Host: "mac1.zt", User: "root",
			KnownHosts: userKH("mac1.zt"), KeyFiles: []string{home + "/.ssh/laptops_root.pub"}, IdentitiesOnly: true, AgentSocket: "/run/agent.sock", ConnectTimeout: 7 * time.Second,
			Jump: []Config{{Addr: "10.147.17.1", Host: "zt", Port: 2222, User: "ops", KnownHosts: userKH("zt"), AgentSocket: "/run/agent.sock", ConnectTimeout: 7 * time.Second}}}},
		{"negated pattern", "root@skip.zt", user, nil, Config{Addr: "skip.zt", Host: "skip.zt", User: "root",
			KnownHosts: userKH("skip.zt"), AgentSocket: "/run/agent.sock", ConnectTimeout: 7 * time.Second}},
		{"chain a,b: a's own jump first, b's ignored", "chain", user, nil, Config{Addr: "10.0.0.9", Host: "chain", User: "root",
			KnownHosts: userKH("chain"), AgentSocket: "/run/agent.sock", ConnectTimeout: 7 * time.Second,
			Jump: []Config{
				{Addr: "bastion", Host: "bastion", User: local, KnownHosts: userKH("bastion"), AgentSocket: "/run/agent.sock", ConnectTimeout: 7 * time.Second},
				{Addr: "first", Host: "first", User: "root", KnownHosts: userKH("first"), AgentSocket: "/run/agent.sock", ConnectTimeout: 7 * time.Second},
				{Addr: "second", Host: "second", Port: 2200, User: local, KnownHosts: userKH("second"), AgentSocket: "/run/agent.sock", ConnectTimeout: 7 * time.Second},
			}}},
		{"ProxyJump none, IdentityAgent none", "root@direct", user, nil, Config{Addr: "direct", Host: "direct", User: "root",
			KnownHosts: userKH("direct"), NoAgent: true, ConnectTimeout: 7 * time.Second}},
		{"IdentityAgent path", "root@secretive", user, nil, Config{Addr: "secretive", Host: "secretive", User: "root",
			KnownHosts:  userKH("secretive"),
			AgentSocket: home + "/Library/Containers/com.maxgoedjen.Secretive.SecretAgent/Data/socket.ssh", ConnectTimeout: 7 * time.Second}},
		{"IdentityAgent quoted, with blanks (1Password's)", "root@1password", user, nil, Config{Addr: "1password", Host: "1password", User: "root",
			KnownHosts:  userKH("1password"),
			AgentSocket: home + "/Library/Group Containers/2BUA8C4S2C.com.1password/t/agent.sock", ConnectTimeout: 7 * time.Second}},
		{"IdentityAgent $VAR, every IdentityFile", "root@onepassword", user, nil, Config{Addr: "onepassword", Host: "onepassword", User: "root",
			KnownHosts: userKH("onepassword"), KeyFiles: []string{home + "/.ssh/op.pub", home + "/.ssh/second.pub"},
			AgentSocket: "/run/1password.sock", ConnectTimeout: 7 * time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(tc.target, tc.cfg, tc.known)
			assert.NilError(t, err)
			if len(tc.want.KeyFiles) == 0 {
				got.KeyFiles = nil // ~/.ssh/id_* of whoever runs the test
				for i := range got.Jump {
					got.Jump[i].KeyFiles = nil
				}
			}
			if len(tc.want.KnownHosts) == 0 {
				tc.want.KnownHosts = []string{home + "/.ssh/known_hosts"}
			}
			assert.DeepEqual(t, got, tc.want)
		})
	}
}

func TestResolveName(t *testing.T) {
	user, err := ParseSSHConfig([]byte(userConfig))
	assert.NilError(t, err)
	c, err := Resolve("root@mac1.zt", user, nil)
	assert.NilError(t, err)
	assert.Equal(t, c.Name(), "root@mac1.zt (mac1.zt.example:22) via ops@zt")
	assert.Equal(t, c.Jump[0].Name(), "ops@zt (10.147.17.1:2222)")
}

// TestSSHConfigPrecedence: files are read in order and the first value
// obtained wins, whichever file it is in; IdentityFile adds up.
func TestSSHConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	first := filepath.Join(dir, "first")
	second := filepath.Join(dir, "second")
	inc := filepath.Join(dir, "included")
	assert.NilError(t, os.WriteFile(first, []byte("Include "+inc+"\nHost m\n  User first\n  IdentityFile /k/first\n"), 0o644))
	assert.NilError(t, os.WriteFile(inc, []byte("Host m\n  Port 2201\n"), 0o644))
	assert.NilError(t, os.WriteFile(second, []byte("Host *\n  User second\n  Port 2202\n  HostName from-second\n  IdentityFile /k/second\n"), 0o644))
	cfg, err := LoadSSHConfig(first, second)
	assert.NilError(t, err)
	assert.DeepEqual(t, cfg.Files(), []string{first, second})
	c, err := Resolve("m", cfg, []string{"/kh"})
	assert.NilError(t, err)
	assert.Equal(t, c.User, "first")
	assert.Equal(t, c.Port, 2201, "the Include (read where it stands, before User) gives the port")
	assert.Equal(t, c.Addr, "from-second")
	assert.DeepEqual(t, c.KeyFiles, []string{"/k/first", "/k/second"})
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name, config, target string
		want                 []string
	}{
		{"bad port", "Host m\n  Port 99999\n", "m", []string{"Port for m", "bad port"}},
		{"bad ProxyJump", "Host m\n  ProxyJump a,,b\n", "m", []string{"ProxyJump for m", "empty jump host"}},
		{"bad jump host", "Host m\n  ProxyJump a@\n", "m", []string{"ProxyJump for m", `jump host "a@"`}},
		{"ProxyCommand", "Host m\n  ProxyCommand nc %h %p\n", "m", []string{"ProxyCommand for m", "use ProxyJump", "runs no command"}},
		{"jump loop", "Host loop\n  ProxyJump loop\n", "loop", []string{"ProxyJump for loop", "more than 8 deep"}},
		{"unknown token", "Host m\n  IdentityFile ~/.ssh/%z\n", "m", []string{"IdentityFile for m", "unknown token %z"}},
		{"lone percent", "Host m\n  HostName m%\n", "m", []string{"HostName for m", "lone %"}},
		{"HostName takes %h only", "Host m\n  HostName %d\n", "m", []string{"HostName for m", "%d is not allowed here"}},
		{"bad timeout", "Host m\n  ConnectTimeout soon\n", "m", []string{"ConnectTimeout for m", "number of seconds"}},
		{"bad IdentitiesOnly", "Host m\n  IdentitiesOnly maybe\n", "m", []string{"IdentitiesOnly for m", "yes or no"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "config")
			assert.NilError(t, os.WriteFile(p, []byte(tc.config), 0o644))
			cfg, err := LoadSSHConfig(p)
			assert.NilError(t, err)
			_, err = Resolve(tc.target, cfg, []string{"/kh"})
			assert.ErrorContains(t, err, "ssh_config "+p)
			for _, w := range tc.want {
				assert.ErrorContains(t, err, w)
			}
		})
	}
}

func TestLoadSSHConfigErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	_, err := LoadSSHConfig(missing)
	assert.ErrorContains(t, err, "ssh_config "+missing)
	assert.ErrorContains(t, err, "no such file")

	bad := filepath.Join(dir, "bad")
	assert.NilError(t, os.WriteFile(bad, []byte("Host a\n  Match exec \"true\"\n"), 0o644))
	_, err = LoadSSHConfig(bad)
	assert.ErrorContains(t, err, "ssh_config "+bad)
	assert.ErrorContains(t, err, "Match Exec is not supported")
	assert.ErrorContains(t, err, "--ssh-config")

	// Match host and Match all are read.
	ok := filepath.Join(dir, "ok")
	assert.NilError(t, os.WriteFile(ok, []byte("Match host m\n  Port 2200\nMatch all\n  User u\n"), 0o644))
	cfg, err := LoadSSHConfig(ok)
	assert.NilError(t, err)
	c, err := Resolve("m", cfg, []string{"/kh"})
	assert.NilError(t, err)
	assert.Equal(t, c.Port, 2200)
	assert.Equal(t, c.User, "u")
}

func TestParseProxyJump(t *testing.T) {
	tests := []struct {
		in   string
		want []JumpHop
		err  string
	}{
		{in: "none"},
		{in: "NONE"},
		{in: "zt", want: []JumpHop{{Host: "zt"}}},
		{in: "ops@zt:2222", want: []JumpHop{{User: "ops", Host: "zt", Port: 2222}}},
		{in: "a, b@c", want: []JumpHop{{Host: "a"}, {User: "b", Host: "c"}}},
		{in: "ssh://u@[fd00::1]:22", want: []JumpHop{{User: "u", Host: "fd00::1", Port: 22}}},
		{in: "", err: "empty jump host"},
		{in: "a,", err: "empty jump host"},
		{in: "a:0", err: "bad port"},
		{in: "@a", err: "empty user"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseProxyJump(tc.in)
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				return
			}
			assert.NilError(t, err)
			assert.DeepEqual(t, got, tc.want)
		})
	}
}

func TestExpandTokens(t *testing.T) {
	tk := tokens{home: "/home/u", host: "10.0.0.1", alias: "m", port: "22", remoteUser: "root", localUser: "u"}
	tests := []struct{ in, want, err string }{
		{in: "~/.ssh/id", want: "/home/u/.ssh/id"},
		{in: "~", want: "/home/u"},
		{in: "%d/%h/%n/%p/%r/%u/100%%", want: "/home/u/10.0.0.1/m/22/root/u/100%"},
		{in: "/plain", want: "/plain"},
		{in: "a~/b", want: "a~/b"},
		{in: "%x", err: "unknown token %x"},
		{in: "50%", err: "lone %"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := expandTokens(tc.in, tk)
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				return
			}
			assert.NilError(t, err)
			assert.Equal(t, got, tc.want)
		})
	}
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
	f.Add(userConfig)
	f.Add("Host a b\nHostName=x\n")
	f.Add("Match host a\n  ProxyJump b,c\n")
	f.Fuzz(func(t *testing.T, s string) {
		if strings.Contains(strings.ToLower(s), "include") {
			return // would read this machine's files
		}
		c, err := ParseSSHConfig([]byte(s))
		if err != nil {
			return
		}
		for _, h := range []string{"cinnabar", "a", "mac1.zt"} {
			c.Get(h, "HostName")
			r, err := Resolve("root@"+h, c, []string{"/dev/null"})
			if err != nil {
				continue
			}
			if r.Addr == "" && len(r.Jump) == 0 {
				t.Fatalf("Resolve(%s) gave no address", h)
			}
			if len(r.Jump) > 4*maxJumpDepth {
				t.Fatalf("Resolve(%s): %d jump hosts", h, len(r.Jump))
			}
		}
	})
}

func FuzzParseProxyJump(f *testing.F) {
	for _, s := range []string{"none", "a,b", "u@h:22", "ssh://[::1]:2", ",", "a@b@c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		hops, err := ParseProxyJump(s)
		if err != nil {
			return
		}
		for _, h := range hops {
			if h.Host == "" || h.Port < 0 || h.Port > 65535 {
				t.Fatalf("ParseProxyJump(%q) = %+v", s, hops)
			}
		}
	})
}

func FuzzExpandTokens(f *testing.F) {
	for _, s := range []string{"~/x", "%d/%h", "%%", "%", "%q", "~"} {
		f.Add(s)
	}
	tk := tokens{home: "/h", host: "H", alias: "N", port: "22", remoteUser: "r", localUser: "l"}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := expandTokens(s, tk)
		if err != nil {
			return
		}
		if !strings.Contains(s, "%") && !strings.HasPrefix(s, "~") && out != s {
			t.Fatalf("expandTokens(%q) = %q: changed a string without tokens", s, out)
		}
	})
}
