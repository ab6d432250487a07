// Package fakegcp is a fake of the Compute Engine API: the part the real
// terraform-provider-google uses for the fleet's google_compute_instance
// resources (instances insert, get, list and delete; their boot disks;
// zone operations with polling; image, zone, machine type and accelerator
// type look-ups). Anything else is answered 501 with a body naming the
// request, so a configuration that starts using more of the API fails
// loudly here rather than passing against a fake that pretends.
//
// It is a test place, like tasks/fakehcloud, whose shape it mirrors: the
// machines behind instances come from a fakehcloud.Backend (the lab: each
// instance is a real lab host whose address the API reports as the
// instance's NAT IP; or memory), its state persists in a JSON file so the
// separate commands of one workflow see one world, and faults can be
// injected. Production code never imports it: front doors (magefiles,
// tools/fakegcp, tests) plug it into tasks/terraform through
// terraform.FakeGCP.
//
// It validates what Compute Engine validates and the suite cares about:
// unknown zones and machine types, accelerators (known per zone, bundled
// with G2/A2 machine types, attachable to N1, refused elsewhere), the
// live-migration rule (an instance with a GPU must have
// scheduling.onHostMaintenance = TERMINATE), regional quotas (reported in
// the operation, as Compute Engine does), and name uniqueness.
package fakegcp

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vanixiets/vanixiets/tasks/fakeapi"
	"github.com/vanixiets/vanixiets/tasks/fakehcloud"
)

// LabToken is the access token the lab's fake accepts by default (the
// provider sends it from GOOGLE_OAUTH_ACCESS_TOKEN). It is not a secret:
// the fake listens on loopback only.
const LabToken = "vanixiets-lab-fake-gcp-access-token"

// BasePath is where the API lives under the fake's address, as under
// Compute Engine's own: the provider's compute_custom_endpoint
// (GOOGLE_COMPUTE_CUSTOM_ENDPOINT) is the fake's URL plus BasePath.
const BasePath = "/compute/v1/"

// linkBase starts every self link the fake returns. Compute Engine's links
// name its public host whatever address the request reached, and so do the
// fake's: the links in terraform's state stay the same from one run (and
// one fake port) to the next.
const linkBase = "https://www.googleapis.com/compute/v1/"

// Config configures a Fake.
type Config struct {
	// Token is the bearer token clients must send. Empty: LabToken.
	Token string
	// ServiceAccounts are the accounts whose keys the token endpoint
	// (TokenPath) exchanges for Token: client_email to public key.
	ServiceAccounts map[string]*rsa.PublicKey
	// RefreshTokens are gcloud user credentials' refresh tokens the token
	// endpoint exchanges for Token.
	RefreshTokens []string
	// Backend makes the machines behind instances; nil: a
	// fakehcloud.NewMemoryBackend().
	Backend fakehcloud.Backend
	// StateFile, when set, persists instances across restarts (JSON,
	// written atomically after every change; it holds no secret).
	StateFile string
	// Faults fail the n-th request whose method matches and whose path
	// (after /compute/v1) contains Fault.Path, with Fault.Status and
	// Compute Engine's error body ("POST /instances#1=500").
	Faults []fakeapi.Fault
	// Quota limits regional usage, keyed "METRIC/region" as Compute
	// Engine names them ("CPUS/us-central1", "NVIDIA_L4_GPUS/us-central1").
	// A missing key is unlimited. An insert over quota fails in its
	// operation with QUOTA_EXCEEDED and creates nothing.
	Quota map[string]float64
	// BeforeCreate, when set, runs before the machine of an instance is
	// made; an error fails the insert operation. Tests use it to hold or
	// kill a run at a known point.
	BeforeCreate func(ctx context.Context, name string) error
	// OpWait is how long an insert or delete waits for its work before it
	// answers with a still RUNNING operation for the client to poll.
	// Compute Engine answers at once and the provider polls every 10 s,
	// so a fake that answered at once would make every apply wait 10 s
	// for a lab host made in 100 ms. Default 5 s; negative: answer at once.
	OpWait time.Duration
}

