package status

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/digest"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/nix/nixtest"
)

// The status's evaluation is skipped while the flake's files, the
// selection and nix are unchanged, runs again when any changes, and a
// partial answer is passed on but never recorded.
func TestToplevelsCached(t *testing.T) {
	n := nixtest.New(t)
	flake := t.TempDir()
	write := func(body string) {
		assert.NilError(t, os.WriteFile(filepath.Join(flake, "flake.nix"), []byte(body), 0o644))
	}
	write("{ outputs = _: { }; }")
	tl := &Toplevels{Flake: flake, Cache: cache.NewLocal(t.TempDir()), Nix: n, Hasher: digest.NewHasher("")}
	a, b := &fleet.Machine{Name: "a"}, &fleet.Machine{Name: "b"}
	calls, fail := 0, ""
	eval := func(_ context.Context, ms []*fleet.Machine) (map[string]string, map[string]error) {
		calls++
		want, failed := map[string]string{}, map[string]error{}
		for _, m := range ms {
			if m.Name == fail {
				failed[m.Name] = errors.New("attribute missing")
				continue
			}
			want[m.Name] = "/nix/store/x-" + m.Name
		}
		return want, failed
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		change    func()
		machines  []*fleet.Machine
		wantCalls int
		wantFail  bool
	}{
		{name: "first", machines: []*fleet.Machine{a, b}, wantCalls: 1},
		{name: "unchanged", machines: []*fleet.Machine{b, a}, wantCalls: 1},
		{name: "other selection", machines: []*fleet.Machine{a}, wantCalls: 2},
		{name: "edited flake", change: func() { write("{ outputs = _: { x = 1; }; }") }, machines: []*fleet.Machine{a, b}, wantCalls: 3},
		{name: "edited again, b fails", change: func() { write("{ outputs = _: { x = 2; }; }"); fail = "b" }, machines: []*fleet.Machine{a, b}, wantCalls: 4, wantFail: true},
		{name: "failure not recorded", machines: []*fleet.Machine{a, b}, wantCalls: 5, wantFail: true},
	} {
		if tc.change != nil {
			tc.change()
		}
		want, failed := tl.toplevels(ctx, tc.machines, eval)
		assert.Equal(t, calls, tc.wantCalls, tc.name)
		assert.Equal(t, want["a"], "/nix/store/x-a", tc.name)
		if tc.wantFail {
			assert.ErrorContains(t, failed["b"], "attribute missing", tc.name)
			assert.Equal(t, want["b"], "", tc.name)
		} else {
			assert.Equal(t, len(failed), 0, tc.name)
		}
	}
}
