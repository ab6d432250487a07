package fleet

import (
	"context"
	"encoding/json"
	"path/filepath"
	"time"

	"github.com/vanixiets/vanixiets/tasks/nix"
)

// CheckResult is the outcome of a (possibly cached) `nix flake check`.
type CheckResult struct {
	Flake string `json:"flake,omitempty"`
	// Cached is true when an earlier check of the same content passed and
	// nix was not run.
	Cached   bool          `json:"-"`
	Duration time.Duration `json:"duration"`
	Key      string        `json:"key"`
}

// CheckFlake runs `nix flake check` on flakeRef unless a check of the same
// flake content (see Source) with the same nix already passed. Only passing
// checks are recorded, so a failing flake is checked (and fails) every time.
func (l *Loader) CheckFlake(ctx context.Context, flakeRef string) (*CheckResult, error) {
	ref, err := nix.FlakeRef(flakeRef)
	if err != nil {
		return nil, err
	}
	key := ""
	if l.Cache != nil && filepath.IsAbs(ref) {
		src, err := SourceOf(ref, l.Hasher)
		if err != nil {
			return nil, err
		}
		key = src.Key("vanixiets/flake-check/v1", l.nixIdentity())
	}
	start := time.Now()
	b, hit, err := cached(ctx, l.Cache, key, func() ([]byte, error) {
		n, err := l.nix()
		if err != nil {
			return nil, err
		}
		if err := n.FlakeCheck(ctx, ref); err != nil {
			return nil, localPaths(ref, err)
		}
		// No Flake in the record: the checkout's absolute path would
		// follow the hit into another clone. It is set below, from here.
		return json.Marshal(CheckResult{Duration: time.Since(start), Key: key})
	})
	if err != nil {
		return nil, err
	}
	var res CheckResult
	if err := json.Unmarshal(b, &res); err != nil {
		res = CheckResult{Flake: ref, Key: key}
	}
	res.Flake, res.Cached = ref, hit
	if !hit {
		res.Duration = time.Since(start)
	}
	return &res, nil
}
