package fakegcp

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vanixiets/vanixiets/tasks/fakeapi"
	"github.com/vanixiets/vanixiets/tasks/fakehcloud"
)

// instance is a stored instance: the fields the fake answers with, in
// Compute Engine's JSON names, and its boot disk.
type instance struct {
	ID                uint64            `json:"id"`
	Name              string            `json:"name"`
	Project           string            `json:"project"`
	Zone              string            `json:"zone"`
	MachineType       string            `json:"machine_type"`
	Status            string            `json:"status"`
	Created           string            `json:"created"`
	NatIP             string            `json:"nat_ip"`
	NetworkIP         string            `json:"network_ip"`
	Network           string            `json:"network"`
	AccessConfig      bool              `json:"access_config"`
	Labels            map[string]string `json:"labels"`
	Metadata          []metadataItem    `json:"metadata"`
	Tags              []string          `json:"tags"`
	OnHostMaintenance string            `json:"on_host_maintenance"`
	AutomaticRestart  bool              `json:"automatic_restart"`
	Preemptible       bool              `json:"preemptible"`
	ProvisioningModel string            `json:"provisioning_model"`
	Accelerators      []accelerator     `json:"accelerators"`
	DiskID            uint64            `json:"disk_id"`
	DiskSizeGB        int64             `json:"disk_size_gb"`
	DiskType          string            `json:"disk_type"`
	Image             image             `json:"image"`
	Description       string            `json:"description"`
	DeletionProtect   bool              `json:"deletion_protection"`
}

type metadataItem struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type accelerator struct {
	Type  string `json:"acceleratorType"`
	Count int64  `json:"acceleratorCount"`
}

func (in *instance) public() Instance {
	acc := map[string]int{}
	for _, a := range in.Accelerators {
		acc[a.Type] += int(a.Count)
	}
	return Instance{Name: in.Name, Zone: in.Zone, MachineType: in.MachineType, NatIP: in.NatIP,
		OnHostMaintenance: in.OnHostMaintenance, Accelerators: acc, Labels: in.Labels}
}

func link(format string, a ...any) string { return linkBase + fmt.Sprintf(format, a...) }

func (in *instance) selfLink() string {
	return link("projects/%s/zones/%s/instances/%s", in.Project, in.Zone, in.Name)
}

func (in *instance) diskLink() string {
	return link("projects/%s/zones/%s/disks/%s", in.Project, in.Zone, in.Name)
}

func (in *instance) region() string {
	z, _ := zoneByName(in.Zone)
	return z.Region
}

