package terraform

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"github.com/vanixiets/vanixiets/tasks/adminkeys"
	"github.com/vanixiets/vanixiets/tasks/agekey"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/paths"
	"github.com/vanixiets/vanixiets/tasks/terranix"
)

// DefaultStateFile is where a fleet keeps its encrypted state, relative to
// its flake directory: the directory holds nothing else. Each flake has its
// own state (the real fleet's terraform/ at the repository root, the lab's
// lab/terraform/, which git ignores), so the two never share one.
const DefaultStateFile = "terraform/terraform.tfstate.age"

// StateFileFor is the default state file of a flake: DefaultStateFile
// under the flake's directory, or under the working directory for a flake
// reference that is not a local directory.
func StateFileFor(flake string) string {
	if st, err := os.Stat(flake); err == nil && st.IsDir() {
		return filepath.Join(flake, DefaultStateFile)
	}
	return DefaultStateFile
}

// Options says which fleet and state a command works on. The zero value
// works from the repository root on the lab fleet.
type Options struct {
	// Flake is the fleet flake (default: the checkout's lab flake,
	// paths.Flake; the front doors pass --flake or $VANIXIETS_FLAKE).
	Flake string
	// StateFile (default StateFileFor(Flake)). Front doors pass
	// ResolveStateFile's answer, which honours $VANIXIETS_TF_STATE.
	StateFile string
	// IdentityFiles decrypt the state (default: Options.Identities).
	IdentityFiles []string
	// Out receives terraform's output and notes (nil: os.Stderr).
	Out io.Writer
	// ServeAPI serves the hcloud API for the session when HCLOUD_ENDPOINT
	// is not set, and returns its endpoint and token and how to stop it.
	// The front doors (magefiles, tools) plug in the fake API backed by
	// the lab (tasks/fakehcloud.ServeFromEnv), so the commands are safe to
	// try on any machine; this package never knows the fake or the lab.
	// It gets the session's work directory for the fake's own state. nil:
	// terraform's hcloud provider reads the environment as it is (the real
	// API with HCLOUD_TOKEN).
	ServeAPI func(ctx context.Context, workDir string) (endpoint, token string, stop func(), err error)
	// ServeGCP is ServeAPI's twin for the Compute Engine API (the front
	// doors plug in tasks/fakegcp.ServeFromEnv). It is used when the
	// rendering has Google resources and no Google API of the user's is
	// named: no GOOGLE_COMPUTE_CUSTOM_ENDPOINT or credential variable
	// (GoogleCredentialVars), no sops/secrets/gcp-credentials in the flake
	// (CloudCredential). nil: the google provider uses the real API with
	// the user's credentials.
	ServeGCP func(ctx context.Context, workDir string) (endpoint, token string, stop func(), err error)
}

