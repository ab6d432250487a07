// Package terraform drives a real terraform (through hashicorp/terraform-exec)
// over a rendered terranix configuration, with the state kept encrypted at
// rest.
//
// The life of every command is one "run": take the workspace lock (an
// flock that terraform and its providers inherit, so it is held until the
// run and everything it started have exited: see lock.go), recover what an
// earlier killed run left behind, make a private 0700 run directory, decrypt
// the state into it, run terraform there, encrypt the state back if
// terraform changed it, and remove the directory. Plaintext state (and
// plans, which embed state) exists only inside that directory, which lives
// in memory (/dev/shm) where the machine has it, so that no plaintext
// reaches a disk however long terraform or a confirmation takes.
//
// Plans are saved (encrypted) with the render key they were made from: apply
// refuses a plan whose key no longer matches the current rendering, or whose
// state has moved on, so what runs is always what was shown.
package terraform

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"

	"github.com/vanixiets/vanixiets/tasks/fsutil"
	"github.com/vanixiets/vanixiets/tasks/paths"
	"github.com/vanixiets/vanixiets/tasks/terranix"
	"github.com/vanixiets/vanixiets/tasks/vars"
)

// InstallHint says how to get terraform and the providers.
const InstallHint = "run scripts/install-terraform.sh (links /usr/local/bin/terraform or builds terraform v1.5.7 with go install in 2-4 min; builds the hcloud provider in about 1 min) and scripts/install-google-provider.sh (builds the google provider once, with the compute service only: about 2 min of two cores)"

// Workspace is one terraform state and the directory it is worked on in.
type Workspace struct {
	// StateFile is the age-encrypted state, e.g. <repo>/terraform/terraform.tfstate.age.
	StateFile string
	// WorkDir holds the lock, the init cache, saved plans and run
	// directories. Default: paths.Home()/tf/<digest of StateFile's path>.
	WorkDir string
	// Terraform is the binary. Default: paths.Tools()/bin/terraform, else
	// terraform on PATH.
	Terraform string
	// CLIConfig is the CLI config naming the provider mirror. Default:
	// paths.Tools()/terraform.rc.
	CLIConfig string
	// Env is added to terraform's environment (HCLOUD_ENDPOINT, HCLOUD_TOKEN).
	Env map[string]string
	// Vault encrypts state and plans. Its Recipients, when empty, are taken
	// from the rendering (the admins' keys).
	Vault Vault
	// Stdout and Stderr receive terraform's output (nil: discarded).
	Stdout, Stderr io.Writer
	// WaitDelay is how long terraform gets after an interrupt before it is
	// killed (default 30 s).
	WaitDelay time.Duration

	// runs is where run directories are made (see runsRoot).
	runs string
}

// DefaultWorkDir is the work directory of a state file.
func DefaultWorkDir(stateFile string) string {
	return filepath.Join(paths.Home(), "tf", pathDigest(stateFile))
}

// pathDigest names a directory after the absolute path of another.
func pathDigest(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		abs = p
	}
	s := sha256.Sum256([]byte(abs))
	return hex.EncodeToString(s[:8])
}

// runsRoot is the private directory the run directories of WorkDir are
// made in: under vars.TmpBase (memory, /dev/shm, where the machine has it;
// the same place generator scripts get their plaintext work directories),
// named after WorkDir and the user. It is decided once per workspace, so a
// run finds what a killed run of the same workspace left there. A directory
// of that name that is not the user's own private directory is refused.
//
// Memory means a killed run's plaintext state does not survive a reboot of
// the machine; it does survive the killed process, which is what
// recoverRuns needs.
func (w *Workspace) runsRoot() (string, error) {
	dir := filepath.Join(vars.TmpBase(), fmt.Sprintf("vanixiets-tf-%d-%s", os.Getuid(), pathDigest(w.WorkDir)))
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("terraform run directory %s: %v", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return "", err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Getuid() || fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("terraform run directory %s is not a private directory of yours (%s): remove it, it is made again", dir, fi.Mode())
	}
	return dir, nil
}

