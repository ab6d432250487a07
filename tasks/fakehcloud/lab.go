package fakehcloud

import (
	"context"
	"crypto/ed25519"
	"net/netip"

	"github.com/vanixiets/vanixiets/tasks/lab"
)

// LabBackend makes every server a lab host: a network namespace with its own
// sshd at the address the API reports, so that what terraform creates can be
// installed and deployed to like a real server.
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
	h, err := b.Lab.CreateHost(ctx, name, key)
	if err != nil {
		return netip.Addr{}, err
	}
	return h.Addr, nil
}

// DeleteHost implements Backend.
func (b *LabBackend) DeleteHost(ctx context.Context, name string) error {
	return b.Lab.DeleteHost(ctx, name)
}
