//go:build e2e

package provision

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/lab"
	"github.com/vanixiets/vanixiets/tasks/terranix"
)

// TestMageScheeliteToggle is issue 24's "done when" for the GPU machine,
// through the compiled mage targets on a copy of the fleet whose
// scheelite toggle (cloud.enabled, the user's money switch) is turned on:
// tf:plan shows scheelite to be created beside cinnabar and galena, and
// the rendered instance carries its GPU (nvidia-l4, on_host_maintenance
// TERMINATE), which the fake Compute Engine API accepted; tf:apply --yes
// creates it as a lab host booting a bare image; deploy:fleet @gcp
// installs and deploys both GCP machines, a second deploy copies nothing.
// Turned off again, tf:apply --yes removes scheelite alone: galena keeps
// its address and its installed system.
func TestMageScheeliteToggle(t *testing.T) {
	repo := labFleetCopy(t)
	setEnabled(t, repo, "scheelite", true)
	flake := filepath.Join(repo, "lab")
	base, l := freshMage(t)
	w := &world{lab: l} // for its hosts
	mage := func(target string, args ...string) (string, error) {
		return base(append([]string{target, "--flake", flake}, args...)...)
	}

	out, err := mage("tf:plan")
	assert.NilError(t, err, out)
	for _, m := range []string{"cinnabar (hcloud_server.cinnabar)", "galena (google_compute_instance.galena)", "scheelite (google_compute_instance.scheelite)"} {
		assert.Check(t, is.Contains(out, "machine "+m+": create"), out)
	}
	assert.Check(t, !strings.Contains(out, "machine electrum"), out)

	// The instance terraform is asked to make: its GPU and the
	// maintenance policy Compute Engine requires of one.
	out, err = mage("tf:render")
	assert.NilError(t, err, out)
	r := regexp.MustCompile(`rendered (\S+)/` + regexp.QuoteMeta(terranix.FileName)).FindStringSubmatch(out)
	assert.Assert(t, r != nil, out)
	work := r[1]
	var cfg struct {
		Resource struct {
			Instances map[string]struct {
				MachineType string `json:"machine_type"`
				GPU         []struct {
					Type  string `json:"type"`
					Count int    `json:"count"`
				} `json:"guest_accelerator"`
				Scheduling []struct {
					OnHostMaintenance string `json:"on_host_maintenance"`
				} `json:"scheduling"`
			} `json:"google_compute_instance"`
		} `json:"resource"`
	}
	b, err := os.ReadFile(filepath.Join(work, terranix.FileName))
	assert.NilError(t, err)
	assert.NilError(t, json.Unmarshal(b, &cfg))
	s := cfg.Resource.Instances["scheelite"]
	assert.Equal(t, s.MachineType, "g2-standard-4")
	assert.Assert(t, len(s.GPU) == 1 && len(s.Scheduling) == 1, "scheelite's instance: %+v", s)
	assert.Equal(t, s.GPU[0].Type, "nvidia-l4")
	assert.Equal(t, s.GPU[0].Count, 1)
	assert.Equal(t, s.Scheduling[0].OnHostMaintenance, "TERMINATE")
	assert.Equal(t, len(cfg.Resource.Instances["galena"].GPU), 0, "galena has no GPU")

	out, err = mage("tf:apply", "--yes")
	assert.NilError(t, err, out)
	addr := map[string]string{}
	for _, m := range []string{"cinnabar", "galena", "scheelite"} {
		a := regexp.MustCompile(m + `_ipv4 = "?([0-9.]+)`).FindStringSubmatch(out)
		assert.Assert(t, a != nil, "no address of %s: %s", m, out)
		addr[m] = a[1]
	}
	hosts := w.hosts(t)
	assert.DeepEqual(t, names(hosts), []string{"cinnabar", "galena", "scheelite"})
	for m, h := range hosts {
		assert.Equal(t, h.Addr.String(), addr[m], m)
		assert.Equal(t, h.Boot, lab.BootImage, m)
	}
	assertNoNix(t, l, "root@scheelite")
	// What the fake API made of it (its state, kept in the work directory):
	// the GPU as Compute Engine records it.
	gpu := fakeInstance(t, work, "scheelite")
	assert.Equal(t, gpu.Zone, "us-central1-a")
	assert.Equal(t, gpu.OnHostMaintenance, "TERMINATE")
	assert.DeepEqual(t, gpu.Accelerators, []fakeAccelerator{{Type: "nvidia-l4", Count: 1}})

	// deploy:fleet of the GCP machines installs every enabled one.
	out, err = mage("deploy:fleet", "@gcp", "--timeout", "10s")
	assert.NilError(t, err, out)
	assert.Check(t, !strings.Contains(out, "created at"), out)
	for _, m := range []string{"galena", "scheelite"} {
		assert.Check(t, regexp.MustCompile(m+`\s+0 -> 1\s+[1-9]\d* paths.*\sinstalled\n`).MatchString(out), out)
		// Their image keys were checked against their consoles, read
		// through the (fake) Compute API: the provider's word, not a
		// known_hosts line.
		assert.Check(t, regexp.MustCompile(m+`\s+install\s+the host presents its image's key \(ssh-ed25519 SHA256:\S+\), vouched for by its provider's console`).MatchString(out), out)
	}
	hosts = w.hosts(t)
	for _, m := range []string{"galena", "scheelite"} {
		assert.Equal(t, hosts[m].Boot, lab.BootInstalled, m)
	}
	assert.Equal(t, hosts["cinnabar"].Boot, lab.BootImage, "cinnabar is not a GCP machine")
	out, err = mage("deploy:machine", "scheelite", "--timeout", "10s")
	assert.NilError(t, err, out)
	assert.Check(t, regexp.MustCompile(`scheelite\s+1 -> 1\s+0 paths, 0 B.*\sunchanged\n`).MatchString(out), out)

	// The toggle off: scheelite alone goes, galena stays as it was.
	setEnabled(t, repo, "scheelite", false)
	out, err = mage("tf:plan")
	assert.NilError(t, err, out)
	assert.Check(t, is.Contains(out, "machine scheelite (google_compute_instance.scheelite): delete"), out)
	assert.Check(t, is.Contains(out, "plan: 0 to create, 0 to update, 0 to replace, 1 to destroy"), out)
	out, err = mage("tf:apply", "--yes")
	assert.NilError(t, err, out)
	hosts = w.hosts(t)
	assert.DeepEqual(t, names(hosts), []string{"cinnabar", "galena"})
	assert.Equal(t, hosts["galena"].Addr.String(), addr["galena"])
	assert.Equal(t, hosts["galena"].Boot, lab.BootInstalled)
	_, ok := fakeInstances(t, work)["scheelite"]
	assert.Check(t, !ok, "the fake API still lists scheelite")
	out, err = mage("deploy:machine", "galena", "--timeout", "10s")
	assert.NilError(t, err, out)
	assert.Check(t, regexp.MustCompile(`galena\s+1 -> 1\s+0 paths, 0 B.*\sunchanged\n`).MatchString(out), out)
	o, err := exec.Command("ssh", "-F", l.SSHConfigPath(), "-o", "BatchMode=yes", "root@scheelite", "true").CombinedOutput()
	assert.Check(t, err != nil, "scheelite still answers: %s", o)
}

type fakeAccelerator struct {
	Type  string `json:"acceleratorType"`
	Count int64  `json:"acceleratorCount"`
}

type fakeRecord struct {
	Name              string            `json:"name"`
	Zone              string            `json:"zone"`
	OnHostMaintenance string            `json:"on_host_maintenance"`
	Accelerators      []fakeAccelerator `json:"accelerators"`
}

// fakeInstances reads the lab-backed fake Compute Engine API's state file
// in terraform's work directory (fakegcp.ServeFromEnv keeps it there),
// by instance name.
func fakeInstances(t *testing.T, work string) map[string]fakeRecord {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(work, "fakegcp-lab.json"))
	assert.NilError(t, err)
	var st struct {
		Instances map[string]fakeRecord `json:"instances"`
	}
	assert.NilError(t, json.Unmarshal(b, &st))
	out := map[string]fakeRecord{}
	for _, in := range st.Instances {
		out[in.Name] = in
	}
	return out
}

func fakeInstance(t *testing.T, work, name string) fakeRecord {
	t.Helper()
	in, ok := fakeInstances(t, work)[name]
	assert.Assert(t, ok, "the fake API has no instance %s", name)
	return in
}