func (w *Workspace) defaults() error {
	if w.StateFile == "" {
		return errors.New("terraform workspace: no state file")
	}
	if w.WorkDir == "" {
		w.WorkDir = DefaultWorkDir(w.StateFile)
	}
	if w.Terraform == "" {
		w.Terraform = filepath.Join(paths.Tools(), "bin", "terraform")
		if _, err := os.Stat(w.Terraform); err != nil {
			if p, err := lookPath("terraform"); err == nil {
				w.Terraform = p
			}
		}
	}
	if _, err := os.Stat(w.Terraform); err != nil {
		return fmt.Errorf("terraform not found at %s: %s", w.Terraform, InstallHint)
	}
	if w.CLIConfig == "" {
		w.CLIConfig = filepath.Join(paths.Tools(), "terraform.rc")
	}
	if _, err := os.Stat(w.CLIConfig); err != nil {
		return fmt.Errorf("terraform CLI config %s is missing (it names the provider mirror): %s", w.CLIConfig, InstallHint)
	}
	if w.WaitDelay == 0 {
		w.WaitDelay = 30 * time.Second
	}
	if err := os.MkdirAll(w.WorkDir, 0o700); err != nil {
		return err
	}
	runs, err := w.runsRoot()
	w.runs = runs
	return err
}

// run is one locked terraform session in a private directory.
type run struct {
	w      *Workspace
	dir    string
	tf     *tfexec.Terraform
	lock   *os.File
	state0 []byte // decrypted state at start
	vault  Vault
	notes  []string
}

func (w *Workspace) lockPath() string { return filepath.Join(w.WorkDir, "lock") }

// begin locks, recovers, and prepares a run directory with the state and
// the configuration of r.
func (w *Workspace) begin(ctx context.Context, r *terranix.Rendering) (*run, error) {
	if err := w.defaults(); err != nil {
		return nil, err
	}
	vault := w.Vault
	if len(vault.Recipients) == 0 && r != nil {
		recips, err := ParseRecipients(r.Recipients)
		if err != nil {
			return nil, err
		}
		vault.Recipients = recips
	}
	lock, err := w.acquire(ctx)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			lock.Close()
		}
	}()
	// Decrypt first: a wrong key must fail before anything changes.
	state0, err := vault.Read(w.StateFile)
	if err != nil {
		return nil, err
	}
	if state0 != nil {
		if _, err := parseState(state0); err != nil {
			return nil, fmt.Errorf("%s: %v", w.StateFile, err)
		}
	}
	rn := &run{w: w, lock: lock, vault: vault, state0: state0}
	if recovered, note, err := rn.recoverRuns(); err != nil {
		return nil, err
	} else if recovered != nil {
		rn.state0 = recovered
		rn.notes = append(rn.notes, note)
	}
	dir, err := os.MkdirTemp(w.runs, "run-")
	if err != nil {
		return nil, err
	}
	rn.dir = dir
	if rn.state0 != nil {
		if err := os.WriteFile(filepath.Join(dir, "terraform.tfstate"), rn.state0, 0o600); err != nil {
			rn.remove()
			return nil, err
		}
	}
	if r != nil {
		if err := rn.writeConfig(r); err != nil {
			rn.remove()
			return nil, err
		}
	}
	tf, err := tfexec.NewTerraform(dir, w.Terraform)
	if err != nil {
		rn.remove()
		return nil, fmt.Errorf("terraform at %s: %v: %s", w.Terraform, err, InstallHint)
	}
	env := tfexec.CleanEnv(envMap(os.Environ()))
	env["TF_CLI_CONFIG_FILE"] = w.CLIConfig
	env["TF_DATA_DIR"] = filepath.Join(w.WorkDir, "data")
	env["CHECKPOINT_DISABLE"] = "1"
	for k, v := range w.Env {
		env[k] = v
	}
	if err := tf.SetEnv(env); err != nil {
		rn.remove()
		return nil, err
	}
	if err := tf.SetWaitDelay(w.WaitDelay); err != nil {
		rn.remove()
		return nil, err
	}
	tf.SetStdout(w.Stdout)
	tf.SetStderr(w.Stderr)
	rn.tf = tf
	ok = true
	return rn, nil
}

