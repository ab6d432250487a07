package agekey

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"

	"github.com/vanixiets/vanixiets/tasks/gitrepo"
)

// PlaceholderPrefix starts an ageKeys entry that stands for a key nobody has
// set yet. The real fleet ships with placeholders instead of keys, so that a
// fresh clone cannot encrypt anything until its admins put in their own
// public keys: an error naming the fix beats secrets readable by whoever
// wrote the example keys.
const PlaceholderPrefix = "PLACEHOLDER"

// IsPlaceholder reports whether an ageKeys entry is a placeholder.
func IsPlaceholder(s string) bool {
	return strings.HasPrefix(strings.TrimSpace(s), PlaceholderPrefix)
}

// PlaceholderError is the one message for a placeholder where a key is
// needed; what says where it was found (e.g. `user "crs58" ageKeys[0]`).
func PlaceholderError(what, s string) error {
	return fmt.Errorf("%s is a placeholder (%q), not a key: set your own age key first. "+
		"Make one with `age-keygen -o ~/.config/sops/age/keys.txt`, put the public key that "+
		"`age-keygen -y ~/.config/sops/age/keys.txt` prints into the user's ageKeys "+
		"(modules/_fleet/users.nix in this repository), then run vars:generate", what, abbrev([]byte(s)))
}

// Published is the set of keys whose private halves are committed to a git
// repository: age identities (AGE-SECRET-KEY-1... anywhere in a tracked
// file) and unencrypted OpenSSH ed25519 private keys, each by the public
// key it belongs to. Anything encrypted to one of them is readable by
// anyone with a copy of the repository.
type Published struct {
	// Root is the repository's top-level directory ("" outside git).
	Root string
	// byKey maps an "age1..." recipient or an "ssh-ed25519 AAAA..." key to
	// the absolute path of the file holding its private half.
	byKey map[string]string
}

var (
	publishedMu    sync.Mutex
	publishedCache = map[string]*Published{}
)

var (
	ageSecretRe  = regexp.MustCompile(`AGE-SECRET-KEY-1[0-9A-Z]{58}`)
	sshPrivateRe = regexp.MustCompile(`(?s)-----BEGIN OPENSSH PRIVATE KEY-----.*?-----END OPENSSH PRIVATE KEY-----`)
)

// maxScanned bounds the files PublishedIn reads: identity files are tiny,
// and a large tracked file (a fixture, an image) holds no key worth
// finding that a small one would not.
const maxScanned = 1 << 20

// PublishedIn returns the published keys of the git repository holding dir
// (an empty set when dir is not in a git work tree). The tracked files are
// scanned once per repository and process: every encryption of a run asks,
// and the answer cannot change while the run lasts.
//
// The root and the tracked files are gitrepo's (the answer nix's flake
// inputs share). git runs with the checkout's own ownership rules (no
// safe.directory override): a checkout owned by another user is refused by
// git, and the error says so.
func PublishedIn(dir string) (*Published, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	root := gitrepo.Root(abs)
	if root == "" {
		return &Published{byKey: map[string]string{}}, nil
	}
	publishedMu.Lock()
	defer publishedMu.Unlock()
	if p, ok := publishedCache[root]; ok {
		return p, nil
	}
	p, err := scanRepository(root)
	if err != nil {
		return nil, err
	}
	publishedCache[root] = p
	return p, nil
}

func scanRepository(root string) (*Published, error) {
	ls, err := gitrepo.Tracked(context.Background(), root)
	if err != nil {
		return nil, fmt.Errorf("list the tracked files of %s (to refuse keys committed to it): %w", root, err)
	}
	p := &Published{Root: root, byKey: map[string]string{}}
	for _, rel := range ls {
		path := filepath.Join(root, filepath.FromSlash(rel))
		st, err := os.Lstat(path)
		if err != nil || !st.Mode().IsRegular() || st.Size() > maxScanned {
			continue // deleted in the work tree, a link, or too big to be a key file
		}
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		p.scan(path, b)
	}
	return p, nil
}

