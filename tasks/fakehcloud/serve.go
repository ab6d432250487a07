package fakehcloud

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vanixiets/vanixiets/tasks/lab"
)

// ServeFromEnv is the hook the front doors give terraform
// (terraform.Options.ServeAPI) when no HCLOUD_ENDPOINT is set: it serves
// this fake in process for one terraform session, on a loopback port, with
// its servers kept in the session's work directory. The backend is
// $VANIXIETS_FAKE_BACKEND: "lab" (default; each server a host of the lab
// openLab returns, which the front door opens with the fleet's machines so
// that a server answers at its machine's targetHost with the machine's
// host key) or "memory" (addresses only). openLab is called only for the
// lab backend.
//
// The hook's shape is plain values, not a terraform type: terraform's own
// tests import this package.
func ServeFromEnv(openLab func(ctx context.Context) (*lab.Lab, error)) func(ctx context.Context, workDir string) (endpoint, token string, stop func(), err error) {
	return func(ctx context.Context, workDir string) (string, string, func(), error) {
		name := os.Getenv("VANIXIETS_FAKE_BACKEND")
		if name == "" {
			name = "lab"
		}
		var be Backend
		switch name {
		case "memory":
			be = NewMemoryBackend()
		case "lab":
			l, err := openLab(ctx)
			if err != nil {
				return "", "", nil, err
			}
			be = &LabBackend{Lab: l}
		default:
			return "", "", nil, fmt.Errorf("VANIXIETS_FAKE_BACKEND=%q: want lab or memory", name)
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