func envMap(environ []string) map[string]string {
	m := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// writeConfig writes the rendering and the dependency lock file kept from
// earlier inits.
func (rn *run) writeConfig(r *terranix.Rendering) error {
	cfg := r.Config
	if err := os.WriteFile(filepath.Join(rn.dir, terranix.FileName), cfg.JSON(), 0o600); err != nil {
		return err
	}
	if b, err := os.ReadFile(filepath.Join(rn.w.WorkDir, ".terraform.lock.hcl")); err == nil {
		return os.WriteFile(filepath.Join(rn.dir, ".terraform.lock.hcl"), b, 0o644)
	}
	return nil
}

func parseStateMaybe(b []byte) (*stateHeader, error) {
	if b == nil {
		return nil, nil
	}
	return parseState(b)
}

// inMirror reports whether the mirror named in the CLI config has the
// provider for this platform.
func (w *Workspace) inMirror(source string) bool {
	for _, m := range mirrorPaths(w.CLIConfig) {
		matches, _ := filepath.Glob(filepath.Join(m, source, "*", platform()))
		if len(matches) > 0 {
			return true
		}
		zips, _ := filepath.Glob(filepath.Join(m, source, "*.zip"))
		if len(zips) > 0 {
			return true
		}
	}
	return false
}

// init runs terraform init against the mirror when the configuration's
// providers or the mirror changed since the last successful init.
func (rn *run) init(ctx context.Context) error {
	cfg, err := os.ReadFile(filepath.Join(rn.dir, terranix.FileName))
	if err != nil {
		return err
	}
	c, err := terranix.Parse(cfg)
	if err != nil {
		return err
	}
	h := sha256.New()
	fmt.Fprintf(h, "init-v1\x00%s\x00%s\x00", rn.w.Terraform, rn.w.CLIConfig)
	for _, p := range c.Providers() {
		fmt.Fprintf(h, "%s\x00", p)
	}
	for _, m := range mirrorPaths(rn.w.CLIConfig) {
		filepath.Walk(m, func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				fmt.Fprintf(h, "%s %d %d\x00", p, fi.Size(), fi.ModTime().UnixNano())
			}
			return nil
		})
	}
	key := hex.EncodeToString(h.Sum(nil))
	marker := filepath.Join(rn.w.WorkDir, "init.key")
	if b, err := os.ReadFile(marker); err == nil && string(b) == key {
		if _, err := os.Stat(filepath.Join(rn.dir, ".terraform.lock.hcl")); err == nil {
			return nil
		}
	}
	initOnce := func() error { return rn.withLock(func() error { return rn.tf.Init(ctx, tfexec.Upgrade(false)) }) }
	err = initOnce()
	if err != nil && staleLock(err) {
		// The lock file is the suite's own (kept in the work directory,
		// never in the repository), and the mirror is the set-up's: a
		// provider rebuilt there under the same version (another
		// source commit, other build flags) has other bytes. Renew the
		// entries from the mirror, and say so.
		fmt.Fprintf(rn.w.stderr(), "terraform: a provider in the mirror (%s) changed since the last init, under the same version; its lock entries are renewed from the mirror\n", strings.Join(mirrorPaths(rn.w.CLIConfig), ", "))
		if err := os.Remove(filepath.Join(rn.dir, ".terraform.lock.hcl")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		err = initOnce()
	}
	if err != nil {
		return explainInit(err, c, rn.w)
	}
	if b, err := os.ReadFile(filepath.Join(rn.dir, ".terraform.lock.hcl")); err == nil {
		if err := fsutil.WriteFile(filepath.Join(rn.w.WorkDir, ".terraform.lock.hcl"), b, 0o644); err != nil {
			return err
		}
	}
	return fsutil.WriteFile(marker, []byte(key), 0o644)
}

// staleLock reports terraform init's refusal of a provider whose bytes
// match none of the checksums the dependency lock file recorded.
func staleLock(err error) bool {
	// terraform wraps its message at a width: compare words, not lines.
	return strings.Contains(strings.Join(strings.Fields(err.Error()), " "), "match any of the checksums previously recorded in the dependency lock file")
}