// json is the instance as instances.get answers.
func (in *instance) json() map[string]any {
	labels := in.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	md := map[string]any{"kind": "compute#metadata", "fingerprint": fingerprint(in.Metadata)}
	if len(in.Metadata) > 0 {
		md["items"] = in.Metadata
	}
	nic := map[string]any{
		"kind": "compute#networkInterface", "name": "nic0", "network": in.Network,
		"subnetwork": link("projects/%s/regions/%s/subnetworks/default", in.Project, in.region()),
		"networkIP":  in.NetworkIP, "stackType": "IPV4_ONLY", "fingerprint": fingerprint(in.NetworkIP),
	}
	if in.AccessConfig {
		nic["accessConfigs"] = []map[string]any{{"kind": "compute#accessConfig", "type": "ONE_TO_ONE_NAT",
			"name": "External NAT", "natIP": in.NatIP, "networkTier": "PREMIUM"}}
	}
	sched := map[string]any{"onHostMaintenance": in.OnHostMaintenance, "automaticRestart": in.AutomaticRestart,
		"preemptible": in.Preemptible, "provisioningModel": in.ProvisioningModel}
	tags := map[string]any{"fingerprint": fingerprint(in.Tags)}
	if len(in.Tags) > 0 {
		tags["items"] = in.Tags
	}
	out := map[string]any{
		"kind": "compute#instance", "id": strconv.FormatUint(in.ID, 10), "creationTimestamp": in.Created,
		"name": in.Name, "description": in.Description, "tags": tags,
		"machineType": link("projects/%s/zones/%s/machineTypes/%s", in.Project, in.Zone, in.MachineType),
		"status":      in.Status, "zone": link("projects/%s/zones/%s", in.Project, in.Zone),
		"canIpForward": false, "networkInterfaces": []any{nic},
		"disks": []map[string]any{{
			"kind": "compute#attachedDisk", "type": "PERSISTENT", "mode": "READ_WRITE", "source": in.diskLink(),
			"deviceName": "persistent-disk-0", "index": 0, "boot": true, "autoDelete": true, "interface": "SCSI",
			"diskSizeGb": strconv.FormatInt(in.DiskSizeGB, 10), "architecture": "X86_64",
		}},
		"metadata": md, "selfLink": in.selfLink(), "scheduling": sched, "cpuPlatform": "Intel Broadwell",
		"labels": labels, "labelFingerprint": fingerprint(labels), "startRestricted": false,
		"deletionProtection": in.DeletionProtect, "fingerprint": fingerprint(in.ID),
		"lastStartTimestamp": in.Created,
	}
	if len(in.Accelerators) > 0 {
		var acc []map[string]any
		for _, a := range in.Accelerators {
			acc = append(acc, map[string]any{"acceleratorType": link("projects/%s/zones/%s/acceleratorTypes/%s", in.Project, in.Zone, a.Type),
				"acceleratorCount": a.Count})
		}
		out["guestAccelerators"] = acc
	}
	return out
}

// diskJSON is the boot disk as disks.get answers.
func (in *instance) diskJSON() map[string]any {
	return map[string]any{
		"kind": "compute#disk", "id": strconv.FormatUint(in.DiskID, 10), "creationTimestamp": in.Created,
		"name": in.Name, "sizeGb": strconv.FormatInt(in.DiskSizeGB, 10),
		"zone": link("projects/%s/zones/%s", in.Project, in.Zone), "status": "READY", "selfLink": in.diskLink(),
		"sourceImage":   link("projects/%s/global/images/%s", in.Image.Project, in.Image.Name),
		"sourceImageId": strconv.FormatUint(in.Image.ID, 10),
		"type":          link("projects/%s/zones/%s/diskTypes/%s", in.Project, in.Zone, in.DiskType),
		"users":         []string{in.selfLink()}, "physicalBlockSizeBytes": "4096", "architecture": "X86_64",
		"labelFingerprint": fingerprint(map[string]string{}),
	}
}

// flexInt is an int64 that Compute Engine's JSON writes as a string
// ("diskSizeGb": "50") and clients may send either way.
type flexInt int64

func (n *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*n = 0
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("not an integer: %s", b)
	}
	*n = flexInt(v)
	return nil
}

// insertRequest is the part of an instances.insert body the fake reads.
type insertRequest struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	MachineType string            `json:"machineType"`
	Labels      map[string]string `json:"labels"`
	Metadata    struct {
		Items []metadataItem `json:"items"`
	} `json:"metadata"`
	Tags struct {
		Items []string `json:"items"`
	} `json:"tags"`
	Disks []struct {
		Boot             bool   `json:"boot"`
		Source           string `json:"source"`
		InitializeParams *struct {
			SourceImage string  `json:"sourceImage"`
			DiskSizeGb  flexInt `json:"diskSizeGb"`
			DiskType    string  `json:"diskType"`
		} `json:"initializeParams"`
	} `json:"disks"`
	NetworkInterfaces []struct {
		Network       string            `json:"network"`
		Subnetwork    string            `json:"subnetwork"`
		AccessConfigs []json.RawMessage `json:"accessConfigs"`
	} `json:"networkInterfaces"`
	Scheduling struct {
		OnHostMaintenance string `json:"onHostMaintenance"`
		AutomaticRestart  *bool  `json:"automaticRestart"`
		Preemptible       bool   `json:"preemptible"`
		ProvisioningModel string `json:"provisioningModel"`
	} `json:"scheduling"`
	GuestAccelerators []struct {
		AcceleratorType  string  `json:"acceleratorType"`
		AcceleratorCount flexInt `json:"acceleratorCount"`
	} `json:"guestAccelerators"`
	DeletionProtection bool `json:"deletionProtection"`
}