// scan records the keys whose private halves appear in b (the content of
// the file at path).
func (p *Published) scan(path string, b []byte) {
	if bytes.Contains(b, []byte("AGE-SECRET-KEY-1")) {
		for _, m := range ageSecretRe.FindAll(b, -1) {
			if id, err := age.ParseX25519Identity(string(m)); err == nil {
				p.add(id.Recipient().String(), path)
			}
		}
	}
	if bytes.Contains(b, []byte("OPENSSH PRIVATE KEY")) {
		for _, m := range sshPrivateRe.FindAll(b, -1) {
			key, err := ssh.ParseRawPrivateKey(m)
			if err != nil {
				continue // encrypted with a passphrase, or not a key
			}
			priv, ok := Ed25519(key)
			if !ok {
				continue
			}
			if r, err := RecipientFromEd25519(priv.Public().(ed25519.PublicKey)); err == nil {
				p.add(r, path)
			}
			if pub, err := ssh.NewPublicKey(priv.Public()); err == nil {
				p.add(sshKeyID(string(ssh.MarshalAuthorizedKey(pub))), path)
			}
		}
	}
}

func (p *Published) add(key, path string) {
	if _, ok := p.byKey[key]; !ok {
		p.byKey[key] = path
	}
}

// sshKeyID is an SSH public key line without its comment ("ssh-ed25519
// AAAA..."), the form keys are compared in.
func sshKeyID(line string) string {
	f := strings.Fields(line)
	if len(f) < 2 {
		return strings.TrimSpace(line)
	}
	return f[0] + " " + f[1]
}

// File returns the file holding the private half of key (an age recipient
// or an SSH public key line), and whether there is one.
func (p *Published) File(key string) (string, bool) {
	k := strings.TrimSpace(key)
	if strings.HasPrefix(k, "ssh-") {
		k = sshKeyID(k)
	}
	f, ok := p.byKey[k]
	return f, ok
}

// Len is how many published keys were found.
func (p *Published) Len() int { return len(p.byKey) }

// Recipient is a key something is about to be encrypted to, with who it
// stands for ("user:crs58", "machine:cinnabar").
type Recipient struct {
	Key, Who string
}

// ErrPublished is wrapped by Check's error.
var ErrPublished = errors.New("recipient's private key is committed to the repository")

// Check refuses recipients whose private half is published, unless the
// file holding it is one of allowed (absolute paths: the identity files a
// lab fleet declares as its own). The error names every refused key, the
// file that publishes it and the two ways out.
func (p *Published) Check(rs []Recipient, allowed []string) error {
	ok := map[string]bool{}
	for _, a := range allowed {
		ok[filepath.Clean(a)] = true
	}
	var bad []string
	seen := map[string]bool{}
	for _, r := range rs {
		f, pub := p.File(r.Key)
		if !pub || ok[filepath.Clean(f)] || seen[r.Key] {
			continue
		}
		seen[r.Key] = true
		rel := f
		if p.Root != "" {
			if x, err := filepath.Rel(p.Root, f); err == nil {
				rel = filepath.ToSlash(x)
			}
		}
		bad = append(bad, fmt.Sprintf("%s (%s) has its private key in %s", abbrev([]byte(r.Key)), r.Who, rel))
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return fmt.Errorf("%w: refusing to encrypt to %s. Anyone with a copy of the repository could decrypt it. "+
		"Give the user their own key (`age-keygen -o ~/.config/sops/age/keys.txt`; its public key, "+
		"`age-keygen -y ~/.config/sops/age/keys.txt`, goes into ageKeys), or, for a test fleet whose "+
		"secrets protect nothing, declare the identity files in the fleet's own data "+
		"(fleet.lab.identities)", ErrPublished, strings.Join(bad, "; "))
}
