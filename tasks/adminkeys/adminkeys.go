// Package adminkeys finds the admin's age identities where sops finds them,
// so that a key with which `sops -d` decrypts a file here also decrypts the
// suite's vars, user secrets and terraform state: on Linux and on macOS, on
// a laptop and in CI.
//
// sops 3.x does not pick one place. It reads every place that is set and
// tries each identity it found, so this package does the same (Find), in
// sops's order:
//
//   - SOPS_AGE_SSH_PRIVATE_KEY_FILE, then ~/.ssh/id_ed25519 and ~/.ssh/id_rsa
//     (ssh keys as age identities, for files encrypted to an ssh recipient);
//   - SOPS_AGE_KEY: the keys themselves, as CI passes them
//     (`SOPS_AGE_KEY: ${{ secrets.SOPS_AGE_KEY }}` in a workflow);
//   - SOPS_AGE_KEY_FILE;
//   - SOPS_AGE_KEY_CMD: a command that prints the keys (a password manager);
//   - keys.txt under the user's configuration directory, sops/age/keys.txt:
//     $XDG_CONFIG_HOME when set, else ~/.config on Linux and
//     ~/Library/Application Support on macOS (os.UserConfigDir, as sops and
//     clan use it).
//
// The suite's own VANIXIETS_AGE_IDENTITY (or VANIXIETS_AGE_KEY_FILE), a
// ':'-separated list of files, overrides all of them: exactly those files
// are read. That is how the lab and the tests name their TEST-ONLY keys.
//
// A place named on purpose (a variable) that cannot be read or parsed is an
// error naming it and its fix; a default place that is absent is only noted
// (Keys.Looked), and a passphrase-protected ssh key is skipped there as
// sops would have to prompt for it.
package adminkeys

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/ssh"
)

// The environment variables Find reads: the suite's overrides, then sops's.
const (
	IdentityEnv   = "VANIXIETS_AGE_IDENTITY"
	KeyFileAlias  = "VANIXIETS_AGE_KEY_FILE" // the same as IdentityEnv, read when that is unset
	KeyEnv        = "SOPS_AGE_KEY"
	KeyFileEnv    = "SOPS_AGE_KEY_FILE"
	KeyCmdEnv     = "SOPS_AGE_KEY_CMD"
	SSHKeyFileEnv = "SOPS_AGE_SSH_PRIVATE_KEY_FILE"
)

// Named lists every variable that names an identity on purpose: with none
// of them set, a front door may choose other keys (a lab flake's TEST-ONLY
// identities) before the default files.
var Named = []string{IdentityEnv, KeyFileAlias, KeyEnv, KeyFileEnv, KeyCmdEnv, SSHKeyFileEnv}

// Place is the world Find looks in: the platform, the home directory and the
// environment. Host is this machine's; tests make their own.
type Place struct {
	GOOS string
	Home string
	Env  func(string) (string, bool)
	// Run runs SOPS_AGE_KEY_CMD's command line and returns what it printed
	// (default: `sh -c` with a minute's limit).
	Run func(cmdline string) ([]byte, error)
}

// Host is this machine's place: runtime.GOOS, the user's home, os.LookupEnv.
func Host() Place {
	home, _ := os.UserHomeDir()
	return Place{GOOS: runtime.GOOS, Home: home, Env: os.LookupEnv}
}

// Keys is what Find found.
type Keys struct {
	Identities []age.Identity
	// From names where each group of identities came from, in order: a
	// variable's name or a file.
	From []string
	// Looked names every place looked at that gave nothing (absent, or a
	// passphrase-protected ssh key), for the message that says where a key
	// could go.
	Looked []string
	// implicit counts the groups of From that are ~/.ssh keys nobody named.
	implicit int
}

// Chosen reports whether an identity came from a place the admin chose for
// age: a variable or sops's keys.txt, not only an ssh key that happens to
// be in ~/.ssh. A check that decrypts when a key is there and only checks
// structure otherwise asks this, so that a laptop's ssh key does not turn
// "no key here" into "your key decrypts nothing".
func (k Keys) Chosen() bool { return len(k.From) > k.implicit }

// String says where the identities came from, or where none were found.
func (k Keys) String() string {
	if len(k.From) > 0 {
		return strings.Join(k.From, ", ")
	}
	return "no admin age identity (looked at " + strings.Join(k.Looked, ", ") + ")"
}

// Files returns the files Find would read for p, without reading them: the
// override's list when set, else the files sops reads (SOPS_AGE_KEY_FILE and
// the default keys.txt, whether present or not). For messages and for tools
// that take a file.
func (p Place) Files() []string {
	if v := p.get(IdentityEnv, KeyFileAlias); v != "" {
		return nonEmpty(filepath.SplitList(v))
	}
	var out []string
	if v := p.get(KeyFileEnv); v != "" {
		out = append(out, v)
	}
	if f := p.DefaultKeyFile(); f != "" {
		out = append(out, f)
	}
	return out
}

