package fakehcloud

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/crypto/ssh"

	"github.com/vanixiets/vanixiets/tasks/fakeapi"
	"github.com/vanixiets/vanixiets/tasks/lab"
)

// Hook is what the front doors give terraform to serve a cloud API for
// one terraform session (terraform.Options.ServeAPI and ServeGCP): it
// gets the session's work directory and returns the API's endpoint and
// token, and how to stop it. Its shape is plain values, not a terraform
// type: terraform's own tests import the fakes.
type Hook = func(ctx context.Context, workDir string) (endpoint, token string, stop func(), err error)

// ServeFromEnv is the Hook serving this fake in process, on a loopback
// port, when no HCLOUD_ENDPOINT is set (Session).
func ServeFromEnv(openLab func(ctx context.Context) (*lab.Lab, error)) Hook {
	return Session("fakehcloud", LabToken, openLab, func(be Backend, stateFile string) (*fakeapi.Server, error) {
		f, err := New(Config{Backend: be, StateFile: stateFile})
		if err != nil {
			return nil, err
		}
		return f.Start("")
	})
}

// Session is the Hook of a fake cloud (both fakes' ServeFromEnv): the
// backend is $VANIXIETS_FAKE_BACKEND (BackendFromEnv): "lab" (default;
// each machine a host of the lab openLab returns, which the front door
// opens with the fleet's machines so that a server answers at its
// machine's targetHost with the machine's host key; opened only when a
// machine is made or removed, so a plan with nothing to do opens no lab)
// or "memory" (addresses only). serve starts the fake named name with
// that backend and its state in the session's work directory, where the
// separate terraform commands of one workflow find the same world.
func Session(name, token string, openLab func(ctx context.Context) (*lab.Lab, error), serve func(be Backend, stateFile string) (*fakeapi.Server, error)) Hook {
	return func(ctx context.Context, workDir string) (string, string, func(), error) {
		be, backend, err := BackendFromEnv(openLab)
		if err != nil {
			return "", "", nil, err
		}
		s, err := serve(be, filepath.Join(workDir, name+"-"+backend+".json"))
		if err != nil {
			return "", "", nil, err
		}
		return s.URL, token, func() { s.Close() }, nil
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
