package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"gotest.tools/v3/assert"
)

// groupRecorder watches groups of steps: a group is in flight from its
// first step's start to its last step's end.
type groupRecorder struct {
	mu       sync.Mutex
	started  map[string]bool
	inFlight int
	peak     int
	order    []string // "start g" / "end g"
}

func (r *groupRecorder) step(group, name string, last bool, deps []string, fail error) *Step {
	return &Step{Name: name, Group: group, Deps: deps, NoCache: true, Run: func(context.Context, Input) (Outputs, error) {
		r.mu.Lock()
		if !r.started[group] {
			r.started[group] = true
			r.inFlight++
			r.peak = max(r.peak, r.inFlight)
			r.order = append(r.order, "start "+group)
		}
		r.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		if last || fail != nil {
			r.mu.Lock()
			r.inFlight--
			r.order = append(r.order, "end "+group)
			r.mu.Unlock()
		}
		return nil, fail
	}}
}

// TestGroups: at most Groups groups are in flight; a group holds its slot
// through all its steps and gives it back when its last step ends, also
// when that step was skipped after a failure.
func TestGroups(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name     string
		groups   int
		machines int
		failing  string // this group's first step fails: the rest are skipped
		wantPeak int
	}{
		{name: "limit 2 of 6", groups: 2, machines: 6, wantPeak: 2},
		{name: "limit 1 of 4", groups: 1, machines: 4, wantPeak: 1},
		{name: "limit above the groups", groups: 10, machines: 3, wantPeak: 3},
		{name: "a failed group frees its slot", groups: 1, machines: 3, failing: "m0", wantPeak: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &groupRecorder{started: map[string]bool{}}
			var steps []*Step
			for i := 0; i < tc.machines; i++ {
				g := fmt.Sprintf("m%d", i)
				var fail error
				if g == tc.failing {
					fail = boom
				}
				steps = append(steps,
					r.step(g, g+":copy", false, []string{"build"}, fail),
					r.step(g, g+":activate", false, []string{g + ":copy"}, nil),
					r.step(g, g+":confirm", true, []string{g + ":activate"}, nil))
			}
			build := &Step{Name: "build", NoCache: true, Run: func(context.Context, Input) (Outputs, error) { return nil, nil }}
			p := newPipeline(t, append([]*Step{build}, steps...)...)
			p.Parallel, p.Groups = 100, tc.groups
			rs, _ := p.Run(context.Background())
			assert.Equal(t, r.peak, tc.wantPeak, "order: %v", r.order)
			for _, res := range rs {
				switch {
				case tc.failing != "" && res.Name == tc.failing+":copy":
					assert.Equal(t, res.Status, Failed)
				case tc.failing != "" && (res.Name == tc.failing+":activate" || res.Name == tc.failing+":confirm"):
					assert.Equal(t, res.Status, Skipped)
				default:
					assert.Equal(t, res.Status, Succeeded, res.Name)
				}
			}
			assert.Equal(t, len(r.started), tc.machines, "every group ran")
		})
	}
}

// TestGroupsWithFewStepSlots: a group limit above the step limit still
// finishes (a group holding its slot waits only for step slots).
func TestGroupsWithFewStepSlots(t *testing.T) {
	r := &groupRecorder{started: map[string]bool{}}
	var steps []*Step
	for i := 0; i < 5; i++ {
		g := fmt.Sprintf("m%d", i)
		steps = append(steps, r.step(g, g+":a", false, nil, nil), r.step(g, g+":b", true, []string{g + ":a"}, nil))
	}
	p := newPipeline(t, steps...)
	p.Parallel, p.Groups = 1, 4
	done := make(chan error, 1)
	go func() { _, err := p.Run(context.Background()); done <- err }()
	select {
	case err := <-done:
		assert.NilError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("deadlock: the run did not end")
	}
}

// TestGroupsCancelled: steps waiting for a group slot when the run is
// cancelled end as cancelled; the run returns.
func TestGroupsCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	hold := &Step{Name: "m0:a", Group: "m0", NoCache: true, Run: func(ctx context.Context, _ Input) (Outputs, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	// m1 asks for a slot only once m0 holds the only one.
	gate := &Step{Name: "gate", NoCache: true, Run: func(context.Context, Input) (Outputs, error) {
		<-started
		return nil, nil
	}}
	waits := &Step{Name: "m1:a", Group: "m1", Deps: []string{"gate"}, NoCache: true, Run: func(context.Context, Input) (Outputs, error) {
		t.Error("m1 ran although m0 held the only slot until the cancellation")
		return nil, nil
	}}
	p := newPipeline(t, hold, gate, waits)
	p.Groups = 1
	go func() { <-started; time.Sleep(20 * time.Millisecond); cancel() }()
	rs, err := p.Run(ctx)
	assert.ErrorContains(t, err, "cancelled")
	assert.DeepEqual(t, statuses(rs), map[string]Status{"m0:a": Cancelled, "gate": Succeeded, "m1:a": Cancelled})
}
