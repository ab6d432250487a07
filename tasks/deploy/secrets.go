package deploy

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"

	"github.com/vanixiets/vanixiets/tasks/adminkeys"
	"github.com/vanixiets/vanixiets/tasks/agekey"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/paths"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
	"github.com/vanixiets/vanixiets/tasks/vars"
)

// labIdentities returns the identity files the flake's fleet declares as
// a lab's (fleet.Lab, resolved against the flake directory); nil when the
// flake is not a local directory, its fleet does not load, or it does not
// declare itself a lab. The fleet's own data decides: neither the
// directory's name nor the files next to it do.
func labIdentities(flake string) []string {
	dir, err := filepath.Abs(flake)
	if err != nil {
		return nil
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil
	}
	f, err := fleet.NewLoader().Load(context.Background(), dir)
	if err != nil {
		return nil
	}
	return f.LabIdentityFiles(dir)
}

// IsRepoLab reports whether flake is a lab: its fleet declares itself one
// (fleet.Lab), as the repository's lab flake does.
func IsRepoLab(flake string) bool { return len(labIdentities(flake)) > 0 }

// identitySetting returns how to load the admin identities and a note to
// print: the admin's keys wherever sops finds them (tasks/adminkeys), except
// that a lab flake, when no variable names a key, uses the TEST-ONLY
// identities its fleet declares.
func identitySetting(flake string) (load func() ([]age.Identity, error), note string) {
	if !adminkeys.Host().Named() {
		if files := labIdentities(flake); len(files) > 0 {
			// Named from the flake's parent: "lab/keys/cameron.agekey".
			parent := filepath.Dir(filepath.Dir(files[0]))
			if dir, err := filepath.Abs(flake); err == nil {
				parent = filepath.Dir(dir)
			}
			var rel []string
			for _, f := range files {
				if r, err := filepath.Rel(parent, f); err == nil {
					f = r
				}
				rel = append(rel, f)
			}
			return func() ([]age.Identity, error) { return adminkeys.ReadFiles(files...) },
				"vars: no VANIXIETS_AGE_IDENTITY set; using the lab's test identities " + strings.Join(rel, ":")
		}
	}
	return vars.LoadIdentities, ""
}

// secrets is the deployment's view of the flake's vars: one vars.Vars per
// machine (vars.Vars is not safe for concurrent use; machines deploy in
// parallel), sharing the identities, which are read once.
type secrets struct {
	f     *fleet.Fleet
	dir   string
	ids   func() ([]age.Identity, error)
	mu    sync.Mutex
	per   map[string]*vars.Vars
	kh    map[string]string // machine -> "ssh-ed25519 AAAA..." from the vars
	keyed map[string]bool   // lab hosts created with their vars host key
	// unusable: machines whose vars host key no identity could decrypt
	// (the lab host keeps a key of its own, which the lab's known_hosts
	// vouches for).
	unusable map[string]bool
}

func newSecrets(f *fleet.Fleet, dir string, ids func() ([]age.Identity, error)) (*secrets, error) {
	// Owners, groups and modes reach the hosts' chown and chmod: validate
	// here, whatever produced f.
	if err := f.Validate(); err != nil {
		return nil, err
	}
	s := &secrets{f: f, dir: dir, ids: ids, per: map[string]*vars.Vars{}, kh: map[string]string{}, keyed: map[string]bool{}, unusable: map[string]bool{}}
	v := s.vars("")
	if _, err := v.Plan(); err != nil {
		return nil, fmt.Errorf("vars %s: %w", dir, err)
	}
	kh, err := v.KnownHosts()
	if err != nil {
		return nil, fmt.Errorf("vars %s: known_hosts: %w", dir, err)
	}
	for _, line := range strings.Split(string(kh), "\n") {
		fs := strings.Fields(line)
		if len(fs) < 3 {
			continue
		}
		m, _, _ := strings.Cut(fs[0], ",")
		s.kh[m] = fs[1] + " " + fs[2]
	}
	return s, nil
}

// vars returns machine m's own vars.Vars ("" is a shared scratch one, for
// single-threaded use).
func (s *secrets) vars(m string) *vars.Vars {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.per[m]
	if v == nil {
		v = vars.New(s.f, s.dir)
		v.Identities = s.ids
		s.per[m] = v
	}
	return v
}

// hostKey is the lab's Config.HostKey hook: machine m's host key from the
// vars, or nil (the lab then keeps or generates one) when m has no
// generated host key or no identity can decrypt it.
func (s *secrets) hostKey(m string, warn func(string, ...any)) (ed25519.PrivateKey, error) {
	if _, ok := s.f.Machines[m]; !ok {
		return nil, nil
	}
	b, ok, err := s.vars(m).HostPrivateKey(m)
	if err != nil {
		warn("%-10s %-9s vars host key not usable (%v); the lab host keeps its own key, checked against the lab's known_hosts", m, "lab", err)
		s.mu.Lock()
		s.unusable[m] = true
		s.mu.Unlock()
		return nil, nil
	}
	if !ok {
		return nil, nil
	}
	defer clear(b)
	k, err := ssh.ParseRawPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("machine %s: vars host key %s/%s: %v", m, vars.HostKeyGenerator, strings.TrimSuffix(vars.HostKeyFile, ".pub"), err)
	}
	key, ok := agekey.Ed25519(k)
	if !ok {
		return nil, fmt.Errorf("machine %s: vars host key is %T, want ed25519 (regenerate it: vars:generate %s --generator %s --regenerate)", m, k, m, vars.HostKeyGenerator)
	}
	s.mu.Lock()
	s.keyed[m] = true
	s.mu.Unlock()
	return key, nil
}

