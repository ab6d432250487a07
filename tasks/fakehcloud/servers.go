package fakehcloud

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"

	"github.com/vanixiets/vanixiets/tasks/fakeapi"
)

// Hetzner server names must be valid hostnames.
var serverNameRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)

func (f *Fake) serverSchema(s *server) schema.Server {
	st, _ := serverTypeByName(s.ServerType)
	loc, _ := locationByName(s.Location)
	var dc *schema.Datacenter
	for _, d := range datacenters() {
		if d.Location.Name == s.Location {
			d := d
			dc = &d
		}
	}
	var img *schema.Image
	if im, ok := imageFor(s.Image, st.Architecture); ok {
		img = &im
	}
	labels := s.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	return schema.Server{
		ID: s.ID, Name: s.Name, Status: "running", Created: s.Created,
		PublicNet: schema.ServerPublicNet{
			IPv4:        schema.ServerPublicNetIPv4{ID: s.ID*10 + 4, IP: s.IPv4, DNSPtr: "static." + s.IPv4 + ".clients.your-server.de"},
			IPv6:        schema.ServerPublicNetIPv6{ID: s.ID*10 + 6, IP: fmt.Sprintf("2001:db8:%x::/64", s.ID), DNSPtr: []schema.ServerPublicNetIPv6DNSPtr{}},
			FloatingIPs: []int64{}, Firewalls: []schema.ServerFirewall{},
		},
		PrivateNet: []schema.ServerPrivateNet{}, ServerType: st, IncludedTraffic: 21990232555520,
		Location: loc, Image: img, Labels: labels, Volumes: []int64{}, LoadBalancers: []int64{},
		PrimaryDiskSize: st.Disk, Datacenter: dc,
	}
}

