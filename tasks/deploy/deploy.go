// Package deploy is the user's main job: build machines' systems and put
// them on the machines, as one pipeline through the step engine.
//
// The graph for a deployment of machines m1..mn:
//
//	evaluate             nix eval <flake>#fleet           cached on the flake's files
//	build                nix build of every toplevel      cached; verified: outputs exist
//	<m>:copy    (effect) closure copy over SSH            verified: host has every path
//	<m>:activate(effect) profile + switch, magic rollback verified: host runs the toplevel
//	<m>:confirm          health checks + confirmation over a NEW connection
//
// A second deployment with nothing changed therefore costs two cache hits,
// one closure query and one status read per machine: no build, no copy, no
// activation. Machines are independent: one that fails (unreachable,
// activation failed, rolled back) does not stop the others, and every
// failure is in the summary.
//
// Locks: a deployment takes, per machine, an flock under LockDir (so two
// deployer processes on this machine never deploy the same machine at once)
// and, on the host, the activation lock that the host's agent holds until
// it has confirmed or rolled back.
package deploy

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"filippo.io/age"

	"github.com/vanixiets/vanixiets/tasks/activate"
	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/closure"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/paths"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
	"github.com/vanixiets/vanixiets/tasks/remote"
	"github.com/vanixiets/vanixiets/tasks/vars"
)

// Options configure a deployment. The zero value (plus Flake) deploys with
// defaults.
type Options struct {
	// Flake is the fleet flake: a directory or a flake reference.
	Flake string
	// Lab, when set, deploys to stand-in hosts (the lab): they are brought
	// up when not running, reached through their ssh_config and
	// known_hosts, and trust the signing key they hold. A front door plugs
	// it in (lab.ForDeploy); this package never knows the lab itself.
	Lab Lab
	// SSHConfig is the one ssh_config resolving targets (--ssh-config,
	// $VANIXIETS_SSH_CONFIG; ignored with Lab). Empty: ~/.ssh/config, then
	// /etc/ssh/ssh_config, as a plain ssh reads them (loadSSHConfig).
	SSHConfig string
	// KnownHosts is used when neither Lab nor SSHConfig says otherwise
	// (default ~/.ssh/known_hosts).
	KnownHosts []string
	// Action is switch (default), boot, test or dry-activate.
	Action string
	// Timeout is the magic-rollback confirmation window (default 30 s;
	// negative disables magic rollback).
	Timeout time.Duration
	// ConnectTimeout bounds each SSH connect + handshake (default 10 s).
	ConnectTimeout time.Duration
	// Stall gives a machine's closure copy up when its host neither takes
	// nor sends a byte for this long (default closure.DefaultStall, a
	// minute; negative: no limit): a hung host fails alone, named, and the
	// others go on.
	Stall time.Duration
	// DryRun evaluates and builds, then prints the plan and what would be
	// copied; no host is changed.
	DryRun bool
	// Parallel is how many machines deploy at once, each from its first
	// step to its last (default DefaultParallel: 8 on this 2-core lab).
	Parallel int
	// Cache records step results (default cache.Open()).
	Cache cache.Store
	// Dir holds the signing key and the deployer-side locks (default
	// paths.Home()/deploy, or the lab's directory with Lab).
	Dir string
	// Out receives the progress (progress.go: per machine, or for the
	// fleet above AggregateAbove machines); nil discards.
	Out io.Writer
	// Bars draws progress bars on Out instead of lines (for a terminal:
	// see IsTerminal).
	Bars bool
	// Nix is the nix driver (default nix.New()).
	Nix *nix.Nix
	// Files are the globs (relative to FilesRoot) whose content keys the
	// evaluate and build steps. Default: the flake's files as nix reads
	// them (fleet.FilesOf: for a flake in git, every tracked file of the
	// repository), the set every other step keyed on the flake uses.
	Files     []string
	FilesRoot string
	// the default Files' exclusions and candidate paths (fleet.FlakeFiles)
	filesExclude []string
	filesPaths   []string
	// VarsDir is the flake's vars directory (default <flake>/vars when the
	// flake is a local directory that has one; "-" turns uploads off).
	// Machines with deployable secrets get an upload step before and
	// after activation; machines without skip them.
	VarsDir string
	// Identities decrypt the secrets, in memory, on this side. nil: the
	// files tasks/vars names ($VANIXIETS_AGE_IDENTITY, $SOPS_AGE_KEY_FILE,
	// ~/.config/sops/age/keys.txt), or, for a fleet that declares itself
	// a lab (fleet.lab.identities) when neither variable is set, those
	// test identities.
	Identities func() ([]age.Identity, error)
	// SecretsRoot overrides where secrets land on the hosts (default
	// /run/secrets/vars).
	SecretsRoot string
	// NoVarsKnownHosts checks host keys against the usual known_hosts even
	// when the vars hold a machine's host key (a machine not yet
	// reinstalled with its generated key).
	NoVarsKnownHosts bool
	// Provision, when set, is called for every selected machine with an
	// enabled Hetzner cloud block before its host is reached: it creates
	// the server when it does not exist yet (terraform through
	// tasks/provision) so that provision -> install -> deploy is one
	// command. It is a hook so this package does not depend on terraform.
	// Not called in a dry run.
	Provision func(ctx context.Context, machine string) error
	// Local deploys the one selected machine as the machine this runs on
	// (--local): built and activated here, no SSH and no copy, through
	// sudo -n when not root (local.go). Without it a machine whose name is
	// this machine's host name is local too; a lab deploy has none.
	Local bool
	// HostName is this machine's host name for that comparison (default
	// os.Hostname; only the part before the first dot counts).
	HostName string
	// Terminal is where sudo may ask for a password, once, before a local
	// deploy; nil: it may not, and a sudo that would ask is an error
	// naming the fix.
	Terminal *os.File
	// BuildOn overrides every machine's deploy.buildOn: "local" (build
	// here, copy the closure) or "target" (copy the derivations, the
	// machine builds its system: buildon.go); "" keeps the fleet's.
	BuildOn string
}

