//go:build mage

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vanixiets/vanixiets/tasks/ci"
)

// Ci compares CI job-key computation with the shell algorithm it replaces, on this repository and on 10,000 generated files.
func (Bench) Ci() error {
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
	return nil
}
