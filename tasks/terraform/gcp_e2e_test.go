//go:build e2e

package terraform

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/fakeapi"
	"github.com/vanixiets/vanixiets/tasks/fakegcp"
	"github.com/vanixiets/vanixiets/tasks/fakehcloud"
	"github.com/vanixiets/vanixiets/tasks/lab"
	"github.com/vanixiets/vanixiets/tasks/lab/labtest"
	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/nix/nixtest"
	"github.com/vanixiets/vanixiets/tasks/terranix"
)

// cloudMachines are the fleet's four cloud machines, as
// modules/_fleet/machines.nix declares them.
var cloudMachines = []terranix.Machine{
	{Name: "cinnabar", Provider: "hetzner"}, {Name: "electrum", Provider: "hetzner"},
	{Name: "galena", Provider: "gcp"}, {Name: "scheelite", Provider: "gcp"},
}

// labCloudConfig renders the lab's own terraform configuration
// (lab/nix/terraform.nix over modules/_fleet/machines.nix; the GCP
// instances through modules/terranix/_gce-instance.nix, which the real
// fleet's gcp.nix uses too) with exactly the given cloud machines
// enabled: the toggles are tested on the configuration the fleet renders,
// not on a copy of it.
func labCloudConfig(t testing.TB, enabled ...string) *terranix.Config {
	t.Helper()
	nixtest.New(t)
	root := labtest.Repo()
	on, _ := json.Marshal(enabled)
	expr := fmt.Sprintf(`let
  on = builtins.fromJSON %q;
  machines = builtins.mapAttrs (n: m: m // { cloud = if m ? cloud then m.cloud // { enabled = builtins.elem n on; } else null; })
    (import %s/modules/_fleet/machines.nix);
in import %s/lab/nix/terraform.nix { fleet = { inherit machines; }; sshPublicKey = builtins.replaceStrings [ "\n" ] [ "" ] (builtins.readFile %s/lab/keys/deploy_ed25519.pub); }`,
		string(on), root, root, root)
	cmd := exec.Command("nix", "eval", "--json", "--impure", "--expr", expr)
	cmd.Env = nix.Environ()
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("nix eval of the lab's terraform configuration: %v\n%s", err, ee.Stderr)
	}
	assert.NilError(t, err)
	c, err := terranix.Parse(out)
	assert.NilError(t, err)
	return c
}

func cloudRendering(t testing.TB, id *age.X25519Identity, cfg *terranix.Config, enabled ...string) *terranix.Rendering {
	t.Helper()
	ms := slices.Clone(cloudMachines)
	for i := range ms {
		ms[i].Enabled = slices.Contains(enabled, ms[i].Name)
	}
	r, err := terranix.NewRendering(cfg, ms, []string{id.Recipient().String()})
	assert.NilError(t, err)
	return r
}

// withInstance returns cfg with galena's instance edited.
func withInstance(t testing.TB, cfg *terranix.Config, name string, edit func(map[string]any)) *terranix.Config {
	t.Helper()
	var tree map[string]any
	assert.NilError(t, json.Unmarshal(cfg.JSON(), &tree))
	edit(tree["resource"].(map[string]any)["google_compute_instance"].(map[string]any)[name].(map[string]any))
	b, err := json.Marshal(tree)
	assert.NilError(t, err)
	c, err := terranix.Parse(b)
	assert.NilError(t, err)
	return c
}

func (e *env) planApplyRendering(t testing.TB, r *terranix.Rendering) (*Plan, error) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.w.Plan(ctx, r); err != nil {
		return nil, err
	}
	return e.w.Apply(ctx, r, Yes)
}

