package remote

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

var probeKey = func() ssh.PublicKey {
	pub, _, _ := ed25519.GenerateKey(nil)
	k, _ := ssh.NewPublicKey(pub)
	return k
}()

// ParseTarget splits a deploy target "user@host", "user@host:port",
// "host" or "user@[v6addr]:port" into its parts (user default "root").
func ParseTarget(target string) (user, host string, port int, err error) {
	user, host = "root", strings.TrimSpace(target)
	if host == "" {
		return "", "", 0, fmt.Errorf("empty deploy target: set machines.<m>.deploy.targetHost (e.g. root@host)")
	}
	if i := strings.LastIndex(host, "@"); i >= 0 {
		user, host = host[:i], host[i+1:]
		if user == "" {
			return "", "", 0, fmt.Errorf("deploy target %q: empty user before '@'", target)
		}
	}
	if strings.HasPrefix(host, "[") {
		end := strings.Index(host, "]")
		if end < 0 {
			return "", "", 0, fmt.Errorf("deploy target %q: missing ']'", target)
		}
		rest := host[end+1:]
		host = host[1:end]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return "", "", 0, fmt.Errorf("deploy target %q: junk after ']'", target)
			}
			if port, err = parsePort(rest[1:]); err != nil {
				return "", "", 0, fmt.Errorf("deploy target %q: %v", target, err)
			}
		}
	} else if strings.Count(host, ":") == 1 {
		i := strings.Index(host, ":")
		if port, err = parsePort(host[i+1:]); err != nil {
			return "", "", 0, fmt.Errorf("deploy target %q: %v", target, err)
		}
		host = host[:i]
	}
	if host == "" || strings.ContainsAny(host, " \t/") {
		return "", "", 0, fmt.Errorf("deploy target %q: bad host name", target)
	}
	return user, host, port, nil
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return p, nil
}

// SSHConfig is the subset of an OpenSSH client configuration the suite
// reads: Host blocks with HostName, Port, User, HostKeyAlias, IdentityFile,
// UserKnownHostsFile and ConnectTimeout. As in OpenSSH, the first value
// obtained for an option wins.
type SSHConfig struct {
	blocks []hostBlock
}

type hostBlock struct {
	patterns []string
	opts     [][2]string
}

// ParseSSHConfig parses an ssh_config text.
func ParseSSHConfig(data []byte) (*SSHConfig, error) {
	c := &SSHConfig{}
	cur := &hostBlock{patterns: []string{"*"}} // options before any Host apply to all
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val := splitOpt(line)
		if key == "" {
			return nil, fmt.Errorf("ssh_config line %d: %q: want 'Keyword value'", n, line)
		}
		if strings.EqualFold(key, "Host") {
			c.blocks = append(c.blocks, *cur)
			cur = &hostBlock{patterns: fields(val)}
			continue
		}
		if strings.EqualFold(key, "Match") {
			return nil, fmt.Errorf("ssh_config line %d: Match blocks are not supported", n)
		}
		cur.opts = append(cur.opts, [2]string{strings.ToLower(key), val})
	}
	c.blocks = append(c.blocks, *cur)
	return c, sc.Err()
}

func splitOpt(line string) (string, string) {
	i := strings.IndexAny(line, " \t=")
	if i < 0 {
		return "", ""
	}
	key := line[:i]
	val := strings.TrimLeft(line[i:], " \t")
	val = strings.TrimPrefix(val, "=")
	return key, strings.TrimSpace(val)
}

// fields splits on blanks, honouring double quotes.
func fields(s string) []string {
	var out []string
	var cur strings.Builder
	inq, have := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inq, have = !inq, true
		case (r == ' ' || r == '\t') && !inq:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}

func matches(patterns []string, host string) bool {
	ok := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		if m, _ := path.Match(p, host); m {
			if neg {
				return false
			}
			ok = true
		}
	}
	return ok
}

// Lookup returns the options that apply to host, first value winning.
func (c *SSHConfig) Lookup(host string) map[string]string {
	out := map[string]string{}
	for _, b := range c.blocks {
		if !matches(b.patterns, host) {
			continue
		}
		for _, o := range b.opts {
			if _, set := out[o[0]]; !set {
				out[o[0]] = o[1]
			}
		}
	}
	return out
}

// Has reports whether a Host block names host literally (not through "*").
func (c *SSHConfig) Has(host string) bool {
	for _, b := range c.blocks {
		for _, p := range b.patterns {
			if p == host {
				return true
			}
		}
	}
	return false
}

// Resolve turns a deploy target into a Config. When cfg (an ssh_config,
// such as the lab's) has options for the target's host, they decide the
// address, port, user, host key alias, key file and known_hosts, as ssh -F
// would; otherwise the target is used as is, with knownHosts (default
// ~/.ssh/known_hosts) and the agent.
func Resolve(target string, cfg *SSHConfig, knownHosts []string) (Config, error) {
	user, host, port, err := ParseTarget(target)
	if err != nil {
		return Config{}, err
	}
	rc := Config{Addr: host, Port: port, User: user}
	userSet := strings.Contains(target, "@")
	if cfg != nil {
		o := cfg.Lookup(host)
		if v := o["hostname"]; v != "" {
			rc.Addr = v
			rc.HostKeyAlias = host
		}
		if v := o["port"]; v != "" && port == 0 {
			if rc.Port, err = parsePort(v); err != nil {
				return Config{}, fmt.Errorf("ssh_config for %s: %v", host, err)
			}
		}
		if v := o["user"]; v != "" && !userSet {
			rc.User = v
		}
		if v := o["hostkeyalias"]; v != "" {
			rc.HostKeyAlias = v
		}
		if v := o["identityfile"]; v != "" {
			rc.KeyFiles = []string{expandHome(unquote(v))}
		}
		if strings.EqualFold(o["identitiesonly"], "yes") {
			rc.NoAgent = true
		}
		if v := o["userknownhostsfile"]; v != "" {
			for _, f := range fields(v) {
				rc.KnownHosts = append(rc.KnownHosts, expandHome(f))
			}
		}
		if v := o["connecttimeout"]; v != "" {
			if s, err := strconv.Atoi(v); err == nil && s > 0 {
				rc.ConnectTimeout = time.Duration(s) * time.Second
			}
		}
	}
	if len(rc.KnownHosts) == 0 {
		rc.KnownHosts = knownHosts
	}
	if len(rc.KnownHosts) == 0 {
		home, _ := os.UserHomeDir()
		rc.KnownHosts = []string{filepath.Join(home, ".ssh", "known_hosts")}
	}
	if len(rc.KeyFiles) == 0 && (os.Getenv("SSH_AUTH_SOCK") == "" || rc.NoAgent) {
		home, _ := os.UserHomeDir()
		for _, k := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			p := filepath.Join(home, ".ssh", k)
			if _, err := os.Stat(p); err == nil {
				rc.KeyFiles = append(rc.KeyFiles, p)
			}
		}
	}
	return rc, nil
}

func unquote(s string) string {
	if f := fields(s); len(f) > 0 {
		return f[0]
	}
	return s
}

func expandHome(p string) string {
	if strings.HasPrefix(p, "~/") {
		home, _ := os.UserHomeDir()
		return filepath.Join(home, p[2:])
	}
	return p
}
