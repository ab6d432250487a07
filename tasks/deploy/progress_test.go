package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/pipeline"
)

// fleetSteps are the steps of a deployment of n machines m00..: evaluate,
// build, and per machine copy, activate, confirm.
func fleetSteps(n int) []*pipeline.Step {
	steps := []*pipeline.Step{{Name: "evaluate"}, {Name: "build"}}
	for i := 0; i < n; i++ {
		for _, k := range []string{"copy", "activate", "confirm"} {
			steps = append(steps, &pipeline.Step{Name: fmt.Sprintf("m%02d:%s", i, k)})
		}
	}
	return steps
}

// replay sends the events of a deployment of steps to disp as Deployer.event
// would: every step starts and ends; failing machines' copy fails and
// their other steps are skipped (they never start).
func replay(disp display, steps []*pipeline.Step, failing map[string]bool) {
	left := newMachineSteps(steps)
	for _, s := range steps {
		m, kind, ok := strings.Cut(s.Name, ":")
		if !ok {
			m, kind = sharedBar, s.Name
		}
		res := &pipeline.Result{Name: s.Name, Status: pipeline.Succeeded, Duration: time.Millisecond}
		started := true
		switch {
		case failing[m] && kind == "copy":
			res.Status, res.Err = pipeline.Failed, errors.New("copy to root@"+m+": the host's nix-daemon did not answer")
		case failing[m]:
			res.Status, res.Err, started = pipeline.Skipped, errors.New(`not run: dependency "copy" failed`), false
		}
		if started {
			disp.step(m, kind, pipeline.Event{Step: s.Name, Started: true}, kind+" ...", false)
		}
		text := fmt.Sprintf("%-9s done in 1ms", kind)
		if !res.Status.OK() {
			text = fmt.Sprintf("%-9s %s: %v", kind, res.Status, res.Err)
		}
		last := false
		if ok {
			last = left.ended(m)
		}
		disp.step(m, kind, pipeline.Event{Step: s.Name, Result: res}, text, last)
	}
	disp.stop()
}

// syncBuffer is a bytes.Buffer safe for the heartbeat's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDisplayChoice: the one place that picks the display.
func TestDisplayChoice(t *testing.T) {
	for _, tc := range []struct {
		machines int
		bars     bool
		out      io.Writer
		want     string
	}{
		{1, false, &bytes.Buffer{}, "deploy.lineDisplay"},
		{AggregateAbove, false, &bytes.Buffer{}, "deploy.lineDisplay"},
		{AggregateAbove + 1, false, &bytes.Buffer{}, "*deploy.fleetLines"},
		{64, false, &bytes.Buffer{}, "*deploy.fleetLines"},
		{1, true, &bytes.Buffer{}, "*deploy.bars"},
		{AggregateAbove + 1, true, &bytes.Buffer{}, "*deploy.fleetBars"},
		{64, true, io.Discard, "deploy.lineDisplay"},
	} {
		t.Run(fmt.Sprintf("%d-%v-%s", tc.machines, tc.bars, tc.want), func(t *testing.T) {
			disp := newDisplay(tc.out, tc.bars, fleetSteps(tc.machines), 8)
			defer disp.stop()
			assert.Equal(t, fmt.Sprintf("%T", disp), tc.want)
		})
	}
}

