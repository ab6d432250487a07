package terraform

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"
	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/digest"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
)

// stepEnv is a workspace whose terraform is a stand-in that fails when
// run: a step that runs is seen failing, a step taken on its record is not.
type stepEnv struct {
	w     *Workspace
	id    *age.X25519Identity
	store cache.Store
}

func newStepEnv(t *testing.T) *stepEnv {
	t.Helper()
	dir := t.TempDir()
	id, err := age.GenerateX25519Identity()
	assert.NilError(t, err)
	tf := filepath.Join(dir, "terraform")
	assert.NilError(t, os.WriteFile(tf, []byte("#!/bin/sh\necho 'stand-in terraform: not to be run' >&2\nexit 1\n"), 0o755))
	rc := filepath.Join(dir, "terraform.rc")
	assert.NilError(t, os.WriteFile(rc, nil, 0o600))
	w := &Workspace{
		StateFile: filepath.Join(dir, "terraform.tfstate.age"),
		WorkDir:   filepath.Join(dir, "work"),
		Terraform: tf, CLIConfig: rc,
		Vault:     Vault{Identities: []age.Identity{id}, Recipients: []age.Recipient{id.Recipient()}},
		WaitDelay: time.Second,
	}
	assert.NilError(t, w.defaults())
	t.Cleanup(func() { os.RemoveAll(w.runs) })
	return &stepEnv{w: w, id: id, store: cache.NewLocal(filepath.Join(dir, "cache"))}
}

