package fakehcloud

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/netip"

	"golang.org/x/crypto/ssh"

	"github.com/vanixiets/vanixiets/tasks/lab"
)

// LabBackend makes every server a lab host: a network namespace with its own
// sshd at the address the API reports, so that what terraform creates can be
// installed and deployed to like a real server. The host boots a bare
// image, as a real server does: sshd and a shell, no Nix
// (lab.CreateBareHost); the first deployment installs it.
type LabBackend struct {
	Lab *lab.Lab
	// HostKey, when set, gives the sshd host key of a server (the
	// machine's host key from vars); nil keeps or generates one.
	HostKey func(name string) ed25519.PrivateKey
}

// CreateHost implements Backend.
func (b *LabBackend) CreateHost(ctx context.Context, name string) (netip.Addr, error) {
	var key ed25519.PrivateKey
	if b.HostKey != nil {
		key = b.HostKey(name)
	}
	h, err := b.Lab.CreateBareHost(ctx, name, key)
	if err != nil {
		return netip.Addr{}, err
	}
	return h.Addr, nil
}

// DeleteHost implements Backend.
func (b *LabBackend) DeleteHost(ctx context.Context, name string) error {
	return b.Lab.DeleteHost(ctx, name)
}

// SSHHostKey implements HostKeys: the key the lab host's sshd presents.
func (b *LabBackend) SSHHostKey(ctx context.Context, name string) (ssh.PublicKey, error) {
	hs, err := b.Lab.Hosts()
	if err != nil {
		return nil, err
	}
	for _, h := range hs {
		if h.Name == name && h.HostKey != nil {
			return h.HostKey, nil
		}
	}
	return nil, fmt.Errorf("lab %s has no host %s with a host key", b.Lab.Name(), name)
}

// NamedBackend is the backend a fake cloud's command line names: "memory"
// (nil: the fake's own in-memory machines) or "lab" (the default lab, every
// server a lab host). Both fakes' mains (tools/fakehcloud, tools/fakegcp)
// choose it here.
func NamedBackend(name string) (Backend, error) {
	switch name {
	case "memory":
		return nil, nil
	case "lab":
		l, err := lab.Default()
		if err != nil {
			return nil, err
		}
		return &LabBackend{Lab: l}, nil
	}
	return nil, fmt.Errorf("-backend %q: want lab or memory", name)
}
