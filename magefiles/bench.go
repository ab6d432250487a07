//go:build mage

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/vanixiets/vanixiets/tasks/ci"
)

// Ci compares CI job-key computation with the shell algorithm it replaces (repository and 10,000 generated files), and times ci:run when every job is a hit.
func (Bench) Ci() (err error) {
	defer explained(context.Background(), &err)
	root, err := repoRoot()
	if err != nil {
		return err
	}
	f, err := ci.Load(filepath.Join(root, "ci", "jobs.toml"))
	if err != nil {
		return err
	}
	script := filepath.Join(root, "scripts", "bench", "ci-hash-sources.sh")
	ctx := context.Background()
	c, err := ci.Compare(ctx, "repository", root, script, f.Jobs)
	if err != nil {
		return err
	}
	fmt.Println(c)
	tmp, err := os.MkdirTemp("", "vx-bench-tree-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := ci.GenerateTree(tmp, 10000, 4096); err != nil {
		return err
	}
	c, err = ci.Compare(ctx, "generated-10k", tmp, script, []ci.Job{{Name: "all", Inputs: []string{"src/**/*.go"}}})
	if err != nil {
		return err
	}
	fmt.Println(c)
	// ci:run when every job is a hit (target: at most 1 s).
	return goBench(false, "5x", "./tasks/ci")
}

// goBench runs the Go benchmarks of pkgs (with the e2e tag when the
// benchmarks need root and the lab) and prints their figures.
func goBench(e2e bool, benchtime string, pkgs ...string) error {
	return goBenchMatch(e2e, benchtime, ".", scaleBenchmarks, pkgs...)
}

// scaleBenchmarks are the fleet-at-scale benchmarks (64-host labs of
// testdata/fleets/forest): run once each by scaleBench, since a second run
// of one would bring up its 64 hosts again to measure the same thing.
const scaleBenchmarks = "^BenchmarkScale"

// scaleBench runs pkg's fleet-at-scale benchmarks, once each.
func scaleBench(pkg string) error { return goBenchMatch(true, "1x", scaleBenchmarks, "", pkg) }

// goBenchMatch runs the benchmarks matching bench and not skip.
func goBenchMatch(e2e bool, benchtime, bench, skip string, pkgs ...string) error {
	args := []string{"test", "-run", "^$", "-bench", bench, "-benchtime", benchtime, "-count", "1", "-timeout", "60m"}
	if skip != "" {
		args = append(args, "-skip", skip)
	}
	if e2e {
		args = append(args, "-tags", "e2e")
	}
	cmd := exec.Command("go", append(args, pkgs...)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

// Engine prints the engine's figures: keys for 10,000 files cold (MB/s) and warm (ms), a cached 200-step graph (ms).
func (Bench) Engine() (err error) {
	defer explained(context.Background(), &err)
	return goBench(false, "10x", "./tasks/digest", "./tasks/pipeline")
}

// Cache prints the remote-hit figure against a real bazel-remote on loopback.
func (Bench) Cache() error { return goBench(true, "2s", "./tasks/cache") }

// Fleet prints check:fleet warm (no nix) and the cold build of the 8 lab closures.
func (Bench) Fleet() error { return goBench(false, "5x", "./tasks/fleet") }

// Overlays prints the overlay check over 50 files, cold and warm.
func (Bench) Overlays() error { return goBench(false, "5x", "./tasks/overlays") }

// Vars prints vars:generate for the lab fleet from nothing and with nothing changed.
func (Bench) Vars() error { return goBench(false, "5x", "./tasks/vars") }

// Lab prints lab up and down of the 8 lab hosts, up of the second fleet's 13, the idle sshd memory, and up, kept up and down of the generated fleet's 64 (root).
func (Bench) Lab() error {
	if err := goBench(true, "3x", "./tasks/lab"); err != nil {
		return err
	}
	return scaleBench("./tasks/lab")
}

// Deploy prints cold and no-change deploys, the install of a bare cloud host, 8 machines in parallel, the second fleet's 13 with nothing changed, the 200 MB closure copy against nix copy, and the fleet at scale (the generated 64): the deployer's CPU per machine at 1, 8, 32 and 64 and its growth, its peak RSS at 64, a no-change redeploy of 64, fleet:status over 64 (root).
func (Bench) Deploy() error {
	if err := goBench(true, "3x", "./tasks/deploy"); err != nil {
		return err
	}
	return scaleBench("./tasks/deploy")
}

// Tf prints render+plan with nothing changed and apply creating 2 servers against the fake API (root for lab hosts).
func (Bench) Tf() error { return goBench(true, "3x", "./tasks/terraform") }