func (e *stepEnv) writeState(t *testing.T, serial int) {
	t.Helper()
	st := `{"version":4,"serial":` + itoa(serial) + `,"lineage":"l-1","resources":[{"mode":"managed","type":"hcloud_server","name":"alpha"}]}`
	assert.NilError(t, e.w.Vault.Write(e.w.StateFile, []byte(st)))
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// savePlan leaves a saved plan for renderKey, as tf:plan would.
func (e *stepEnv) savePlan(t *testing.T, renderKey string) *Plan {
	t.Helper()
	ss, err := e.w.stateSum()
	assert.NilError(t, err)
	p := &Plan{RenderKey: renderKey, StateSum: ss, Created: time.Now().UTC(),
		Changes: []ResourceChange{{Address: "hcloud_server.beta", Machine: "beta", Action: "create"}}}
	assert.NilError(t, e.w.Vault.Write(e.w.planFile(), []byte("plan")))
	b, _ := json.Marshal(p)
	assert.NilError(t, os.WriteFile(e.w.planMeta(), b, 0o600))
	return p
}

// record puts outs under s's key, as a run of s would have.
func (e *stepEnv) record(t *testing.T, s *pipeline.Step, outs pipeline.Outputs) {
	t.Helper()
	key := pipeline.StepKey(s, digest.Manifest{}, nil)
	assert.NilError(t, e.store.Put(context.Background(), key, pipeline.EncodeRecord(outs, time.Second)))
}

func runOne(t *testing.T, s *pipeline.Step, store cache.Store) pipeline.Result {
	t.Helper()
	p := &pipeline.Pipeline{Steps: []*pipeline.Step{s}, Cache: store, Hasher: digest.NewHasher("")}
	res, _ := p.Run(context.Background())
	return res[0]
}

func planHit(t *testing.T, s *pipeline.Step, store cache.Store) bool {
	t.Helper()
	p := &pipeline.Pipeline{Steps: []*pipeline.Step{s}, Cache: store, Hasher: digest.NewHasher("")}
	pl, err := p.Plan(context.Background())
	assert.NilError(t, err)
	return pl[0].Hit
}

func TestPlanStep(t *testing.T) {
	for _, tc := range []struct {
		name    string
		change  func(t *testing.T, e *stepEnv, renderKey string)
		record  bool
		wantHit bool // Plan and Run take the record
		wantKey bool // the key is the recorded one
	}{
		{name: "no record: runs", wantKey: false},
		{name: "recorded, saved plan pending: taken", record: true, wantHit: true, wantKey: true},
		{name: "recorded, plan applied since: runs", record: true, wantKey: true, change: func(t *testing.T, e *stepEnv, _ string) {
			e.w.dropPlan()
		}},
		{name: "recorded, saved plan of another render: runs", record: true, wantKey: true, change: func(t *testing.T, e *stepEnv, _ string) {
			e.savePlan(t, "another render")
		}},
		{name: "recorded, state moved under the saved plan: runs", record: true, change: func(t *testing.T, e *stepEnv, _ string) {
			e.writeState(t, 8)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newStepEnv(t)
			e.writeState(t, 7)
			r := rendering(t, e.id, "alpha", "beta")
			saved := e.savePlan(t, r.Key)
			s, err := e.w.PlanStep(r)
			assert.NilError(t, err)
			if tc.record {
				e.record(t, s, planOutputs(saved))
			}
			if tc.change != nil {
				tc.change(t, e, r.Key)
			}
			s, err = e.w.PlanStep(r)
			assert.NilError(t, err)
			assert.Equal(t, planHit(t, s, e.store), tc.wantHit, "Plan")
			res := runOne(t, s, e.store)
			assert.Equal(t, res.Hit, tc.wantKey)
			if !tc.wantHit {
				assert.Equal(t, res.Status, pipeline.Failed, "ran the stand-in terraform")
				assert.ErrorContains(t, res.Err, "terraform")
				return
			}
			assert.Equal(t, res.Status, pipeline.Cached)
			got, err := PlanOf(res.Outputs)
			assert.NilError(t, err)
			assert.DeepEqual(t, got.Changes, saved.Changes)
		})
	}
}

func TestApplyStep(t *testing.T) {
	for _, tc := range []struct {
		name    string
		change  func(t *testing.T, e *stepEnv, renderKey string)
		wantHit bool
	}{
		{name: "state as recorded, plan consumed: taken", wantHit: true},
		{name: "state serial moved: runs", change: func(t *testing.T, e *stepEnv, _ string) { e.writeState(t, 9) }},
		{name: "state gone: runs", change: func(t *testing.T, e *stepEnv, _ string) { os.Remove(e.w.StateFile) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newStepEnv(t)
			e.writeState(t, 7)
			r := rendering(t, e.id, "alpha", "beta")
			saved := e.savePlan(t, r.Key)
			s, err := e.w.ApplyStep(r, Yes)
			assert.NilError(t, err)

			// Pending: the record is never taken while its plan waits.
			world, err := e.w.stateIdentity()
			assert.NilError(t, err)
			outs := planOutputs(saved)
			for k, v := range world {
				outs[k] = v
			}
			e.record(t, s, outs)
			assert.Equal(t, planHit(t, s, e.store), false, "plan still pending")

			// As a finished apply leaves it: the plan consumed.
			e.w.dropPlan()
			if tc.change != nil {
				tc.change(t, e, r.Key)
			}
			assert.Equal(t, planHit(t, s, e.store), tc.wantHit)
			res := runOne(t, s, e.store)
			assert.Equal(t, res.Hit, true)
			if !tc.wantHit {
				assert.Equal(t, res.Status, pipeline.Failed)
				assert.ErrorContains(t, res.Err, "no saved plan: run tf:plan first")
				return
			}
			assert.Equal(t, res.Status, pipeline.Cached)
		})
	}
}

// RunApply keeps Apply's own refusals as its errors.
func TestRunApplyKeepsRefusals(t *testing.T) {
	e := newStepEnv(t)
	e.writeState(t, 7)
	r := rendering(t, e.id, "alpha", "beta")
	_, err := e.w.RunApply(context.Background(), r, Yes, e.store)
	assert.ErrorContains(t, err, "no saved plan: run tf:plan first")
	e.savePlan(t, "older render")
	_, err = e.w.RunApply(context.Background(), r, Yes, e.store)
	assert.ErrorIs(t, err, ErrStalePlan)
	e.savePlan(t, r.Key)
	_, err = e.w.RunApply(context.Background(), r, func(*Plan) bool { return false }, e.store)
	assert.ErrorIs(t, err, ErrDeclined)
}

func TestProvisionStep(t *testing.T) {
	state := func(addr string) string {
		return `{"version":4,"serial":3,"lineage":"l-1","outputs":{"alpha_ipv4":{"value":"` + addr + `"}},"resources":[{"mode":"managed","type":"hcloud_server","name":"alpha"}]}`
	}
	for _, tc := range []struct {
		name     string
		now      string // the state's address when the step is asked
		wantHit  bool
		wantAddr string
	}{
		{name: "state has the recorded address: taken", now: "203.0.113.7", wantHit: true, wantAddr: "203.0.113.7"},
		// Provision finds the server in the state and returns its new
		// address, running no terraform.
		{name: "address changed: runs", now: "203.0.113.9", wantAddr: "203.0.113.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newStepEnv(t)
			r := rendering(t, e.id, "alpha")
			s := e.w.ProvisionStep(r, "alpha", Yes)
			e.record(t, s, pipeline.Outputs{"address": "203.0.113.7"})
			assert.NilError(t, e.w.Vault.Write(e.w.StateFile, []byte(state(tc.now))))
			assert.Equal(t, planHit(t, s, e.store), tc.wantHit)
			a, p, err := e.w.RunProvision(context.Background(), r, "alpha", Yes, e.store)
			assert.NilError(t, err)
			assert.Equal(t, a.String(), tc.wantAddr)
			assert.Assert(t, p == nil, "no plan: nothing was created")
		})
	}
}