// GoogleCredentialVars are the variables through which the google provider
// takes credentials. When one is set, the user means a real (or their own)
// Compute Engine API, and no fake is started.
var GoogleCredentialVars = []string{"GOOGLE_OAUTH_ACCESS_TOKEN", "GOOGLE_CREDENTIALS", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_COMPUTE_CUSTOM_ENDPOINT"}

func (o *Options) defaults() {
	if o.Flake == "" {
		o.Flake = DefaultFlake()
	}
	if o.StateFile == "" {
		o.StateFile = StateFileFor(o.Flake)
	}
	if o.Out == nil {
		o.Out = os.Stderr
	}
}

// Render renders (or takes from the cache) the terraform configuration of
// o's flake. It needs nix only on a cache miss, never terraform.
func Render(ctx context.Context, o Options) (*terranix.Rendering, error) {
	o.defaults()
	return (&terranix.Renderer{Flake: o.Flake}).Render(ctx)
}

// Session is a rendered fleet with its workspace, ready for a command.
type Session struct {
	Rendering *terranix.Rendering
	Workspace *Workspace
	// Endpoint is the API ServeAPI started ("" when none was).
	Endpoint string
	close    func()
}

// Close stops the API ServeAPI started, if any.
func (s *Session) Close() {
	if s.close != nil {
		s.close()
	}
}

// Open renders the flake and prepares the workspace. When HCLOUD_ENDPOINT
// is not set and o.ServeAPI is, hcloud is the API it serves (the front
// doors' fake backed by the lab: nothing leaves the machine).
func Open(ctx context.Context, o Options) (*Session, error) {
	r, err := Render(ctx, o)
	if err != nil {
		return nil, err
	}
	return OpenRendering(ctx, o, r)
}

// StateReader returns a workspace that can read o's state (Outputs,
// Address, Resources) without terraform, a lock or a fake API.
func StateReader(o Options) (*Workspace, error) {
	o.defaults()
	ids, err := o.Identities()
	if err != nil {
		return nil, err
	}
	return &Workspace{StateFile: o.StateFile, Vault: Vault{Identities: ids}}, nil
}

// Identities loads the identities that decrypt o's state: IdentityFiles
// when set; else, when no variable names a key, the TEST-ONLY identities a
// lab fleet declares (fleet.Lab: the fleet's own data decides, not a
// directory name), as the deploy does; else the admin's keys wherever sops
// finds them (tasks/adminkeys). No key anywhere is no error here: Decrypt
// says so when a state must be read.
func (o Options) Identities() ([]age.Identity, error) {
	if o.IdentityFiles != nil {
		return adminkeys.ReadFiles(o.IdentityFiles...)
	}
	host := adminkeys.Host()
	if !host.Named() {
		if files := o.labIdentityFiles(); len(files) > 0 {
			return adminkeys.ReadFiles(files...)
		}
	}
	k, err := adminkeys.Find(host)
	if errors.Is(err, adminkeys.ErrNone) {
		return nil, nil
	}
	return k.Identities, err
}

// labIdentityFiles returns the identity files o's fleet declares as a
// lab's; nil when it declares none or does not load.
func (o Options) labIdentityFiles() []string {
	if st, err := os.Stat(o.Flake); err != nil || !st.IsDir() {
		return nil
	}
	f, err := fleet.NewLoader().Load(context.Background(), o.Flake)
	if err != nil {
		return nil
	}
	return f.LabIdentityFiles(o.Flake)
}

// refusePublished fails when the state would be encrypted to a key whose
// private half is committed to the flake's repository (agekey.Published),
// unless it is an identity the fleet declares as a lab's.
func (o Options) refusePublished(recips []age.Recipient) error {
	if st, err := os.Stat(o.Flake); err != nil || !st.IsDir() {
		return nil // a remote flake: no repository here to publish keys
	}
	pub, err := agekey.PublishedIn(o.Flake)
	if err != nil {
		return err
	}
	var rs []agekey.Recipient
	for _, r := range recips {
		if x, ok := r.(*age.X25519Recipient); ok {
			rs = append(rs, agekey.Recipient{Key: x.String(), Who: "terraform state recipient"})
		}
	}
	return pub.Check(rs, o.labIdentityFiles())
}

// OpenRendering is Open with the rendering already made.
func OpenRendering(ctx context.Context, o Options, r *terranix.Rendering) (*Session, error) {
	o.defaults()
	ids, err := o.Identities()
	if err != nil {
		return nil, err
	}
	recips, err := ParseRecipients(r.Recipients)
	if err != nil {
		return nil, err
	}
	recips = withOwn(recips, ids)
	if err := o.refusePublished(recips); err != nil {
		return nil, fmt.Errorf("terraform state %s: %w", o.StateFile, err)
	}
	w := &Workspace{StateFile: o.StateFile, Vault: Vault{Identities: ids, Recipients: recips},
		Stdout: o.Out, Stderr: o.Out, Env: map[string]string{}}
	if err := w.defaults(); err != nil {
		return nil, err
	}
	s := &Session{Rendering: r, Workspace: w}
	if ep := os.Getenv("HCLOUD_ENDPOINT"); ep != "" {
		tok, err := CloudCredential(o.Flake, "HCLOUD_TOKEN", ids)
		if err != nil {
			return nil, err
		}
		if len(tok) != 64 {
			return nil, fmt.Errorf("HCLOUD_ENDPOINT is set but there is no 64-character Hetzner API token: set HCLOUD_TOKEN or keep it as the sops secret %s", secretPath(o.Flake, "hcloud-token"))
		}
		w.Env["HCLOUD_TOKEN"] = tok
	} else if o.ServeAPI != nil {
		ep, token, stop, err := o.ServeAPI(ctx, w.WorkDir)
		if err != nil {
			return nil, err
		}
		w.Env["HCLOUD_ENDPOINT"] = ep
		w.Env["HCLOUD_TOKEN"] = token
		s.Endpoint, s.close = ep, stop
	}
	// A Google API of the user's own: named in the environment, or
	// credentials kept in the flake's secrets (handed to the provider in
	// memory). Otherwise the front door's fake serves.
	realGoogle := googleFromEnv() || hasCloudSecret(o.Flake, "GOOGLE_CREDENTIALS")
	if usesGoogle(r) && realGoogle {
		cred, err := CloudCredential(o.Flake, "GOOGLE_CREDENTIALS", ids)
		if err != nil {
			s.Close()
			return nil, err
		}
		if cred != "" {
			w.Env["GOOGLE_CREDENTIALS"] = cred
		}
	}
	if o.ServeGCP != nil && usesGoogle(r) && !realGoogle {
		ep, token, stop, err := o.ServeGCP(ctx, w.WorkDir)
		if err != nil {
			s.Close()
			return nil, err
		}
		w.Env["GOOGLE_COMPUTE_CUSTOM_ENDPOINT"] = ep
		w.Env["GOOGLE_OAUTH_ACCESS_TOKEN"] = token
		prev := s.close
		s.close = func() {
			stop()
			if prev != nil {
				prev()
			}
		}
	}
	return s, nil
}

// usesGoogle reports whether the rendering needs the google provider.
func usesGoogle(r *terranix.Rendering) bool {
	for _, p := range r.Config.Providers() {
		if p == terranix.ProviderSource["google"] {
			return true
		}
	}
	return false
}

// googleFromEnv reports whether the environment names a Compute Engine API
// or credentials for one (GoogleCredentialVars).
func googleFromEnv() bool {
	for _, k := range GoogleCredentialVars {
		if os.Getenv(k) != "" {
			return true
		}
	}
	return false
}

// withOwn adds the operator's own X25519 recipients, so the state they
// write stays readable to them even when they are not among the admins.
func withOwn(recips []age.Recipient, ids []age.Identity) []age.Recipient {
	out := append([]age.Recipient(nil), recips...)
	have := map[string]bool{}
	for _, r := range recips {
		if x, ok := r.(*age.X25519Recipient); ok {
			have[x.String()] = true
		}
	}
	for _, id := range ids {
		if x, ok := id.(*age.X25519Identity); ok && !have[x.Recipient().String()] {
			out = append(out, x.Recipient())
			have[x.Recipient().String()] = true
		}
	}
	return out
}

// DefaultFlake is the flake a command works on when its caller names
// none: the lab flake of the checkout holding the working directory
// (paths.Flake), else "lab" (which then fails with nix's own message).
func DefaultFlake() string {
	wd, err := os.Getwd()
	if err != nil {
		return "lab"
	}
	f, err := paths.Flake("", wd)
	if err != nil {
		return "lab"
	}
	return f
}

// Ask returns a Confirm that prints the plan to out and, unless yes, asks
// on in ("yes" to go on). Without a terminal it refuses and says how to
// confirm.
func Ask(yes bool, in io.Reader, out io.Writer) Confirm {
	return func(p *Plan) bool {
		fmt.Fprint(out, p.Summary())
		if yes {
			return true
		}
		if f, ok := in.(*os.File); ok {
			if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
				fmt.Fprintln(out, "no terminal to confirm on: set VANIXIETS_YES=1 (--yes) to apply")
				return false
			}
		}
		fmt.Fprint(out, "apply these changes? type yes: ")
		line, _ := bufio.NewReader(in).ReadString('\n')
		return strings.TrimSpace(line) == "yes"
	}
}
