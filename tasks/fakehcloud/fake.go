// Package fakehcloud is a fake Hetzner Cloud API: the subset the real
// terraform-provider-hcloud uses for hcloud_ssh_key and hcloud_server
// (ssh_keys, server_types, images, locations, datacenters, servers, actions),
// answering with Hetzner's JSON shapes (the hcloud-go schema types, so the
// field names cannot drift) and Hetzner's error format
// ({"error": {"code", "message", "details"}}).
//
// Servers are backed by a Backend: the lab (each server is a real lab host,
// reachable by ssh at the address the API reports as public_net.ipv4.ip) or
// an in-memory backend for fast tests. The fake runs in-process on loopback,
// so tests start one per test and nothing leaves the machine.
//
// Faults can be injected (a status code for the n-th matching request) to
// test what terraform and the suite do when the API fails mid-apply.
package fakehcloud

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
	"golang.org/x/crypto/ssh"

	"github.com/vanixiets/vanixiets/tasks/fakeapi"
)

// Backend makes and removes the machines behind servers.
type Backend interface {
	// CreateHost brings up a machine named name and returns its IPv4
	// address. It may be called again for a name that exists (after a
	// restart of the fake); it then keeps the machine.
	CreateHost(ctx context.Context, name string) (netip.Addr, error)
	// DeleteHost tears the machine down; a missing machine is not an error.
	DeleteHost(ctx context.Context, name string) error
}

// HostKeys is what a Backend whose machines run sshd can also do: say the
// host key a machine's sshd presents, as a real server's console says it
// at first boot (cloud-init's keys-to-console, read back through Compute
// Engine's getSerialPortOutput). A deployer that reads it there learns a
// fresh server's key from the provider it authenticated to, not from the
// server it is about to trust. The lab's backend has it; memory machines
// run no sshd and have none.
type HostKeys interface {
	SSHHostKey(ctx context.Context, name string) (ssh.PublicKey, error)
}

// Config configures a Fake.
type Config struct {
	// Token is the bearer token clients must send (64 characters, like
	// Hetzner's). Empty: LabToken.
	Token string
	// Backend makes the machines; nil: NewMemoryBackend().
	Backend Backend
	// StateFile, when set, persists servers and keys across restarts (JSON,
	// written atomically after every change; it holds no secret).
	StateFile string
	// Faults are injected in order; a fault's Path is a prefix of the
	// request's path ("/servers").
	Faults []fakeapi.Fault
	// BeforeCreate, when set, runs before a server is created; an error
	// fails the request with 500. Tests use it to hold or kill a run at a
	// known point.
	BeforeCreate func(ctx context.Context, name string) error
}

// LabToken is the token the lab's fake accepts by default. It is not a
// secret: the fake only listens on loopback.
const LabToken = "vanixiets-lab-fake-hcloud-token-00000000000000000000000000000000"

// Fake is the fake API; it is an http.Handler.
type Fake struct {
	cfg Config

	mu       sync.Mutex
	st       state
	reqs     *fakeapi.Requests
	creating map[string]bool
}

type state struct {
	NextID  int64             `json:"next_id"`
	Servers map[int64]*server `json:"servers"`
	SSHKeys map[int64]*sshKey `json:"ssh_keys"`
	Actions map[int64]*action `json:"actions"`
}

type server struct {
	ID         int64             `json:"id"`
	Name       string            `json:"name"`
	ServerType string            `json:"server_type"`
	Image      string            `json:"image"`
	Location   string            `json:"location"`
	IPv4       string            `json:"ipv4"`
	Labels     map[string]string `json:"labels"`
	SSHKeys    []int64           `json:"ssh_keys"`
	UserData   string            `json:"user_data"`
	Created    time.Time         `json:"created"`
}

type sshKey struct {
	ID          int64             `json:"id"`
	Name        string            `json:"name"`
	PublicKey   string            `json:"public_key"`
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
	Created     time.Time         `json:"created"`
}

type action struct {
	ID       int64     `json:"id"`
	Command  string    `json:"command"`
	Started  time.Time `json:"started"`
	Resource int64     `json:"resource"`
	Status   string    `json:"status"`
}

// New returns a fake, loading Config.StateFile when it exists.
func New(cfg Config) (*Fake, error) {
	if cfg.Token == "" {
		cfg.Token = LabToken
	}
	if cfg.Backend == nil {
		cfg.Backend = NewMemoryBackend()
	}
	f := &Fake{cfg: cfg, reqs: fakeapi.NewRequests(cfg.Faults, strings.HasPrefix), creating: map[string]bool{}}
	f.st = state{NextID: 1}
	if cfg.StateFile != "" {
		if _, err := fakeapi.LoadState("fakehcloud", cfg.StateFile, &f.st); err != nil {
			return nil, err
		}
	}
	if f.st.Servers == nil {
		f.st.Servers = map[int64]*server{}
	}
	if f.st.SSHKeys == nil {
		f.st.SSHKeys = map[int64]*sshKey{}
	}
	if f.st.Actions == nil {
		f.st.Actions = map[int64]*action{}
	}
	return f, nil
}

// Calls returns how many requests matched "METHOD /path-prefix" so far,
// keyed as "POST /servers". Only the first path segment is kept.
func (f *Fake) Calls() map[string]int { return f.reqs.Counts() }

// ServerNames returns the names of the servers that exist, sorted.
func (f *Fake) ServerNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, s := range f.st.Servers {
		out = append(out, s.Name)
	}
	sort.Strings(out)
	return out
}

