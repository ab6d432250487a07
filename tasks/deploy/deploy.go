// Package deploy is the user's main job: build machines' systems and put
// them on the machines, as one pipeline through the step engine.
//
// The graph for a deployment of machines m1..mn (graph.go, one list):
//
//	evaluate             nix eval <flake>#fleet           cached on the flake's files
//	build                nix build of every toplevel      cached; verified: outputs exist
//	<m>:install          Nix onto a bare cloud host       only for such a host (install.go)
//	<m>:vars-pre         secrets the activation reads     only with vars (secrets.go)
//	<m>:copy             closure copy over SSH            asks the host every time
//	<m>:activate         profile + switch, magic rollback asks the host every time
//	<m>:vars-post        secrets for users it creates     only with vars
//	<m>:confirm          health checks + confirmation over a NEW connection
//
// A second deployment with nothing changed therefore costs two cache hits,
// one closure query and one status read per machine: no build, no copy, no
// activation. Machines are independent: one that fails (unreachable,
// activation failed, rolled back) does not stop the others, and every
// failure is in the summary.
//
// Where things are: Options and the Deployer here; the graph and the step
// names in graph.go; evaluate and build in build.go; the host-side steps
// in steps.go (and their variants: buildon.go, local.go, install.go,
// secrets.go, dryrun.go); the run (prepare, locks, the pipeline) in
// run.go; reaching hosts in conns.go; the rows and the table in
// summary.go; what is printed meanwhile in progress.go.
//
// Locks: a deployment takes, per machine, an flock under Options.Dir/locks
// (so two deployer processes on this machine never deploy the same
// machine at once) and, on the host, the activation lock that the host's
// agent holds until it has confirmed or rolled back.
package deploy

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"

	"github.com/vanixiets/vanixiets/tasks/activate"
	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/closure"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/paths"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
	"github.com/vanixiets/vanixiets/tasks/remote"
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
	// admin's keys where sops finds them, or $VANIXIETS_AGE_IDENTITY's
	// files (tasks/adminkeys); for a fleet that declares itself a lab
	// (fleet.lab.identities) when no variable names a key, its test
	// identities.
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
	// ConsoleHostKeys, when set, returns the host keys a cloud machine's
	// provider shows for it (a Compute Engine instance's serial console,
	// through the API terraform created it with): the first voucher for
	// the key of a server that has just been made (bootstrap.go). nil keys
	// and nil error: its provider has no such door. A hook, so this
	// package does not depend on terraform.
	ConsoleHostKeys func(ctx context.Context, m *fleet.Machine) ([]ssh.PublicKey, error)
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
	given := o.VarsDir != ""
	o.VarsDir = paths.VarsDir(o.Flake, o.VarsDir)
	if st, err := os.Stat(o.VarsDir); !given && (err != nil || !st.IsDir()) {
		o.VarsDir = "" // the default, and the flake has none: no vars
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

	mu    sync.Mutex
	conns map[string]*connEntry
	// evaluated is the fleet's evaluation Fleet made last: the
	// deployment's graph takes it as its evaluate step.
	evaluated pipeline.Result
	sshc      *remote.SSHConfig
	signer    *closure.Signer // the fleet key: signs what copies send

	secrets   *secrets // nil: no vars
	idNote    string
	noteOnce  sync.Once
	idOnce    sync.Once
	ids       []age.Identity
	idErr     error
	disp      display       // while a deployment runs (progress.go)
	left      *machineSteps // steps not ended yet, per machine (parallel.go)
	fleetWide *fleetWide
	local     localState // the machine this runs on (local.go)
	platforms platformsOnce
	boots     map[string]*bootstrap // machine -> how its install's first connection was trusted
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
	d := &Deployer{opt: opt, flake: ref, conns: map[string]*connEntry{}, boots: map[string]*bootstrap{}}
	if d.opt.Identities == nil {
		d.opt.Identities, d.idNote = identitySetting(opt.Flake)
	}
	return d, nil
}

// identities reads the admin identities once per deployment.
func (d *Deployer) identities() ([]age.Identity, error) {
	d.idOnce.Do(func() { d.ids, d.idErr = d.opt.Identities() })
	return d.ids, d.idErr
}