// Lab is a test place standing in for the fleet's machines. Production
// code reaches real hosts; only the front doors (magefiles, tools) and
// tests plug a lab in, which keeps the test place out of this package's
// imports (TestProductionImportsNoTestPlace).
type Lab interface {
	// Name names it in progress lines.
	Name() string
	// Dir is its directory; the deployer keeps its key and locks under it.
	Dir() string
	// Up brings up the hosts of the named machines of f, each answering at
	// the machine's deploy.targetHost (user and name) with the host key
	// hostKey gives (nil hook or nil key: kept or generated).
	Up(ctx context.Context, f *fleet.Fleet, names []string, hostKey func(machine string) (ed25519.PrivateKey, error)) error
	// SSHConfigPath is an ssh_config mapping each target to its host.
	SSHConfigPath() string
	// SigningKey is the secret key file of the signing key its hosts trust.
	SigningKey(ctx context.Context) (string, error)
}

// SigningKeyName names the fleet signing key a deployer makes for itself
// ("name:base64" in the hosts' trusted-public-keys).
const SigningKeyName = "vanixiets-fleet-1"

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

func (o *Options) defaults() error {
	if o.Action == "" {
		o.Action = "switch"
	}
	if o.Timeout == 0 {
		o.Timeout = activate.DefaultTimeout
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.Stall == 0 {
		o.Stall = closure.DefaultStall
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel()
	}
	if o.Cache == nil {
		o.Cache = cache.Open()
	}
	if o.Dir == "" {
		if o.Lab != nil {
			o.Dir = filepath.Join(o.Lab.Dir(), "deploy")
		} else {
			o.Dir = filepath.Join(paths.Home(), "deploy")
		}
	}
	if o.Nix == nil {
		n, err := nix.New()
		if err != nil {
			return err
		}
		o.Nix = n
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Flake == "" {
		return errors.New("deploy: no flake given")
	}
	if len(o.Files) == 0 {
		if st, err := os.Stat(o.Flake); err == nil && st.IsDir() { // a remote flake reference: not keyed on local files
			ff, err := fleet.FilesOf(context.Background(), o.Flake)
			if err != nil {
				return fmt.Errorf("deploy: %w", err)
			}
			o.FilesRoot, o.Files, o.filesExclude, o.filesPaths = ff.Root, ff.Files, ff.Exclude, ff.Paths
		}
	}
	if o.VarsDir == "" {
		if st, err := os.Stat(filepath.Join(o.Flake, "vars")); err == nil && st.IsDir() {
			o.VarsDir = filepath.Join(o.Flake, "vars")
		}
	}
	if o.VarsDir == "-" {
		o.VarsDir = ""
	}
	switch o.BuildOn {
	case "", fleet.BuildLocal, fleet.BuildTarget:
	default:
		return fmt.Errorf("deploy: build on %q: want %s (the deployer) or %s (the machine itself)", o.BuildOn, fleet.BuildLocal, fleet.BuildTarget)
	}
	return nil
}

// Deployer runs deployments with one set of options.
type Deployer struct {
	opt   Options
	flake string

	mu     sync.Mutex
	conns  map[string]*connEntry
	stats  map[string]*Summary
	sshc   *remote.SSHConfig
	signer *closure.Signer // the fleet key: signs what copies send

	secrets   *secrets // nil: no vars
	idNote    string
	noteOnce  sync.Once
	idOnce    sync.Once
	ids       []age.Identity
	idErr     error
	notes     map[string]string // step -> what it did, for the progress line
	disp      display           // while a deployment runs (progress.go)
	left      *machineSteps     // steps not ended yet, per machine (parallel.go)
	fleetWide *fleetWide
	local     localState // the machine this runs on (local.go)
	platforms platformsOnce
}

// New checks options and returns a Deployer.
func New(opt Options) (*Deployer, error) {
	if err := opt.defaults(); err != nil {
		return nil, err
	}
	ref, err := nix.FlakeRef(opt.Flake)
	if err != nil {
		return nil, err
	}
	d := &Deployer{opt: opt, flake: ref, conns: map[string]*connEntry{}, stats: map[string]*Summary{}, notes: map[string]string{}}
	if d.opt.Identities == nil {
		files, note := identitySetting(opt.Flake)
		d.idNote = note
		d.opt.Identities = func() ([]age.Identity, error) { return vars.LoadIdentityFiles(files...) }
	}
	return d, nil
}

// identities reads the admin identities once per deployment.
func (d *Deployer) identities() ([]age.Identity, error) {
	d.idOnce.Do(func() { d.ids, d.idErr = d.opt.Identities() })
	return d.ids, d.idErr
}

// Fleet evaluates the flake's fleet output (a cached step) and validates
// it with check:fleet's code and messages, so that a bad fleet (two
// machines on one host, a machine without a class, secrets nobody can
// decrypt) stops every deployment, dry runs included, before any host is
// reached.
func (d *Deployer) Fleet(ctx context.Context) (*fleet.Fleet, error) {
	p := &pipeline.Pipeline{Steps: []*pipeline.Step{d.evalStep()}, Cache: d.opt.Cache}
	rs, err := p.Run(cache.OnlyMadeHere(ctx)) // the fleet decides owners, modes, health checks: never a shared hit
	if err != nil {
		return nil, err
	}
	f, err := fleet.Parse([]byte(rs[0].Outputs["fleet"]))
	if err != nil {
		return nil, err
	}
	if err := f.Check(d.opt.Flake); err != nil {
		return nil, err
	}
	return f, nil
}

func (d *Deployer) evalStep() *pipeline.Step {
	return &pipeline.Step{
		Name: "evaluate", Def: "deploy-eval-v1",
		Root: d.opt.FilesRoot, Files: d.opt.Files, Exclude: d.opt.filesExclude, Paths: d.opt.filesPaths,
		Params: map[string]string{"flake": d.flake},
		Tools:  map[string]string{"nix": d.opt.Nix.Identity()},
		Run: func(ctx context.Context, in pipeline.Input) (pipeline.Outputs, error) {
			b, err := d.opt.Nix.EvalJSON(ctx, nix.Installable(d.flake, "fleet"))
			if err != nil {
				return nil, err
			}
			if _, err := fleet.Parse(b); err != nil {
				return nil, err
			}
			return pipeline.Outputs{"fleet": string(b)}, nil
		},
	}
}

// buildFailureKey prefixes a machine's name in the build step's outputs
// when its toplevel could not be evaluated or built; the value is the error.
const buildFailureKey = "!"

// nixString quotes s as a Nix string literal.
func nixString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`).Replace(s) + `"`
}

// toplevelDrv is a machine's toplevel: its derivation, output path and
// the platform the derivation is built for (what a builder must be).
type toplevelDrv struct {
	Drv    string `json:"drv"`
	Out    string `json:"out"`
	System string `json:"system"`
}

// derivations evaluates every machine's toplevel derivation and output
// path: one `nix eval` per machine class (all of a class's selected
// machines in one evaluation), the classes at once. Building by derivation
// path afterwards needs no second evaluation: `nix build` of N flake
// installables re-reads and re-evaluates the flake once per installable
// (0.55 s for the 8 lab machines, against 0.02 s for their 8 .drv paths).
//
// When a class's evaluation fails, its machines are evaluated one by one,
// so the error lands on the machine(s) it belongs to (failed) and the
// others still deploy.
func (d *Deployer) derivations(ctx context.Context, machines []*fleet.Machine) (map[string]toplevelDrv, map[string]error) {
	byClass := map[string][]string{}
	for _, m := range machines {
		byClass[m.MachineClass] = append(byClass[m.MachineClass], m.Name)
	}
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		out    = map[string]toplevelDrv{}
		failed = map[string]error{}
	)
	var eval func(class string, names []string)
	eval = func(class string, names []string) {
		defer wg.Done()
		attr, top := "nixosConfigurations", "c.config.system.build.toplevel"
		if class == "darwin" {
			attr, top = "darwinConfigurations", "c.system"
		}
		// Only the selected machines: deploying one machine neither waits
		// for nor fails on the evaluation of the others.
		sel := make([]string, len(names))
		for i, n := range names {
			sel[i] = nixString(n) + " = null;"
		}
		apply := fmt.Sprintf("cs: builtins.mapAttrs (n: c: { drv = %s.drvPath; out = %s.outPath; system = %s.system; }) (builtins.intersectAttrs { %s } cs)",
			top, top, top, strings.Join(sel, " "))
		var m map[string]toplevelDrv
		err := d.opt.Nix.EvalApply(ctx, nix.Installable(d.flake, attr), apply, &m)
		if err != nil && len(names) > 1 && ctx.Err() == nil {
			for _, n := range names {
				wg.Add(1)
				go eval(class, []string{n})
			}
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, n := range names {
			switch {
			case err != nil:
				failed[n] = err
			case m[n].Drv == "" || m[n].Out == "":
				failed[n] = fmt.Errorf("the flake has no %s.%s", attr, n)
			default:
				out[n] = m[n]
			}
		}
	}
	for class, names := range byClass {
		wg.Add(1)
		go eval(class, names)
	}
	wg.Wait()
	return out, failed
}

// Select resolves selectors (machine names and @tags; none = all).
func Select(f *fleet.Fleet, selectors []string) ([]string, error) {
	if len(selectors) == 0 {
		return f.MachineNames(), nil
	}
	set := map[string]bool{}
	for _, s := range selectors {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if tag, ok := strings.CutPrefix(s, "@"); ok {
			n := 0
			for _, m := range f.SortedMachines() {
				if m.HasTag(tag) {
					set[m.Name] = true
					n++
				}
			}
			if n == 0 {
				return nil, fmt.Errorf("no machine has tag %q; the fleet's tags: %s", tag, strings.Join(fleetTags(f), ", "))
			}
			continue
		}
		if _, err := f.ByName(s); err != nil {
			return nil, err
		}
		set[s] = true
	}
	var out []string
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, errors.New("no machine selected")
	}
	return out, nil
}