func (f *Fake) servers(r *http.Request, segs []string) (any, int, *apiError) {
	switch {
	case len(segs) == 1 && r.Method == http.MethodGet:
		f.mu.Lock()
		defer f.mu.Unlock()
		name := r.URL.Query().Get("name")
		out := []schema.Server{}
		for _, id := range sortedIDs(f.st.Servers) {
			s := f.st.Servers[id]
			if name == "" || s.Name == name {
				out = append(out, f.serverSchema(s))
			}
		}
		return listResponse("servers", out, len(out)), 200, nil
	case len(segs) == 1 && r.Method == http.MethodPost:
		return f.createServer(r)
	case len(segs) < 2:
		return nil, 0, errf(405, "method_not_allowed", "%s not allowed on /servers", r.Method)
	}
	id, e := parseID(segs[1])
	if e != nil {
		return nil, 0, e
	}
	if len(segs) == 4 && segs[2] == "actions" && r.Method == http.MethodPost {
		return f.serverAction(id, segs[3])
	}
	if len(segs) != 2 {
		return nil, 0, errf(404, "not_found", "no such endpoint %s %s", r.Method, r.URL.Path)
	}
	switch r.Method {
	case http.MethodGet:
		f.mu.Lock()
		defer f.mu.Unlock()
		s, ok := f.st.Servers[id]
		if !ok {
			return nil, 0, notFound("server", id)
		}
		return schema.ServerGetResponse{Server: f.serverSchema(s)}, 200, nil
	case http.MethodPut:
		var req schema.ServerUpdateRequest
		if e := decode(r, &req); e != nil {
			return nil, 0, e
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		s, ok := f.st.Servers[id]
		if !ok {
			return nil, 0, notFound("server", id)
		}
		if req.Name != "" && req.Name != s.Name {
			return nil, 0, errf(422, "invalid_input", "renaming servers is not supported by the fake (the lab host is named after the server)")
		}
		if req.Labels != nil {
			s.Labels = *req.Labels
		}
		if e := f.save(); e != nil {
			return nil, 0, e
		}
		return schema.ServerUpdateResponse{Server: f.serverSchema(s)}, 200, nil
	case http.MethodDelete:
		return f.deleteServer(r, id)
	}
	return nil, 0, errf(405, "method_not_allowed", "%s not allowed on /servers/%d", r.Method, id)
}

func (f *Fake) createServer(r *http.Request) (any, int, *apiError) {
	var req schema.ServerCreateRequest
	if e := decode(r, &req); e != nil {
		return nil, 0, e
	}
	if !serverNameRE.MatchString(req.Name) {
		return nil, 0, errf(422, "invalid_input", "invalid input in field 'name': %q is not a valid hostname", req.Name)
	}
	stName := req.ServerType.Name
	if stName == "" {
		stName = strconv.FormatInt(req.ServerType.ID, 10)
	}
	st, ok := serverTypeByName(stName)
	if !ok {
		return nil, 0, errf(422, "invalid_input", "server type %q not found", stName)
	}
	imName := req.Image.Name
	if imName == "" {
		imName = strconv.FormatInt(req.Image.ID, 10)
	}
	im, ok := imageFor(imName, st.Architecture)
	if !ok {
		return nil, 0, errf(422, "invalid_input", "image %q for architecture %s not found", imName, st.Architecture)
	}
	loc := req.Location
	if loc == "" && req.Datacenter != "" {
		for _, d := range datacenters() {
			if d.Name == req.Datacenter {
				loc = d.Location.Name
			}
		}
	}
	if loc == "" {
		loc = "nbg1"
	}
	if _, ok := locationByName(loc); !ok {
		return nil, 0, errf(422, "invalid_input", "location %q not found", loc)
	}

	// Reserve the name under the lock, then bring the host up without it:
	// a lab host takes a while, and other requests must not wait.
	f.mu.Lock()
	for _, s := range f.st.Servers {
		if s.Name == req.Name {
			f.mu.Unlock()
			return nil, 0, errf(409, "uniqueness_error", "server name is already used")
		}
	}
	for _, k := range req.SSHKeys {
		if _, ok := f.st.SSHKeys[k]; !ok {
			f.mu.Unlock()
			return nil, 0, errf(422, "invalid_input", "SSH key with ID '%d' not found", k)
		}
	}
	if f.creating[req.Name] {
		f.mu.Unlock()
		return nil, 0, errf(409, "uniqueness_error", "server name is already used")
	}
	f.creating[req.Name] = true
	id := f.newID()
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.creating, req.Name)
		f.mu.Unlock()
	}()

	ctx := r.Context()
	if f.cfg.BeforeCreate != nil {
		if err := f.cfg.BeforeCreate(ctx, req.Name); err != nil {
			return nil, 0, errf(500, "server_error", "create server %s: %v", req.Name, err)
		}
	}
	if ctx.Err() != nil {
		return nil, 0, errf(499, "server_error", "client went away before server %s was created", req.Name)
	}
	addr, err := f.cfg.Backend.CreateHost(ctx, req.Name)
	if err != nil {
		return nil, 0, errf(500, "server_error", "create server %s: backend: %v", req.Name, err)
	}
	if !addr.Is4() {
		return nil, 0, errf(500, "server_error", "create server %s: backend gave non-IPv4 address %s", req.Name, addr)
	}
	labels := map[string]string{}
	if req.Labels != nil {
		labels = *req.Labels
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &server{ID: id, Name: req.Name, ServerType: st.Name, Image: strconv.FormatInt(im.ID, 10), Location: loc,
		IPv4: addr.String(), Labels: labels, SSHKeys: req.SSHKeys, UserData: req.UserData, Created: time.Now().UTC().Truncate(time.Second)}
	f.st.Servers[id] = s
	create := f.newAction("create_server", id)
	start := f.newAction("start_server", id)
	if e := f.save(); e != nil {
		return nil, 0, e
	}
	var rootPassword *string
	if len(req.SSHKeys) == 0 {
		pw := fakeapi.RandomHex(12)
		rootPassword = &pw
	}
	return schema.ServerCreateResponse{Server: f.serverSchema(s), Action: create.schema(), RootPassword: rootPassword,
		NextActions: []schema.Action{start.schema()}}, 201, nil
}

