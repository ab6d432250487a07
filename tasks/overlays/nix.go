package overlays

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"

	"github.com/vanixiets/vanixiets/tasks/nix"
)

//go:embed eval.nix
var evalNix string

var atRE = regexp.MustCompile(`at (/[^:\s]+):(\d+):(\d+)`)

// nixError is a Nix failure reduced to what a finding needs: the first
// "error:" line and, when Nix gave one, the file and line it points at.
type nixError struct {
	Msg  string
	File string
	Line int
}

func parseNixError(stderr string) nixError {
	s := nix.StripANSI(stderr)
	var e nixError
	for _, l := range strings.Split(s, "\n") {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "error:") {
			m := strings.TrimSpace(strings.TrimPrefix(t, "error:"))
			if m != "" && e.Msg == "" {
				e.Msg = m
			}
		}
	}
	if m := atRE.FindStringSubmatch(s); m != nil {
		e.File = m[1]
		fmt.Sscanf(m[2], "%d", &e.Line)
	}
	if e.Msg == "" {
		e.Msg = strings.TrimSpace(firstLine(s))
	}
	return e
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// parseAll checks the syntax of files with nix-instantiate --parse. One call
// covers every file; when Nix stops at a broken file, that file is recorded
// and the rest are parsed again, so N broken files cost N+1 calls.
func parseAll(ctx context.Context, nixBin string, files []string) (map[string]nixError, error) {
	bad := map[string]nixError{}
	rest := append([]string(nil), files...)
	for len(rest) > 0 {
		cmd := exec.CommandContext(ctx, nixBin, append([]string{"--parse"}, rest...)...)
		cmd.Env = nix.Environ()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		cmd.Stdout = nil
		err := cmd.Run()
		if err == nil {
			return bad, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if _, ok := err.(*exec.ExitError); !ok {
			return nil, fmt.Errorf("run %s --parse: %w", nixBin, err)
		}
		ne := parseNixError(stderr.String())
		idx := -1
		for i, f := range rest {
			if f == ne.File {
				idx = i
				break
			}
		}
		if idx < 0 {
			// Nix did not say which file: parse one by one.
			for _, f := range rest {
				c := exec.CommandContext(ctx, nixBin, "--parse", f)
				c.Env = nix.Environ()
				var se bytes.Buffer
				c.Stderr = &se
				if c.Run() != nil {
					e := parseNixError(se.String())
					if e.File == "" {
						e.File = f
					}
					bad[f] = e
				}
			}
			return bad, nil
		}
		bad[rest[idx]] = ne
		rest = append(rest[:idx], rest[idx+1:]...)
	}
	return bad, nil
}

// evalInput is one file for eval.nix.
type evalInput struct {
	Path   string              `json:"path"`
	Names  []string            `json:"names"`
	Inputs map[string][]string `json:"inputs"`
}

// evalFile is eval.nix's answer for one file.
type evalFile struct {
	Path     string        `json:"path"`
	Target   string        `json:"target"`
	Priority int           `json:"priority"`
	Overlays []evalOverlay `json:"overlays"`
}

type evalOverlay struct {
	Kind    string                `json:"kind"` // ok, not-function, one-arg, not-attrs, opaque
	Ref     string                `json:"ref"`
	Systems map[string]evalSystem `json:"systems"`
}

type evalSystem struct {
	Error   bool                 `json:"error"`
	Entries [][3]json.RawMessage `json:"entries"` // [name, line, file]
}

func runEval(ctx context.Context, nixBin string, systems []string, files []evalInput) ([]evalFile, *nixError, error) {
	in, err := json.Marshal(map[string]any{"systems": systems, "files": files})
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.CommandContext(ctx, nixBin, "--eval", "--strict", "--json", "-E", evalNix, "--argstr", "input", string(in))
	cmd.Env = nix.Environ()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if _, ok := err.(*exec.ExitError); !ok {
			return nil, nil, fmt.Errorf("run %s --eval: %w", nixBin, err)
		}
		ne := parseNixError(stderr.String())
		return nil, &ne, nil
	}
	var out []evalFile
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return nil, nil, fmt.Errorf("read stand-in evaluation output: %w", err)
	}
	return out, nil, nil
}

// evalAll evaluates every file in one nix-instantiate call. When that fails
// (a file uses something the stand-ins lack), each file is evaluated alone,
// jobs at a time, so one file's failure does not hide the others' results.
func evalAll(ctx context.Context, nixBin string, systems []string, files []evalInput, jobs int) (map[string]evalFile, map[string]nixError, error) {
	ok := map[string]evalFile{}
	bad := map[string]nixError{}
	if len(files) == 0 {
		return ok, bad, nil
	}
	out, ne, err := runEval(ctx, nixBin, systems, files)
	if err != nil {
		return nil, nil, err
	}
	if ne == nil {
		for _, f := range out {
			ok[f.Path] = f
		}
		return ok, bad, nil
	}
	if len(files) == 1 {
		bad[files[0].Path] = *ne
		return ok, bad, nil
	}
	if jobs < 1 {
		jobs = 1
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	sem := make(chan struct{}, jobs)
	for _, f := range files {
		wg.Add(1)
		sem <- struct{}{}
		go func(f evalInput) {
			defer wg.Done()
			defer func() { <-sem }()
			out, ne, err := runEval(ctx, nixBin, systems, []evalInput{f})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				if firstErr == nil {
					firstErr = err
				}
			case ne != nil:
				bad[f.Path] = *ne
			case len(out) == 1:
				ok[f.Path] = out[0]
			}
		}(f)
	}
	wg.Wait()
	if firstErr != nil {
		return nil, nil, firstErr
	}
	return ok, bad, nil
}