func explainInit(err error, c *terranix.Config, w *Workspace) error {
	var missing []string
	for _, p := range c.Providers() {
		if !w.inMirror(p) {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("terraform init: provider %s is not in the mirror %s: %s", strings.Join(missing, ", "), strings.Join(mirrorPaths(w.CLIConfig), ", "), InstallHint)
	}
	return fmt.Errorf("terraform init: %w", err)
}

// end persists the state if terraform changed it, keeps the lock file, and
// removes the run directory. It runs even after cancellation. Providers
// terraform left behind are killed (and gone) before the lock is released.
func (rn *run) end() error {
	defer rn.lock.Close()
	rn.w.reapProviders()
	if err := rn.persist(); err != nil {
		return fmt.Errorf("%w (the plaintext run directory %s is kept so the next run recovers it)", err, rn.dir)
	}
	rn.remove()
	return nil
}

func (rn *run) persist() error {
	cur, err := os.ReadFile(filepath.Join(rn.dir, "terraform.tfstate"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if string(cur) == string(rn.state0) {
		return nil
	}
	if _, err := parseState(cur); err != nil {
		return fmt.Errorf("terraform left an unreadable state: %v", err)
	}
	return rn.vault.Write(rn.w.StateFile, cur)
}

func (rn *run) remove() {
	if rn.dir != "" {
		os.RemoveAll(rn.dir)
	}
}

// recoverRuns handles run directories left by a killed run (in runsRoot,
// and in WorkDir/runs, where earlier versions made them): a state newer
// than the stored one (same lineage, higher serial, or no stored state) is
// encrypted into StateFile; then the directory is removed. The lock is
// held, and nothing a killed run started is still running (acquire waited
// for it), so these states are final.
//
// A state that does not parse (terraform killed halfway through rewriting
// it in place) may hold resources nothing else records: its directory is
// kept and the run refused, rather than planning as if they did not exist.
func (rn *run) recoverRuns() ([]byte, string, error) {
	var dirs []string
	for _, root := range []string{rn.w.runs, filepath.Join(rn.w.WorkDir, "runs")} {
		ents, err := os.ReadDir(root)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, "", err
		}
		for _, e := range ents {
			dirs = append(dirs, filepath.Join(root, e.Name()))
		}
	}
	var best []byte
	var note string
	cur, _ := parseStateMaybe(rn.state0)
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "terraform.tfstate"))
		if err == nil {
			h, err := parseState(b)
			if err != nil {
				return nil, "", fmt.Errorf("the interrupted run directory %s holds a damaged terraform.tfstate (%v): resources it recorded may exist without being in %s; compare it (and terraform.tfstate.backup beside it) with the cloud, import what is missing, then remove the directory", dir, err, rn.w.StateFile)
			}
			newer := cur == nil || (h.Lineage == cur.Lineage && h.Serial > cur.Serial)
			if newer {
				if err := rn.vault.Write(rn.w.StateFile, b); err != nil {
					return nil, "", fmt.Errorf("recover state from interrupted run %s: %w", dir, err)
				}
				best, cur = b, h
				note = fmt.Sprintf("recovered the state (serial %d) left by an interrupted run", h.Serial)
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, "", fmt.Errorf("interrupted run directory %s: %w", dir, err)
		}
		if err := os.RemoveAll(dir); err != nil {
			return nil, "", err
		}
	}
	return best, note, nil
}

// Notes are things a run wants the user to know (left-out providers,
// recovered state).
func (rn *run) Notes() []string { return rn.notes }

// ResourceChange is one resource a plan changes.
type ResourceChange struct {
	Address string `json:"address"`
	// Machine is the fleet machine whose server this is ("" otherwise).
	Machine string `json:"machine,omitempty"`
	// Action is create, update, delete, replace or read.
	Action string `json:"action"`
}

// Plan is a saved plan's summary. The plan itself is stored encrypted next
// to it.
type Plan struct {
	RenderKey string           `json:"render_key"`
	StateSum  string           `json:"state_sum"`
	Destroy   bool             `json:"destroy,omitempty"`
	Changes   []ResourceChange `json:"changes"`
	Notes     []string         `json:"notes,omitempty"`
	Created   time.Time        `json:"created"`
}

// HasChanges reports whether applying the plan would do anything.
func (p *Plan) HasChanges() bool { return len(p.Changes) > 0 }

// Summary is the plan for people: one line per machine or resource.
func (p *Plan) Summary() string {
	var b strings.Builder
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	if !p.HasChanges() {
		b.WriteString("no changes: the infrastructure matches the configuration\n")
		return b.String()
	}
	counts := map[string]int{}
	for _, c := range p.Changes {
		counts[c.Action]++
		what := "resource " + c.Address
		if c.Machine != "" {
			what = fmt.Sprintf("machine %s (%s)", c.Machine, c.Address)
		}
		mark := map[string]string{"create": "+", "delete": "-", "update": "~", "replace": "-/+", "read": "<="}[c.Action]
		fmt.Fprintf(&b, "  %-3s %s: %s\n", mark, what, c.Action)
	}
	fmt.Fprintf(&b, "plan: %d to create, %d to update, %d to replace, %d to destroy\n", counts["create"], counts["update"], counts["replace"], counts["delete"])
	return b.String()
}