// ParseQuota reads "METRIC/region=LIMIT", e.g. "NVIDIA_L4_GPUS/us-central1=0".
func ParseQuota(s string) (key string, limit float64, err error) {
	bad := fmt.Errorf("quota %q: want METRIC/region=LIMIT, e.g. \"NVIDIA_L4_GPUS/us-central1=0\"", s)
	k, v, ok := strings.Cut(strings.TrimSpace(s), "=")
	if !ok {
		return "", 0, bad
	}
	metric, region, ok := strings.Cut(k, "/")
	if !ok || metric == "" || region == "" || strings.ContainsAny(metric, "/ ") || strings.ContainsAny(region, "/ ") {
		return "", 0, bad
	}
	limit, err = strconv.ParseFloat(v, 64)
	if err != nil || limit < 0 || limit != limit || limit > 1e9 {
		return "", 0, bad
	}
	return metric + "/" + region, limit, nil
}

// Fake is the fake API; it is an http.Handler.
type Fake struct {
	cfg Config

	mu     sync.Mutex
	st     state
	reqs   *fakeapi.Requests
	work   sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

type state struct {
	NextID     uint64                `json:"next_id"`
	Instances  map[string]*instance  `json:"instances"` // by "zone/name"
	Operations map[string]*operation `json:"-"`         // of this process only
}

// New returns a fake, loading Config.StateFile when it exists. Instances
// whose creation was cut short by the end of an earlier process are
// dropped: like an insert that never completed, they do not exist (their
// machine, if the backend made it, is kept by the next CreateHost of that
// name).
func New(cfg Config) (*Fake, error) {
	if cfg.Token == "" {
		cfg.Token = LabToken
	}
	if cfg.Backend == nil {
		cfg.Backend = fakehcloud.NewMemoryBackend()
	}
	if cfg.OpWait == 0 {
		cfg.OpWait = 5 * time.Second
	}
	f := &Fake{cfg: cfg, reqs: fakeapi.NewRequests(cfg.Faults, strings.Contains)}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	f.st = state{NextID: 1}
	if cfg.StateFile != "" {
		if _, err := fakeapi.LoadState("fakegcp", cfg.StateFile, &f.st); err != nil {
			return nil, err
		}
	}
	if f.st.Instances == nil {
		f.st.Instances = map[string]*instance{}
	}
	f.st.Operations = map[string]*operation{}
	for k, in := range f.st.Instances {
		if in.Status != "RUNNING" {
			delete(f.st.Instances, k)
		}
	}
	return f, nil
}

// SetQuota replaces the quota limits.
func (f *Fake) SetQuota(q map[string]float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cfg.Quota = q
}

// Calls returns how many requests were made per "METHOD collection"
// ("POST instances", "GET operations").
func (f *Fake) Calls() map[string]int { return f.reqs.Counts() }

// InstanceNames returns the names of the running instances, sorted.
func (f *Fake) InstanceNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, in := range f.st.Instances {
		if in.Status == "RUNNING" {
			out = append(out, in.Name)
		}
	}
	sort.Strings(out)
	return out
}

// Instance returns a copy of the running instance named name (in any zone).
func (f *Fake) Instance(name string) (Instance, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, in := range f.st.Instances {
		if in.Name == name && in.Status == "RUNNING" {
			return in.public(), true
		}
	}
	return Instance{}, false
}

// Instance is what tests read of an instance.
type Instance struct {
	Name, Zone, MachineType string
	NatIP                   string
	OnHostMaintenance       string
	Accelerators            map[string]int
	Labels                  map[string]string
}

// Start serves f on addr ("": a free loopback port) until the server's
// Close. The server's URL is the API's base URL for the provider's
// compute_custom_endpoint (GOOGLE_COMPUTE_CUSTOM_ENDPOINT):
// http://127.0.0.1:<port>/compute/v1/. Closing waits for the operations
// in flight (a machine being made or removed) and keeps the instances and
// their machines.
func (f *Fake) Start(addr string) (*fakeapi.Server, error) {
	return fakeapi.Serve("fakegcp", addr, BasePath, f, f.Wait)
}

// Wait waits for the operations in flight.
func (f *Fake) Wait() { f.work.Wait() }

// apiError is Compute Engine's error: an HTTP status, a reason and a
// message, written as {"error": {"code", "message", "errors": [...],
// "status"}} (googleapi's shape, which the provider parses).
type apiError struct {
	status  int
	reason  string
	message string
}

func (e *apiError) Error() string { return e.reason + ": " + e.message }

func errf(status int, reason, format string, a ...any) *apiError {
	return &apiError{status: status, reason: reason, message: fmt.Sprintf(format, a...)}
}

func notFound(resource string) *apiError {
	return errf(404, "notFound", "The resource '%s' was not found", resource)
}

