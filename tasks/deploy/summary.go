package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vanixiets/vanixiets/tasks/activate"
	"github.com/vanixiets/vanixiets/tasks/closure"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
)

// Summary is one machine's row in the final table.
type Summary struct {
	Machine    string
	GenBefore  int
	GenAfter   int
	Toplevel   string
	Paths      int
	Bytes      int64
	Missing    int // dry run: paths that would be copied
	MissingB   int64
	Duration   time.Duration
	Result     string // ok, unchanged, rolled back, failed, planned
	Err        error
	RolledBack bool
	// SecretsSent of SecretsTotal deployable secrets were sent (the rest
	// were current on the host); both 0 for a machine without vars.
	SecretsSent  int
	SecretsTotal int
	HasSecrets   bool
	// DryRun is what a dry run found the deployment would change
	// (dryrun.go); nil otherwise.
	DryRun *DryRun
}

// A machine's row is made from its steps' outputs alone (summarize),
// including those of a step that failed (what it did before failing).
// These are the keys the steps write for it, each defined once.
const (
	outSent         = "sent"         // copy: store paths sent; "0" tells the activation nothing changed
	outPaths        = "paths"        // copy, install: store paths this step copied
	outBytes        = "bytes"        // and their NAR bytes
	outGenBefore    = "genBefore"    // activate, plan: the generation before
	outGenAfter     = "genAfter"     // and after
	outUnchanged    = "unchanged"    // activate: "true" when the host ran the system already
	outInstalled    = "installed"    // install: the toplevel put on a bare host ("": it had Nix)
	outSecretsSent  = "secretsSent"  // vars-pre, vars-post: secrets sent
	outSecretsTotal = "secretsTotal" // and deployable in all (sent or current)
	outMissing      = "missingPaths" // plan: paths a deployment would copy
	outMissingBytes = "missingBytes" // and their NAR bytes
	outDryRun       = "dryRun"       // plan: the DryRun, as JSON
)

// The keys steps write for each other and for the progress line.
const (
	outFleet       = "fleet"    // evaluate: the fleet, as JSON
	outToplevel    = "toplevel" // copy, activate: the system put in place
	outClosure     = "closure"  // copy: paths in the closure
	outBuilt       = "built"    // copy built on the machine: the toplevel it built
	outRunsGen     = "runsGen"  // copy: the generation already running the toplevel, for the activation
	outToken       = "token"    // activate: the pending switch's token, for the confirmation
	outPending     = "pending"  // activate: "true" while the switch waits for its confirmation
	outChecks      = "checks"   // confirm: health checks passed
	outPlan        = "plan"     // plan: what the deployment would do, in a sentence
	outMissingList = "missing"  // plan: the paths the copy would send, as a JSON list
	// outNote is the step's own text for its progress line, where
	// describe's standard one would say less (a copy that was a build on
	// the machine). Only steps that are never recorded (NoCache) set it:
	// it may hold a duration, which must not reach a cache key.
	outNote = "note"
)

// copiedOutputs are a copy's figures for the row.
func copiedOutputs(rep closure.Report) pipeline.Outputs {
	return pipeline.Outputs{outPaths: strconv.Itoa(rep.Sent), outBytes: strconv.FormatInt(rep.Bytes, 10)}
}

// generations are the outputs saying the host went from before to after.
func generations(before, after int) pipeline.Outputs {
	return pipeline.Outputs{outGenBefore: strconv.Itoa(before), outGenAfter: strconv.Itoa(after)}
}

// with adds kv (key, value, ...) to o and returns it.
func with(o pipeline.Outputs, kv ...string) pipeline.Outputs {
	for i := 0; i+1 < len(kv); i += 2 {
		o[kv[i]] = kv[i+1]
	}
	return o
}

// FailedError lists the machines that failed or rolled back.
type FailedError struct {
	Lines []string
	Errs  []error
}

// Unwrap exposes each machine's error (errors.As finds a RollbackError).
func (e *FailedError) Unwrap() []error { return e.Errs }

func (e *FailedError) Error() string {
	if len(e.Lines) == 1 {
		return "deploy failed: " + e.Lines[0]
	}
	return fmt.Sprintf("deploy failed on %d machines:\n  %s", len(e.Lines), strings.Join(e.Lines, "\n  "))
}