func (w *Workspace) planMeta() string { return filepath.Join(w.WorkDir, "plan.json") }
func (w *Workspace) planFile() string { return filepath.Join(w.WorkDir, "plan.tfplan.age") }

// stateSum is the digest of the encrypted state file ("" when absent).
func (w *Workspace) stateSum() (string, error) {
	b, err := os.ReadFile(w.StateFile)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return sum(b), nil
}

// plan runs terraform plan in rn to plan.tfplan and summarizes it.
func (rn *run) plan(ctx context.Context, r *terranix.Rendering, destroy bool, targets ...string) (*Plan, error) {
	if err := rn.init(ctx); err != nil {
		return nil, err
	}
	opts := []tfexec.PlanOption{tfexec.Out("plan.tfplan"), tfexec.Refresh(true), tfexec.Destroy(destroy)}
	for _, t := range targets {
		opts = append(opts, tfexec.Target(t))
	}
	changed := false
	if err := rn.withLock(func() (err error) { changed, err = rn.tf.Plan(ctx, opts...); return err }); err != nil {
		return nil, fmt.Errorf("terraform plan: %w%s", err, rn.w.googleHint(err.Error()))
	}
	p := &tfjson.Plan{}
	if changed {
		// Only a plan with changes is read back: plan's -detailed-exitcode
		// already said an empty one is empty, and show -json starts every
		// provider once more for its schema (the google provider's alone
		// costs about a second). show -json prints the whole plan, state
		// values included: keep it off the console.
		rn.tf.SetStdout(io.Discard)
		err := rn.withLock(func() (err error) { p, err = rn.tf.ShowPlanFile(ctx, "plan.tfplan"); return err })
		rn.tf.SetStdout(rn.w.Stdout)
		if err != nil {
			return nil, fmt.Errorf("terraform show plan: %w", err)
		}
	}
	machineOf := map[string]string{}
	for m, a := range r.Config.Servers() {
		machineOf[a] = m
	}
	for _, m := range r.Machines {
		if typ, ok := terranix.ServerResourceType[m.Provider]; ok {
			machineOf[typ+"."+m.Name] = m.Name
		}
	}
	out := &Plan{RenderKey: r.Key, Destroy: destroy, Notes: rn.notes, Created: time.Now().UTC()}
	for _, rc := range p.ResourceChanges {
		if rc.Change == nil {
			continue
		}
		a := rc.Change.Actions
		var act string
		switch {
		case a.NoOp():
			continue
		case a.Replace():
			act = "replace"
		case a.Create():
			act = "create"
		case a.Delete():
			act = "delete"
		case a.Update():
			act = "update"
		case a.Read():
			act = "read"
		default:
			continue
		}
		out.Changes = append(out.Changes, ResourceChange{Address: rc.Address, Machine: machineOf[rc.Address], Action: act})
	}
	sort.Slice(out.Changes, func(i, j int) bool {
		ci, cj := out.Changes[i], out.Changes[j]
		if (ci.Machine != "") != (cj.Machine != "") {
			return ci.Machine != ""
		}
		return ci.Address < cj.Address
	})
	return out, nil
}

// Plan makes a plan for r, saves it (encrypted) with r's render key, and
// returns its summary.
func (w *Workspace) Plan(ctx context.Context, r *terranix.Rendering) (*Plan, error) {
	return w.savePlan(ctx, r, false)
}

// inRun begins a run for r, calls fn with it, and ends the run whatever
// fn returned: the state goes back into the vault, encrypted. A run that
// could not save its state failed, even when fn did not: its error is
// returned then (the run directory is kept for the next run to recover).
func (w *Workspace) inRun(ctx context.Context, r *terranix.Rendering, fn func(rn *run) error) (err error) {
	rn, err := w.begin(ctx, r)
	if err != nil {
		return err
	}
	defer func() {
		if e := rn.end(); e != nil && err == nil {
			err = e
		}
	}()
	return fn(rn)
}