// fleetTags lists every tag of the fleet's machines, sorted, each once.
func fleetTags(f *fleet.Fleet) []string {
	set := map[string]bool{}
	var out []string
	for _, m := range f.SortedMachines() {
		for _, t := range m.Tags {
			if !set[t] {
				set[t] = true
				out = append(out, "@"+t)
			}
		}
	}
	sort.Strings(out)
	return out
}

// SplitSelectors splits "a,@tag b" into selectors.
func SplitSelectors(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

// Selectors turns a command line's words into selectors: each word may hold
// several, comma- or space-separated ("@server,stibnite"); no selector, or
// the single word "all", means every machine (nil).
func Selectors(words []string) []string {
	var sel []string
	for _, w := range words {
		sel = append(sel, SplitSelectors(w)...)
	}
	if len(sel) == 1 && strings.EqualFold(sel[0], "all") {
		return nil
	}
	return sel
}

// target resolves a machine's SSH configuration.
func (d *Deployer) target(m *fleet.Machine) (remote.Config, error) {
	t := m.Deploy.TargetHost
	if t == "" {
		t = "root@" + m.Name
	}
	d.mu.Lock()
	sshc := d.sshc
	d.mu.Unlock()
	cfg, err := remote.Resolve(t, sshc, d.opt.KnownHosts)
	if err != nil {
		return cfg, fmt.Errorf("%s: %v", m.Name, err)
	}
	cfg.ConnectTimeout = d.opt.ConnectTimeout
	for i := range cfg.Jump {
		cfg.Jump[i].ConnectTimeout = d.opt.ConnectTimeout // each hop in its own
	}
	// The fleet's own record of the host key (the openssh var) decides,
	// when there is one: for a lab host only when the lab host was given
	// that key (an identity could decrypt it), for a real machine always.
	if d.secrets != nil && !d.opt.NoVarsKnownHosts && (d.opt.Lab == nil || d.secrets.isKeyed(m.Name)) {
		_, host, _, _ := remote.ParseTarget(t)
		p, err := d.secrets.knownHostsFile(filepath.Join(d.opt.Dir, "known_hosts.vars"), m.Name, cfg.HostKeyAlias, cfg.Addr, host)
		if err != nil {
			return cfg, fmt.Errorf("%s: known_hosts from vars: %v", m.Name, err)
		}
		if p != "" {
			cfg.KnownHosts = []string{p}
		}
	}
	return cfg, nil
}

// loadSSHConfig reads the ssh_config files targets are resolved through,
// in OpenSSH's precedence: the lab's own file when deploying to the lab,
// else the one file named by Options.SSHConfig (as "ssh -F" reads no
// other), else ~/.ssh/config then /etc/ssh/ssh_config, each when it
// exists. A laptop owner's Host aliases, ProxyJump through the zerotier
// controller and IdentityAgent then work for the deploy as for ssh.
func (d *Deployer) loadSSHConfig() error {
	var c *remote.SSHConfig
	var err error
	switch {
	case d.opt.Lab != nil:
		c, err = remote.LoadSSHConfig(d.opt.Lab.SSHConfigPath())
	case d.opt.SSHConfig != "":
		c, err = remote.LoadSSHConfig(d.opt.SSHConfig)
	default:
		c, err = remote.UserSSHConfig()
	}
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.sshc = c
	d.mu.Unlock()
	return nil
}

// connEntry is one machine's deployment connection, dialled once even when
// several steps (secrets, copy) ask for it at the same moment.
type connEntry struct {
	once sync.Once
	c    *remote.Client
	err  error
}

// conn returns the deployment's connection to m, dialling it once. A
// failed dial is remembered: an unreachable host costs one timeout, not one
// per step.
func (d *Deployer) conn(ctx context.Context, m *fleet.Machine) (*remote.Client, error) {
	d.mu.Lock()
	e := d.conns[m.Name]
	if e == nil {
		e = &connEntry{}
		d.conns[m.Name] = e
	}
	d.mu.Unlock()
	e.once.Do(func() {
		cfg, err := d.target(m)
		if err != nil {
			e.err = err
			return
		}
		e.c, e.err = remote.Dial(ctx, cfg)
	})
	return e.c, e.err
}

func (d *Deployer) closeAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for n, e := range d.conns {
		if e.c != nil {
			e.c.Close()
		}
		delete(d.conns, n)
	}
}

