package fakegcp

import (
	"context"
	"path/filepath"

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
		be, name, err := fakehcloud.BackendFromEnv(openLab)
		if err != nil {
			return "", "", nil, err
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