// TestBothCloudsToggles: one configuration with both providers covers the
// four cloud machines; each toggle (scheelite, the GPU instance, and
// electrum) creates or removes exactly its machine, and a plan right after
// an apply has nothing to do (the fake answers what the real provider
// wrote).
func TestBothCloudsToggles(t *testing.T) {
	e := newEnv(t, fakehcloud.Config{})
	ctx := context.Background()
	steps := []struct {
		name    string
		enabled []string
		want    map[string]string
	}{
		{"the lab's defaults", []string{"cinnabar", "galena"}, map[string]string{"cinnabar": "create", "galena": "create"}},
		{"scheelite on", []string{"cinnabar", "galena", "scheelite"}, map[string]string{"scheelite": "create"}},
		{"scheelite off", []string{"cinnabar", "galena"}, map[string]string{"scheelite": "delete"}},
		{"scheelite on again", []string{"cinnabar", "galena", "scheelite"}, map[string]string{"scheelite": "create"}},
		{"electrum on", []string{"cinnabar", "electrum", "galena", "scheelite"}, map[string]string{"electrum": "create"}},
		{"electrum off", []string{"cinnabar", "galena", "scheelite"}, map[string]string{"electrum": "delete"}},
	}
	var galena string
	for _, st := range steps {
		r := cloudRendering(t, e.id, labCloudConfig(t, st.enabled...), st.enabled...)
		p := e.plan(t, r)
		assert.DeepEqual(t, machines(p), st.want)
		_, err := e.w.Apply(ctx, r, Yes)
		assert.NilError(t, err, "%s: %s", st.name, e.log.String())

		p = e.plan(t, r)
		assert.Assert(t, !p.HasChanges(), "%s: a plan right after the apply changes nothing: %s", st.name, p.Summary())
		var gcp, hetzner []string
		for _, m := range st.enabled {
			if m == "galena" || m == "scheelite" {
				gcp = append(gcp, m)
			} else {
				hetzner = append(hetzner, m)
			}
		}
		assert.DeepEqual(t, e.gcp.InstanceNames(), gcp)
		assert.DeepEqual(t, e.fake.ServerNames(), hetzner)
		a, ok, err := e.w.Address("galena")
		assert.NilError(t, err)
		assert.Assert(t, ok)
		if galena == "" {
			galena = a.String()
		}
		assert.Equal(t, a.String(), galena, "%s: galena untouched", st.name)
	}
	s, ok := e.gcp.Instance("scheelite")
	assert.Assert(t, ok)
	assert.DeepEqual(t, s.Accelerators, map[string]int{"nvidia-l4": 1})
	assert.Equal(t, s.OnHostMaintenance, "TERMINATE")
	assert.Equal(t, s.MachineType, "g2-standard-4")
	assert.Equal(t, s.Zone, "us-central1-a")
	ct, err := os.ReadFile(e.w.StateFile)
	assert.NilError(t, err)
	assert.Assert(t, !strings.Contains(string(ct), fakegcp.LabToken), "no token in the stored state")
	assert.Assert(t, !strings.Contains(string(ct), "google_compute_instance"), "stored state is ciphertext")
}

// TestGCPBadInputIsClear: an unknown zone or machine type, or a GPU
// instance that allows live migration, fails the apply with Compute
// Engine's message naming the field; nothing of it is made or recorded,
// and the corrected configuration converges.
func TestGCPBadInputIsClear(t *testing.T) {
	good := labCloudConfig(t, "galena", "scheelite")
	cases := []struct {
		name, machine string
		edit          func(map[string]any)
		want          string
	}{
		{"unknown zone", "galena", func(m map[string]any) { m["zone"] = "us-moon1-a" }, "Invalid value for field 'zone': 'us-moon1-a'. Unknown zone."},
		{"unknown machine type", "galena", func(m map[string]any) { m["machine_type"] = "e2-huge-4" },
			"Machine type with name 'e2-huge-4' does not exist in zone 'us-central1-b'"},
		{"gpu with live migration", "scheelite", func(m map[string]any) {
			m["scheduling"] = []any{map[string]any{"on_host_maintenance": "MIGRATE"}}
		}, "Instances with guest accelerators do not support live migration"},
		{"gpu not offered in the zone", "scheelite", func(m map[string]any) {
			m["zone"] = "us-central1-f"
			m["machine_type"] = "n1-standard-4"
		}, "Accelerator type 'nvidia-l4' does not exist in zone 'us-central1-f'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Each case has its own fakes and state, and spends most of
			// its time in the provider's fixed 5 s wait after an insert.
			t.Parallel()
			e := newEnv(t, fakehcloud.Config{})
			_, err := e.planApplyRendering(t, cloudRendering(t, e.id, withInstance(t, good, tc.machine, tc.edit), "galena", "scheelite"))
			assert.ErrorContains(t, err, tc.want)
			assert.Assert(t, !slices.Contains(e.gcp.InstanceNames(), tc.machine))
			res, err := e.w.Resources()
			assert.NilError(t, err)
			assert.Assert(t, !slices.Contains(res, "google_compute_instance."+tc.machine), "not in the state: %v", res)

			p, err := e.planApplyRendering(t, cloudRendering(t, e.id, good, "galena", "scheelite"))
			assert.NilError(t, err, e.log.String())
			assert.Equal(t, machines(p)[tc.machine], "create", p.Summary())
			assert.DeepEqual(t, e.gcp.InstanceNames(), []string{"galena", "scheelite"})
		})
	}
}