// TestFleetLines: 64 machines in a pipe are a few lines, not 64 x 6:
// the start, the shared steps, each failure once, and a line per quarter.
func TestFleetLines(t *testing.T) {
	for _, tc := range []struct {
		name      string
		machines  int
		failing   []string
		wantLines []string
		maxLines  int
	}{
		{
			name: "64 all fine", machines: 64,
			wantLines: []string{
				"*          deploying 64 machines, 8 at once",
				"*          evaluate  done in 1ms",
				"*          16/64 machines done (16 ok, 0 failed)",
				"*          32/64 machines done (32 ok, 0 failed)",
				"*          48/64 machines done (48 ok, 0 failed)",
				"*          64/64 machines done (64 ok, 0 failed)",
			},
			maxLines: 1 + 4 + 4,
		},
		{
			name: "a quarter fails", machines: 64, failing: []string{"m03", "m07", "m11", "m15", "m19", "m23", "m27", "m31", "m35", "m39", "m43", "m47", "m51", "m55", "m59", "m63"},
			wantLines: []string{
				"m03        copy      failed: copy to root@m03: the host's nix-daemon did not answer",
				"m63        copy      failed: copy to root@m63: the host's nix-daemon did not answer",
				"*          64/64 machines done (48 ok, 16 failed)",
			},
			maxLines: 1 + 4 + 4 + 16,
		},
		{
			name: "13 machines, quarters rounded up", machines: 13,
			wantLines: []string{"*          4/13 machines done", "*          7/13 machines done", "*          10/13 machines done", "*          13/13 machines done (13 ok, 0 failed)"},
			maxLines:  1 + 4 + 4,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out syncBuffer
			steps := fleetSteps(tc.machines)
			fail := map[string]bool{}
			for _, m := range tc.failing {
				fail[m] = true
			}
			replay(newFleetLines(&out, steps, 8, time.Hour), steps, fail)
			s := out.String()
			for _, want := range tc.wantLines {
				assert.Check(t, is.Contains(s, want))
			}
			lines := strings.Split(strings.TrimSpace(s), "\n")
			assert.Check(t, len(lines) <= tc.maxLines, "%d lines, want at most %d:\n%s", len(lines), tc.maxLines, s)
			assert.Check(t, !strings.Contains(s, "skipped"), "a skipped step was shown:\n%s", s)
			assert.Check(t, !strings.Contains(s, "activate  done"), "a machine's step line was shown:\n%s", s)
		})
	}
}

// TestFleetLinesHeartbeat: a long quiet stretch prints the aggregate line
// with what is running.
// TestFleetLinesDryRun: a dry run's fleet is planned, not deployed.
func TestFleetLinesDryRun(t *testing.T) {
	var out syncBuffer
	steps := []*pipeline.Step{{Name: "evaluate"}, {Name: "build"}}
	for i := 0; i < 20; i++ {
		steps = append(steps, &pipeline.Step{Name: fmt.Sprintf("m%02d:plan", i)})
	}
	replay(newFleetLines(&out, steps, 8, time.Hour), steps, nil)
	assert.Check(t, is.Contains(out.String(), "*          planning 20 machines, 8 at once"))
	assert.Check(t, is.Contains(out.String(), "*          20/20 machines done (20 ok, 0 failed)"))
}

func TestFleetLinesHeartbeat(t *testing.T) {
	var out syncBuffer
	steps := fleetSteps(20)
	f := newFleetLines(&out, steps, 8, 40*time.Millisecond)
	f.step("m00", "copy", pipeline.Event{Step: "m00:copy", Started: true}, "copy ...", false)
	f.step("m01", "copy", pipeline.Event{Step: "m01:copy", Started: true}, "copy ...", false)
	f.step("m02", "activate", pipeline.Event{Step: "m02:activate", Started: true}, "activate ...", false)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "0/20 machines done (0 ok, 0 failed); copy 2, activate 1") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	f.stop()
	assert.Check(t, is.Contains(out.String(), "*          0/20 machines done (0 ok, 0 failed); copy 2, activate 1"))
}

// TestFleetBarsRender: the aggregate bars on a (fake) terminal: phases and
// machines counted, the failure printed above them.
func TestFleetBarsRender(t *testing.T) {
	var buf syncBuffer
	steps := fleetSteps(16)
	replay(newFleetBars(&buf, steps), steps, map[string]bool{"m05": true})
	out := buf.String()
	for _, want := range []string{"(fleet)", "machines", "16/16", "15 ok, 1 failed", "copy", "activate", "confirm",
		"m05        copy      failed: copy to root@m05"} {
		assert.Check(t, is.Contains(out, want))
	}
	assert.Check(t, !strings.Contains(out, "m04 "), "a machine that did not fail has its own line:\n%s", out)
}

func TestDefaultParallel(t *testing.T) {
	n := DefaultParallel()
	assert.Check(t, n >= 8 && n <= 32, "%d", n)
}

// TestInFlight: a machine's steps are one group; the shared steps none.
func TestInFlight(t *testing.T) {
	steps := fleetSteps(3)
	slots := inFlight(steps, 2)
	assert.Equal(t, slots, 6)
	for _, s := range steps {
		m, _, ok := strings.Cut(s.Name, ":")
		if !ok {
			m = ""
		}
		assert.Equal(t, s.Group, m, s.Name)
	}
}