func (f *Fake) deleteServer(r *http.Request, id int64) (any, int, *apiError) {
	f.mu.Lock()
	s, ok := f.st.Servers[id]
	f.mu.Unlock()
	if !ok {
		return nil, 0, notFound("server", id)
	}
	if err := f.cfg.Backend.DeleteHost(r.Context(), s.Name); err != nil {
		return nil, 0, errf(500, "server_error", "delete server %s: backend: %v", s.Name, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.st.Servers, id)
	a := f.newAction("delete_server", id)
	if e := f.save(); e != nil {
		return nil, 0, e
	}
	return schema.ServerDeleteResponse{Action: a.schema()}, 200, nil
}

// serverAction accepts the power and protection actions the provider may
// send; the lab host keeps running whatever they say.
func (f *Fake) serverAction(id int64, name string) (any, int, *apiError) {
	switch name {
	case "poweron", "poweroff", "shutdown", "reboot", "reset", "change_protection", "disable_backup":
	default:
		return nil, 0, errf(422, "invalid_input", "server action %q is not supported by the fake", name)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.st.Servers[id]; !ok {
		return nil, 0, notFound("server", id)
	}
	a := f.newAction(name, id)
	if e := f.save(); e != nil {
		return nil, 0, e
	}
	return schema.ActionGetResponse{Action: a.schema()}, 201, nil
}

func sortedIDs[V any](m map[int64]V) []int64 {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

func (f *Fake) sshKeys(r *http.Request, segs []string) (any, int, *apiError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sch := func(k *sshKey) schema.SSHKey {
		labels := k.Labels
		if labels == nil {
			labels = map[string]string{}
		}
		return schema.SSHKey{ID: k.ID, Name: k.Name, Fingerprint: k.Fingerprint, PublicKey: k.PublicKey, Labels: labels, Created: k.Created}
	}
	if len(segs) == 1 {
		switch r.Method {
		case http.MethodGet:
			q := r.URL.Query()
			out := []schema.SSHKey{}
			for _, id := range sortedIDs(f.st.SSHKeys) {
				k := f.st.SSHKeys[id]
				if (q.Get("name") == "" || q.Get("name") == k.Name) && (q.Get("fingerprint") == "" || q.Get("fingerprint") == k.Fingerprint) {
					out = append(out, sch(k))
				}
			}
			return listResponse("ssh_keys", out, len(out)), 200, nil
		case http.MethodPost:
			var req schema.SSHKeyCreateRequest
			if e := decode(r, &req); e != nil {
				return nil, 0, e
			}
			if req.Name == "" {
				return nil, 0, errf(422, "invalid_input", "invalid input in field 'name': must not be empty")
			}
			fp, e := fingerprint(req.PublicKey)
			if e != nil {
				return nil, 0, e
			}
			for _, k := range f.st.SSHKeys {
				if k.Name == req.Name {
					return nil, 0, errf(409, "uniqueness_error", "SSH key with the same name already exists")
				}
				if k.Fingerprint == fp {
					return nil, 0, errf(409, "uniqueness_error", "SSH key with the same fingerprint already exists")
				}
			}
			k := &sshKey{ID: f.newID(), Name: req.Name, PublicKey: req.PublicKey, Fingerprint: fp, Created: time.Now().UTC().Truncate(time.Second)}
			if req.Labels != nil {
				k.Labels = *req.Labels
			}
			f.st.SSHKeys[k.ID] = k
			if e := f.save(); e != nil {
				return nil, 0, e
			}
			return schema.SSHKeyCreateResponse{SSHKey: sch(k)}, 201, nil
		}
		return nil, 0, errf(405, "method_not_allowed", "%s not allowed on /ssh_keys", r.Method)
	}
	if len(segs) != 2 {
		return nil, 0, errf(404, "not_found", "no such endpoint %s", r.URL.Path)
	}
	id, e := parseID(segs[1])
	if e != nil {
		return nil, 0, e
	}
	k, ok := f.st.SSHKeys[id]
	if !ok {
		return nil, 0, notFound("ssh_key", id)
	}
	switch r.Method {
	case http.MethodGet:
		return schema.SSHKeyGetResponse{SSHKey: sch(k)}, 200, nil
	case http.MethodPut:
		var req schema.SSHKeyUpdateRequest
		if e := decode(r, &req); e != nil {
			return nil, 0, e
		}
		if req.Name != "" {
			k.Name = req.Name
		}
		if req.Labels != nil {
			k.Labels = *req.Labels
		}
		if e := f.save(); e != nil {
			return nil, 0, e
		}
		return schema.SSHKeyUpdateResponse{SSHKey: sch(k)}, 200, nil
	case http.MethodDelete:
		delete(f.st.SSHKeys, id)
		if e := f.save(); e != nil {
			return nil, 0, e
		}
		return nil, 204, nil
	}
	return nil, 0, errf(405, "method_not_allowed", "%s not allowed on /ssh_keys/%d", r.Method, id)
}

// MemoryBackend hands out addresses from the documentation range
// 192.0.2.0/24 and makes no machine: for tests of the API and of terraform
// that never connect to the servers.
type MemoryBackend struct {
	mu    sync.Mutex
	hosts map[string]netip.Addr
}

// NewMemoryBackend returns an empty in-memory backend.
func NewMemoryBackend() *MemoryBackend {
	return &MemoryBackend{hosts: map[string]netip.Addr{}}
}

// CreateHost implements Backend.
func (m *MemoryBackend) CreateHost(ctx context.Context, name string) (netip.Addr, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a, ok := m.hosts[name]; ok {
		return a, nil
	}
	used := map[netip.Addr]bool{}
	for _, a := range m.hosts {
		used[a] = true
	}
	for a := netip.MustParseAddr("192.0.2.10"); a.As4()[3] < 255; a = a.Next() {
		if !used[a] {
			m.hosts[name] = a
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("memory backend: 192.0.2.0/24 is full")
}

// DeleteHost implements Backend.
func (m *MemoryBackend) DeleteHost(ctx context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.hosts, name)
	return nil
}

// Hosts returns the names of the hosts that exist, sorted.
func (m *MemoryBackend) Hosts() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.hosts))
}
