package fleet

import (
	"context"
	"time"

	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
)

// checkDef names what the flake check step does.
const checkDef = "vanixiets/flake-check/v1"

// CheckResult is the outcome of a (possibly cached) `nix flake check`.
type CheckResult struct {
	Flake string `json:"flake,omitempty"`
	// Cached is true when an earlier check of the same content passed and
	// nix was not run.
	Cached   bool          `json:"-"`
	Duration time.Duration `json:"duration"`
	Key      string        `json:"key"`
}

// CheckStep is `nix flake check` as a step of the engine, keyed like
// EvalStep on the flake's files (FilesOf) and the nix that checks. It
// records the check's duration; a failing check records nothing, so it is
// checked (and fails) every time.
func (l *Loader) CheckStep(ctx context.Context, flakeRef string) (*pipeline.Step, error) {
	ref, err := nix.FlakeRef(flakeRef)
	if err != nil {
		return nil, err
	}
	step, err := l.flakeStep(ctx, "flake-check", checkDef, ref)
	if err != nil {
		return nil, err
	}
	step.Run = func(ctx context.Context, _ pipeline.Input) (pipeline.Outputs, error) {
		n, err := l.nix()
		if err != nil {
			return nil, err
		}
		start := time.Now()
		if err := n.FlakeCheck(ctx, ref); err != nil {
			return nil, localPaths(ref, err)
		}
		// No flake path in the record: the checkout's absolute path
		// would follow the hit into another clone.
		return pipeline.Outputs{"duration": time.Since(start).String()}, nil
	}
	return step, nil
}

// CheckFlake runs CheckStep through the engine: `nix flake check` on
// flakeRef unless a check of the same flake content with the same nix
// already passed.
func (l *Loader) CheckFlake(ctx context.Context, flakeRef string) (*CheckResult, error) {
	step, err := l.CheckStep(ctx, flakeRef)
	if err != nil {
		return nil, err
	}
	r, err := l.runOne(ctx, step)
	if err != nil {
		return nil, err
	}
	ref, _ := nix.FlakeRef(flakeRef)
	res := &CheckResult{Flake: ref, Cached: r.Hit, Duration: r.Duration}
	if !step.NoCache {
		res.Key = r.Key
	}
	if r.Hit {
		res.Duration, _ = time.ParseDuration(r.Outputs["duration"])
	}
	return res, nil
}
