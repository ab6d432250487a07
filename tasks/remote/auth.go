package remote

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// keyring is one connection's client keys: the agent's first, then key
// files, offered as ONE public-key method (the ssh package tries each
// method name once, so a second "publickey" method would never be asked).
//
// The agent comes first because that is where the owners of the fleet's
// laptops keep their keys: 1Password and Secretive are agents (often
// named by IdentityAgent), and a passphrase-protected key file is usable
// only through one. A key file is read when the agent does not hold it: a
// missing file is skipped (as OpenSSH does), an encrypted one is noted
// (it needs the agent), and a file that holds only a public key (the
// 1Password way: IdentityFile ~/.ssh/id.pub) names which agent key to use.
type keyring struct {
	sock       string // the agent asked, "" for none
	agentErr   error  // why the agent could not be asked
	agentTotal int    // keys the agent holds
	agentUsed  []ssh.Signer
	files      []ssh.Signer
	fileNotes  []string
	onlyNamed  bool // IdentitiesOnly narrowed the agent's keys
	close      func()
}

// newKeyring gathers cfg's keys. Only a key file that is no key at all is
// an error here; a connection with no key at all fails in explain's words.
func newKeyring(cfg Config) (*keyring, error) {
	k := &keyring{close: func() {}, onlyNamed: cfg.IdentitiesOnly}
	named := map[string]bool{} // public keys the key files name
	for _, f := range cfg.KeyFiles {
		b, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			k.fileNotes = append(k.fileNotes, f+" (missing)")
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("ssh %s: key file %s: %v", cfg.hopName(), f, err)
		}
		if pb, err := os.ReadFile(f + ".pub"); err == nil {
			if pub, _, _, _, err := ssh.ParseAuthorizedKey(pb); err == nil {
				named[string(pub.Marshal())] = true
			}
		}
		s, err := ssh.ParsePrivateKey(b)
		var pm *ssh.PassphraseMissingError
		switch {
		case err == nil:
			named[string(s.PublicKey().Marshal())] = true
			k.files = append(k.files, s)
		case errors.As(err, &pm):
			if pm.PublicKey != nil {
				named[string(pm.PublicKey.Marshal())] = true
			}
			k.fileNotes = append(k.fileNotes, f+" (encrypted: usable only through the agent, ssh-add "+f+")")
		default:
			pub, _, _, _, perr := ssh.ParseAuthorizedKey(b)
			if perr != nil {
				return nil, fmt.Errorf("ssh %s: key file %s is neither a private nor a public key (%v); fix IdentityFile", cfg.hopName(), f, err)
			}
			named[string(pub.Marshal())] = true
			k.fileNotes = append(k.fileNotes, f+" (a public key: names an agent key)")
		}
	}
	k.sock = cfg.AgentSocket
	if k.sock == "" && !cfg.NoAgent {
		k.sock = os.Getenv("SSH_AUTH_SOCK")
	}
	if cfg.NoAgent {
		k.sock = ""
	}
	if k.sock != "" {
		conn, err := net.Dial("unix", k.sock)
		if err != nil {
			k.agentErr = err
		} else {
			k.close = func() { conn.Close() }
			signers, err := agent.NewClient(conn).Signers()
			if err != nil {
				k.agentErr = err
			}
			k.agentTotal = len(signers)
			for _, s := range signers {
				if !cfg.IdentitiesOnly || named[string(s.PublicKey().Marshal())] {
					k.agentUsed = append(k.agentUsed, s)
				}
			}
		}
	}
	// A key file the agent holds too is offered once, through the agent.
	var files []ssh.Signer
	for _, s := range k.files {
		dup := false
		for _, a := range k.agentUsed {
			if bytes.Equal(a.PublicKey().Marshal(), s.PublicKey().Marshal()) {
				dup = true
			}
		}
		if !dup {
			files = append(files, s)
		}
	}
	k.files = files
	return k, nil
}

// signers are the keys offered, agent first.
func (k *keyring) signers() []ssh.Signer {
	return append(append([]ssh.Signer(nil), k.agentUsed...), k.files...)
}

// methods is the one public-key method, or none when there is no key.
func (k *keyring) methods() []ssh.AuthMethod {
	if len(k.signers()) == 0 {
		return nil
	}
	return []ssh.AuthMethod{ssh.PublicKeys(k.signers()...)}
}

// explain says where keys were looked for, what each place had, and how to
// add one: for a connection without a key, and for one whose every key the
// host refused (refused true).
func (k *keyring) explain(refused bool) string {
	var parts []string
	switch {
	case k.sock == "":
		parts = append(parts, "no agent (SSH_AUTH_SOCK is not set, or IdentityAgent none)")
	case k.agentErr != nil && k.agentTotal == 0:
		parts = append(parts, fmt.Sprintf("the agent at %s could not be asked (%v)", k.sock, k.agentErr))
	default:
		n := fmt.Sprintf("%d key%s", k.agentTotal, plural(k.agentTotal))
		if k.agentTotal > 0 {
			n += " (" + fingerprints(k.agentUsed) + ")"
		}
		if k.onlyNamed && len(k.agentUsed) < k.agentTotal {
			n = fmt.Sprintf("%d key%s, %d of them named by IdentityFile (IdentitiesOnly yes)", k.agentTotal, plural(k.agentTotal), len(k.agentUsed))
			if len(k.agentUsed) > 0 {
				n += " (" + fingerprints(k.agentUsed) + ")"
			}
		}
		switch {
		case k.agentTotal == 0:
			parts = append(parts, fmt.Sprintf("the agent at %s had no keys", k.sock))
		case refused && len(k.agentUsed) > 0:
			parts = append(parts, fmt.Sprintf("the agent at %s had %s and none was accepted", k.sock, n))
		default:
			parts = append(parts, fmt.Sprintf("the agent at %s had %s", k.sock, n))
		}
	}
	if len(k.files) > 0 {
		what := "key files: "
		if refused {
			what = "key files, not accepted either: "
		}
		var fs []string
		for _, s := range k.files {
			fs = append(fs, ssh.FingerprintSHA256(s.PublicKey()))
		}
		parts = append(parts, what+strings.Join(fs, ", "))
	}
	if len(k.fileNotes) > 0 {
		parts = append(parts, "key files: "+strings.Join(k.fileNotes, ", "))
	}
	if len(k.files) == 0 && len(k.fileNotes) == 0 {
		parts = append(parts, "no key file (no IdentityFile, no ~/.ssh/id_*)")
	}
	return strings.Join(parts, "; ") + "; add the key the host accepts to the agent with ssh-add <private key file> (in 1Password or Secretive: make the key available to its agent), or give its file with IdentityFile"
}

func fingerprints(ss []ssh.Signer) string {
	var out []string
	for _, s := range ss {
		out = append(out, s.PublicKey().Type()+" "+ssh.FingerprintSHA256(s.PublicKey()))
	}
	return strings.Join(out, ", ")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
