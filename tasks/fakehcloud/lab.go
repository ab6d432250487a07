package fakehcloud

import (
	"context"
	"fmt"
	"net/netip"

	"golang.org/x/crypto/ssh"

	"github.com/vanixiets/vanixiets/tasks/lab"
)

// LabBackend makes every server a lab host: a network namespace with its own
// sshd at the address the API reports, so that what terraform creates can be
// installed and deployed to like a real server. The host boots a bare
// image, as a real server does: sshd with a host key of the image's own
// (not the machine's from vars), a shell, no Nix (lab.CreateBareHost);
// the first deployment installs it and gives it the machine's key.
type LabBackend struct {
	Lab *lab.Lab
}

// CreateHost implements Backend.
func (b *LabBackend) CreateHost(ctx context.Context, name string) (netip.Addr, error) {
	h, err := b.Lab.CreateBareHost(ctx, name, nil)
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