// Describe names, without reading anything, the places Find reads for p:
// the override's files, else each sops variable that is set and the default
// keys.txt. Messages say "is <this> the key of an admin of m?".
func (p Place) Describe() string {
	if v := p.get(IdentityEnv, KeyFileAlias); v != "" {
		return strings.Join(nonEmpty(filepath.SplitList(v)), ":")
	}
	var out []string
	for _, n := range []string{SSHKeyFileEnv, KeyEnv, KeyCmdEnv} {
		if p.get(n) != "" {
			out = append(out, "$"+n)
		}
	}
	return strings.Join(append(out, p.Files()...), ", ")
}

// Named reports whether a variable names an admin identity on purpose
// (any of Named, set and not empty).
func (p Place) Named() bool { return p.get(Named...) != "" }

// ReadFiles reads age identity files (age-keygen's format, comments
// allowed) that someone named, such as a lab's TEST-ONLY keys; empty names
// are skipped. A file that cannot be read or parsed is an error naming it.
func ReadFiles(files ...string) ([]age.Identity, error) {
	var k Keys
	if err := k.named(files); err != nil {
		return nil, err
	}
	return k.Identities, nil
}

// named reads files someone named (the override's, a lab's), each an error
// when it cannot be read.
func (k *Keys) named(files []string) error {
	for _, f := range nonEmpty(files) {
		if err := k.file(f, true, overrideFix); err != nil {
			return err
		}
	}
	return nil
}

// DefaultKeyFile is sops's default identity file on p's platform:
// sops/age/keys.txt under $XDG_CONFIG_HOME when it is set (on macOS too, as
// sops reads it there), else under the platform's configuration directory;
// "" when there is neither a home nor XDG_CONFIG_HOME.
func (p Place) DefaultKeyFile() string {
	dir := p.get("XDG_CONFIG_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		if p.Home == "" {
			return ""
		}
		dir = filepath.Join(p.Home, ".config")
		if p.GOOS == "darwin" {
			dir = filepath.Join(p.Home, "Library", "Application Support")
		}
	}
	return filepath.Join(dir, "sops", "age", "keys.txt")
}

// Find reads the admin's identities from p. It fails when a place named by a
// variable cannot be read or holds no valid key, and when no place gave any
// identity (the error says where a key can go).
func Find(p Place) (Keys, error) {
	var k Keys
	if v := p.get(IdentityEnv, KeyFileAlias); v != "" {
		if err := k.named(filepath.SplitList(v)); err != nil {
			return Keys{}, err
		}
		return k, k.none()
	}
	if f := p.get(SSHKeyFileEnv); f != "" {
		if err := k.sshFile(f, true); err != nil {
			return Keys{}, err
		}
	}
	if p.Home != "" {
		for _, f := range []string{"id_ed25519", "id_rsa"} {
			if err := k.sshFile(filepath.Join(p.Home, ".ssh", f), false); err != nil {
				return Keys{}, err
			}
		}
	}
	if v, ok := p.Env(KeyEnv); ok && strings.TrimSpace(v) != "" {
		ids, err := age.ParseIdentities(strings.NewReader(keyLines(v)))
		if err != nil {
			return Keys{}, fmt.Errorf("admin age identity in $%s: %v (want AGE-SECRET-KEY-1... keys, as age-keygen prints them)", KeyEnv, err)
		}
		k.add(KeyEnv, ids)
	}
	if f := p.get(KeyFileEnv); f != "" {
		if err := k.file(f, true, "set "+KeyFileEnv+" to your age key file, or unset it"); err != nil {
			return Keys{}, err
		}
	}
	if c := p.get(KeyCmdEnv); c != "" {
		run := p.Run
		if run == nil {
			run = shell
		}
		out, err := run(c)
		if err != nil {
			return Keys{}, fmt.Errorf("admin age identity from $%s (%s): %v", KeyCmdEnv, c, err)
		}
		ids, err := age.ParseIdentities(bytes.NewReader(out))
		if err != nil {
			return Keys{}, fmt.Errorf("admin age identity from $%s (%s): what it printed: %v (want AGE-SECRET-KEY-1... lines)", KeyCmdEnv, c, err)
		}
		k.add(KeyCmdEnv, ids)
	}
	if f := p.DefaultKeyFile(); f != "" {
		if err := k.file(f, false, "put AGE-SECRET-KEY-1... lines in it, as age-keygen -o writes them"); err != nil {
			return Keys{}, err
		}
	}
	return k, k.none()
}

const overrideFix = "set " + IdentityEnv + " to your age key files, ':'-separated; the lab's are lab/keys/<user>.agekey"

// ErrNone is wrapped by Find's error when no place gave an identity.
var ErrNone = errors.New("no admin age identity")

func (k Keys) none() error {
	if len(k.Identities) > 0 {
		return nil
	}
	if len(k.Looked) == 0 {
		return fmt.Errorf("%w: no home directory and nothing set; set %s (the key file, as sops reads it) or %s (the key itself)", ErrNone, KeyFileEnv, KeyEnv)
	}
	return fmt.Errorf("%w: looked at %s; put your age key in one of them, or set %s (the key file, as sops reads it) or %s (the key itself, as CI passes it)",
		ErrNone, strings.Join(k.Looked, ", "), KeyFileEnv, KeyEnv)
}

