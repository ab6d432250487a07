package remote

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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

// maxJumpDepth bounds how deep a jump host's own ProxyJump may chain
// (a loop in the configuration would otherwise never end).
const maxJumpDepth = 8

// Resolve turns a deploy target into a Config the way "ssh target" would
// with cfg's files (nil: none): HostName (with %h), Port, User, HostKeyAlias,
// IdentityFile (every one, with ~ and %d %h %n %p %r %u), IdentitiesOnly,
// IdentityAgent (none, SSH_AUTH_SOCK, $VAR or a socket path),
// UserKnownHostsFile, ConnectTimeout and ProxyJump. What the target itself
// says (user@, :port) beats the files; the files' first value beats the
// defaults (user root, port 22, the agent at $SSH_AUTH_SOCK, ~/.ssh/id_*,
// knownHosts, else ~/.ssh/known_hosts).
//
// ProxyJump (a,b or none) becomes Config.Jump: each hop resolved through
// the same files (its default user is the local user, as in OpenSSH), and
// the first hop's own ProxyJump, if any, put before it; a later hop's own
// ProxyJump is ignored, as "ssh -J a,b" does. Each hop has its own
// known_hosts and is checked as strictly as the target. ProxyCommand is
// refused: the deployer runs no command to connect.
//
// Options outside this list (StrictHostKeyChecking, CheckHostIP...) are
// not read: host keys are always checked strictly.
func Resolve(target string, cfg *SSHConfig, knownHosts []string) (Config, error) {
	user, host, port, err := ParseTarget(target)
	if err != nil {
		return Config{}, err
	}
	r := resolver{cfg: cfg, knownHosts: knownHosts, home: Home(), local: localUser()}
	userSet := strings.Contains(target, "@")
	return r.resolve(host, user, userSet, port, 0, true)
}

type resolver struct {
	cfg        *SSHConfig
	knownHosts []string
	home       string
	local      string
}

// errf names the option, the host and the file a bad value came from.
func (r *resolver) errf(alias, key, file, format string, a ...any) error {
	return fmt.Errorf("ssh_config %s: %s for %s: %s", file, key, alias, fmt.Sprintf(format, a...))
}

// resolve resolves one host as given (alias). user applies when userSet or
// when no file names one. jumps says whether its ProxyJump is followed.
func (r *resolver) resolve(alias, user string, userSet bool, port, depth int, jumps bool) (Config, error) {
	rc := Config{Addr: alias, Host: alias, Port: port, User: user}
	if v, file := r.cfg.get(alias, "HostName"); v != "" {
		h, err := expandTokens(v, tokens{host: alias, hostOnly: true})
		if err != nil {
			return Config{}, r.errf(alias, "HostName", file, "%v", err)
		}
		rc.Addr = h
	}
	if v, file := r.cfg.get(alias, "Port"); v != "" && port == 0 {
		p, err := parsePort(v)
		if err != nil {
			return Config{}, r.errf(alias, "Port", file, "%v", err)
		}
		rc.Port = p
	}
	if v, _ := r.cfg.get(alias, "User"); v != "" && !userSet {
		rc.User = v
	}
	rc.HostKeyAlias, _ = r.cfg.get(alias, "HostKeyAlias")
	tk := tokens{home: r.home, host: rc.Addr, alias: alias, port: strconv.Itoa(rc.port()), remoteUser: rc.user(), localUser: r.local}

	for _, v := range r.cfg.getAll(alias, "IdentityFile") {
		p, err := expandTokens(v, tk)
		if err != nil {
			return Config{}, r.errf(alias, "IdentityFile", r.fileOf(alias, "IdentityFile"), "%v", err)
		}
		if !slices.Contains(rc.KeyFiles, p) {
			rc.KeyFiles = append(rc.KeyFiles, p)
		}
	}
	if len(rc.KeyFiles) == 0 {
		for _, k := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			p := filepath.Join(r.home, ".ssh", k)
			if _, err := os.Stat(p); err == nil {
				rc.KeyFiles = append(rc.KeyFiles, p)
			}
		}
	}
	if v, file := r.cfg.get(alias, "IdentitiesOnly"); v != "" {
		switch strings.ToLower(v) {
		case "yes", "true":
			rc.IdentitiesOnly = true
		case "no", "false":
		default:
			return Config{}, r.errf(alias, "IdentitiesOnly", file, "%q: want yes or no", v)
		}
	}
	rc.AgentSocket = os.Getenv("SSH_AUTH_SOCK")
	if v, file := r.cfg.get(alias, "IdentityAgent"); v != "" {
		sock, err := agentSocket(v, tk)
		if err != nil {
			return Config{}, r.errf(alias, "IdentityAgent", file, "%v", err)
		}
		rc.AgentSocket, rc.NoAgent = sock, sock == ""
	}
	if v, file := r.cfg.get(alias, "UserKnownHostsFile"); v != "" {
		for _, f := range splitPaths(v, tk) {
			p, err := expandTokens(f, tk)
			if err != nil {
				return Config{}, r.errf(alias, "UserKnownHostsFile", file, "%v", err)
			}
			rc.KnownHosts = append(rc.KnownHosts, p)
		}
	}
	if len(rc.KnownHosts) == 0 {
		rc.KnownHosts = r.knownHosts
	}
	if len(rc.KnownHosts) == 0 {
		rc.KnownHosts = []string{filepath.Join(r.home, ".ssh", "known_hosts")}
		if p := filepath.Join(r.home, ".ssh", "known_hosts2"); exists(p) {
			rc.KnownHosts = append(rc.KnownHosts, p)
		}
	}
	if v, file := r.cfg.get(alias, "ConnectTimeout"); v != "" {
		s, err := strconv.Atoi(v)
		if err != nil || s <= 0 {
			return Config{}, r.errf(alias, "ConnectTimeout", file, "%q: want a number of seconds", v)
		}
		rc.ConnectTimeout = time.Duration(s) * time.Second
	}
	if !jumps {
		return rc, nil
	}
	pj, file := r.cfg.get(alias, "ProxyJump")
	if pj == "" {
		if pc, pcFile := r.cfg.get(alias, "ProxyCommand"); pc != "" && !strings.EqualFold(pc, "none") {
			return Config{}, r.errf(alias, "ProxyCommand", pcFile, "the deployer runs no command to connect; use ProxyJump instead (or ProxyCommand none for this host)")
		}
		return rc, nil
	}
	hops, err := ParseProxyJump(pj)
	if err != nil {
		return Config{}, r.errf(alias, "ProxyJump", file, "%v", err)
	}
	if depth >= maxJumpDepth && len(hops) > 0 {
		return Config{}, r.errf(alias, "ProxyJump", file, "jump hosts chain more than %d deep (does a jump host's ProxyJump lead back to itself?)", maxJumpDepth)
	}
	for i, h := range hops {
		user := h.User
		if user == "" {
			user = r.local
		}
		hop, err := r.resolve(h.Host, user, h.User != "", h.Port, depth+1, i == 0)
		if err != nil {
			return Config{}, err
		}
		rc.Jump = append(rc.Jump, hop.Jump...)
		hop.Jump = nil
		rc.Jump = append(rc.Jump, hop)
	}
	return rc, nil
}