// validateInsert checks an insert as Compute Engine does, and returns the
// instance it describes (not yet stored). It needs f.mu for nothing.
func validateInsert(rt route, req *insertRequest) (*instance, *apiError) {
	z, ok := zoneByName(rt.zone)
	if !ok {
		return nil, invalid("zone", rt.zone, "Unknown zone. (the fake knows "+knownZones()+")")
	}
	if !resourceRE.MatchString(req.Name) {
		return nil, invalid("resource.name", req.Name, "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'")
	}
	if req.MachineType == "" {
		return nil, errf(400, "required", "Required field 'resource.machineType' not specified")
	}
	mtZone, _, mtName, ok := parseRef(req.MachineType)
	if !ok {
		return nil, invalid("resource.machineType", req.MachineType, "Not a machine type reference.")
	}
	if mtZone != "" && mtZone != z.Name {
		return nil, invalid("resource.machineType", req.MachineType, fmt.Sprintf("Machine type is in zone '%s', the instance in zone '%s'.", mtZone, z.Name))
	}
	mt, ok := machineTypeIn(mtName, z)
	if !ok {
		return nil, invalid("resource.machineType", req.MachineType, fmt.Sprintf("Machine type with name '%s' does not exist in zone '%s'.", mtName, z.Name))
	}

	in := &instance{Name: req.Name, Project: rt.project, Zone: z.Name, MachineType: mt.Name, Status: "PROVISIONING",
		Labels: req.Labels, Metadata: req.Metadata.Items, Tags: req.Tags.Items, Description: req.Description,
		OnHostMaintenance: req.Scheduling.OnHostMaintenance, AutomaticRestart: true,
		Preemptible: req.Scheduling.Preemptible, ProvisioningModel: req.Scheduling.ProvisioningModel,
		DeletionProtect: req.DeletionProtection}
	if req.Scheduling.AutomaticRestart != nil {
		in.AutomaticRestart = *req.Scheduling.AutomaticRestart
	}
	if in.ProvisioningModel == "" {
		in.ProvisioningModel = "STANDARD"
	}

	// Accelerators: each a known type of this zone; the machine type
	// decides which it takes (bundled, attachable or none).
	for i, a := range req.GuestAccelerators {
		field := fmt.Sprintf("resource.guestAccelerators[%d].acceleratorType", i)
		aZone, _, aName, ok := parseRef(a.AcceleratorType)
		if !ok || (aZone != "" && aZone != z.Name) {
			return nil, invalid(field, a.AcceleratorType, fmt.Sprintf("Accelerator type must be in the instance's zone '%s'.", z.Name))
		}
		if !slices.Contains(z.Accelerators, aName) {
			return nil, invalid(field, a.AcceleratorType, fmt.Sprintf("Accelerator type '%s' does not exist in zone '%s'.", aName, z.Name))
		}
		if a.AcceleratorCount < 1 {
			return nil, invalid(fmt.Sprintf("resource.guestAccelerators[%d].acceleratorCount", i), strconv.FormatInt(int64(a.AcceleratorCount), 10), "Must be at least 1.")
		}
		switch {
		case mt.Bundled != "":
			if aName != mt.Bundled || int(a.AcceleratorCount) != mt.BundledCount {
				return nil, invalid(field, a.AcceleratorType, fmt.Sprintf("Machine type %s comes with %d x %s; guest accelerators must be omitted or match it (got %d x %s).",
					mt.Name, mt.BundledCount, mt.Bundled, a.AcceleratorCount, aName))
			}
		case !slices.Contains(mt.Attachable, aName):
			return nil, errf(400, "badRequest", "[%s, %s] features are not compatible for creating instance.", mt.Name, aName)
		}
		in.Accelerators = append(in.Accelerators, accelerator{Type: aName, Count: int64(a.AcceleratorCount)})
	}
	if len(in.Accelerators) == 0 && mt.Bundled != "" {
		in.Accelerators = []accelerator{{Type: mt.Bundled, Count: int64(mt.BundledCount)}}
	}
	switch in.OnHostMaintenance {
	case "":
		if len(in.Accelerators) > 0 {
			in.OnHostMaintenance = "TERMINATE"
		} else {
			in.OnHostMaintenance = "MIGRATE"
		}
	case "MIGRATE":
		if len(in.Accelerators) > 0 {
			return nil, errf(400, "badRequest", "Instances with guest accelerators do not support live migration. Set scheduling.onHostMaintenance to TERMINATE (terraform: scheduling { on_host_maintenance = \"TERMINATE\" }).")
		}
	case "TERMINATE":
	default:
		return nil, invalid("resource.scheduling.onHostMaintenance", in.OnHostMaintenance, "Must be MIGRATE or TERMINATE.")
	}

	// The boot disk, made from a public image.
	var boot bool
	for i, d := range req.Disks {
		if !d.Boot {
			return nil, errf(501, "notImplemented", "fakegcp does not implement non-boot disks (resource.disks[%d])", i)
		}
		if boot {
			return nil, errf(400, "invalid", "Invalid value for field 'resource.disks': more than one boot disk.")
		}
		boot = true
		if d.InitializeParams == nil || d.Source != "" {
			return nil, errf(501, "notImplemented", "fakegcp makes boot disks from an image only (resource.disks[%d].initializeParams.sourceImage)", i)
		}
		ip := d.InitializeParams
		proj, name, family, ok := parseImageRef(ip.SourceImage, rt.project)
		if !ok {
			return nil, invalid(fmt.Sprintf("resource.disks[%d].initializeParams.sourceImage", i), ip.SourceImage, "Not an image reference.")
		}
		im, ok := imageByName(proj, name, family)
		if !ok {
			return nil, invalid(fmt.Sprintf("resource.disks[%d].initializeParams.sourceImage", i), ip.SourceImage, "The referenced image resource cannot be found.")
		}
		in.Image = im
		in.DiskSizeGB = int64(ip.DiskSizeGb)
		if in.DiskSizeGB == 0 {
			in.DiskSizeGB = im.SizeGB
		}
		if in.DiskSizeGB < im.SizeGB || in.DiskSizeGB > 65536 {
			return nil, invalid(fmt.Sprintf("resource.disks[%d].initializeParams.diskSizeGb", i), strconv.FormatInt(in.DiskSizeGB, 10),
				fmt.Sprintf("Requested disk size cannot be smaller than the image size (%d GB) or larger than 65536 GB.", im.SizeGB))
		}
		in.DiskType = "pd-standard"
		if ip.DiskType != "" {
			_, _, dt, _ := parseRef(ip.DiskType)
			if dt != "pd-standard" && dt != "pd-balanced" && dt != "pd-ssd" {
				return nil, invalid(fmt.Sprintf("resource.disks[%d].initializeParams.diskType", i), ip.DiskType, "Unknown disk type.")
			}
			in.DiskType = dt
		}
	}
	if !boot {
		return nil, errf(400, "required", "Required field 'resource.disks' not specified: an instance needs a boot disk")
	}
	switch len(req.NetworkInterfaces) {
	case 0:
		return nil, errf(400, "required", "Required field 'resource.networkInterfaces' not specified")
	case 1:
	default:
		return nil, errf(501, "notImplemented", "fakegcp does not implement more than one network interface")
	}
	ni := req.NetworkInterfaces[0]
	netName := "default"
	if ni.Network != "" {
		_, _, netName, _ = parseRef(ni.Network)
	}
	if netName != "default" {
		return nil, errf(501, "notImplemented", "fakegcp has only the network 'default' (got %q)", ni.Network)
	}
	in.Network = link("projects/%s/global/networks/default", rt.project)
	in.AccessConfig = len(ni.AccessConfigs) > 0
	return in, nil
}

