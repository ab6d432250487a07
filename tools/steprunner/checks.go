package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/fsutil"
	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/overlays"
	"github.com/vanixiets/vanixiets/tasks/terranix"
	"github.com/vanixiets/vanixiets/tasks/vars"
)

func loadFleet(path string) (*fleet.Fleet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return fleet.Parse(data)
}

// terranixRender builds packages.<system>.terraform from a private copy of
// the inputs and writes its canonical JSON: a build output other rules (and
// `bazel build //:terraform`) can use.
func terranixRender(ctx context.Context, out, flakeDir, system string, files []string) error {
	return inPrivateFlake(out, files, flakeDir, func(n *nix.Nix, ref string) error {
		res, err := n.Build(ctx, nix.Installable(ref, "packages."+system+".terraform"))
		if err != nil {
			return fmt.Errorf("nix build %s#packages.%s.terraform: %v", flakeDir, system, err)
		}
		if len(res) != 1 {
			return fmt.Errorf("nix build %s#packages.%s.terraform: want one output, got %d", flakeDir, system, len(res))
		}
		p := res[0].Out()
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			p = filepath.Join(p, "config.tf.json")
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		canon, err := terranix.Canonicalize(raw)
		if err != nil {
			return fmt.Errorf("%s: %v", p, err)
		}
		return fsutil.WriteFile(out, canon, 0o644)
	})
}

// terranixCheck validates the rendered configuration against the fleet's
// cloud machines.
func terranixCheck(tfPath, fleetPath string) error {
	raw, err := os.ReadFile(tfPath)
	if err != nil {
		return err
	}
	cfg, err := terranix.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s: %v", tfPath, err)
	}
	f, err := loadFleet(fleetPath)
	if err != nil {
		return err
	}
	ms := terranix.MachinesOf(f)
	if err := terranix.Validate(cfg, ms); err != nil {
		return err
	}
	fmt.Printf("terraform: %d cloud machines match %s\n", len(ms), tfPath)
	return nil
}

// overlaysCheck runs the overlay composition checker over a private copy of
// the overlay tree and fails on any error-level finding.
func overlaysCheck(ctx context.Context, root, systems string, files []string) error {
	tree, err := copyTree(files)
	if err != nil {
		return err
	}
	defer os.RemoveAll(tree)
	nixEnv(tree)
	opt := overlays.Options{Root: filepath.Join(tree, root)}
	if systems != "" {
		opt.Systems = strings.Split(systems, ",")
	}
	rep, err := overlays.Check(ctx, opt)
	if err != nil {
		return err
	}
	rep.Root = root
	if err := rep.WriteTable(os.Stdout); err != nil {
		return err
	}
	if !rep.OK {
		return fmt.Errorf("overlay tree %s: %s", root, rep.Summary())
	}
	return nil
}

// varsCheck checks the vars tree against the fleet's generators (layout,
// recipients, public values); it does not decrypt, as no identity is a
// declared input.
func varsCheck(fleetPath, dir string, files []string) error {
	f, err := loadFleet(fleetPath)
	if err != nil {
		return err
	}
	tree, err := copyTree(files)
	if err != nil {
		return err
	}
	defer os.RemoveAll(tree)
	v := vars.New(f, filepath.Join(tree, dir))
	v.Log = os.Stderr
	probs, err := v.Check(vars.CheckOptions{})
	if err != nil {
		return err
	}
	if len(probs) > 0 {
		var lines []string
		for _, p := range probs {
			lines = append(lines, p.String())
		}
		return fmt.Errorf("vars tree %s has %d problems:\n  %s", dir, len(probs), strings.Join(lines, "\n  "))
	}
	fmt.Printf("vars: %s matches the fleet's generators\n", dir)
	return nil
}
