package fakegcp

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/fakeapi"
	"github.com/vanixiets/vanixiets/tasks/fakehcloud"
)

const project = "vanixiets-lab"

// call makes one request to f and decodes its JSON answer.
func call(t *testing.T, f *Fake, method, path, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+LabToken)
	w := httptest.NewRecorder()
	f.ServeHTTP(w, req)
	var v map[string]any
	b, _ := io.ReadAll(w.Result().Body)
	assert.NilError(t, json.Unmarshal(b, &v), "body: %s", b)
	return w.Code, v
}

func errMessage(v map[string]any) string {
	e, _ := v["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

func opError(v map[string]any) string {
	e, ok := v["error"].(map[string]any)
	if !ok {
		return ""
	}
	errs := e["errors"].([]any)
	first := errs[0].(map[string]any)
	return first["code"].(string) + ": " + first["message"].(string)
}

// instanceBody is an insert body as the provider sends it for the fleet's
// instances; edit changes it.
func instanceBody(name, zone, machineType string, edit func(m map[string]any)) string {
	m := map[string]any{
		"name":        name,
		"machineType": fmt.Sprintf("projects/%s/zones/%s/machineTypes/%s", project, zone, machineType),
		"disks": []any{map[string]any{"boot": true, "autoDelete": true,
			"initializeParams": map[string]any{"sourceImage": "projects/debian-cloud/global/images/family/debian-12", "diskSizeGb": "50"}}},
		"networkInterfaces": []any{map[string]any{"network": "projects/" + project + "/global/networks/default",
			"accessConfigs": []any{map[string]any{"type": "ONE_TO_ONE_NAT"}}}},
		"labels":   map[string]string{"machine": name},
		"metadata": map[string]any{"items": []any{map[string]string{"key": "ssh-keys", "value": "root:ssh-ed25519 AAAA"}}},
	}
	if edit != nil {
		edit(m)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func gpu(accel string, count int, onHostMaintenance string) func(m map[string]any) {
	return func(m map[string]any) {
		if accel != "" {
			m["guestAccelerators"] = []any{map[string]any{"acceleratorType": accel, "acceleratorCount": count}}
		}
		if onHostMaintenance != "" {
			m["scheduling"] = map[string]any{"onHostMaintenance": onHostMaintenance, "automaticRestart": true}
		}
	}
}

func instancesPath(zone string) string {
	return BasePath + "projects/" + project + "/zones/" + zone + "/instances"
}

func TestInsertValidation(t *testing.T) {
	l4 := "projects/" + project + "/zones/us-central1-a/acceleratorTypes/nvidia-l4"
	cases := []struct {
		name, zone, machineType string
		edit                    func(map[string]any)
		status                  int
		want                    string // in the error message; "" for success
	}{
		{name: "cpu instance", zone: "us-central1-b", machineType: "e2-standard-4", status: 200},
		{name: "gpu with terminate", zone: "us-central1-a", machineType: "g2-standard-4", edit: gpu(l4, 1, "TERMINATE"), status: 200},
		{name: "gpu bundled, accelerators omitted", zone: "us-central1-a", machineType: "g2-standard-4", edit: gpu("", 0, "TERMINATE"), status: 200},
		{name: "n1 with attached t4", zone: "us-central1-f", machineType: "n1-standard-4",
			edit: gpu("zones/us-central1-f/acceleratorTypes/nvidia-tesla-t4", 1, "TERMINATE"), status: 200},
		{name: "gpu with live migration", zone: "us-central1-a", machineType: "g2-standard-4", edit: gpu(l4, 1, "MIGRATE"),
			status: 400, want: "Instances with guest accelerators do not support live migration"},
		{name: "gpu bundled with live migration", zone: "us-central1-a", machineType: "g2-standard-4", edit: gpu("", 0, "MIGRATE"),
			status: 400, want: "do not support live migration"},
		{name: "accelerator unknown in zone", zone: "us-central1-f", machineType: "n1-standard-4",
			edit:   gpu("projects/"+project+"/zones/us-central1-f/acceleratorTypes/nvidia-l4", 1, "TERMINATE"),
			status: 400, want: "Accelerator type 'nvidia-l4' does not exist in zone 'us-central1-f'"},
		{name: "accelerator of another zone", zone: "us-central1-b", machineType: "g2-standard-4", edit: gpu(l4, 1, "TERMINATE"),
			status: 400, want: "must be in the instance's zone 'us-central1-b'"},
		{name: "accelerator on e2", zone: "us-central1-a", machineType: "e2-standard-4", edit: gpu(l4, 1, "TERMINATE"),
			status: 400, want: "[e2-standard-4, nvidia-l4] features are not compatible"},
		{name: "wrong bundled count", zone: "us-central1-a", machineType: "g2-standard-4", edit: gpu(l4, 2, "TERMINATE"),
			status: 400, want: "comes with 1 x nvidia-l4"},
		{name: "unknown zone", zone: "us-moon1-a", machineType: "e2-standard-4", status: 400,
			want: "Invalid value for field 'zone': 'us-moon1-a'. Unknown zone."},
		{name: "unknown machine type", zone: "us-central1-b", machineType: "e2-huge-4", status: 400,
			want: "Machine type with name 'e2-huge-4' does not exist in zone 'us-central1-b'"},
		{name: "gpu machine type where its gpu is not offered", zone: "us-central1-f", machineType: "g2-standard-4", status: 400,
			want: "Machine type with name 'g2-standard-4' does not exist in zone 'us-central1-f'"},
		{name: "unknown image", zone: "us-central1-b", machineType: "e2-standard-4", status: 400, want: "image resource cannot be found",
			edit: func(m map[string]any) {
				m["disks"].([]any)[0].(map[string]any)["initializeParams"].(map[string]any)["sourceImage"] = "projects/debian-cloud/global/images/family/debian-99"
			}},
		{name: "disk smaller than image", zone: "us-central1-b", machineType: "e2-standard-4", status: 400, want: "cannot be smaller than the image size",
			edit: func(m map[string]any) {
				m["disks"].([]any)[0].(map[string]any)["initializeParams"].(map[string]any)["diskSizeGb"] = 5
			}},
		{name: "no boot disk", zone: "us-central1-b", machineType: "e2-standard-4", status: 400, want: "needs a boot disk",
			edit: func(m map[string]any) { delete(m, "disks") }},
		{name: "bad name", zone: "us-central1-b", machineType: "e2-standard-4", status: 400, want: "resource.name",
			edit: func(m map[string]any) { m["name"] = "Galena_1" }},
		{name: "another network", zone: "us-central1-b", machineType: "e2-standard-4", status: 501, want: "only the network 'default'",
			edit: func(m map[string]any) {
				m["networkInterfaces"].([]any)[0].(map[string]any)["network"] = "global/networks/prod"
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := New(Config{})
			assert.NilError(t, err)
			defer f.Wait()
			code, v := call(t, f, "POST", instancesPath(tc.zone), instanceBody("scheelite", tc.zone, tc.machineType, tc.edit))
			assert.Equal(t, code, tc.status, "%v", v)
			if tc.want != "" {
				assert.Check(t, is.Contains(errMessage(v), tc.want))
				assert.Check(t, is.Len(f.InstanceNames(), 0))
				return
			}
			assert.Equal(t, v["status"], "DONE", "%v", v)
			assert.Equal(t, opError(v), "")
			in, ok := f.Instance("scheelite")
			assert.Assert(t, ok)
			if strings.HasPrefix(tc.machineType, "g2") {
				assert.DeepEqual(t, in.Accelerators, map[string]int{"nvidia-l4": 1})
				assert.Equal(t, in.OnHostMaintenance, "TERMINATE")
			}
		})
	}
}

func TestInstanceLifecycle(t *testing.T) {
	mem := fakehcloud.NewMemoryBackend()
	state := filepath.Join(t.TempDir(), "gcp.json")
	f, err := New(Config{Backend: mem, StateFile: state})
	assert.NilError(t, err)

	code, op := call(t, f, "POST", instancesPath("us-central1-b"), instanceBody("galena", "us-central1-b", "e2-standard-4", nil))
	assert.Equal(t, code, 200)
	assert.Equal(t, op["status"], "DONE")
	assert.Equal(t, op["operationType"], "insert")
	assert.Check(t, is.Contains(op["targetLink"].(string), "/zones/us-central1-b/instances/galena"))

	code, in := call(t, f, "GET", instancesPath("us-central1-b")+"/galena", "")
	assert.Equal(t, code, 200)
	assert.Equal(t, in["status"], "RUNNING")
	nat := in["networkInterfaces"].([]any)[0].(map[string]any)["accessConfigs"].([]any)[0].(map[string]any)["natIP"]
	assert.Equal(t, nat, "192.0.2.10")
	assert.DeepEqual(t, mem.Hosts(), []string{"galena"})

	code, disk := call(t, f, "GET", BasePath+"projects/"+project+"/zones/us-central1-b/disks/galena", "")
	assert.Equal(t, code, 200)
	assert.Equal(t, disk["sizeGb"], "50")
	assert.Check(t, is.Contains(disk["sourceImage"].(string), "projects/debian-cloud/global/images/debian-12-bookworm"))

	code, list := call(t, f, "GET", instancesPath("us-central1-b"), "")
	assert.Equal(t, code, 200)
	assert.Check(t, is.Len(list["items"], 1))

	code, dup := call(t, f, "POST", instancesPath("us-central1-b"), instanceBody("galena", "us-central1-b", "e2-standard-4", nil))
	assert.Equal(t, code, 409)
	assert.Check(t, is.Contains(errMessage(dup), "already exists"))

	// A new fake on the same state file sees the instance.
	f2, err := New(Config{Backend: mem, StateFile: state})
	assert.NilError(t, err)
	assert.DeepEqual(t, f2.InstanceNames(), []string{"galena"})

	code, op = call(t, f2, "DELETE", instancesPath("us-central1-b")+"/galena", "")
	assert.Equal(t, code, 200)
	assert.Equal(t, op["status"], "DONE")
	code, _ = call(t, f2, "GET", instancesPath("us-central1-b")+"/galena", "")
	assert.Equal(t, code, 404)
	assert.Check(t, is.Len(mem.Hosts(), 0))
	code, gone := call(t, f2, "DELETE", instancesPath("us-central1-b")+"/galena", "")
	assert.Equal(t, code, 404)
	assert.Check(t, is.Contains(errMessage(gone), "instances/galena' was not found"))
}

// holdBackend makes a host only when released, so an operation stays
// RUNNING for as long as the test wants.
type holdBackend struct {
	*fakehcloud.MemoryBackend
	release chan struct{}
}

func (b holdBackend) CreateHost(ctx context.Context, name string) (netip.Addr, error) {
	<-b.release
	return b.MemoryBackend.CreateHost(ctx, name)
}

func TestOperationPolling(t *testing.T) {
	be := holdBackend{fakehcloud.NewMemoryBackend(), make(chan struct{})}
	f, err := New(Config{Backend: be, OpWait: -1})
	assert.NilError(t, err)
	defer f.Wait()

	code, op := call(t, f, "POST", instancesPath("us-central1-b"), instanceBody("galena", "us-central1-b", "e2-standard-4", nil))
	assert.Equal(t, code, 200)
	assert.Equal(t, op["status"], "RUNNING")
	opPath := BasePath + "projects/" + project + "/zones/us-central1-b/operations/" + op["name"].(string)

	code, again := call(t, f, "GET", opPath, "")
	assert.Equal(t, code, 200)
	assert.Equal(t, again["status"], "RUNNING")
	_, in := call(t, f, "GET", instancesPath("us-central1-b")+"/galena", "")
	assert.Equal(t, in["status"], "PROVISIONING")
	assert.Check(t, is.Len(f.InstanceNames(), 0), "not running yet")

	close(be.release)
	// zoneOperations.wait returns as soon as the operation is done.
	code, done := call(t, f, "POST", opPath+"/wait", "")
	assert.Equal(t, code, 200)
	assert.Equal(t, done["status"], "DONE")
	assert.Equal(t, done["progress"], float64(100))
	_, in = call(t, f, "GET", instancesPath("us-central1-b")+"/galena", "")
	assert.Equal(t, in["status"], "RUNNING")

	code, wrongZone := call(t, f, "GET", BasePath+"projects/"+project+"/zones/us-central1-a/operations/"+op["name"].(string), "")
	assert.Equal(t, code, 404, "%v", wrongZone)
}

func TestQuota(t *testing.T) {
	cases := []struct {
		name     string
		quota    map[string]float64
		existing []string // e2-standard-4 instances made first in us-central1-b
		want     string
	}{
		{name: "no gpu quota", quota: map[string]float64{"NVIDIA_L4_GPUS/us-central1": 0},
			want: "QUOTA_EXCEEDED: Quota 'NVIDIA_L4_GPUS' exceeded.  Limit: 0.0 in region us-central1."},
		{name: "cpus used by another instance", quota: map[string]float64{"CPUS/us-central1": 6}, existing: []string{"galena"},
			want: "QUOTA_EXCEEDED: Quota 'CPUS' exceeded.  Limit: 6.0 in region us-central1."},
		{name: "quota of another region", quota: map[string]float64{"NVIDIA_L4_GPUS/europe-west4": 0}},
		{name: "enough", quota: map[string]float64{"NVIDIA_L4_GPUS/us-central1": 1, "CPUS/us-central1": 8}, existing: []string{"galena"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := New(Config{})
			assert.NilError(t, err)
			defer f.Wait()
			for _, n := range tc.existing {
				code, op := call(t, f, "POST", instancesPath("us-central1-b"), instanceBody(n, "us-central1-b", "e2-standard-4", nil))
				assert.Equal(t, code, 200)
				assert.Equal(t, opError(op), "")
			}
			f.SetQuota(tc.quota)
			code, op := call(t, f, "POST", instancesPath("us-central1-a"), instanceBody("scheelite", "us-central1-a", "g2-standard-4", gpu("", 0, "TERMINATE")))
			assert.Equal(t, code, 200, "quota errors are reported in the operation")
			assert.Equal(t, op["status"], "DONE")
			assert.Equal(t, opError(op), tc.want)
			_, ok := f.Instance("scheelite")
			assert.Equal(t, ok, tc.want == "")
		})
	}
}

func TestFaultsAuthAndUnimplemented(t *testing.T) {
	ft, err := fakeapi.ParseFault("POST /instances#1=500")
	assert.NilError(t, err)
	f, err := New(Config{Faults: []fakeapi.Fault{ft}})
	assert.NilError(t, err)
	defer f.Wait()

	code, v := call(t, f, "POST", instancesPath("us-central1-b"), instanceBody("galena", "us-central1-b", "e2-standard-4", nil))
	assert.Equal(t, code, 500)
	assert.Check(t, is.Contains(errMessage(v), "injected fault: POST /projects/vanixiets-lab/zones/us-central1-b/instances failed (request 1)"))
	code, _ = call(t, f, "POST", instancesPath("us-central1-b"), instanceBody("galena", "us-central1-b", "e2-standard-4", nil))
	assert.Equal(t, code, 200, "only the first request fails")
	assert.Equal(t, f.Calls()["POST instances"], 2)

	for _, tc := range []struct{ method, path, want string }{
		{"GET", BasePath + "projects/" + project + "/global/networks/default", "fakegcp does not implement GET /compute/v1/projects/vanixiets-lab/global/networks/default"},
		{"POST", instancesPath("us-central1-b") + "/galena/stop", "fakegcp does not implement POST"},
		{"PATCH", instancesPath("us-central1-b") + "/galena", "fakegcp does not implement PATCH"},
		{"GET", BasePath + "projects/" + project + "/regions/us-central1/addresses", "does not implement"},
	} {
		code, v := call(t, f, tc.method, tc.path, "")
		assert.Equal(t, code, 501, tc.path)
		assert.Check(t, is.Contains(errMessage(v), tc.want))
		assert.Check(t, is.Contains(errMessage(v), "extend tasks/fakegcp"))
	}

	req := httptest.NewRequest("GET", instancesPath("us-central1-b"), nil)
	req.Header.Set("Authorization", "Bearer wrong")
	w := httptest.NewRecorder()
	f.ServeHTTP(w, req)
	assert.Equal(t, w.Code, http.StatusUnauthorized)
	assert.Check(t, is.Contains(w.Body.String(), "GOOGLE_OAUTH_ACCESS_TOKEN"))
}

func TestLookups(t *testing.T) {
	f, err := New(Config{})
	assert.NilError(t, err)
	for _, tc := range []struct {
		path   string
		status int
		name   string
	}{
		{BasePath + "projects/debian-cloud/global/images/family/debian-12", 200, "debian-12-bookworm-v20261110"},
		{BasePath + "projects/debian-cloud/global/images/debian-12", 404, ""},
		{BasePath + "projects/debian-cloud/global/images/debian-12-bookworm-v20261110", 200, "debian-12-bookworm-v20261110"},
		{BasePath + "projects/" + project + "/zones/us-central1-a", 200, "us-central1-a"},
		{BasePath + "projects/" + project + "/zones/us-moon1-a", 404, ""},
		{BasePath + "projects/" + project + "/zones/us-central1-a/machineTypes/g2-standard-4", 200, "g2-standard-4"},
		{BasePath + "projects/" + project + "/zones/us-central1-f/machineTypes/g2-standard-4", 404, ""},
		{BasePath + "projects/" + project + "/zones/us-central1-a/acceleratorTypes/nvidia-l4", 200, "nvidia-l4"},
		{BasePath + "projects/" + project + "/zones/us-east1-c/acceleratorTypes/nvidia-l4", 404, ""},
		{BasePath + "projects/" + project + "/zones/US-CENTRAL1/instances/x", 400, ""},
	} {
		code, v := call(t, f, "GET", tc.path, "")
		assert.Equal(t, code, tc.status, tc.path)
		if tc.name != "" {
			assert.Equal(t, v["name"], tc.name)
		}
	}
}

func TestStateDropsUnfinishedCreations(t *testing.T) {
	state := filepath.Join(t.TempDir(), "gcp.json")
	be := holdBackend{fakehcloud.NewMemoryBackend(), make(chan struct{})}
	f, err := New(Config{Backend: be, StateFile: state, OpWait: -1})
	assert.NilError(t, err)
	call(t, f, "POST", instancesPath("us-central1-b"), instanceBody("galena", "us-central1-b", "e2-standard-4", nil))
	call(t, f, "POST", instancesPath("us-central1-b"), instanceBody("other", "us-central1-b", "e2-standard-4", nil))
	// One creation finishes (and saves, with the other still
	// provisioning); the other is cut short, as by the end of a process.
	select {
	case be.release <- struct{}{}:
	case <-time.After(10 * time.Second):
		t.Fatal("no creation is waiting for the backend")
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(f.InstanceNames()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	running := f.InstanceNames()
	assert.Equal(t, len(running), 1, "one creation was released")
	f2, err := New(Config{StateFile: state})
	assert.NilError(t, err)
	assert.DeepEqual(t, f2.InstanceNames(), running)
	close(be.release)
	f.Wait()
}

func TestParseQuota(t *testing.T) {
	for _, tc := range []struct {
		in, key string
		limit   float64
		err     string
	}{
		{in: "NVIDIA_L4_GPUS/us-central1=0", key: "NVIDIA_L4_GPUS/us-central1", limit: 0},
		{in: " CPUS/us-east1=24 ", key: "CPUS/us-east1", limit: 24},
		{in: "CPUS=24", err: "want METRIC/region=LIMIT"},
		{in: "CPUS/us-east1", err: "want METRIC/region=LIMIT"},
		{in: "CPUS/us-east1=-1", err: "want METRIC/region=LIMIT"},
		{in: "CPUS/us/east1=1", err: "want METRIC/region=LIMIT"},
		{in: "CPUS/us-east1=NaN", err: "want METRIC/region=LIMIT"},
	} {
		k, l, err := ParseQuota(tc.in)
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err, tc.in)
			continue
		}
		assert.NilError(t, err)
		assert.Equal(t, k, tc.key)
		assert.Equal(t, l, tc.limit)
	}
}

func FuzzParseQuota(f *testing.F) {
	f.Add("NVIDIA_L4_GPUS/us-central1=0")
	f.Add("CPUS/x=1e3")
	f.Fuzz(func(t *testing.T, s string) {
		k, l, err := ParseQuota(s)
		if err != nil {
			return
		}
		m, r, ok := strings.Cut(k, "/")
		if !ok || m == "" || r == "" || strings.Contains(r, "/") || l < 0 || l != l {
			t.Fatalf("ParseQuota(%q) = %q, %v", s, k, l)
		}
	})
}

func FuzzParsePath(f *testing.F) {
	for _, p := range []string{instancesPath("us-central1-b"), instancesPath("a") + "/b", BasePath + "projects/debian-cloud/global/images/family/debian-12",
		BasePath + "projects/p/zones/z/operations/op/wait", "/x", BasePath + "projects//zones//"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		rt, err := parsePath(p)
		if err != nil {
			if err.status != 400 && err.status != 404 {
				t.Fatalf("parsePath(%q): status %d", p, err.status)
			}
			return
		}
		if rt.kind != "" && !projectRE.MatchString(rt.project) {
			t.Fatalf("parsePath(%q) accepted project %q", p, rt.project)
		}
		if (rt.kind == "instance" || rt.kind == "disk") && !resourceRE.MatchString(rt.name) {
			t.Fatalf("parsePath(%q) accepted name %q", p, rt.name)
		}
	})
}

// FuzzInsert feeds insert bodies to the handler: whatever the body, the
// answer is a JSON error or an operation, never a panic, and only an
// accepted insert makes an instance.
func FuzzInsert(f *testing.F) {
	f.Add(instanceBody("galena", "us-central1-b", "e2-standard-4", nil))
	f.Add(instanceBody("s", "us-central1-a", "g2-standard-4", gpu("zones/us-central1-a/acceleratorTypes/nvidia-l4", 1, "TERMINATE")))
	f.Add(`{"name":"x","machineType":"e2-micro","disks":[{"boot":true,"initializeParams":{"diskSizeGb":"1e9"}}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		fk, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("POST", instancesPath("us-central1-b"), strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+LabToken)
		w := httptest.NewRecorder()
		fk.ServeHTTP(w, req)
		fk.Wait()
		var v map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
			t.Fatalf("answer is not JSON: %s", w.Body.Bytes())
		}
		if w.Code != 200 && len(fk.InstanceNames()) != 0 {
			t.Fatalf("refused insert (%d) made an instance", w.Code)
		}
	})
}
