package overlays

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/digest"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
)

// Inputs are the globs, relative to the flake root, whose content decides
// the report: the overlay tree and the custom packages' directories.
var Inputs = []string{"modules/nixpkgs/**", "pkgs/by-name/**"}

// Step returns the check as a pipeline step. Its key covers the overlay
// files, the checker's Version, the options (fleet systems, stale limit),
// the day the check runs on (staleness moves with the calendar) and the
// nix-instantiate binary; an unchanged tree is a cache hit that starts no
// nix process. The step's one output, "report", is the report as JSON; a
// failing check is a successful step whose report has OK false.
func Step(opt Options) (*pipeline.Step, error) {
	opt = opt.withDefaults()
	nixBin := opt.Nix
	if nixBin == "" {
		p, err := exec.LookPath("nix-instantiate")
		if err != nil {
			return nil, fmt.Errorf("nix-instantiate not found on PATH: install Nix (scripts/setup.sh) or set Options.Nix")
		}
		nixBin = p
	}
	opt.Nix = nixBin
	tool := nixBin
	if st, err := os.Stat(nixBin); err == nil {
		tool = fmt.Sprintf("%s size=%d mtime=%d", nixBin, st.Size(), st.ModTime().UnixNano())
	}
	return &pipeline.Step{
		Name:  "check:overlays",
		Def:   Version,
		Root:  opt.Root,
		Files: Inputs,
		Params: map[string]string{
			"systems": strings.Join(opt.Systems, ","),
			"maxAge":  opt.MaxAge.String(),
			"day":     opt.Now().UTC().Format(DateLayout),
			"root":    opt.Root,
		},
		Tools: map[string]string{"nix-instantiate": tool},
		Run: func(ctx context.Context, _ pipeline.Input) (pipeline.Outputs, error) {
			rep, err := Check(ctx, opt)
			if err != nil {
				return nil, err
			}
			b, err := json.Marshal(rep)
			if err != nil {
				return nil, err
			}
			return pipeline.Outputs{"report": string(b)}, nil
		},
	}, nil
}

// CachedCheck runs Check as a cached pipeline step in store (nil: the
// suite's cache, cache.Open()). Report.Cached says whether it was a hit.
func CachedCheck(ctx context.Context, opt Options, store cache.Store, h *digest.Hasher) (Report, time.Duration, error) {
	opt = opt.withDefaults()
	st, err := Step(opt)
	if err != nil {
		return Report{}, 0, err
	}
	if store == nil {
		store = cache.Open()
	}
	save := h == nil
	if h == nil {
		h = digest.Default()
	}
	p := &pipeline.Pipeline{Steps: []*pipeline.Step{st}, Cache: store, Hasher: h, Parallel: 1}
	res, err := p.Run(ctx)
	if save {
		_ = h.Save()
	}
	if err != nil {
		return Report{}, 0, err
	}
	r := res[0]
	if r.Err != nil {
		return Report{}, r.Duration, r.Err
	}
	var rep Report
	if err := json.Unmarshal([]byte(r.Outputs["report"]), &rep); err != nil {
		return Report{}, r.Duration, fmt.Errorf("cached overlay report %.12s is unreadable: %w", r.Key, err)
	}
	rep.Cached = r.Hit
	return rep, r.Duration, nil
}
