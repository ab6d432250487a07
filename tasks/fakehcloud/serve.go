package fakehcloud

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/crypto/ssh"

	"github.com/vanixiets/vanixiets/tasks/lab"
)

// ServeFromEnv is the hook the front doors give terraform
// (terraform.Options.ServeAPI) when no HCLOUD_ENDPOINT is set: it serves
// this fake in process for one terraform session, on a loopback port, with
// its servers kept in the session's work directory. The backend is
// $VANIXIETS_FAKE_BACKEND: "lab" (default; each server a host of the lab
// openLab returns, which the front door opens with the fleet's machines so
// that a server answers at its machine's targetHost with the machine's
// host key) or "memory" (addresses only) (BackendFromEnv). openLab is
// called only for the lab backend, when the first server is made or
// removed.
//
// The hook's shape is plain values, not a terraform type: terraform's own
// tests import this package.
func ServeFromEnv(openLab func(ctx context.Context) (*lab.Lab, error)) func(ctx context.Context, workDir string) (endpoint, token string, stop func(), err error) {
	return func(ctx context.Context, workDir string) (string, string, func(), error) {
		be, name, err := BackendFromEnv(openLab)
		if err != nil {
			return "", "", nil, err
		}
		f, err := New(Config{Backend: be, StateFile: filepath.Join(workDir, "fakehcloud-"+name+".json")})
		if err != nil {
			return "", "", nil, err
		}
		run, err := f.Start("127.0.0.1:0")
		if err != nil {
			return "", "", nil, err
		}
		return run.URL, LabToken, func() { run.Close() }, nil
	}
}

// BackendFromEnv is the backend $VANIXIETS_FAKE_BACKEND names, for both
// fake clouds: "lab" (the default; openLab's lab, opened on the first
// server made or removed, so a session that only reads never opens it) or
// "memory" (addresses only). name goes into the fake's state file's name.
func BackendFromEnv(openLab func(ctx context.Context) (*lab.Lab, error)) (be Backend, name string, err error) {
	switch name = os.Getenv("VANIXIETS_FAKE_BACKEND"); name {
	case "", "lab":
		return &lazyLab{open: openLab}, "lab", nil
	case "memory":
		return NewMemoryBackend(), name, nil
	}
	return nil, "", fmt.Errorf("VANIXIETS_FAKE_BACKEND=%q: want lab or memory", name)
}

// lazyLab is a LabBackend whose lab is opened on first use.
type lazyLab struct {
	open func(ctx context.Context) (*lab.Lab, error)
	once sync.Once
	be   *LabBackend
	err  error
}

func (l *lazyLab) get(ctx context.Context) (*LabBackend, error) {
	l.once.Do(func() {
		lb, err := l.open(ctx)
		l.be, l.err = &LabBackend{Lab: lb}, err
	})
	return l.be, l.err
}

// CreateHost implements Backend.
func (l *lazyLab) CreateHost(ctx context.Context, name string) (netip.Addr, error) {
	be, err := l.get(ctx)
	if err != nil {
		return netip.Addr{}, err
	}
	return be.CreateHost(ctx, name)
}

// DeleteHost implements Backend.
func (l *lazyLab) DeleteHost(ctx context.Context, name string) error {
	be, err := l.get(ctx)
	if err != nil {
		return err
	}
	return be.DeleteHost(ctx, name)
}

// SSHHostKey implements HostKeys.
func (l *lazyLab) SSHHostKey(ctx context.Context, name string) (ssh.PublicKey, error) {
	be, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return be.SSHHostKey(ctx, name)
}