// usage is what a region's instances use of each quota metric.
func (f *Fake) usage(region string) map[string]float64 {
	u := map[string]float64{}
	for _, in := range f.st.Instances {
		if in.region() != region {
			continue
		}
		addUsage(u, in)
	}
	return u
}

func addUsage(u map[string]float64, in *instance) {
	for _, t := range machineTypes {
		if t.Name == in.MachineType {
			u["CPUS"] += float64(t.CPUs)
		}
	}
	for _, a := range in.Accelerators {
		u[quotaMetric(a.Type)] += float64(a.Count)
	}
	u["INSTANCES"]++
}

func (f *Fake) insertInstance(r *http.Request, rt route) (any, int, *apiError) {
	var req insertRequest
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&req); err != nil {
		return nil, 0, errf(400, "parseError", "Invalid JSON payload received. %v", err)
	}
	in, e := validateInsert(rt, &req)
	if e != nil {
		return nil, 0, e
	}
	key := in.Zone + "/" + in.Name

	f.mu.Lock()
	if _, ok := f.st.Instances[key]; ok {
		f.mu.Unlock()
		return nil, 0, errf(409, "alreadyExists", "The resource 'projects/%s/zones/%s/instances/%s' already exists", in.Project, in.Zone, in.Name)
	}
	op := f.newOperation(rt, "insert", in.selfLink())
	// Quota: checked against what the region runs and is being made, and
	// reported in the operation (Compute Engine accepts the request, then
	// the operation fails): nothing is created.
	need := map[string]float64{}
	addUsage(need, in)
	have := f.usage(in.region())
	for _, metric := range slices.Sorted(maps.Keys(need)) {
		limit, ok := f.cfg.Quota[metric+"/"+in.region()]
		if ok && have[metric]+need[metric] > limit {
			op.fail(403, "QUOTA_EXCEEDED", fmt.Sprintf("Quota '%s' exceeded.  Limit: %.1f in region %s.", metric, limit, in.region()))
			f.mu.Unlock()
			return op.json(), 200, nil
		}
	}
	in.ID = f.instanceID()
	in.DiskID = f.instanceID()
	in.Created = now()
	in.NetworkIP = fmt.Sprintf("10.128.%d.%d", (in.ID/250)%250, in.ID%250+2)
	op.TargetID = in.ID
	f.st.Instances[key] = in
	f.work.Add(1)
	f.mu.Unlock()

	go func() {
		defer f.work.Done()
		f.create(in, key, op)
	}()
	return f.answer(op, f.cfg.OpWait)
}