// TestGCPFaultsMidApplyConverge: a quota error and a failed operation (the
// API's 500 inside the operation) fail only their instance; the state
// holds what was made; the rerun creates exactly the rest. A 500 answer to
// the insert itself is retried by the provider: one instance, no twin.
func TestGCPFaultsMidApplyConverge(t *testing.T) {
	all := []string{"cinnabar", "galena", "scheelite"}
	cases := []struct {
		name   string
		gcfg   func() (fakegcp.Config, func(*env))
		failed string // the instance the first apply does not make ("" none)
		want   string
	}{
		{name: "gpu quota exceeded", failed: "scheelite", want: "Quota 'NVIDIA_L4_GPUS' exceeded.  Limit: 0.0 in region us-central1.",
			gcfg: func() (fakegcp.Config, func(*env)) {
				return fakegcp.Config{Quota: map[string]float64{"NVIDIA_L4_GPUS/us-central1": 0}}, func(e *env) { e.gcp.SetQuota(nil) }
			}},
		{name: "operation fails with an internal error", failed: "galena", want: "create instance galena: the zone's scheduler is unavailable",
			gcfg: func() (fakegcp.Config, func(*env)) {
				var failed atomic.Bool
				return fakegcp.Config{BeforeCreate: func(_ context.Context, name string) error {
					if name == "galena" && failed.CompareAndSwap(false, true) {
						return errors.New("the zone's scheduler is unavailable")
					}
					return nil
				}}, func(*env) {}
			}},
		{name: "500 answer to the insert", gcfg: func() (fakegcp.Config, func(*env)) {
			ft, err := fakeapi.ParseFault("POST /instances#1=500")
			if err != nil {
				panic(err)
			}
			return fakegcp.Config{Faults: []fakeapi.Fault{ft}}, func(*env) {}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // as in TestGCPBadInputIsClear
			gcfg, fix := tc.gcfg()
			e := newCloudEnv(t, fakehcloud.Config{}, gcfg)
			cfg := labCloudConfig(t, all...)
			r := cloudRendering(t, e.id, cfg, all...)
			_, err := e.planApplyRendering(t, r)
			if tc.failed == "" {
				assert.NilError(t, err, e.log.String())
				assert.DeepEqual(t, e.gcp.InstanceNames(), []string{"galena", "scheelite"})
				assert.Equal(t, e.gcp.Calls()["POST instances"], 3, "the failed insert was retried once")
				return
			}
			assert.ErrorContains(t, err, tc.want)
			res, err := e.w.Resources()
			assert.NilError(t, err)
			assert.Assert(t, !slices.Contains(res, "google_compute_instance."+tc.failed), "%v", res)
			assert.Assert(t, slices.Contains(res, "hcloud_server.cinnabar"), "what was made is recorded: %v", res)
			assert.Assert(t, !slices.Contains(e.gcp.InstanceNames(), tc.failed))

			fix(e)
			p, err := e.planApplyRendering(t, r)
			assert.NilError(t, err, e.log.String())
			assert.DeepEqual(t, machines(p), map[string]string{tc.failed: "create"})
			assert.DeepEqual(t, e.gcp.InstanceNames(), []string{"galena", "scheelite"})
		})
	}
}