func (s *secrets) isKeyed(m string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keyed[m]
}

func (s *secrets) isUnusable(m string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unusable[m]
}

// knownHostsFile writes a known_hosts file holding machine m's host key
// from the vars under every name the connection may look up (the ssh
// alias, the address, the machine name), and returns its path; "" when the
// vars have no host key for m.
func (s *secrets) knownHostsFile(dir, m string, names ...string) (string, error) {
	s.mu.Lock()
	key := s.kh[m]
	s.mu.Unlock()
	if key == "" {
		return "", nil
	}
	return writeKnownHosts(dir, m, []string{key}, names...)
}

// hasSecrets says which upload phases machine m needs.
func (s *secrets) phases(m string) (before, after bool, err error) {
	b, a, err := s.vars(m).DeploySecrets(m)
	return len(b) > 0, len(a) > 0, err
}

// secretsStep uploads machine m's secrets of one phase: decrypted here, in
// memory, and written on the host under /run/secrets/vars (vars.Upload).
// It runs every time (the host's manifest makes a current secret cost
// nothing but the manifest read).
func (d *Deployer) secretsStep(m *fleet.Machine, phase vars.Phase, deps []string) *pipeline.Step {
	name := stepOf(m.Name, phaseVarsPre)
	if phase == vars.AfterActivation {
		name = stepOf(m.Name, phaseVarsPost)
	}
	return &pipeline.Step{
		Name: name, Def: "deploy-vars-v1", Deps: deps, NoCache: true,
		Run: func(ctx context.Context, in pipeline.Input) (pipeline.Outputs, error) {
			// Over the deployment's connection, or into this machine's
			// (sudo) shell when it is the one deployed (local.go).
			// The machine has secrets: its row counts them, 0 of 0 when
			// none could be sent.
			outs := pipeline.Outputs{outSecretsSent: "0", outSecretsTotal: "0"}
			h, err := d.host(ctx, m)
			if err != nil {
				return outs, err
			}
			d.identityNote()
			res, err := d.secrets.vars(m.Name).Upload(ctx, hostRemote{h}, m.Name, phase, d.opt.SecretsRoot)
			outs = pipeline.Outputs{outSecretsSent: strconv.Itoa(len(res.Sent)), outSecretsTotal: strconv.Itoa(len(res.Sent) + len(res.Skipped))}
			if err != nil {
				return outs, err
			}
			note := fmt.Sprintf(": %d secrets sent, %d current", len(res.Sent), len(res.Skipped))
			if len(res.Removed) > 0 {
				note += fmt.Sprintf(", %d removed", len(res.Removed))
			}
			// The counts are for the summary; every step after this one
			// asks the host each time (NoCache), so they change no record.
			return with(outs, outNote, note), nil
		},
	}
}

// identityNote prints, once, which identities decrypt the secrets when
// they are the lab's defaults.
func (d *Deployer) identityNote() {
	d.noteOnce.Do(func() {
		if d.idNote != "" {
			d.printf("%s", d.idNote)
		}
	})
}

// LabHostKeys is HostKeysFromVars with the vars directory $VANIXIETS_VARS_DIR
// names, for the front doors that call it (tools/fleetlab, provision's
// end-to-end test); library code calls HostKeysFromVars.
func LabHostKeys(f *fleet.Fleet, flake string, out io.Writer) (func(string) (ed25519.PrivateKey, error), error) {
	return HostKeysFromVars(f, flake, os.Getenv(paths.VarsDirEnv), out)
}

// HostKeysFromVars returns a lab.Config.HostKey hook giving each machine of
// f its generated host key from the flake's vars (paths.VarsDir of flake
// and varsDir, the setting a front door read), decrypted with the identity
// a deployment would use (the lab's test identities for the repository's
// lab flake when none is set; the note saying so goes to out). nil when
// the flake has no vars.
func HostKeysFromVars(f *fleet.Fleet, flake, varsDir string, out io.Writer) (func(string) (ed25519.PrivateKey, error), error) {
	dir := paths.VarsDir(flake, varsDir)
	if dir == "" {
		return nil, nil
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, nil
	}
	load, note := identitySetting(flake)
	var once sync.Once
	var ids []age.Identity
	var idErr error
	s, err := newSecrets(f, dir, func() ([]age.Identity, error) {
		once.Do(func() {
			if note != "" && out != nil {
				fmt.Fprintln(out, note)
			}
			ids, idErr = load()
		})
		return ids, idErr
	})
	if err != nil {
		return nil, err
	}
	warn := func(format string, a ...any) {
		if out != nil {
			fmt.Fprintf(out, format+"\n", a...)
		}
	}
	return func(m string) (ed25519.PrivateKey, error) { return s.hostKey(m, warn) }, nil
}