func (d *Deployer) stat(m string) *Summary {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.stats[m]
	if s == nil {
		s = &Summary{Machine: m}
		d.stats[m] = s
	}
	return s
}

// lockMachine takes the deployer-side flock for m.
func (d *Deployer) lockMachine(m string) (func(), error) {
	dir := filepath.Join(d.opt.Dir, "locks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := filepath.Join(dir, m+".lock")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(p)
		f.Close()
		return nil, fmt.Errorf("%s is being deployed by another process (%s holds %s); wait for it to finish", m, strings.TrimSpace(string(b)), p)
	}
	f.Truncate(0)
	f.WriteAt([]byte("pid "+strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { f.Close() }, nil
}

// labHostKey is the hook giving each lab host its machine's generated
// host key from the vars (nil without vars).
func (d *Deployer) labHostKey() func(string) (ed25519.PrivateKey, error) {
	if d.secrets == nil {
		return nil
	}
	return func(m string) (ed25519.PrivateKey, error) {
		d.identityNote()
		return d.secrets.hostKey(m, d.printf)
	}
}

// prepare evaluates the fleet, resolves selectors, opens the vars and, for
// a lab deployment, brings the selected machines' lab hosts up (with their
// generated host keys).
func (d *Deployer) prepare(ctx context.Context, selectors []string) (*fleet.Fleet, []string, error) {
	if err := d.checkLocal(selectors); err != nil {
		return nil, nil, err
	}
	f, err := d.Fleet(ctx)
	if err != nil {
		return nil, nil, err
	}
	names, err := Select(f, selectors)
	if err != nil {
		return nil, nil, err
	}
	if d.opt.VarsDir != "" && d.secrets == nil {
		if d.secrets, err = newSecrets(f, d.opt.VarsDir, d.identities); err != nil {
			return nil, nil, err
		}
	}
	if err := d.provision(ctx, f, names); err != nil {
		return nil, nil, err
	}
	if d.opt.Lab != nil {
		d.printf("lab %s: bringing up %s", d.opt.Lab.Name(), listed(names))
		if err := d.opt.Lab.Up(ctx, f, names, d.labHostKey()); err != nil {
			return nil, nil, err
		}
	}
	return f, names, nil
}

// provision runs the Provision hook for the selected cloud machines that
// are enabled (Hetzner and GCP alike). A disabled machine is not
// provisioned (the fleet says it should not exist): it is deployed to its
// targetHost as it is, with a note.
func (d *Deployer) provision(ctx context.Context, f *fleet.Fleet, names []string) error {
	if d.opt.Provision == nil || d.opt.DryRun {
		return nil
	}
	for _, n := range names {
		m := f.Machines[n]
		if m == nil || m.Cloud == nil {
			continue
		}
		switch {
		case !m.Cloud.Enabled:
			d.printf("%s: cloud machine disabled in the fleet (cloud.enabled = false): not provisioned, deploying to %s as it is", n, m.Deploy.TargetHost)
		default:
			if err := d.opt.Provision(ctx, n); err != nil {
				return fmt.Errorf("provision %s: %w", n, err)
			}
		}
	}
	return nil
}

// UpLab brings up the lab hosts of the selected machines as a deployment
// would (fleet machine names and targets, host keys from the vars) without
// deploying. It needs Options.Lab.
func (d *Deployer) UpLab(ctx context.Context, selectors []string) error {
	if d.opt.Lab == nil {
		return errors.New("deploy: UpLab needs a lab (Options.Lab)")
	}
	_, _, err := d.prepare(ctx, selectors)
	return err
}

// Run deploys the selected machines and returns one summary per machine,
// in name order. The error is non-nil when any machine failed or rolled
// back.
func (d *Deployer) Run(ctx context.Context, selectors []string) ([]Summary, error) {
	defer d.closeAll()
	f, names, err := d.prepare(ctx, selectors)
	if err != nil {
		return nil, err
	}
	if err := d.loadSSHConfig(); err != nil {
		return nil, err
	}
	if !d.opt.DryRun && d.sendsPaths(f, names) {
		// The lab holds the key its hosts trust from creation on; a real
		// fleet's key lives in Dir, and its machines list the public half
		// in nix.settings.trusted-public-keys. (A deploy of this machine
		// alone sends nothing and needs no key.)
		var sec string
		if d.opt.Lab != nil {
			sec, err = d.opt.Lab.SigningKey(ctx)
		} else {
			sec, _, err = closure.EnsureKey(ctx, filepath.Join(d.opt.Dir, "key"), SigningKeyName)
		}
		if err != nil {
			return nil, err
		}
		if d.signer, err = closure.LoadSigner(sec); err != nil {
			return nil, err
		}
	}
	var machines []*fleet.Machine
	var failed []Summary
	for _, n := range names {
		m := f.Machines[n]
		if d.opt.DryRun {
			machines = append(machines, m)
			continue
		}
		unlock, err := d.lockMachine(n)
		if err != nil {
			failed = append(failed, Summary{Machine: n, Result: "failed", Err: err})
			continue
		}
		defer unlock()
		machines = append(machines, m)
	}
	// Before any step and any progress bar: sudo asks here, once, or says
	// why it cannot (local.go).
	if err := d.readyLocal(ctx, machines); err != nil {
		return nil, err
	}
	t0 := time.Now()
	steps := d.steps(machines)
	// Options.Parallel machines in flight (parallel.go).
	p := &pipeline.Pipeline{Steps: steps, Cache: d.opt.Cache, Parallel: inFlight(steps, d.opt.Parallel), Groups: d.opt.Parallel, OnEvent: d.event}
	disp := newDisplay(d.opt.Out, d.opt.Bars, steps, d.opt.Parallel)
	d.mu.Lock()
	d.disp, d.left = disp, newMachineSteps(steps)
	d.mu.Unlock()
	d.fleetWide = &fleetWide{}
	results, _ := p.Run(cache.OnlyMadeHere(ctx)) // store paths to activate: never a shared hit
	disp.stop()
	d.mu.Lock()
	d.disp = nil
	d.mu.Unlock()
	byName := map[string]pipeline.Result{}
	for _, r := range results {
		byName[r.Name] = r
	}
	var out []Summary
	for _, m := range machines {
		s := *d.stat(m.Name)
		if s.Duration == 0 {
			s.Duration = time.Since(t0)
		}
		s.Toplevel = byName["build"].Outputs[m.Name]
		for _, st := range []string{"build", m.Name + ":install", m.Name + ":vars-pre", m.Name + ":copy", m.Name + ":activate", m.Name + ":vars-post", m.Name + ":confirm", m.Name + ":plan"} {
			r, ok := byName[st]
			if !ok || r.Status.OK() {
				continue
			}
			if s.Err == nil {
				s.Err = r.Err
				if s.Err == nil {
					s.Err = fmt.Errorf("%s %s", st, r.Status)
				}
			}
		}
		var rb *activate.RollbackError
		switch {
		case errors.As(s.Err, &rb):
			s.Result, s.RolledBack = "rolled back", true
		case s.Err != nil:
			s.Result = "failed"
		case d.opt.DryRun:
			s.Result = "planned"
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

func (d *Deployer) steps(machines []*fleet.Machine) []*pipeline.Step {
	build := &pipeline.Step{
		Name: "build", Def: "deploy-build-v3", Deps: []string{"evaluate"},
		Root: d.opt.FilesRoot, Files: d.opt.Files, Exclude: d.opt.filesExclude, Paths: d.opt.filesPaths,
		Params: map[string]string{"flake": d.flake},
		Tools:  map[string]string{"nix": d.opt.Nix.Identity()},
		Effect: true, // a cache hit is only good while the outputs are still in the store
		Verify: func(ctx context.Context, in pipeline.Input, rec pipeline.Outputs) (bool, error) {
			for _, m := range machines {
				p := rec[m.Name]
				if drv := rec[onTargetKey+m.Name]; drv != "" {
					p = drv // built on the machine: its derivation is what is kept here
				}
				if _, err := os.Lstat(p); err != nil || p == "" {
					return false, nil
				}
			}
			return true, nil
		},
		Run: func(ctx context.Context, in pipeline.Input) (pipeline.Outputs, error) {
			// A machine that does not evaluate or build fails alone: its
			// error goes into the outputs ("!"+name) for its own steps to
			// report, and the rest of the fleet deploys. Only when no
			// machine is left does the step itself fail.
			want, failed := d.derivations(ctx, machines)
			// What builds here must be of a platform this Nix can build
			// (buildon.go); a machine that builds its own system is
			// instantiated only, its derivation copied later.
			d.checkPlatforms(ctx, machines, want, failed)
			var drvs []string
			for _, m := range machines {
				if failed[m.Name] == nil && !d.buildsOnTarget(m) {
					drvs = append(drvs, want[m.Name].Drv)
				}
			}
			var buildErr error
			if len(drvs) > 0 {
				_, buildErr = d.opt.Nix.BuildKeepGoing(ctx, drvs...)
			}
			out := pipeline.Outputs{}
			var errs []error
			for _, m := range machines {
				err := failed[m.Name]
				if err == nil && d.buildsOnTarget(m) {
					out[m.Name], out[onTargetKey+m.Name] = want[m.Name].Out, want[m.Name].Drv
					continue
				}
				if err == nil {
					if _, serr := os.Lstat(want[m.Name].Out); serr == nil {
						out[m.Name] = want[m.Name].Out
						continue
					}
					err = buildErr
					if err == nil {
						err = fmt.Errorf("nix build did not produce %s's toplevel %s", m.Name, want[m.Name].Out)
					}
				}
				out[buildFailureKey+m.Name] = err.Error()
				errs = append(errs, fmt.Errorf("%s: %w", m.Name, err))
			}
			if len(errs) == len(machines) {
				return nil, errors.Join(errs...)
			}
			return out, nil
		},
	}
	var names []string
	for _, m := range machines {
		names = append(names, m.Name)
	}
	build.Params["machines"] = strings.Join(names, ",")
	if on := d.targetBuilt(machines); len(on) > 0 {
		build.Params["buildOnTarget"] = strings.Join(on, ",")
	}
	steps := []*pipeline.Step{d.evalStep(), build}
	for _, m := range machines {
		if d.opt.DryRun {
			steps = append(steps, d.planFor(m))
			continue
		}
		cp, act, conf := d.placeStep(m), d.activateStep(m), d.confirmStep(m)
		steps = append(steps, cp, act, conf)
		preDeps := []string{"evaluate"}
		if ins := d.installStep(m); ins != nil && !d.isLocal(m) { // the machine this runs on has Nix
			// A cloud host without Nix is installed before anything else
			// reaches it (install.go); the activation learns whether it was.
			steps = append(steps, ins)
			cp.Deps = append(cp.Deps, ins.Name)
			act.Deps = append(act.Deps, ins.Name)
			preDeps = append(preDeps, ins.Name)
		}
		if d.secrets == nil {
			continue
		}
		before, after, err := d.secrets.phases(m.Name)
		if err != nil {
			steps = append(steps, failStep(m.Name+":vars-pre", err))
			act.Deps = append(act.Deps, m.Name+":vars-pre")
			continue
		}
		if before || after {
			d.stat(m.Name).HasSecrets = true
		}
		if before {
			// Before activation: the activation reads these.
			pre := d.secretsStep(m, vars.BeforeActivation, preDeps)
			act.Deps = append(act.Deps, pre.Name)
			steps = append(steps, pre)
		}
		if after {
			// After activation (users it creates may own them), before
			// confirmation, so health checks see them.
			post := d.secretsStep(m, vars.AfterActivation, []string{act.Name})
			conf.Deps = append(conf.Deps, post.Name)
			steps = append(steps, post)
		}
	}
	return steps
}

// failStep is a step that fails with err (a problem found while planning).
func failStep(name string, err error) *pipeline.Step {
	return &pipeline.Step{Name: name, Def: "deploy-fail", NoCache: true,
		Run: func(context.Context, pipeline.Input) (pipeline.Outputs, error) { return nil, err }}
}
