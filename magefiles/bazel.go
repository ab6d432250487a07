//go:build mage

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"

	"github.com/vanixiets/vanixiets/tasks/bazel"
)

// Gazelle regenerates the Bazel files that follow from the Go sources:
// scripts/bazel/go_deps.bzl from go.mod, rules/fleet_machines.bzl from the
// lab fleet, and every BUILD.bazel of a Go package (gazelle). Run it after
// adding a package, an import or a dependency. Needs scripts/install-bazel.sh.
func (Bazel) Gazelle(ctx context.Context) (err error) {
	defer explained(ctx, &err)
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	if err := bazel.Update(ctx, root); err != nil {
		return err
	}
	fmt.Println("bazel: BUILD files, go_deps.bzl and fleet_machines.bzl are up to date")
	return nil
}

// CheckBuild fails (for CI) when any BUILD file, go_deps.bzl or
// fleet_machines.bzl differs from what bazel:gazelle would write.
func (Bazel) CheckBuild(ctx context.Context) (err error) {
	defer explained(ctx, &err)
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	if err := bazel.Check(ctx, root); err != nil {
		return err
	}
	fmt.Println("bazel: generated files are current")
	return nil
}

// Test runs `bazel test //...` offline (--config=offline: any download
// fails) after scripts/install-bazel.sh has made sure the local
// repositories exist.
func (Bazel) Test(ctx context.Context) (err error) {
	defer explained(ctx, &err)
	for _, c := range [][]string{
		{"bash", "scripts/install-bazel.sh"},
		{"bazel", "test", "--config=offline", "//..."},
	} {
		cmd := exec.CommandContext(ctx, c[0], c[1:]...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%v: %w", c, err)
		}
	}
	return nil
}
