package bazel

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/fsutil"
)

// GoDepsFile is where the go_repository macro lives, relative to the root.
const GoDepsFile = "scripts/bazel/go_deps.bzl"

// GazelleBin is the host gazelle binary scripts/install-bazel.sh links.
const GazelleBin = "scripts/bazel/.deps/gazelle"

// gazelleArgs are the flags every run shares. -index=true lets go_test and
// go_library targets resolve each other; -external=external makes imports
// outside the module resolve through go_deps.bzl (known via the
// repository_macro directive in WORKSPACE.bazel) instead of the network.
func gazelleArgs(root, mode string) []string {
	return []string{
		"update",
		"-repo_root=" + root,
		"-go_prefix=github.com/vanixiets/vanixiets",
		"-build_file_name=BUILD.bazel,BUILD",
		"-external=external",
		"-mode=" + mode,
		root,
	}
}

func gazelle(ctx context.Context, root, mode string) (string, error) {
	bin := filepath.Join(root, GazelleBin)
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("gazelle is not installed at %s: run scripts/install-bazel.sh", bin)
	}
	cmd := exec.CommandContext(ctx, bin, gazelleArgs(root, mode)...)
	cmd.Dir = root
	// Gazelle may call the go command; never let it reach the network.
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	out := stdout.String() + stderr.String()
	if err != nil && mode != "diff" {
		return out, fmt.Errorf("gazelle %s: %v: %s", mode, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Update regenerates scripts/bazel/go_deps.bzl from go.mod's modules (read
// from the module cache, GOPROXY as the caller set it), rules/fleet_machines.bzl
// from the fleets BUILD.bazel declares (fleet_suite), and every BUILD.bazel
// file of a Go package, in place.
func Update(ctx context.Context, root string) error {
	mods, err := DownloadModules(ctx, root)
	if err != nil {
		return err
	}
	if err := fsutil.WriteFile(filepath.Join(root, GoDepsFile), RenderGoDeps(mods), 0o644); err != nil {
		return err
	}
	machines, err := FleetMachines(ctx, root)
	if err != nil {
		return err
	}
	if err := fsutil.WriteFile(filepath.Join(root, MachinesFile), RenderMachines(machines), 0o644); err != nil {
		return err
	}
	_, err = gazelle(ctx, root, "fix")
	return err
}

// Check reports ErrStale, with gazelle's diff, when go_deps.bzl or any
// BUILD.bazel file differs from what Update would write. It changes nothing.
func Check(ctx context.Context, root string) error {
	mods, err := DownloadModules(ctx, root)
	if err != nil {
		return err
	}
	var stale []string
	have, err := os.ReadFile(filepath.Join(root, GoDepsFile))
	if err != nil || !bytes.Equal(have, RenderGoDeps(mods)) {
		stale = append(stale, GoDepsFile+" does not match go.mod")
	}
	machines, err := FleetMachines(ctx, root)
	if err != nil {
		return err
	}
	have, err = os.ReadFile(filepath.Join(root, MachinesFile))
	if err != nil || !bytes.Equal(have, RenderMachines(machines)) {
		stale = append(stale, MachinesFile+" does not list the declared fleets' machines")
	}
	diff, err := gazelle(ctx, root, "diff")
	if err != nil {
		return err
	}
	if strings.TrimSpace(diff) != "" {
		stale = append(stale, "BUILD files differ from gazelle's:\n"+diff)
	}
	if len(stale) > 0 {
		return fmt.Errorf("%w\n%s", ErrStale, strings.Join(stale, "\n"))
	}
	return nil
}
