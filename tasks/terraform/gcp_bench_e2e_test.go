//go:build e2e

package terraform

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/fakehcloud"
	"github.com/vanixiets/vanixiets/tasks/lab/labtest"
)

var allCloud = []string{"cinnabar", "electrum", "galena", "scheelite"}

// BenchmarkPlanNoChangeBothClouds: terraform plan of the four cloud
// machines across both providers (hcloud and google, each against its
// fake) when all of them exist: the warm "nothing changed" path of
// tf:plan. Target: at most 3 s.
func BenchmarkPlanNoChangeBothClouds(b *testing.B) {
	e := newEnv(b, fakehcloud.Config{})
	ctx := context.Background()
	r := cloudRendering(b, e.id, labCloudConfig(b, allCloud...), allCloud...)
	_, err := e.planApplyRendering(b, r)
	assert.NilError(b, err, e.log.String())
	p, err := e.w.Plan(ctx, r) // warm: providers initialized, state in place
	assert.NilError(b, err, e.log.String())
	assert.Assert(b, !p.HasChanges(), p.Summary())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := e.w.Plan(ctx, r)
		assert.NilError(b, err, e.log.String())
		assert.Assert(b, !p.HasChanges(), p.Summary())
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/plan")
}

// BenchmarkRunPlanNoChangeBothClouds is BenchmarkPlanNoChangeBothClouds
// through tf:plan's path, PlanStep in a Pipeline: with no store every
// iteration plans (the engine's cost over Workspace.Plan); with a store
// the first plans and the others take the record while the saved plan is
// pending (Verify reads plan.json and the state file).
func BenchmarkRunPlanNoChangeBothClouds(b *testing.B) {
	for _, tc := range []struct {
		name  string
		store bool
	}{{"no-record", false}, {"record", true}} {
		b.Run(tc.name, func(b *testing.B) {
			e := newEnv(b, fakehcloud.Config{})
			ctx := context.Background()
			r := cloudRendering(b, e.id, labCloudConfig(b, allCloud...), allCloud...)
			_, err := e.planApplyRendering(b, r)
			assert.NilError(b, err, e.log.String())
			var store cache.Store
			if tc.store {
				store = cache.NewLocal(filepath.Join(b.TempDir(), "store"))
			}
			p, _, err := e.w.RunPlan(ctx, r, store) // warm, as BenchmarkPlanNoChangeBothClouds
			assert.NilError(b, err, e.log.String())
			assert.Assert(b, !p.HasChanges(), p.Summary())
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p, hit, err := e.w.RunPlan(ctx, r, store)
				assert.NilError(b, err, e.log.String())
				assert.Assert(b, !p.HasChanges(), p.Summary())
				assert.Equal(b, hit, tc.store)
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/plan")
		})
	}
}

// BenchmarkApplyFourCloudMachinesLab: plan + apply creating the four cloud
// machines (two Hetzner servers, two GCP instances, scheelite with its
// GPU) as real lab hosts behind both fakes; every sshd answers after.
// Target: at most 20 s. Needs root.
func BenchmarkApplyFourCloudMachinesLab(b *testing.B) {
	labtest.NeedRoot(b)
	cfg := labCloudConfig(b, allCloud...)
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		l := labtest.Open(b, labtestConfig())
		e := newEnv(b, fakehcloud.Config{Backend: &fakehcloud.LabBackend{Lab: l}})
		r := cloudRendering(b, e.id, cfg, allCloud...)
		b.StartTimer()
		start := time.Now()
		_, err := e.planApplyRendering(b, r)
		total += time.Since(start)
		b.StopTimer()
		assert.NilError(b, err, e.log.String())
		for _, m := range allCloud {
			a, ok, err := e.w.Address(m)
			assert.NilError(b, err)
			assert.Assert(b, ok, m)
			c, err := net.DialTimeout("tcp", net.JoinHostPort(a.String(), "22"), 5*time.Second)
			assert.NilError(b, err, "%s is a lab host with sshd at %s", m, a)
			c.Close()
		}
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/apply4")
}