// ServerAddr returns the IPv4 address of the server named name.
func (f *Fake) ServerAddr(name string) (netip.Addr, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.st.Servers {
		if s.Name == name {
			a, err := netip.ParseAddr(s.IPv4)
			return a, err == nil
		}
	}
	return netip.Addr{}, false
}

// Start serves f on addr ("": a free loopback port) until the server's
// Close, under /v1 as Hetzner serves its API: the server's URL is the
// endpoint to give the provider (HCLOUD_ENDPOINT). Closing keeps the
// servers and their backend hosts.
func (f *Fake) Start(addr string) (*fakeapi.Server, error) {
	return fakeapi.Serve("fakehcloud", addr, "/v1", f, nil)
}

// apiError is Hetzner's error: an HTTP status plus code and message.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errf(status int, code, format string, a ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, a...)}
}

func notFound(what string, id int64) *apiError {
	return errf(404, "not_found", "%s with ID '%d' not found", what, id)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	fakeapi.WriteJSON(w, status, "application/json", v)
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, schema.ErrorResponse{Error: schema.Error{
		Code: e.code, Message: e.message, DetailsRaw: json.RawMessage(`{}`)}})
}

// ServeHTTP implements the API under /v1 (and without the prefix).
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/v1")
	if path == "" {
		path = "/"
	}
	w.Header().Set("X-Correlation-Id", fakeapi.RandomHex(8))
	if r.Header.Get("Authorization") != "Bearer "+f.cfg.Token {
		writeError(w, errf(401, "unauthorized", "unable to authenticate"))
		return
	}
	if e := f.fault(r.Method, path); e != nil {
		writeError(w, e)
		return
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var v any
	status := 200
	var err *apiError
	switch segs[0] {
	case "server_types":
		v, err = f.catalog(r, segs, "server_types", "server_type", serverTypes())
	case "images":
		v, err = f.catalog(r, segs, "images", "image", images())
	case "locations":
		v, err = f.catalog(r, segs, "locations", "location", locations())
	case "datacenters":
		v, err = f.catalog(r, segs, "datacenters", "datacenter", datacenters())
	case "ssh_keys":
		v, status, err = f.sshKeys(r, segs)
	case "servers":
		v, status, err = f.servers(r, segs)
	case "actions":
		v, err = f.actions(r, segs)
	default:
		err = errf(404, "not_found", "no such endpoint %s %s", r.Method, path)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if v == nil {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, v)
}

func (f *Fake) fault(method, path string) *apiError {
	seg := "/" + strings.SplitN(strings.Trim(path, "/"), "/", 2)[0]
	if ft, n, hit := f.reqs.Take(method+" "+seg, method, path); hit {
		return errf(ft.Status, "server_error", "injected fault: %s %s failed (request %d)", method, path, n)
	}
	return nil
}

func meta(n int) schema.MetaResponse {
	return schema.MetaResponse{Meta: schema.Meta{Pagination: &schema.MetaPagination{
		Page: 1, PerPage: max(n, 25), LastPage: 1, TotalEntries: n}}}
}

// listResponse is {"<key>": [...], "meta": {...}}.
func listResponse(key string, items any, n int) map[string]any {
	return map[string]any{key: items, "meta": meta(n).Meta}
}

func parseID(s string) (int64, *apiError) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, errf(400, "invalid_input", "invalid ID %q", s)
	}
	return id, nil
}

func (f *Fake) newID() int64 {
	id := f.st.NextID
	f.st.NextID++
	return id
}

func (f *Fake) save() *apiError {
	if f.cfg.StateFile == "" {
		return nil
	}
	if err := fakeapi.SaveState(f.cfg.StateFile, &f.st); err != nil {
		return errf(500, "server_error", "%v", err)
	}
	return nil
}

func (f *Fake) newAction(command string, resource int64) *action {
	a := &action{ID: f.newID(), Command: command, Started: time.Now().UTC(), Resource: resource, Status: "success"}
	f.st.Actions[a.ID] = a
	return a
}

func (a *action) schema() schema.Action {
	fin := a.Started
	return schema.Action{ID: a.ID, Status: a.Status, Command: a.Command, Progress: 100, Started: a.Started,
		Finished: &fin, Resources: []schema.ActionResourceReference{{ID: a.Resource, Type: "server"}}}
}

func (f *Fake) actions(r *http.Request, segs []string) (any, *apiError) {
	if r.Method != http.MethodGet {
		return nil, errf(405, "method_not_allowed", "%s not allowed on /actions", r.Method)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(segs) == 2 {
		id, e := parseID(segs[1])
		if e != nil {
			return nil, e
		}
		a, ok := f.st.Actions[id]
		if !ok {
			return nil, notFound("action", id)
		}
		return schema.ActionGetResponse{Action: a.schema()}, nil
	}
	out := []schema.Action{}
	for _, s := range r.URL.Query()["id"] {
		id, e := parseID(s)
		if e != nil {
			return nil, e
		}
		if a, ok := f.st.Actions[id]; ok {
			out = append(out, a.schema())
		}
	}
	return listResponse("actions", out, len(out)), nil
}

func fingerprint(pub string) (string, *apiError) {
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pub))
	if err != nil {
		return "", errf(400, "invalid_input", "invalid public key: %v", err)
	}
	return strings.TrimPrefix(ssh.FingerprintLegacyMD5(k), "MD5:"), nil
}

func decode(r *http.Request, v any) *apiError {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		return errf(400, "invalid_input", "invalid JSON body: %v", err)
	}
	return nil
}
