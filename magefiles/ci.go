//go:build mage

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/ci"
	"github.com/vanixiets/vanixiets/tasks/digest"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
)

func ciOptions(names []string) (ci.Options, error) {
	root, err := repoRoot()
	if err != nil {
		return ci.Options{}, err
	}
	f, err := ci.Load(filepath.Join(root, "ci", "jobs.toml"))
	if err != nil {
		return ci.Options{}, err
	}
	jobs, err := f.Select(names)
	if err != nil {
		return ci.Options{}, err
	}
	par, _ := call.Count("parallel")
	return ci.Options{
		Root: root, Jobs: jobs, Cache: cache.Open(), Hasher: digest.Default(), Versions: ci.DefaultVersions(),
		Force:    boolFlag("force"),
		Parallel: par, Out: os.Stdout, Stream: boolFlag("stream"),
	}, nil
}

// Run runs CI jobs [job...] skipping those already validated (--force, --junit path, --parallel n, --stream).
func (Ci) Run() (err error) {
	defer explained(context.Background(), &err)
	o, err := ciOptions(rest())
	if err != nil {
		return err
	}
	ctx, stop := pipeline.InterruptContext(context.Background())
	defer stop()
	outs, runErr := ci.Run(ctx, o)
	if outs == nil && runErr != nil {
		return runErr
	}
	if p := flag("junit", ""); p != "" {
		if err := ci.WriteJUnit(p, outs); err != nil {
			return err
		}
		fmt.Println("junit:", p)
	}
	if os.Getenv("GITHUB_ACTIONS") == "true" {
		ci.Annotate(os.Stdout, outs, o.Root)
	}
	if os.Getenv("GITHUB_STEP_SUMMARY") != "" {
		if err := ci.AppendToEnvFile("GITHUB_STEP_SUMMARY", func(w io.Writer) error { return ci.WriteStepSummary(w, outs) }); err != nil {
			return err
		}
	}
	ci.Summary(os.Stdout, outs, o.Root)
	if runErr != nil {
		return errors.New("CI failed")
	}
	return nil
}

// Plan prints what ci:run would run [job...], without running anything (--github-output: skip=true|false for the workflow).
func (Ci) Plan() (err error) {
	defer explained(context.Background(), &err)
	o, err := ciOptions(rest())
	if err != nil {
		return err
	}
	ps, err := ci.Plan(context.Background(), o)
	if err != nil {
		return err
	}
	outs := make([]ci.Outcome, len(ps))
	skip := true
	for i, p := range ps {
		outs[i] = ci.Outcome{Planned: p}
		skip = skip && p.Hit
		fmt.Println(outs[i].Line())
	}
	if !boolFlag("github-output") {
		return nil
	}
	if err := ci.AppendToEnvFile("GITHUB_OUTPUT", func(w io.Writer) error { return ci.WriteStepOutputs(w, ps) }); err != nil {
		return err
	}
	// A skipped workflow job runs no ci:run: its summary row comes from here.
	if skip && os.Getenv("GITHUB_STEP_SUMMARY") != "" {
		return ci.AppendToEnvFile("GITHUB_STEP_SUMMARY", func(w io.Writer) error { return ci.WriteStepSummary(w, outs) })
	}
	return nil
}

// Workflow writes .github/workflows/ci.yaml from ci/jobs.toml (--check: fail when the committed one is stale).
func (Ci) Workflow() (err error) {
	defer explained(context.Background(), &err)
	root, err := repoRoot()
	if err != nil {
		return err
	}
	if boolFlag("check") {
		if err := ci.CheckWorkflow(root); err != nil {
			return err
		}
		fmt.Println("ci:", ci.WorkflowPath, "is current")
		return nil
	}
	changed, err := ci.WriteWorkflow(root)
	if err != nil {
		return err
	}
	if changed {
		fmt.Println("ci: wrote", ci.WorkflowPath)
	} else {
		fmt.Println("ci:", ci.WorkflowPath, "unchanged")
	}
	return nil
}

// Explain lists the inputs and digests that make a job's key.
func (Ci) Explain(job string) (err error) {
	defer explained(context.Background(), &err)
	o, err := ciOptions([]string{job})
	if err != nil {
		return err
	}
	ps, err := ci.Plan(context.Background(), o)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p.Job.Name == job {
			ci.Explain(os.Stdout, p)
		}
	}
	return nil
}