func (w *Workspace) savePlan(ctx context.Context, r *terranix.Rendering, destroy bool) (*Plan, error) {
	var p *Plan
	err := w.inRun(ctx, r, func(rn *run) (err error) {
		if p, err = rn.plan(ctx, r, destroy); err != nil {
			return err
		}
		// The state sum is taken after a possible recovery wrote the state.
		if p.StateSum, err = w.stateSum(); err != nil {
			return err
		}
		raw, err := os.ReadFile(filepath.Join(rn.dir, "plan.tfplan"))
		if err != nil {
			return err
		}
		if err := rn.vault.Write(w.planFile(), raw); err != nil {
			return err
		}
		meta, _ := json.MarshalIndent(p, "", "  ")
		return fsutil.WriteFile(w.planMeta(), meta, 0o600)
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// SavedPlan returns the saved plan's summary, or nil when there is none.
func (w *Workspace) SavedPlan() (*Plan, error) {
	if err := w.defaults(); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(w.planMeta())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var p Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("saved plan %s is unreadable (%v): run tf:plan", w.planMeta(), err)
	}
	return &p, nil
}

// ErrStalePlan is wrapped when the saved plan no longer matches.
var ErrStalePlan = errors.New("plan made from an older render; run tf:plan")

// ErrDeclined is returned when the confirmation says no.
var ErrDeclined = errors.New("not applied: confirmation declined (run again with --yes to skip the question)")

// Confirm is asked before anything changes; it gets the plan summary.
type Confirm func(p *Plan) bool

// Yes confirms everything.
func Yes(*Plan) bool { return true }

// Apply applies the saved plan after checking that it was made from r (its
// render key) and from the current state, and after confirm says yes. The
// saved plan is consumed either way.
func (w *Workspace) Apply(ctx context.Context, r *terranix.Rendering, confirm Confirm) (*Plan, error) {
	p, err := w.SavedPlan()
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, errors.New("no saved plan: run tf:plan first")
	}
	if p.RenderKey != r.Key {
		return nil, ErrStalePlan
	}
	ss, err := w.stateSum()
	if err != nil {
		return nil, err
	}
	if ss != p.StateSum {
		return nil, errors.New("the state changed since the plan was made; run tf:plan")
	}
	if !p.HasChanges() {
		w.dropPlan()
		return p, nil
	}
	if confirm == nil || !confirm(p) {
		return nil, ErrDeclined
	}
	err = w.inRun(ctx, r, func(rn *run) error {
		ct, err := os.ReadFile(w.planFile())
		if err != nil {
			return fmt.Errorf("saved plan: %v: run tf:plan", err)
		}
		raw, err := rn.vault.Decrypt(w.planFile(), ct)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(rn.dir, "plan.tfplan"), raw, 0o600); err != nil {
			return err
		}
		w.dropPlan()
		if err := rn.init(ctx); err != nil {
			return err
		}
		if err := rn.withLock(func() error { return rn.tf.Apply(ctx, tfexec.DirOrPlan("plan.tfplan")) }); err != nil {
			return fmt.Errorf("terraform apply: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (w *Workspace) dropPlan() {
	os.Remove(w.planMeta())
	os.Remove(w.planFile())
}

// Destroy plans the destruction of everything in the state, asks confirm,
// and applies it, in one locked run.
func (w *Workspace) Destroy(ctx context.Context, r *terranix.Rendering, confirm Confirm) (p *Plan, err error) {
	return w.planAndApply(ctx, r, confirm, true)
}

// planAndApply returns the plan with the error when one was made (a
// declined or failed apply still says what it would have done).
func (w *Workspace) planAndApply(ctx context.Context, r *terranix.Rendering, confirm Confirm, destroy bool, targets ...string) (*Plan, error) {
	var p *Plan
	err := w.inRun(ctx, r, func(rn *run) (err error) {
		if p, err = rn.plan(ctx, r, destroy, targets...); err != nil {
			return err
		}
		if !p.HasChanges() {
			return nil
		}
		if confirm == nil || !confirm(p) {
			return ErrDeclined
		}
		w.dropPlan()
		if err := rn.withLock(func() error { return rn.tf.Apply(ctx, tfexec.DirOrPlan("plan.tfplan")) }); err != nil {
			return fmt.Errorf("terraform apply: %w", err)
		}
		return nil
	})
	return p, err
}

// Outputs returns the state's outputs (decoded JSON values). It reads the
// encrypted state directly: no terraform process, no lock.
func (w *Workspace) Outputs() (map[string]json.RawMessage, error) {
	if w.StateFile == "" {
		return nil, errors.New("terraform workspace: no state file")
	}
	b, err := w.Vault.Read(w.StateFile)
	if err != nil || b == nil {
		return map[string]json.RawMessage{}, err
	}
	h, err := parseState(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", w.StateFile, err)
	}
	out := map[string]json.RawMessage{}
	for k, v := range h.Outputs {
		out[k] = v.Value
	}
	return out, nil
}

// Resources returns the addresses of the managed resources in the state.
func (w *Workspace) Resources() ([]string, error) {
	b, err := w.Vault.Read(w.StateFile)
	if err != nil || b == nil {
		return nil, err
	}
	h, err := parseState(b)
	if err != nil {
		return nil, err
	}
	return h.managed(), nil
}

// Lock takes the workspace lock (for tests and tools that must hold off
// terraform runs), waiting as a run would for terraform left running by a
// killed run; Close the file to release it.
func (w *Workspace) Lock() (*os.File, error) {
	if err := w.defaults(); err != nil {
		return nil, err
	}
	return w.acquire(context.Background())
}

// reapProviders kills provider plugin processes started from this
// workspace's data directory that outlived their terraform: terraform-exec
// kills terraform itself (SIGKILL after WaitDelay, or with its parent), but
// the provider child would stay behind, holding API requests open. Only
// processes whose executable lies under the data directory are touched.
// It returns once its victims are gone: they hold the workspace lock
// (inherited through terraform), and whoever reaps them wants it next.
func (w *Workspace) reapProviders() {
	dataDir := filepath.Join(w.WorkDir, "data") + string(filepath.Separator)
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	var killed []int
	defer func() {
		for _, pid := range killed {
			for deadline := time.Now().Add(10 * time.Second); processAlive(pid) && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}()
	for _, e := range ents {
		pid := 0
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || pid <= 1 || pid == os.Getpid() {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || !strings.HasPrefix(exe, dataDir) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Field 4 of /proc/<pid>/stat is the parent pid; an orphan has been
		// re-parented away from its terraform (to init or a subreaper).
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) < 2 {
			continue
		}
		ppid := 0
		fmt.Sscanf(fields[1], "%d", &ppid)
		if parent, err := os.Readlink(filepath.Join("/proc", fmt.Sprint(ppid), "exe")); err == nil && filepath.Base(parent) == filepath.Base(w.Terraform) {
			continue // still driven by a live terraform
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed = append(killed, pid)
		}
	}
}

// ErrProviderMissing is wrapped when a provider the configuration needs is
// not in the mirror.
var ErrProviderMissing = errors.New("provider not installed")

// Validate runs terraform validate on the whole rendering, optional
// providers included (it is how the GCP resources are checked). When a
// provider is not in the mirror it returns an error wrapping
// ErrProviderMissing without running terraform.
func (w *Workspace) Validate(ctx context.Context, r *terranix.Rendering) (err error) {
	if err := w.defaults(); err != nil {
		return err
	}
	for _, p := range r.Config.Providers() {
		if !w.inMirror(p) {
			return fmt.Errorf("terraform validate: %w: %s is not in the mirror (%s)", ErrProviderMissing, p, InstallHint)
		}
	}
	var out *tfjson.ValidateOutput
	err = w.inRun(ctx, r, func(rn *run) error {
		if err := rn.init(ctx); err != nil {
			return err
		}
		// validate -json prints its JSON on stdout: the diagnostics are
		// reported below, keep the JSON off the console.
		rn.tf.SetStdout(io.Discard)
		defer rn.tf.SetStdout(rn.w.Stdout)
		if err := rn.withLock(func() (err error) { out, err = rn.tf.Validate(ctx); return err }); err != nil {
			return fmt.Errorf("terraform validate: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !out.Valid {
		var msgs []string
		for _, d := range out.Diagnostics {
			msgs = append(msgs, d.Summary+": "+d.Detail)
		}
		all := strings.Join(msgs, "; ")
		return fmt.Errorf("terraform validate: %s%s", all, w.googleHint(all))
	}
	return nil
}