func invalid(field, value, why string) *apiError {
	return errf(400, "invalid", "Invalid value for field '%s': '%s'. %s", field, value, why)
}

var statusNames = map[int]string{400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
	404: "NOT_FOUND", 409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 501: "UNIMPLEMENTED", 503: "UNAVAILABLE"}

func writeJSON(w http.ResponseWriter, status int, v any) {
	fakeapi.WriteJSON(w, status, "application/json; charset=UTF-8", v)
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, map[string]any{"error": map[string]any{
		"code": e.status, "message": e.message, "status": statusNames[e.status],
		"errors": []map[string]string{{"message": e.message, "domain": "global", "reason": e.reason}}}})
}

// ServeHTTP implements the API under BasePath.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == TokenPath {
		f.token(w, r)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+f.cfg.Token {
		writeError(w, errf(401, "authError", "Request had invalid authentication credentials. Expected OAuth 2 access token (the fake accepts its own token: GOOGLE_OAUTH_ACCESS_TOKEN)."))
		return
	}
	rt, err := parsePath(r.URL.Path)
	if err != nil {
		writeError(w, err)
		return
	}
	if e := f.fault(r.Method, strings.TrimPrefix(r.URL.Path, strings.TrimSuffix(BasePath, "/")), rt.collection()); e != nil {
		writeError(w, e)
		return
	}
	v, status, e := f.route(r, rt)
	if e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, status, v)
}

func (f *Fake) fault(method, path, collection string) *apiError {
	if ft, n, hit := f.reqs.Take(method+" "+collection, method, path); hit {
		return errf(ft.Status, "backendError", "injected fault: %s %s failed (request %d)", method, path, n)
	}
	return nil
}

// unimplemented is the answer to every request outside the fake's part of
// the API: 501 naming it, so that a configuration using more of Compute
// Engine fails with that name rather than with a puzzling 404.
func unimplemented(r *http.Request) *apiError {
	return errf(501, "notImplemented", "fakegcp does not implement %s %s: it serves the part of the Compute Engine API that google_compute_instance needs (instances insert/get/list/delete and getSerialPortOutput, disks get, zone operations, images, zones, machine types, accelerator types); extend tasks/fakegcp to use more", r.Method, r.URL.Path)
}

func (f *Fake) route(r *http.Request, rt route) (any, int, *apiError) {
	get := r.Method == http.MethodGet
	switch {
	case rt.kind == "zone" && get:
		return f.getZone(rt)
	case rt.kind == "machineType" && get:
		return f.getMachineType(rt)
	case rt.kind == "acceleratorType" && get:
		return f.getAcceleratorType(rt)
	case rt.kind == "image" && get:
		return f.getImage(rt, false)
	case rt.kind == "imageFamily" && get:
		return f.getImage(rt, true)
	case rt.kind == "instances" && get:
		return f.listInstances(rt)
	case rt.kind == "instances" && r.Method == http.MethodPost:
		return f.insertInstance(r, rt)
	case rt.kind == "instance" && get:
		return f.getInstance(rt)
	case rt.kind == "instance" && r.Method == http.MethodDelete:
		return f.deleteInstance(rt)
	case rt.kind == "serialPort" && get:
		return f.getSerialPort(r, rt)
	case rt.kind == "disk" && get:
		return f.getDisk(rt)
	case rt.kind == "operation" && get:
		return f.getOperation(rt, 0)
	case rt.kind == "operationWait" && r.Method == http.MethodPost:
		// zoneOperations.wait: up to 2 minutes, answering early when done.
		return f.getOperation(rt, 2*time.Minute)
	}
	return nil, 0, unimplemented(r)
}

func (f *Fake) newID() uint64 {
	id := f.st.NextID
	f.st.NextID++
	return id
}

// instanceID is the numeric id Compute Engine gives a resource: large and
// unique; the fake derives it from its counter.
func (f *Fake) instanceID() uint64 { return 4200000000000000000 + f.newID() }

func (f *Fake) save() *apiError {
	if f.cfg.StateFile == "" {
		return nil
	}
	if err := fakeapi.SaveState(f.cfg.StateFile, &f.st); err != nil {
		return errf(500, "backendError", "%v", err)
	}
	return nil
}

// fingerprint is the opaque optimistic-locking token Compute Engine puts
// on labels, metadata and tags: here a digest of their content.
func fingerprint(v any) string {
	b, _ := json.Marshal(v)
	s := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(s[:8])
}

func now() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000-07:00") }