func (k *Keys) add(from string, ids []age.Identity) {
	k.Identities = append(k.Identities, ids...)
	k.From = append(k.From, from)
}

// file reads an age identity file. named: the user named it, so absence is
// an error with fix; otherwise absence is noted.
func (k *Keys) file(f string, named bool, fix string) error {
	b, err := os.ReadFile(f)
	if errors.Is(err, os.ErrNotExist) && !named {
		k.Looked = append(k.Looked, f)
		return nil
	}
	if err != nil {
		return fmt.Errorf("admin age identity file %s: %v (%s)", f, err, fix)
	}
	if bytes.HasPrefix(b, []byte("age-encryption.org/")) || bytes.HasPrefix(b, []byte("-----BEGIN AGE ENCRYPTED FILE-----")) {
		return fmt.Errorf("admin age identity file %s is itself age-encrypted (a passphrase-protected key): the suite does not prompt; decrypt it into a private file and name that in %s, or pass the key in %s", f, IdentityEnv, KeyEnv)
	}
	b, plugins := withoutPlugins(b)
	if plugins > 0 && len(bytes.TrimSpace(b)) == 0 {
		if !named {
			k.Looked = append(k.Looked, f+" (skipped: only age plugin identities)")
			return nil
		}
		return fmt.Errorf("admin age identity file %s holds only age plugin identities (AGE-PLUGIN-...), which the suite cannot use: name a file with an AGE-SECRET-KEY-1... key too", f)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("admin age identity file %s: %v (want AGE-SECRET-KEY-1... lines as age-keygen writes them)", f, err)
	}
	k.add(f, ids)
	return nil
}

// withoutPlugins drops the lines of an identity file that name an age
// plugin identity (AGE-PLUGIN-YUBIKEY-1..., as age-plugin-yubikey writes
// them into keys.txt beside plain keys): sops runs the plugin, the suite
// does not, and one such line must not make the file's other keys
// unreadable. It returns the rest and how many lines it dropped.
func withoutPlugins(b []byte) ([]byte, int) {
	if !bytes.Contains(b, []byte("AGE-PLUGIN-")) {
		return b, 0
	}
	var out [][]byte
	n := 0
	for _, l := range bytes.Split(b, []byte("\n")) {
		if bytes.HasPrefix(bytes.TrimSpace(l), []byte("AGE-PLUGIN-")) {
			n++
			continue
		}
		out = append(out, l)
	}
	return bytes.Join(out, []byte("\n")), n
}

// sshFile reads an ssh private key as an age identity (agessh), as sops
// does. A default file that is absent, protected by a passphrase, or of a
// type age cannot use is noted and skipped; a named one is an error.
func (k *Keys) sshFile(f string, named bool) error {
	b, err := os.ReadFile(f)
	if err != nil && !named {
		if !errors.Is(err, os.ErrNotExist) {
			k.Looked = append(k.Looked, f+" (skipped: unreadable)")
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("admin ssh key %s ($%s): %v", f, SSHKeyFileEnv, err)
	}
	id, err := agessh.ParseIdentity(b)
	if err != nil {
		var pm *ssh.PassphraseMissingError
		if !named {
			k.Looked = append(k.Looked, f+" (skipped: "+map[bool]string{true: "passphrase-protected", false: "not an ed25519 or rsa key"}[errors.As(err, &pm)]+")")
			return nil
		}
		if errors.As(err, &pm) {
			return fmt.Errorf("admin ssh key %s ($%s) is passphrase-protected: the suite does not prompt; use an age key (%s or %s)", f, SSHKeyFileEnv, KeyFileEnv, KeyEnv)
		}
		return fmt.Errorf("admin ssh key %s ($%s): %v", f, SSHKeyFileEnv, err)
	}
	k.add(f, []age.Identity{id})
	if !named {
		k.implicit++
	}
	return nil
}

// keyLines puts the keys of SOPS_AGE_KEY one a line: sops reads that
// variable with several keys a line allowed, and comment lines too.
func keyLines(v string) string {
	var out []string
	for _, l := range strings.Split(v, "\n") {
		if l = strings.TrimSpace(l); l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, strings.Fields(l)...)
	}
	return strings.Join(out, "\n")
}

// get returns the first of names that is set and not empty.
func (p Place) get(names ...string) string {
	for _, n := range names {
		if v, ok := p.Env(n); ok && v != "" {
			return v
		}
	}
	return ""
}

func nonEmpty(list []string) []string {
	var out []string
	for _, s := range list {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// shell runs cmdline with sh -c and returns its standard output; a minute
// is as long as a password manager may take to answer.
func shell(cmdline string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", cmdline)
	cmd.Stderr = os.Stderr // a password manager's prompt or complaint
	return cmd.Output()
}