// create makes the machine of a stored PROVISIONING instance and finishes
// its operation.
func (f *Fake) create(in *instance, key string, op *operation) {
	ctx := f.ctx
	fail := func(err error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.st.Instances, key)
		op.fail(500, "INTERNAL_ERROR", fmt.Sprintf("create instance %s: %v", in.Name, err))
	}
	if f.cfg.BeforeCreate != nil {
		if err := f.cfg.BeforeCreate(ctx, in.Name); err != nil {
			fail(err)
			return
		}
	}
	addr, err := f.cfg.Backend.CreateHost(ctx, in.Name)
	if err == nil && !addr.Is4() {
		err = fmt.Errorf("backend gave non-IPv4 address %s", addr)
	}
	if err != nil {
		fail(fmt.Errorf("backend: %v", err))
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	in.NatIP = addr.String()
	in.Status = "RUNNING"
	if e := f.save(); e != nil {
		op.fail(500, "INTERNAL_ERROR", e.message)
		return
	}
	op.done()
}

func (f *Fake) getInstance(rt route) (any, int, *apiError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := zoneByName(rt.zone); !ok {
		return nil, 0, notFound(fmt.Sprintf("projects/%s/zones/%s", rt.project, rt.zone))
	}
	in, ok := f.st.Instances[rt.zone+"/"+rt.name]
	if !ok || in.Project != rt.project {
		return nil, 0, notFound(fmt.Sprintf("projects/%s/zones/%s/instances/%s", rt.project, rt.zone, rt.name))
	}
	return in.json(), 200, nil
}

