package lab

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/vanixiets/vanixiets/tasks/agekey"
	"github.com/vanixiets/vanixiets/tasks/fsutil"
)

// writeKey writes an ed25519 private key in OpenSSH format (0600) and its
// public half next to it (path + ".pub").
func writeKey(path string, key ed25519.PrivateKey, comment string) error {
	blk, err := ssh.MarshalPrivateKey(key, comment)
	if err != nil {
		return fmt.Errorf("encode key %s: %w", path, err)
	}
	if err := fsutil.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
		return err
	}
	pub, err := ssh.NewPublicKey(key.Public())
	if err != nil {
		return err
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " " + comment + "\n"
	return fsutil.WriteFile(path+".pub", []byte(line), 0o644)
}

// readKey reads an OpenSSH ed25519 private key; ok is false when the file
// does not exist.
func readKey(path string) (ed25519.PrivateKey, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	k, err := ssh.ParseRawPrivateKey(b)
	if err != nil {
		return nil, false, fmt.Errorf("parse key %s: %w", path, err)
	}
	if key, ok := agekey.Ed25519(k); ok {
		return key, true, nil
	}
	return nil, false, fmt.Errorf("key %s is %T, want ed25519", path, k)
}

// ensureKey returns the key at path, writing want (or a new key when want
// is nil and none exists). changed says whether the file was (re)written.
func ensureKey(path string, want ed25519.PrivateKey, comment string) (key ed25519.PrivateKey, changed bool, err error) {
	have, ok, err := readKey(path)
	if err != nil && want == nil {
		return nil, false, err
	}
	if ok && (want == nil || have.Equal(want)) {
		return have, false, nil
	}
	if want == nil {
		if _, want, err = ed25519.GenerateKey(rand.Reader); err != nil {
			return nil, false, err
		}
	}
	return want, true, writeKey(path, want, comment)
}

func publicKey(k ed25519.PrivateKey) ssh.PublicKey {
	pub, err := ssh.NewPublicKey(k.Public())
	if err != nil {
		panic(err) // ed25519 public keys always convert
	}
	return pub
}

// sshAlias is the host part of a deploy target: "root@cinnabar" -> "cinnabar".
func sshAlias(target string) (user, host string) {
	user, host = "root", target
	if i := strings.LastIndex(target, "@"); i >= 0 {
		user, host = target[:i], target[i+1:]
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h // the lab's own port replaces the fleet's
	}
	return user, host
}

// sshFiles renders the lab's known_hosts and ssh_config for the given hosts.
func sshFiles(hosts []Host, clientKey, knownHosts string) (kh, cfg []byte) {
	hosts = append([]Host(nil), hosts...)
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].Name < hosts[j].Name })
	var k, c strings.Builder
	c.WriteString("# Written by the vanixiets lab; regenerated on every lab change.\n")
	for _, h := range hosts {
		if h.HostKey == nil {
			continue
		}
		user, alias := sshAlias(h.Target)
		names := []string{alias}
		if alias != h.Name {
			names = append(names, h.Name)
		}
		names = append(names, h.Addr.String())
		fmt.Fprintf(&k, "%s %s\n", strings.Join(names, ","), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(h.HostKey))))
		fmt.Fprintf(&c, "\nHost %s\n", strings.Join(names, " "))
		fmt.Fprintf(&c, "  HostName %s\n  Port %d\n  User %s\n  HostKeyAlias %s\n", h.Addr, h.Port, user, alias)
	}
	c.WriteString("\nHost *\n")
	fmt.Fprintf(&c, "  IdentityFile %s\n  IdentitiesOnly yes\n", quote(clientKey))
	fmt.Fprintf(&c, "  UserKnownHostsFile %s\n  GlobalKnownHostsFile /dev/null\n", quote(knownHosts))
	c.WriteString("  StrictHostKeyChecking yes\n  UpdateHostKeys no\n  CheckHostIP no\n")
	c.WriteString("  PasswordAuthentication no\n  KbdInteractiveAuthentication no\n  BatchMode yes\n")
	c.WriteString("  ConnectTimeout 5\n  LogLevel ERROR\n")
	return []byte(k.String()), []byte(c.String())
}

func quote(s string) string {
	if strings.ContainsAny(s, " \t\"") {
		return strconv.Quote(s)
	}
	return s
}
