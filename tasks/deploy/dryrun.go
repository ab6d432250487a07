package deploy

import (
	"context"
	"fmt"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/activate"
	"github.com/vanixiets/vanixiets/tasks/closure"
	"github.com/vanixiets/vanixiets/tasks/closurediff"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/remote"
)

// DryRun is what a deployment would do to one machine (--dry-run), found
// without changing anything on it.
type DryRun struct {
	// Toplevel is the system the deployment would activate; Running the
	// one the host runs now ("": none of ours).
	Toplevel string `json:"toplevel"`
	Running  string `json:"running"`
	Action   string `json:"action"`
	// AlreadyRuns: the host is where Action would take it; nothing to do.
	AlreadyRuns bool `json:"alreadyRuns"`
	// CopyPaths of ClosurePaths store paths, CopyBytes NAR bytes, would be
	// copied: the closure's paths the host's store lacks.
	CopyPaths    int   `json:"copyPaths"`
	ClosurePaths int   `json:"closurePaths"`
	CopyBytes    int64 `json:"copyBytes"`
	// Diff is the closure diff from Running to Toplevel (packages added,
	// removed, changed; sizes); nil when Running is Toplevel.
	Diff *closurediff.Diff `json:"diff,omitempty"`
	// Units are what the switch would do to the machine's services, as its
	// new system's own dry activation says; nil when that is not known
	// (UnitsNote says why).
	Units     *activate.Units `json:"units,omitempty"`
	UnitsNote string          `json:"unitsNote,omitempty"`
}

// dryRun reports what deploying top to m would change, over the dry run's
// one connection c and changing nothing on the host:
//   - what would be copied: rep, the copy's own dry run (the host's
//     daemon says which paths it lacks; their NAR sizes are from infos);
//   - the closure diff from the running system, whose closure the host's
//     own Nix lists (it may hold paths the deployer never built), to top,
//     whose closure infos is (listed here);
//   - for a NixOS switch or test, the units top's switch-to-configuration
//     dry-activate names, when top is already in the host's store (a dry
//     run copies nothing, so a system not yet there cannot be asked).
func (d *Deployer) dryRun(ctx context.Context, c *remote.Client, m *fleet.Machine, top string, infos []nix.PathInfo, rep closure.Report, st activate.State) (*DryRun, error) {
	dr := &DryRun{Toplevel: top, Running: st.Toplevel, Action: d.opt.Action, AlreadyRuns: st.Runs(top, d.opt.Action),
		CopyPaths: len(rep.Missing), ClosurePaths: rep.Closure, CopyBytes: rep.MissingBytes}
	if st.Toplevel != top {
		var old []nix.PathInfo
		if st.Toplevel != "" {
			var err error
			if old, err = closure.HostClosure(ctx, c, st.Toplevel); err != nil {
				return nil, err
			}
		}
		diff := closurediff.Compute(diffPaths(old), diffPaths(infos))
		dr.Diff = &diff
	}
	switch {
	case dr.AlreadyRuns:
	case m.MachineClass == fleet.ClassDarwin:
		dr.UnitsNote = "nix-darwin has no dry activation: which services restart is not known before the switch"
	case d.opt.Action != "switch" && d.opt.Action != "test":
		dr.UnitsNote = d.opt.Action + " restarts nothing until the machine boots it"
	default:
		u, _, present, err := activate.DryActivate(ctx, c, m.MachineClass, top)
		if err != nil {
			return nil, err
		}
		if present {
			dr.Units = &u
		} else {
			dr.UnitsNote = "not known: the new system is not in the host's store yet and a dry run copies nothing (a deploy with --mode dry-activate copies it, uploads the secrets and asks the host)"
		}
	}
	return dr, nil
}

func diffPaths(infos []nix.PathInfo) []closurediff.Path {
	out := make([]closurediff.Path, len(infos))
	for i, pi := range infos {
		out[i] = closurediff.Path{Path: pi.Path, NarSize: pi.NarSize}
	}
	return out
}

// listMax is how many names a list of the dry-run text shows; the rest
// are counted (a first deployment of a NixOS machine adds a thousand).
const listMax = 12

// DryRunText renders the dry runs of rows, one block per machine: what
// would be copied, the closure diff in packages and versions, and the
// units that would stop, restart and start.
func DryRunText(rows []Summary) string {
	var b strings.Builder
	for _, r := range rows {
		dr := r.DryRun
		if dr == nil {
			continue
		}
		if dr.AlreadyRuns {
			fmt.Fprintf(&b, "%s: already runs %s\n", r.Machine, dr.Toplevel)
			continue
		}
		fmt.Fprintf(&b, "%s: would %s %s (now %s)\n", r.Machine, dr.Action, dr.Toplevel, orNone(dr.Running))
		fmt.Fprintf(&b, "  copy      %d of %d paths, %s\n", dr.CopyPaths, dr.ClosurePaths, humanBytes(dr.CopyBytes))
		if df := dr.Diff; df != nil {
			fmt.Fprintf(&b, "  closure   %d -> %d paths, %s -> %s (%s)\n", df.OldPaths, df.NewPaths, humanBytes(df.OldSize), humanBytes(df.NewSize), signedBytes(df.SizeDelta()))
			for _, l := range []struct {
				name string
				pkgs []closurediff.Package
			}{{"changed", df.Changed}, {"added", df.Added}, {"removed", df.Removed}} {
				var items []string
				for _, p := range l.pkgs {
					v := closurediff.Versions(p.New)
					switch l.name {
					case "changed":
						v = closurediff.Versions(p.Old) + " -> " + v
					case "removed":
						v = closurediff.Versions(p.Old)
					}
					items = append(items, fmt.Sprintf("%s %s (%s)", p.Name, v, signedBytes(p.SizeDelta)))
				}
				if len(items) > 0 {
					fmt.Fprintf(&b, "  %-9s %s\n", l.name, capped(items))
				}
			}
			if len(df.Rebuilt) > 0 {
				fmt.Fprintf(&b, "  %-9s %s\n", "rebuilt", capped(df.Rebuilt))
			}
		}
		switch {
		case dr.Units == nil:
			fmt.Fprintf(&b, "  units     %s\n", dr.UnitsNote)
		case dr.Units.Empty():
			fmt.Fprintf(&b, "  units     none would stop, restart or start\n")
		default:
			u := dr.Units
			var parts []string
			for _, l := range []struct {
				verb  string
				names []string
			}{{"stop", u.Stop}, {"restart", u.Restart}, {"start", u.Start}, {"reload", u.Reload}, {"keep (changed, not stopped)", u.Keep}} {
				if len(l.names) > 0 {
					parts = append(parts, "would "+l.verb+" "+capped(l.names))
				}
			}
			if u.RestartSystemd {
				parts = append(parts, "would restart systemd")
			}
			fmt.Fprintf(&b, "  units     %s\n", strings.Join(parts, "; "))
		}
	}
	return b.String()
}

// capped joins items, listMax of them and a count of the rest.
func capped(items []string) string {
	if len(items) <= listMax {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:listMax], ", ") + fmt.Sprintf(" and %d more", len(items)-listMax)
}

// signedBytes is humanBytes with a sign: "+1.2 KiB", "-300 B", "±0 B".
func signedBytes(n int64) string {
	switch {
	case n > 0:
		return "+" + humanBytes(n)
	case n < 0:
		return "-" + humanBytes(-n)
	}
	return "±0 B"
}