// Console lines around the host keys, as cloud-init's keys-to-console
// writes them on a real image's first boot.
const (
	HostKeysBegin = "-----BEGIN SSH HOST KEY KEYS-----"
	HostKeysEnd   = "-----END SSH HOST KEY KEYS-----"
)

// getSerialPort is instances.getSerialPortOutput: what the instance wrote
// to a serial port since it booted, from byte start on ("next" is where to
// go on). A real image's sshd generates its host key at first boot, so no
// one knows it beforehand; its console ends with that key between
// HostKeysBegin and HostKeysEnd, and reading it here, from the API the
// deployer authenticated to, is how the first connection to a fresh
// instance can be checked instead of trusted on first use. The fake's
// console reports the key its machine's sshd really presents when the
// backend can say (fakehcloud.HostKeys: the lab); memory machines have no
// sshd and their console has the boot lines alone.
func (f *Fake) getSerialPort(r *http.Request, rt route) (any, int, *apiError) {
	port, start := int64(1), int64(0)
	for _, q := range []struct {
		name string
		v    *int64
		ok   func(int64) bool
	}{{"port", &port, func(n int64) bool { return n >= 1 && n <= 4 }}, {"start", &start, func(n int64) bool { return n >= 0 }}} {
		s := r.URL.Query().Get(q.name)
		if s == "" {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || !q.ok(n) {
			return nil, 0, invalid(q.name, s, "Must be an integer (port 1 to 4, start 0 or more).")
		}
		*q.v = n
	}
	f.mu.Lock()
	in, ok := f.st.Instances[rt.zone+"/"+rt.name]
	var name, status, self string
	if ok && in.Project == rt.project {
		name, status, self = in.Name, in.Status, in.selfLink()
	}
	f.mu.Unlock()
	if name == "" {
		return nil, 0, notFound(fmt.Sprintf("projects/%s/zones/%s/instances/%s", rt.project, rt.zone, rt.name))
	}
	var b strings.Builder
	if port == 1 && status == "RUNNING" {
		fmt.Fprintf(&b, "%s login: \n", name)
		if hk, ok := f.cfg.Backend.(fakehcloud.HostKeys); ok {
			k, err := hk.SSHHostKey(r.Context(), name)
			if err != nil {
				return nil, 0, errf(500, "backendError", "instance %s: host key: %v", name, err)
			}
			fmt.Fprintf(&b, "%s\n%s root@%s\n%s\n", HostKeysBegin, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))), name, HostKeysEnd)
		}
	}
	out := b.String()
	start = min(start, int64(len(out)))
	return map[string]any{"kind": "compute#serialPortOutput", "contents": out[start:], "start": strconv.FormatInt(start, 10),
		"next": strconv.Itoa(len(out)), "selfLink": self + "/serialPort"}, 200, nil
}

func (f *Fake) listInstances(rt route) (any, int, *apiError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := zoneByName(rt.zone); !ok {
		return nil, 0, notFound(fmt.Sprintf("projects/%s/zones/%s", rt.project, rt.zone))
	}
	var items []map[string]any
	for _, k := range slices.Sorted(maps.Keys(f.st.Instances)) {
		in := f.st.Instances[k]
		if in.Zone == rt.zone && in.Project == rt.project {
			items = append(items, in.json())
		}
	}
	out := map[string]any{"kind": "compute#instanceList", "id": "projects/" + rt.project + "/zones/" + rt.zone + "/instances",
		"selfLink": link("projects/%s/zones/%s/instances", rt.project, rt.zone)}
	if len(items) > 0 {
		out["items"] = items
	}
	return out, 200, nil
}

