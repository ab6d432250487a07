//go:build e2e

package status

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/deploy"
	"github.com/vanixiets/vanixiets/tasks/lab"
	"github.com/vanixiets/vanixiets/tasks/lab/labtest"
	"github.com/vanixiets/vanixiets/tasks/nettest"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// TestStatusOnLab: two lab hosts of tasks/deploy's test fleet, alpha
// deployed, beta never; then the flake moves on; then beta's host goes.
// labDeployer makes deployers of flake to the lab l, sharing one cache
// and deploy directory under dir: each deployment, as a user would run it,
// is a new one.
func labDeployer(t *testing.T, flake string, l *lab.Lab, dir string) func() *deploy.Deployer {
	opts := deploy.Options{Flake: flake, Lab: lab.ForDeploy(l), Cache: cache.NewLocal(filepath.Join(dir, "cache")),
		Dir: filepath.Join(dir, "deploy"), Timeout: 3 * time.Second, ConnectTimeout: 3 * time.Second}
	return func() *deploy.Deployer {
		d, err := deploy.New(opts)
		assert.NilError(t, err)
		return d
	}
}

func TestStatusOnLab(t *testing.T) {
	labtest.NeedRoot(t)
	dir := t.TempDir()
	flake := filepath.Join(dir, "flake")
	assert.NilError(t, os.MkdirAll(flake, 0o755))
	b, err := os.ReadFile(labtest.Repo("tasks", "deploy", "testdata", "flake", "flake.nix"))
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(filepath.Join(flake, "flake.nix"), b, 0o644))
	// params writes the test flake's params.nix (see its flake.nix).
	params := func(attrs string) {
		assert.NilError(t, os.WriteFile(filepath.Join(flake, "params.nix"), []byte(`{ mode = "ok"; `+attrs+` }`), 0o644))
	}
	params(`version = "1";`)
	l := labtest.Open(t, lab.Config{Machines: []lab.Machine{{Name: "alpha"}, {Name: "beta"}}})
	newDeployer := labDeployer(t, flake, l, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	assert.NilError(t, newDeployer().UpLab(ctx, []string{"alpha", "beta"}))
	rows, err := newDeployer().Run(ctx, []string{"alpha"})
	assert.NilError(t, err, deploy.Table(rows))
	deployed := rows[0].Toplevel

	// silent accepts connections and never writes (an sshd that hangs).
	silent := nettest.Silent(t).String()

	for _, tc := range []struct {
		name        string
		before      func()
		selectors   []string
		want        map[string]string // machine -> state
		unreachable []string
		errorHas    string // in the unreachable row's error
	}{
		{
			name:      "one deployed, one never",
			selectors: []string{"alpha", "beta"},
			want:      map[string]string{"alpha": UpToDate, "beta": Never},
		},
		{
			name:      "the flake moved on",
			before:    func() { params(`version = "2";`) },
			selectors: []string{"alpha", "beta"},
			want:      map[string]string{"alpha": Behind, "beta": Never},
		},
		{
			name:      "a selector picks one",
			selectors: []string{"beta"},
			want:      map[string]string{"beta": Never},
		},
		{
			// beta's targetHost accepts TCP and never says a word: given up
			// at the timeout, named, while alpha is read.
			name:        "a host that never answers",
			before:      func() { params(`version = "2"; targets = { beta = "root@` + silent + `"; };`) },
			selectors:   []string{"alpha", "beta"},
			want:        map[string]string{"alpha": Behind, "beta": Unknown},
			unreachable: []string{"beta"},
			errorHas:    "beta (root@" + silent + ") did not answer within 2s",
		},
		{
			name:        "a host down",
			before:      func() { params(`version = "2";`); assert.NilError(t, l.DeleteHost(ctx, "beta")) },
			selectors:   []string{"alpha", "beta"},
			want:        map[string]string{"alpha": Behind, "beta": Unknown},
			unreachable: []string{"beta"},
			errorHas:    "ssh root@beta: connect",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			rows, err := Run(ctx, newDeployer(), tc.selectors, Options{Timeout: 2 * time.Second})
			t.Log("\n" + Table(rows))
			if tc.unreachable == nil {
				assert.NilError(t, err)
			} else {
				var ue *UnreachableError
				assert.Assert(t, errors.As(err, &ue), "error %v", err)
				assert.DeepEqual(t, ue.Machines, tc.unreachable)
				assert.Assert(t, is.Contains(Table(rows), "unreachable"))
			}
			got := map[string]string{}
			for _, r := range rows {
				got[r.Machine] = r.State
				assert.Assert(t, strings.HasPrefix(r.Want, "/nix/store/"), "%s: the flake's toplevel %q", r.Machine, r.Want)
				switch r.State {
				case UpToDate:
					assert.Equal(t, r.Running, deployed)
					assert.Equal(t, r.Running, r.Want)
					assert.Equal(t, r.Generation, 1)
					assert.Assert(t, !r.Activated.IsZero(), "%s: no activation time", r.Machine)
				case Behind:
					assert.Equal(t, r.Running, deployed)
					assert.Assert(t, r.Want != deployed)
				case Never:
					assert.Equal(t, r.Running, "")
				case Unknown:
					assert.Assert(t, r.Unreachable)
					assert.Assert(t, is.Contains(r.Error, r.Machine))
					assert.Assert(t, is.Contains(r.Error, tc.errorHas))
				}
			}
			assert.DeepEqual(t, got, tc.want)
		})
	}
}