// fileOf names the first file that sets key for alias.
func (r *resolver) fileOf(alias, key string) string {
	_, f := r.cfg.get(alias, key)
	return f
}

// agentSocket reads IdentityAgent: "none" (no agent: ""), SSH_AUTH_SOCK
// (the variable, as without the option), $VAR or ${VAR}, else a path.
func agentSocket(v string, tk tokens) (string, error) {
	switch {
	case strings.EqualFold(v, "none"):
		return "", nil
	case v == "SSH_AUTH_SOCK":
		return os.Getenv("SSH_AUTH_SOCK"), nil
	case strings.HasPrefix(v, "${") && strings.HasSuffix(v, "}"):
		return os.Getenv(v[2 : len(v)-1]), nil
	case strings.HasPrefix(v, "$"):
		return os.Getenv(v[1:]), nil
	}
	return expandTokens(v, tk)
}

// splitPaths splits an option that takes several files (UserKnownHostsFile).
// The parser has already taken the quotes off a value that was quoted as a
// whole, so a value that names an existing file as it stands is that one
// file (a path with blanks, as the lab writes); otherwise it is split on
// blanks, honouring double quotes.
func splitPaths(v string, tk tokens) []string {
	if !strings.Contains(v, `"`) {
		if p, err := expandTokens(v, tk); err == nil && exists(p) {
			return []string{v}
		}
	}
	return fields(v)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
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

// JumpHop is one hop of a ProxyJump value: [user@]host[:port].
type JumpHop struct {
	User string // "" when not given
	Host string
	Port int // 0 when not given
}

// ParseProxyJump parses a ProxyJump value: "none" (no hop), or hops
// separated by commas, each [user@]host[:port] or ssh://[user@]host[:port]
// (IPv6 addresses in brackets), dialled in order.
func ParseProxyJump(v string) ([]JumpHop, error) {
	v = strings.TrimSpace(v)
	if strings.EqualFold(v, "none") {
		return nil, nil
	}
	var hops []JumpHop
	for _, part := range strings.Split(v, ",") {
		s := strings.TrimSpace(part)
		s = strings.TrimSuffix(strings.TrimPrefix(s, "ssh://"), "/")
		if s == "" {
			return nil, fmt.Errorf("%q: empty jump host; want [user@]host[:port], several separated by commas, or none", v)
		}
		user, host, port, err := ParseTarget(s)
		if err != nil {
			return nil, fmt.Errorf("%q: jump host %q: want [user@]host[:port] (%v)", v, s, err)
		}
		if !strings.Contains(s, "@") {
			user = ""
		}
		hops = append(hops, JumpHop{User: user, Host: host, Port: port})
	}
	return hops, nil
}