func (f *Fake) deleteInstance(rt route) (any, int, *apiError) {
	key := rt.zone + "/" + rt.name
	f.mu.Lock()
	in, ok := f.st.Instances[key]
	if !ok || in.Project != rt.project {
		f.mu.Unlock()
		return nil, 0, notFound(fmt.Sprintf("projects/%s/zones/%s/instances/%s", rt.project, rt.zone, rt.name))
	}
	if in.Status != "RUNNING" {
		f.mu.Unlock()
		return nil, 0, errf(400, "resourceNotReady", "The resource 'projects/%s/zones/%s/instances/%s' is not ready", rt.project, rt.zone, rt.name)
	}
	if in.DeletionProtect {
		f.mu.Unlock()
		return nil, 0, errf(400, "resourceInUseByAnotherResource", "Invalid resource usage: 'Resource cannot be deleted if it's protected against deletion.'.")
	}
	op := f.newOperation(rt, "delete", in.selfLink())
	op.TargetID = in.ID
	in.Status = "STOPPING"
	f.work.Add(1)
	f.mu.Unlock()

	go func() {
		defer f.work.Done()
		err := f.cfg.Backend.DeleteHost(f.ctx, in.Name)
		f.mu.Lock()
		defer f.mu.Unlock()
		if err != nil {
			in.Status = "RUNNING"
			op.fail(500, "INTERNAL_ERROR", fmt.Sprintf("delete instance %s: backend: %v", in.Name, err))
			return
		}
		delete(f.st.Instances, key)
		if e := f.save(); e != nil {
			op.fail(500, "INTERNAL_ERROR", e.message)
			return
		}
		op.done()
	}()
	return f.answer(op, f.cfg.OpWait)
}

func (f *Fake) getDisk(rt route) (any, int, *apiError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.st.Instances[rt.zone+"/"+rt.name]
	if !ok || in.Project != rt.project {
		return nil, 0, notFound(fmt.Sprintf("projects/%s/zones/%s/disks/%s", rt.project, rt.zone, rt.name))
	}
	return in.diskJSON(), 200, nil
}

func (f *Fake) getZone(rt route) (any, int, *apiError) {
	z, ok := zoneByName(rt.zone)
	if !ok {
		return nil, 0, notFound(fmt.Sprintf("projects/%s/zones/%s", rt.project, rt.zone))
	}
	return map[string]any{"kind": "compute#zone", "name": z.Name, "status": "UP",
		"region":   link("projects/%s/regions/%s", rt.project, z.Region),
		"selfLink": link("projects/%s/zones/%s", rt.project, z.Name)}, 200, nil
}

func (f *Fake) getMachineType(rt route) (any, int, *apiError) {
	z, ok := zoneByName(rt.zone)
	if !ok {
		return nil, 0, notFound(fmt.Sprintf("projects/%s/zones/%s", rt.project, rt.zone))
	}
	t, ok := machineTypeIn(rt.name, z)
	if !ok {
		return nil, 0, notFound(fmt.Sprintf("projects/%s/zones/%s/machineTypes/%s", rt.project, rt.zone, rt.name))
	}
	out := map[string]any{"kind": "compute#machineType", "name": t.Name, "guestCpus": t.CPUs, "memoryMb": t.MemoryMB,
		"zone": z.Name, "selfLink": link("projects/%s/zones/%s/machineTypes/%s", rt.project, z.Name, t.Name)}
	if t.Bundled != "" {
		out["accelerators"] = []map[string]any{{"guestAcceleratorType": t.Bundled, "guestAcceleratorCount": t.BundledCount}}
	}
	return out, 200, nil
}

func (f *Fake) getAcceleratorType(rt route) (any, int, *apiError) {
	z, ok := zoneByName(rt.zone)
	if !ok || !slices.Contains(z.Accelerators, rt.name) {
		return nil, 0, notFound(fmt.Sprintf("projects/%s/zones/%s/acceleratorTypes/%s", rt.project, rt.zone, rt.name))
	}
	return map[string]any{"kind": "compute#acceleratorType", "name": rt.name, "zone": z.Name,
		"selfLink": link("projects/%s/zones/%s/acceleratorTypes/%s", rt.project, z.Name, rt.name)}, 200, nil
}

