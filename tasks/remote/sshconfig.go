package remote

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"

	sshconfig "github.com/kevinburke/ssh_config"
)

// SSHConfig is the OpenSSH client configuration a target is resolved
// through: one or more ssh_config files, read in order, where (as in
// OpenSSH) the first value obtained for an option wins, whichever file and
// Host block it comes from. IdentityFile is the exception, as in OpenSSH:
// every matching one counts, in order.
//
// Which files, decided by the caller (tasks/deploy) and documented in
// docs/deploy.md ("Reaching machines"):
//
//   - the lab's generated ssh_config when deploying to the lab, or an
//     explicit file (--ssh-config, $VANIXIETS_SSH_CONFIG): that file alone,
//     as "ssh -F file" reads no other;
//   - otherwise ~/.ssh/config, then /etc/ssh/ssh_config (UserSSHConfig),
//     each when it exists.
//
// Parsing, Host patterns (*, ?, !negation), Match host/all and Include
// are github.com/kevinburke/ssh_config's: an Include without an absolute
// path is relative to ~/.ssh in a user's file and to /etc/ssh in the
// system's, as ssh_config(5) says. "~" is the home directory of the user
// the deployer runs as, from the password database, as OpenSSH takes it
// (and the parser: both must agree on where ~/.ssh is), not $HOME.
type SSHConfig struct {
	files []configFile

	mu  sync.Mutex
	idx []*hostIndex // per file, made on first use (sshconfig_index.go)
}

type configFile struct {
	name string
	c    *sshconfig.Config
}

// SystemSSHConfig is the system-wide client configuration OpenSSH reads
// after the user's.
const SystemSSHConfig = "/etc/ssh/ssh_config"

// UserSSHConfigPath is the user's own client configuration, ~/.ssh/config.
func UserSSHConfigPath() string { return filepath.Join(Home(), ".ssh", "config") }

// Home is the home directory "~" stands for in ssh_config and the default
// key and known_hosts files: the password database's entry for the user
// the process runs as (as OpenSSH has it), else $HOME.
func Home() string {
	if u, err := user.Current(); err == nil && u.HomeDir != "" {
		return u.HomeDir
	}
	h, _ := os.UserHomeDir()
	return h
}

// ParseSSHConfig parses one ssh_config text (a user's file: relative
// Includes are in ~/.ssh).
func ParseSSHConfig(data []byte) (*SSHConfig, error) {
	c, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("ssh_config: %v", err)
	}
	return &SSHConfig{files: []configFile{{name: "ssh_config", c: c}}}, nil
}

// LoadSSHConfig reads the given ssh_config files, in precedence order.
// Each must exist: a file someone named and that is not there is a
// mistake to report, not to skip.
func LoadSSHConfig(paths ...string) (*SSHConfig, error) {
	s := &SSHConfig{}
	for _, p := range paths {
		f, err := loadFile(p)
		if err != nil {
			return nil, err
		}
		s.files = append(s.files, f)
	}
	return s, nil
}

// UserSSHConfig reads what a plain "ssh host" reads: ~/.ssh/config, then
// /etc/ssh/ssh_config, each when it exists. None existing is an empty
// configuration: targets are then taken as they are written.
func UserSSHConfig() (*SSHConfig, error) {
	s := &SSHConfig{}
	for _, p := range []string{UserSSHConfigPath(), SystemSSHConfig} {
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		f, err := loadFile(p)
		if err != nil {
			return nil, err
		}
		s.files = append(s.files, f)
	}
	return s, nil
}

// Files names the files read, in precedence order.
func (s *SSHConfig) Files() []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, f := range s.files {
		out = append(out, f.name)
	}
	return out
}

func loadFile(p string) (configFile, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return configFile{}, fmt.Errorf("ssh_config %s: %v", p, err)
	}
	var c *sshconfig.Config
	if isSystemPath(p) && !strings.ContainsAny(p, " \t*?[") {
		// The parser reads relative Includes of a file under /etc/ssh
		// relative to /etc/ssh only when it opens that file itself, which
		// an absolute Include makes it do.
		c, err = decode([]byte("Include " + p + "\n"))
	} else {
		c, err = decode(b)
	}
	if err != nil {
		return configFile{}, fmt.Errorf("ssh_config %s: %v; fix the file, or name another with --ssh-config (VANIXIETS_SSH_CONFIG)", p, err)
	}
	return configFile{name: p, c: c}, nil
}

func isSystemPath(p string) bool {
	return strings.HasPrefix(filepath.Clean(p), "/etc/ssh/")
}

// decode parses with the maintained parser; it reports errors by
// panicking internally and recovers them itself, except runtime errors,
// which are caught here so that no file can crash the deployer.
func decode(b []byte) (c *sshconfig.Config, err error) {
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("cannot parse: %v", r)
		}
	}()
	return sshconfig.DecodeBytes(b)
}

// get returns the first value obtained for key for host, and the file it
// came from.
func (s *SSHConfig) get(host, key string) (string, string) {
	if s == nil {
		return "", ""
	}
	for i, f := range s.files {
		if v, err := s.fileFor(i, host).Get(host, key); err == nil && v != "" {
			return v, f.name
		}
	}
	return "", ""
}

// getAll returns every value of key for host, in order, across the files.
func (s *SSHConfig) getAll(host, key string) []string {
	if s == nil {
		return nil
	}
	var out []string
	for i := range s.files {
		v, _ := s.fileFor(i, host).GetAll(host, key)
		out = append(out, v...)
	}
	return out
}

// Get returns the value OpenSSH would use for option key when connecting
// to host ("" when no file sets it).
func (s *SSHConfig) Get(host, key string) string {
	v, _ := s.get(host, key)
	return v
}

// tokens are the values of ssh_config's % tokens for one connection.
type tokens struct {
	home       string // %d
	host       string // %h: the real host name (after HostName)
	alias      string // %n: the name as given
	port       string // %p
	remoteUser string // %r
	localUser  string // %u
	// hostOnly allows only %% and %h, and no ~ (HostName's tokens)
	hostOnly bool
}

// expandTokens replaces ssh_config's tokens in s (%% %d %h %n %p %r %u) and
// a leading "~/" (the home directory); with t.hostOnly (HostName) only %%
// and %h. An unknown token is an error naming it, as OpenSSH refuses one.
func expandTokens(s string, t tokens) (string, error) {
	if s == "~" && !t.hostOnly {
		return t.home, nil
	}
	if strings.HasPrefix(s, "~/") && !t.hostOnly {
		s = t.home + s[1:]
	}
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			return "", fmt.Errorf("%q ends with a lone %%", s)
		}
		i++
		if t.hostOnly && s[i] != '%' && s[i] != 'h' {
			return "", fmt.Errorf("%q: token %%%c is not allowed here (only %%%% and %%h)", s, s[i])
		}
		switch s[i] {
		case '%':
			b.WriteByte('%')
		case 'd':
			b.WriteString(t.home)
		case 'h':
			b.WriteString(t.host)
		case 'n':
			b.WriteString(t.alias)
		case 'p':
			b.WriteString(t.port)
		case 'r':
			b.WriteString(t.remoteUser)
		case 'u':
			b.WriteString(t.localUser)
		default:
			return "", fmt.Errorf("%q: unknown token %%%c (known: %%%% %%d %%h %%n %%p %%r %%u)", s, s[i])
		}
	}
	return b.String(), nil
}

// localUser is the name of the user the deployer runs as (the default
// user for a jump host, as in OpenSSH).
func localUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}
