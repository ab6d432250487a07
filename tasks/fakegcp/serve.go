package fakegcp

import (
	"context"

	"github.com/vanixiets/vanixiets/tasks/fakeapi"
	"github.com/vanixiets/vanixiets/tasks/fakehcloud"
	"github.com/vanixiets/vanixiets/tasks/lab"
)

// ServeFromEnv is the hook the front doors give terraform
// (terraform.Options.ServeGCP) when no Google endpoint or credentials are
// set: this fake, served in process on a loopback port for one terraform
// session, with the backend $VANIXIETS_FAKE_BACKEND names, as for the
// Hetzner fake (fakehcloud.Session).
func ServeFromEnv(openLab func(ctx context.Context) (*lab.Lab, error)) fakehcloud.Hook {
	return fakehcloud.Session("fakegcp", LabToken, openLab, func(be fakehcloud.Backend, stateFile string) (*fakeapi.Server, error) {
		f, err := New(Config{Backend: be, StateFile: stateFile})
		if err != nil {
			return nil, err
		}
		return f.Start("")
	})
}