func (f *Fake) getImage(rt route, family bool) (any, int, *apiError) {
	im, ok := imageByName(rt.project, rt.name, family)
	if !ok {
		what := "images/" + rt.name
		if family {
			what = "images/family/" + rt.name
		}
		return nil, 0, notFound(fmt.Sprintf("projects/%s/global/%s", rt.project, what))
	}
	return map[string]any{"kind": "compute#image", "id": strconv.FormatUint(im.ID, 10), "name": im.Name,
		"family": im.Family, "status": "READY", "diskSizeGb": strconv.FormatInt(im.SizeGB, 10), "architecture": "X86_64",
		"selfLink": link("projects/%s/global/images/%s", im.Project, im.Name)}, 200, nil
}

// operation is a zone operation.
type operation struct {
	ID         uint64
	Name       string
	Project    string
	Zone       string
	Type       string
	TargetLink string
	TargetID   uint64
	Status     string
	Inserted   string
	Ended      string
	ErrStatus  int
	ErrCode    string
	ErrMessage string
	finished   chan struct{}
}

func (f *Fake) newOperation(rt route, typ, target string) *operation {
	op := &operation{ID: f.instanceID(), Name: fmt.Sprintf("operation-%d-%s", time.Now().UnixMilli(), fakeapi.RandomHex(8)),
		Project: rt.project, Zone: rt.zone, Type: typ, TargetLink: target, Status: "RUNNING", Inserted: now(),
		finished: make(chan struct{})}
	f.st.Operations[op.Name] = op
	return op
}

// done and fail finish an operation; the caller holds f.mu.
func (op *operation) done() {
	op.Status, op.Ended = "DONE", now()
	close(op.finished)
}

func (op *operation) fail(status int, code, message string) {
	op.ErrStatus, op.ErrCode, op.ErrMessage = status, code, message
	op.done()
}

func (op *operation) json() map[string]any {
	out := map[string]any{"kind": "compute#operation", "id": strconv.FormatUint(op.ID, 10), "name": op.Name,
		"zone": link("projects/%s/zones/%s", op.Project, op.Zone), "operationType": op.Type,
		"targetLink": op.TargetLink, "status": op.Status, "user": "fakegcp@vanixiets.invalid",
		"progress": 0, "insertTime": op.Inserted, "startTime": op.Inserted,
		"selfLink": link("projects/%s/zones/%s/operations/%s", op.Project, op.Zone, op.Name)}
	if op.TargetID != 0 {
		out["targetId"] = strconv.FormatUint(op.TargetID, 10)
	}
	if op.Status == "DONE" {
		out["progress"], out["endTime"] = 100, op.Ended
	}
	if op.ErrCode != "" {
		out["httpErrorStatusCode"] = op.ErrStatus
		out["httpErrorMessage"] = http.StatusText(op.ErrStatus)
		out["error"] = map[string]any{"errors": []map[string]string{{"code": op.ErrCode, "message": op.ErrMessage}}}
	}
	return out
}

// answer waits up to wait for op to finish, then answers with its state.
func (f *Fake) answer(op *operation, wait time.Duration) (any, int, *apiError) {
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-op.finished:
		case <-t.C:
		case <-f.ctx.Done():
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return op.json(), 200, nil
}

func (f *Fake) getOperation(rt route, wait time.Duration) (any, int, *apiError) {
	f.mu.Lock()
	op, ok := f.st.Operations[rt.name]
	f.mu.Unlock()
	if !ok || op.Zone != rt.zone || op.Project != rt.project {
		return nil, 0, notFound(fmt.Sprintf("projects/%s/zones/%s/operations/%s", rt.project, rt.zone, rt.name))
	}
	return f.answer(op, wait)
}
