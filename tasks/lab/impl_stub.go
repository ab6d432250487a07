package lab

import (
	"context"
	"crypto/ed25519"
	"errors"
)

var errNotYet = errors.New("lab: not implemented yet (issue 5 in progress)")

func (l *Lab) up(ctx context.Context, names []string, keys map[string]ed25519.PrivateKey) ([]Host, error) {
	return nil, errNotYet
}
func (l *Lab) deleteHost(ctx context.Context, name string) error { return errNotYet }
func (l *Lab) down(ctx context.Context) error                    { return errNotYet }
func (l *Lab) status(ctx context.Context) ([]HostStatus, error)  { return nil, errNotYet }
func (l *Lab) exec(ctx context.Context, name string, argv ...string) ([]byte, error) {
	return nil, errNotYet
}
func (l *Lab) hosts() ([]Host, error) { return nil, errNotYet }