// TestGCPInstancesAreLabHosts: with the lab behind both fakes, every cloud
// machine terraform creates is a lab host whose sshd answers at the
// address terraform reports, booting a bare image (no Nix, an empty
// /nix), and turning scheelite off removes its host.
func TestGCPInstancesAreLabHosts(t *testing.T) {
	labtest.NeedRoot(t)
	l := labtest.Open(t, labtestConfig())
	e := newEnv(t, fakehcloud.Config{Backend: &fakehcloud.LabBackend{Lab: l}})
	all := []string{"cinnabar", "electrum", "galena", "scheelite"}
	_, err := e.planApplyRendering(t, cloudRendering(t, e.id, labCloudConfig(t, all...), all...))
	assert.NilError(t, err, e.log.String())
	for _, m := range all {
		a, ok, err := e.w.Address(m)
		assert.NilError(t, err)
		assert.Assert(t, ok, m)
		assert.Assert(t, l.Range().Contains(a), "%s at %s, in the lab's range %s", m, a, l.Range())
		c, err := net.DialTimeout("tcp", net.JoinHostPort(a.String(), "22"), 5*time.Second)
		assert.NilError(t, err, "%s: sshd answers", m)
		c.Close()
		// Booting its cloud's bare image: no Nix until a deploy installs it.
		out, err := l.Exec(context.Background(), m, "sh", "-c", "command -v nix-daemon || command -v nix || ls -A /nix")
		assert.NilError(t, err, "%s: %s", m, out)
		assert.Equal(t, string(out), "", "%s has Nix", m)
	}
	hs, err := l.Hosts()
	assert.NilError(t, err)
	for _, h := range hs {
		assert.Equal(t, h.Boot, lab.BootImage, h.Name)
	}
	on := []string{"cinnabar", "electrum", "galena"}
	_, err = e.planApplyRendering(t, cloudRendering(t, e.id, labCloudConfig(t, on...), on...))
	assert.NilError(t, err, e.log.String())
	hosts, err := l.Hosts()
	assert.NilError(t, err)
	var names []string
	for _, h := range hosts {
		names = append(names, h.Name)
	}
	assert.DeepEqual(t, names, on)
}

// TestServiceAccountKeyEndToEnd: with a service account key in
// GOOGLE_CREDENTIALS (as the user's tree keeps one, in the sops secret
// gcp-service-account-json) and no access token, the real google provider
// exchanges the key at the key's token_uri, the fake's token endpoint,
// which checks the JWT as Google does (signature with the account's public
// key, audience, scope, lifetime), and creates galena with the token it
// got; then the deploy's console reader, from the same variable, gets its
// own token there by its own JWT and reads galena's console. One verifier
// accepts both: the suite's assertion is of the format Google's own client
// library signs.
func TestServiceAccountKeyEndToEnd(t *testing.T) {
	email := "terraform@vanixiets-lab.iam.gserviceaccount.com"
	priv := newRSA(t)
	e := newCloudEnv(t, fakehcloud.Config{}, fakegcp.Config{ServiceAccounts: map[string]*rsa.PublicKey{email: &priv.PublicKey}})
	key := saKey(t, priv, email, strings.TrimSuffix(e.gcpURL, fakegcp.BasePath)+fakegcp.TokenPath)
	delete(e.w.Env, "GOOGLE_OAUTH_ACCESS_TOKEN")
	e.w.Env["GOOGLE_CREDENTIALS"] = key

	_, err := e.planApplyRendering(t, cloudRendering(t, e.id, labCloudConfig(t, "galena"), "galena"))
	assert.NilError(t, err, e.log.String())
	assert.DeepEqual(t, e.gcp.InstanceNames(), []string{"galena"})
	jwtGrant := "POST token urn:ietf:params:oauth:grant-type:jwt-bearer"
	byProvider := e.gcp.Calls()[jwtGrant]
	assert.Assert(t, byProvider > 0, "the provider got its token from the key: %v", e.gcp.Calls())

	st, err := e.w.Vault.Read(e.w.StateFile)
	assert.NilError(t, err)
	in, ok, err := stateInstance(st, terranix.ServerResourceType["gcp"], "galena")
	assert.NilError(t, err)
	assert.Assert(t, ok)
	tok, from, err := computeToken(context.Background(), func(k string) string { return e.w.Env[k] })
	assert.NilError(t, err)
	assert.Equal(t, from, "GOOGLE_CREDENTIALS (service account "+email+")")
	assert.Equal(t, e.gcp.Calls()[jwtGrant], byProvider+1)
	_, err = serialPort(context.Background(), e.gcpURL, tok, in)
	assert.NilError(t, err, "the console of the instance the provider made, read with the suite's own token")
}