func orNone(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// Table renders the summary table.
func Table(rows []Summary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-12s %-12s %-20s %-8s %-9s %s\n", "MACHINE", "GENERATION", "COPIED", "SECRETS", "TIME", "RESULT")
	for _, r := range rows {
		gen := fmt.Sprintf("%d -> %d", r.GenBefore, r.GenAfter)
		copied := fmt.Sprintf("%d paths, %s", r.Paths, humanBytes(r.Bytes))
		if r.Result == "planned" {
			copied = fmt.Sprintf("would %d, %s", r.Missing, humanBytes(r.MissingB))
		}
		res := r.Result
		if r.Err != nil {
			res += ": " + firstLine(r.Err.Error())
		}
		sec := "-"
		if r.HasSecrets && r.Result != "planned" {
			sec = fmt.Sprintf("%d/%d", r.SecretsSent, r.SecretsTotal)
		}
		fmt.Fprintf(&b, "%-12s %-12s %-20s %-8s %-9s %s\n", r.Machine, gen, copied, sec, r.Duration.Round(10*time.Millisecond), res)
	}
	return b.String()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// summarize makes the deployment's rows, in name order, from the steps'
// results: a machine's first failed step (in the order they run) is its
// error; failed are the machines refused before any step ran (locked by
// another deployer); took is the run's time, for a machine whose steps
// did not time themselves. The error lists every failed machine.
func (d *Deployer) summarize(machines []*fleet.Machine, results []pipeline.Result, failed []Summary, took time.Duration) ([]Summary, error) {
	byName := map[string]pipeline.Result{}
	for _, r := range results {
		byName[r.Name] = r
	}
	var out []Summary
	for _, m := range machines {
		s := Summary{Machine: m.Name, Duration: d.left.took(m.Name)}
		if s.Duration == 0 {
			s.Duration = took
		}
		s.Toplevel = builtOf(byName[stepBuild].Outputs, m.Name).Toplevel
		unchanged, installed := false, false
		for _, st := range stepsInOrder(m.Name) {
			r, ok := byName[st]
			if !ok {
				continue
			}
			o := r.Outputs
			s.Paths += atoi(o[outPaths]) // an install and the copy may both have copied
			s.Bytes += atoi64(o[outBytes])
			if g, ok := o[outGenBefore]; ok {
				s.GenBefore, s.GenAfter = atoi(g), atoi(o[outGenAfter])
			}
			if t, ok := o[outSecretsTotal]; ok {
				s.HasSecrets = true
				s.SecretsSent += atoi(o[outSecretsSent])
				s.SecretsTotal += atoi(t)
			}
			s.Missing += atoi(o[outMissing])
			s.MissingB += atoi64(o[outMissingBytes])
			if j := o[outDryRun]; j != "" {
				s.DryRun = &DryRun{}
				if err := json.Unmarshal([]byte(j), s.DryRun); err != nil {
					s.DryRun = nil
				}
			}
			installed = installed || o[outInstalled] != ""
			unchanged = unchanged || o[outUnchanged] == "true"
			if r.Status.OK() || s.Err != nil {
				continue
			}
			s.Err = r.Err
			if s.Err == nil {
				s.Err = fmt.Errorf("%s %s", st, r.Status)
			}
		}
		if installed {
			s.GenBefore, s.Result = 0, "installed" // the install made generation 1; nothing ran before it
		}
		var rb *activate.RollbackError
		switch {
		case errors.As(s.Err, &rb):
			s.Result, s.RolledBack = "rolled back", true
		case s.Err != nil:
			s.Result = "failed"
		case d.opt.DryRun:
			s.Result = "planned"
		case unchanged:
			s.Result = "unchanged"
		case s.Result == "":
			s.Result = "ok"
		}
		out = append(out, s)
	}
	out = append(out, failed...)
	sort.Slice(out, func(i, j int) bool { return out[i].Machine < out[j].Machine })
	var fe FailedError
	for _, s := range out {
		if s.Err != nil {
			fe.Lines = append(fe.Lines, fmt.Sprintf("%s: %v", s.Machine, s.Err))
			fe.Errs = append(fe.Errs, s.Err)
		}
	}
	if len(fe.Lines) > 0 {
		return out, &fe
	}
	return out, nil
}
