package fleet

import (
	"encoding/json"
	"fmt"
	"path"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/agekey"
	"github.com/vanixiets/vanixiets/tasks/dag"
)

// ValidationError lists every problem Validate found, one precise line each,
// in a stable order (machines, then instances, then users).
type ValidationError struct {
	Problems []string
}

func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return "invalid fleet: " + e.Problems[0]
	}
	return fmt.Sprintf("invalid fleet (%d problems):\n  %s", len(e.Problems), strings.Join(e.Problems, "\n  "))
}

// Check validates f as the fleet of flake ref, in the words of check:fleet:
// every entry point (deploy, vars, terraform) calls it before any host is
// touched, so a bad fleet gets the same message wherever it is found.
func (f *Fleet) Check(ref string) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("flake %s: %w", ref, err)
	}
	return nil
}

// NeededFor values of clan's vars (when a secret must be on the machine).
var neededForValues = []string{"partitioning", "activation", "users", "services"}

// Prompt types of clan's vars.
var promptTypes = []string{"hidden", "line", "multiline"}

var (
	systemRe = regexp.MustCompile(`^[a-z0-9_]+-[a-z0-9_]+$`)
	nameRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	modeRe   = regexp.MustCompile(`^0?[0-7]{3}$`)
	// accountRe is an owner or group name that chown accepts on both
	// classes (POSIX portable names; macOS's _www-style names; at most 32
	// characters), or a numeric id. It keeps anything else (spaces, ':',
	// '/', shell syntax, option-like '-x') from reaching the host.
	accountRe = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_.-]{0,31}|[0-9]{1,10})$`)
)

// Validate checks the cross-references and invariants Parse cannot: classes
// and systems agree, cloud machines carry provider data, roles and users name
// declared machines, exactly one zerotier controller per zerotier instance,
// no two machines share a deploy host, and every generator's dependencies,
// files and prompts are well formed. It returns nil or a *ValidationError.
func (f *Fleet) Validate() error {
	var p []string
	add := func(format string, a ...any) { p = append(p, fmt.Sprintf(format, a...)) }

	if len(f.Machines) == 0 {
		add("no machines declared")
	}
	hosts := map[string]string{} // host -> first machine
	shared := map[string]*Generator{}
	sharedOwner := map[string]string{}
	for _, name := range f.MachineNames() {
		m := f.Machines[name]
		w := fmt.Sprintf("machine %q", name)
		if !nameRe.MatchString(name) {
			add("%s: invalid machine name (letters, digits, '.', '_', '-')", w)
		}
		switch m.MachineClass {
		case ClassNixOS, ClassDarwin:
		case "":
			add("%s: missing machineClass (want \"nixos\" or \"darwin\")", w)
		default:
			add("%s: unknown machineClass %q (want \"nixos\" or \"darwin\")", w, m.MachineClass)
		}
		switch {
		case m.System == "":
			add("%s: missing system (e.g. \"x86_64-linux\", \"aarch64-darwin\")", w)
		case !systemRe.MatchString(m.System):
			add("%s: system %q is not of the form <arch>-<os>", w, m.System)
		case m.MachineClass == ClassDarwin && !strings.HasSuffix(m.System, "-darwin"):
			add("%s: darwin machine with non-darwin system %q (want e.g. \"aarch64-darwin\")", w, m.System)
		case m.MachineClass == ClassNixOS && !strings.HasSuffix(m.System, "-linux"):
			add("%s: nixos machine with non-linux system %q (want e.g. \"x86_64-linux\")", w, m.System)
		}
		for _, t := range m.Tags {
			if t == "" {
				add("%s: empty tag", w)
			}
		}
		if h := hostOf(m.Deploy.TargetHost); h != "" {
			if other, dup := hosts[h]; dup {
				add("%s: duplicate host: deploy.targetHost %q reaches the same host as machine %q", w, m.Deploy.TargetHost, other)
			} else {
				hosts[h] = name
			}
		}
		switch m.Deploy.BuildOn {
		case "", BuildLocal, BuildTarget:
		default:
			add("%s: unknown deploy.buildOn %q (want \"local\": build on the deployer, or \"target\": build on the machine itself)", w, m.Deploy.BuildOn)
		}
		if c := m.Cloud; c != nil {
			switch c.Provider {
			case ProviderHetzner, ProviderGCP:
			case "":
				add("%s: cloud machine without provider (want cloud.provider = \"hetzner\" or \"gcp\")", w)
			default:
				add("%s: unknown cloud.provider %q (want \"hetzner\" or \"gcp\")", w, c.Provider)
			}
			if c.ServerType == "" {
				add("%s: cloud machine without cloud.serverType (e.g. \"cx22\", \"e2-standard-2\")", w)
			}
			if c.Location == "" {
				add("%s: cloud machine without cloud.location (e.g. \"nbg1\", \"us-central1-a\")", w)
			}
			if m.MachineClass == ClassDarwin {
				add("%s: darwin machine cannot be a %s cloud server", w, c.Provider)
			}
		}
		for _, gname := range sortedKeys(m.Generators) {
			g := m.Generators[gname]
			gw := fmt.Sprintf("%s generator %q", w, gname)
			p = append(p, validateGenerator(m, g, gw)...)
			if g.Share {
				if first, ok := shared[gname]; ok && !sameGenerator(first, g) {
					add("%s: shared generator differs from its declaration on machine %q (a shared generator must be declared identically everywhere)", gw, sharedOwner[gname])
				} else if !ok {
					shared[gname], sharedOwner[gname] = g, name
				}
			}
		}
		if cyc := dependencyCycle(m); cyc != nil {
			add("%s: generator dependency cycle %s", w, strings.Join(cyc, " -> "))
		}
		// Secrets are encrypted to the machine's admins' age keys: with no
		// admin, vars:generate would have nobody to encrypt to and the
		// deploy would fail later with advice (vars:rekey) that cannot work.
		if g := firstSecretGenerator(m); g != "" && len(f.Recipients(name)) == 0 {
			add("%s: generator %q makes secrets but the machine has no admin with ageKeys to encrypt them to (give it a users instance role with settings.admin = true whose user has ageKeys)", w, g)
		}
	}

	controllers := 0
	for _, in := range f.InstanceNames() {
		inst := f.Instances[in]
		w := fmt.Sprintf("instance %q", in)
		if inst.Module.Name == "" {
			add("%s: missing module.name", w)
		}
		for _, rn := range sortedKeys(inst.Roles) {
			r := inst.Roles[rn]
			if r == nil {
				continue
			}
			for _, mn := range sortedKeys(r.Machines) {
				if _, ok := f.Machines[mn]; !ok {
					if inst.Module.Name == ModuleUsers {
						add("%s role %q: user %q is assigned to missing machine %q (known machines: %s)", w, rn, userOf(inst, r), mn, strings.Join(f.MachineNames(), ", "))
					} else {
						add("%s role %q: unknown machine %q (known machines: %s)", w, rn, mn, strings.Join(f.MachineNames(), ", "))
					}
				}
			}
		}
		switch inst.Module.Name {
		case ModuleZerotier:
			ctl := f.MachinesOf(in, RoleController)
			switch len(ctl) {
			case 0:
				add("%s: no zerotier controller (want exactly one machine in roles.controller)", w)
			case 1:
				controllers++
			default:
				add("%s: %d zerotier controllers %s (want exactly one)", w, len(ctl), strings.Join(ctl, ", "))
			}
			for rn := range inst.Roles {
				if rn != RoleController && rn != RolePeer {
					add("%s: unknown zerotier role %q (want \"controller\" or \"peer\")", w, rn)
				}
			}
		case ModuleUsers:
			for _, rn := range sortedKeys(inst.Roles) {
				r := inst.Roles[rn]
				if r == nil {
					continue
				}
				u, ok := r.Settings["user"]
				us, isStr := u.(string)
				switch {
				case !ok:
					add("%s role %q: missing settings.user", w, rn)
				case !isStr || us == "":
					add("%s role %q: settings.user must be a user name, got %v", w, rn, u)
				default:
					if _, ok := f.Users[us]; !ok {
						add("%s role %q: settings.user %q is not a declared user (known users: %s)", w, rn, us, strings.Join(f.UserNames(), ", "))
					}
				}
				if a, ok := r.Settings["admin"]; ok {
					if _, isBool := a.(bool); !isBool {
						add("%s role %q: settings.admin must be true or false, got %v", w, rn, a)
					}
				}
			}
		}
	}

	for _, un := range f.UserNames() {
		u := f.Users[un]
		for i, k := range u.AgeKeys {
			if agekey.IsPlaceholder(k) {
				add("%v", agekey.PlaceholderError(fmt.Sprintf("user %q ageKeys[%d]", un, i), k))
				continue
			}
			if !strings.HasPrefix(k, "age1") && !strings.HasPrefix(k, "ssh-") {
				add("user %q: ageKeys entry %q is not an age recipient (want age1... or an ssh public key)", un, abbrevS(k))
			}
		}
	}
	if f.Lab != nil {
		if len(f.Lab.Identities) == 0 {
			add("lab: declares no identities (want lab.identities = [ \"keys/<user>.agekey\" ... ], relative to the flake)")
		}
		for _, id := range f.Lab.Identities {
			if id == "" || path.IsAbs(id) || path.Clean(id) != id || strings.HasPrefix(id, "../") || id == ".." {
				add("lab: identity %q must be a clean path inside the flake directory (e.g. \"keys/admin.agekey\")", id)
			}
		}
	}
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Problems: p}
}

func validateGenerator(m *Machine, g *Generator, w string) []string {
	var p []string
	add := func(format string, a ...any) { p = append(p, fmt.Sprintf(format, a...)) }
	if len(g.Files) == 0 {
		add("%s: declares no files", w)
	}
	if strings.TrimSpace(g.Script) == "" {
		add("%s: empty script", w)
	}
	for _, d := range g.Dependencies {
		if d == g.Name {
			add("%s: depends on itself", w)
			continue
		}
		if _, ok := m.Generators[d]; !ok {
			add("%s: unknown generator dependency %q (machine's generators: %s)", w, d, strings.Join(sortedKeys(m.Generators), ", "))
		}
	}
	for _, r := range g.Reads {
		dep, file, ok := strings.Cut(r, "/")
		switch {
		case !ok || dep == "" || file == "":
			add("%s: reads entry %q is not \"<dependency>/<file>\"", w, r)
		case !contains(g.Dependencies, dep):
			add("%s: reads %q but %q is not one of its dependencies (%s)", w, r, dep, strings.Join(g.Dependencies, ", "))
		default:
			if dg, ok := m.Generators[dep]; ok {
				if df, ok := dg.Files[file]; !ok || !df.Secret {
					add("%s: reads %q, which is not a secret file of %q (public files of dependencies are always in $in)", w, r, dep)
				}
			}
		}
	}
	for _, fn := range sortedKeys(g.Files) {
		file := g.Files[fn]
		fw := fmt.Sprintf("%s file %q", w, fn)
		if strings.Contains(fn, "/") || fn == "." || fn == ".." || fn == "" {
			add("%s: file name must be a plain name", fw)
		}
		mode, modeErr := strconv.ParseUint(file.Mode, 8, 32)
		switch {
		case file.Mode != "" && (!modeRe.MatchString(file.Mode) || modeErr != nil):
			// Three octal digits only: symbolic modes ("u+s") and a fourth
			// digit (setuid, setgid, sticky: "4755") never reach chmod.
			add("%s: mode %q is not a plain octal permission like \"0400\" (three digits, no setuid/setgid/sticky bit, no symbolic form)", fw, file.Mode)
		case file.Secret && file.Mode != "" && mode&0o007 != 0:
			add("%s: secret file with mode %q gives every user of the host access (want no permission for others, e.g. \"0400\", or \"0440\" with a group)", fw, file.Mode)
		}
		for _, acct := range []struct{ what, name string }{{"owner", file.Owner}, {"group", file.Group}} {
			if acct.name != "" && !accountRe.MatchString(acct.name) {
				add("%s: %s %q is not a user or group name (letters, digits, '_', '.', '-', starting with a letter or '_', at most 32 characters; or a numeric id)", fw, acct.what, acct.name)
			}
		}
		if file.NeededFor != "" && !contains(neededForValues, file.NeededFor) {
			add("%s: neededFor %q (want one of %s)", fw, file.NeededFor, strings.Join(neededForValues, ", "))
		}
		if !file.Secret && file.Mode != "" && modeErr == nil && mode&0o044 == 0 {
			add("%s: public file with private mode %q", fw, file.Mode)
		}
	}
	for _, pn := range sortedKeys(g.Prompts) {
		pr := g.Prompts[pn]
		if pr.Type != "" && !contains(promptTypes, pr.Type) {
			add("%s prompt %q: type %q (want one of %s)", w, pn, pr.Type, strings.Join(promptTypes, ", "))
		}
	}
	return p
}

// dependencyCycle returns one cycle of generator dependencies, or nil.
// Dependencies on unknown generators and on the generator itself are
// reported by their own checks, so they are not edges here.
func dependencyCycle(m *Machine) []string {
	return dag.Cycle(sortedKeys(m.Generators), func(n string) []string {
		var out []string
		for _, d := range m.Generators[n].Dependencies {
			if _, ok := m.Generators[d]; ok && d != n {
				out = append(out, d)
			}
		}
		return out
	})
}

// hostOf returns the host part of a targetHost "user@host:port" (lower-cased,
// user dropped) so "root@a" and "admin@a" count as the same host.
// firstSecretGenerator names the first generator (in name order) of m
// that has a secret file; "" when m has none.
func firstSecretGenerator(m *Machine) string {
	for _, gname := range sortedKeys(m.Generators) {
		for _, file := range m.Generators[gname].Files {
			if file.Secret {
				return gname
			}
		}
	}
	return ""
}

func hostOf(target string) string {
	t := strings.TrimSpace(target)
	if i := strings.LastIndex(t, "@"); i >= 0 {
		t = t[i+1:]
	}
	return strings.ToLower(t)
}

func userOf(inst *Instance, r *Role) string {
	if u, ok := r.Settings["user"].(string); ok && u != "" {
		return u
	}
	return strings.TrimPrefix(inst.Name, UserInstancePrefix)
}

func sameGenerator(a, b *Generator) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return reflect.DeepEqual(ja, jb)
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

func abbrevS(s string) string {
	if len(s) > 24 {
		return s[:24] + "..."
	}
	return s
}
