package fakegcp

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/crypto/ssh"

	"github.com/vanixiets/vanixiets/tasks/fakehcloud"
	"github.com/vanixiets/vanixiets/tasks/lab"
)

// ServeFromEnv is the hook the front doors give terraform
// (terraform.Options.ServeGCP) when no Google endpoint or credentials are
// set: it serves this fake in process for one terraform session, on a
// loopback port, with its instances kept in the session's work directory.
// The backend is $VANIXIETS_FAKE_BACKEND, as for the Hetzner fake
// (fakehcloud.ServeFromEnv): "lab" (default; each instance a host of the
// lab openLab returns, opened only when an instance is made or removed,
// so a plan with nothing to do opens no lab) or "memory".
func ServeFromEnv(openLab func(ctx context.Context) (*lab.Lab, error)) func(ctx context.Context, workDir string) (endpoint, token string, stop func(), err error) {
	return func(ctx context.Context, workDir string) (string, string, func(), error) {
		name := os.Getenv("VANIXIETS_FAKE_BACKEND")
		if name == "" {
			name = "lab"
		}
		var be fakehcloud.Backend
		switch name {
		case "memory":
			be = fakehcloud.NewMemoryBackend()
		case "lab":
			be = &lazyLab{open: openLab}
		default:
			return "", "", nil, fmt.Errorf("VANIXIETS_FAKE_BACKEND=%q: want lab or memory", name)
		}
		f, err := New(Config{Backend: be, StateFile: filepath.Join(workDir, "fakegcp-"+name+".json")})
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

// lazyLab is a fakehcloud.LabBackend whose lab is opened on first use.
type lazyLab struct {
	open func(ctx context.Context) (*lab.Lab, error)
	once sync.Once
	be   *fakehcloud.LabBackend
	err  error
}

func (l *lazyLab) get(ctx context.Context) (*fakehcloud.LabBackend, error) {
	l.once.Do(func() {
		lb, err := l.open(ctx)
		l.be, l.err = &fakehcloud.LabBackend{Lab: lb}, err
	})
	return l.be, l.err
}

// CreateHost implements fakehcloud.Backend.
func (l *lazyLab) CreateHost(ctx context.Context, name string) (netip.Addr, error) {
	be, err := l.get(ctx)
	if err != nil {
		return netip.Addr{}, err
	}
	return be.CreateHost(ctx, name)
}

// DeleteHost implements fakehcloud.Backend.
func (l *lazyLab) DeleteHost(ctx context.Context, name string) error {
	be, err := l.get(ctx)
	if err != nil {
		return err
	}
	return be.DeleteHost(ctx, name)
}

// SSHHostKey implements fakehcloud.HostKeys.
func (l *lazyLab) SSHHostKey(ctx context.Context, name string) (ssh.PublicKey, error) {
	be, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return be.SSHHostKey(ctx, name)
}