func TestMachineSteps(t *testing.T) {
	ms := newMachineSteps(fleetSteps(2))
	ms.started("m00")
	time.Sleep(5 * time.Millisecond)
	ms.started("m00") // the first start counts
	assert.Check(t, !ms.ended("m00"))
	assert.Check(t, !ms.ended("m00"))
	assert.Check(t, !ms.ended("m01"))
	assert.Check(t, is.Equal(ms.took("m00"), time.Duration(0)), "m00 has not ended")
	assert.Check(t, ms.ended("m00"), "the third of m00's steps is its last")
	assert.Check(t, ms.took("m00") >= 5*time.Millisecond, "%s", ms.took("m00"))
	ms.ended("m01")
	assert.Check(t, ms.ended("m01"))
	assert.Check(t, is.Equal(ms.took("m01"), time.Duration(0)), "m01 never started (skipped): no time of its own")
	var none *machineSteps
	assert.Check(t, !none.ended("m00"))
	assert.Check(t, is.Equal(none.took("m00"), time.Duration(0)))
	none.started("m00")
}

func TestListed(t *testing.T) {
	assert.Equal(t, listed([]string{"a", "b"}), "a, b")
	many := make([]string, AggregateAbove+1)
	assert.Equal(t, listed(many), fmt.Sprintf("%d machines", AggregateAbove+1))
}

func TestTotals(t *testing.T) {
	for _, tc := range []struct {
		rows []Summary
		want string
	}{
		{[]Summary{{Machine: "a", Result: "ok"}}, "1 machine: 1 ok"},
		{[]Summary{{Machine: "a", Result: "unchanged"}, {Machine: "b", Result: "failed"}, {Machine: "c", Result: "ok"}, {Machine: "d", Result: "failed"}},
			"4 machines: 1 ok, 1 unchanged, 2 failed (b, d)"},
		{[]Summary{{Machine: "a", Result: "rolled back"}, {Machine: "b", Result: "planned"}}, "2 machines: 1 planned, 1 rolled back (a)"},
		{[]Summary{{Machine: "a", Result: "installed"}}, "1 machine: 1 installed"},
	} {
		assert.Equal(t, Totals(tc.rows), tc.want)
	}
}

// TestStepText: a step's progress line says how it ended and what it did,
// from its outputs alone: its own note wins over the standard words.
func TestStepText(t *testing.T) {
	ended := func(st pipeline.Status, o pipeline.Outputs, err error) pipeline.Event {
		return pipeline.Event{Step: "m:x", Result: &pipeline.Result{Status: st, Duration: 1500 * time.Microsecond, Outputs: o, Err: err}}
	}
	for _, tc := range []struct {
		name, kind string
		e          pipeline.Event
		want       string
	}{
		{"started", phaseCopy, pipeline.Event{Step: "m:copy", Started: true}, "copy ..."},
		{"copy, standard words", phaseCopy, ended(pipeline.Succeeded, pipeline.Outputs{outSent: "12", outBytes: "2048"}, nil),
			"copy      done in 2ms: 12 paths, 2.0 KiB"},
		{"copy with its own note", phaseCopy, ended(pipeline.Succeeded, pipeline.Outputs{outSent: "0", outNote: ": nothing to copy, the store is this machine's"}, nil),
			"copy      done in 2ms: nothing to copy, the store is this machine's"},
		{"activate", phaseActivate, ended(pipeline.Succeeded, generations(3, 4), nil), "activate  done in 2ms: generation 3 -> 4"},
		{"plan", phasePlan, ended(pipeline.Succeeded, pipeline.Outputs{outPlan: "already runs /nix/store/x"}, nil), "plan      done in 2ms: already runs /nix/store/x"},
		{"cached", "build", ended(pipeline.Cached, pipeline.Outputs{outNote: "not shown"}, nil), "build     up to date (2ms)"},
		{"failed: the error, not the note", phaseCopy, ended(pipeline.Failed, pipeline.Outputs{outNote: "not shown"}, errors.New("host gone")), "copy      failed: host gone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, stepText(tc.kind, tc.e), tc.want)
		})
	}
}
