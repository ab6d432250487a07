package fakegcp

import (
	"fmt"
	"slices"
	"strings"
)

// The catalog: the zones, machine types, accelerator types and public
// images the fake knows. It is small on purpose (the fleet's zones and
// types, and a few neighbours so that a typo gets a clear error rather
// than a lucky match), and each entry follows what Compute Engine offers.

// zoneInfo is one zone: its region and what it offers.
type zoneInfo struct {
	Name   string
	Region string
	// Accelerators offered in the zone.
	Accelerators []string
}

var zones = []zoneInfo{
	{"us-central1-a", "us-central1", []string{"nvidia-l4", "nvidia-tesla-t4", "nvidia-tesla-a100"}},
	{"us-central1-b", "us-central1", []string{"nvidia-l4", "nvidia-tesla-t4", "nvidia-tesla-a100"}},
	{"us-central1-c", "us-central1", []string{"nvidia-l4", "nvidia-tesla-t4", "nvidia-tesla-a100"}},
	{"us-central1-f", "us-central1", []string{"nvidia-tesla-t4", "nvidia-tesla-a100"}},
	{"us-east1-b", "us-east1", []string{"nvidia-l4"}},
	{"us-east1-c", "us-east1", []string{"nvidia-tesla-t4"}},
	{"us-east1-d", "us-east1", []string{"nvidia-l4", "nvidia-tesla-t4"}},
	{"europe-west1-b", "europe-west1", []string{"nvidia-l4", "nvidia-tesla-t4"}},
	{"europe-west1-c", "europe-west1", []string{"nvidia-l4", "nvidia-tesla-t4"}},
	{"europe-west1-d", "europe-west1", []string{"nvidia-tesla-t4"}},
	{"europe-west4-a", "europe-west4", []string{"nvidia-l4", "nvidia-tesla-t4", "nvidia-tesla-a100"}},
	{"europe-west4-b", "europe-west4", []string{"nvidia-l4", "nvidia-tesla-t4", "nvidia-tesla-a100"}},
	{"europe-west4-c", "europe-west4", []string{"nvidia-l4", "nvidia-tesla-t4"}},
}

func zoneByName(name string) (zoneInfo, bool) {
	for _, z := range zones {
		if z.Name == name {
			return z, true
		}
	}
	return zoneInfo{}, false
}

// machineType is one machine type. An accelerator-optimized type (G2, A2)
// comes with its GPUs: Bundled names them and BundledCount says how many.
// General-purpose types take no accelerator, except N1, which takes
// attachable ones (Attachable).
type machineType struct {
	Name         string
	CPUs         int
	MemoryMB     int
	Bundled      string
	BundledCount int
	Attachable   []string
}

var machineTypes = []machineType{
	{Name: "e2-micro", CPUs: 2, MemoryMB: 1024},
	{Name: "e2-small", CPUs: 2, MemoryMB: 2048},
	{Name: "e2-medium", CPUs: 2, MemoryMB: 4096},
	{Name: "e2-standard-2", CPUs: 2, MemoryMB: 8192},
	{Name: "e2-standard-4", CPUs: 4, MemoryMB: 16384},
	{Name: "e2-standard-8", CPUs: 8, MemoryMB: 32768},
	{Name: "n2-standard-2", CPUs: 2, MemoryMB: 8192},
	{Name: "n2-standard-4", CPUs: 4, MemoryMB: 16384},
	{Name: "n1-standard-4", CPUs: 4, MemoryMB: 15360, Attachable: []string{"nvidia-tesla-t4"}},
	{Name: "n1-standard-8", CPUs: 8, MemoryMB: 30720, Attachable: []string{"nvidia-tesla-t4"}},
	{Name: "g2-standard-4", CPUs: 4, MemoryMB: 16384, Bundled: "nvidia-l4", BundledCount: 1},
	{Name: "g2-standard-8", CPUs: 8, MemoryMB: 32768, Bundled: "nvidia-l4", BundledCount: 1},
	{Name: "g2-standard-24", CPUs: 24, MemoryMB: 98304, Bundled: "nvidia-l4", BundledCount: 2},
	{Name: "a2-highgpu-1g", CPUs: 12, MemoryMB: 87040, Bundled: "nvidia-tesla-a100", BundledCount: 1},
}

// machineTypeIn returns the machine type name in zone z: accelerator-
// optimized types exist only where their GPU is offered.
func machineTypeIn(name string, z zoneInfo) (machineType, bool) {
	for _, t := range machineTypes {
		if t.Name == name {
			if t.Bundled != "" && !slices.Contains(z.Accelerators, t.Bundled) {
				return machineType{}, false
			}
			return t, true
		}
	}
	return machineType{}, false
}

// quotaMetric is the regional quota an accelerator counts against, named
// as Compute Engine names it.
func quotaMetric(accel string) string {
	switch accel {
	case "nvidia-l4":
		return "NVIDIA_L4_GPUS"
	case "nvidia-tesla-t4":
		return "NVIDIA_T4_GPUS"
	case "nvidia-tesla-a100":
		return "NVIDIA_A100_GPUS"
	}
	return strings.ToUpper(strings.ReplaceAll(accel, "-", "_")) + "_GPUS"
}

// image is one public image of an image project, in a family.
type image struct {
	Project string
	Name    string
	Family  string
	ID      uint64
	SizeGB  int64
}

var images = []image{
	{Project: "debian-cloud", Name: "debian-12-bookworm-v20261110", Family: "debian-12", ID: 5820398417364891001, SizeGB: 10},
	{Project: "debian-cloud", Name: "debian-11-bullseye-v20261110", Family: "debian-11", ID: 5820398417364891002, SizeGB: 10},
	{Project: "ubuntu-os-cloud", Name: "ubuntu-2404-noble-amd64-v20261105", Family: "ubuntu-2404-lts-amd64", ID: 5820398417364891003, SizeGB: 10},
}

// imageByName finds an image of project by its name, or (family true) the
// newest of a family.
func imageByName(project, name string, family bool) (image, bool) {
	for _, im := range images {
		if im.Project != project {
			continue
		}
		if (family && im.Family == name) || (!family && im.Name == name) {
			return im, true
		}
	}
	return image{}, false
}

// knownZones lists the catalog's zone names, for error messages.
func knownZones() string {
	var out []string
	for _, z := range zones {
		out = append(out, z.Name)
	}
	return strings.Join(out, ", ")
}

func (t machineType) String() string {
	if t.Bundled != "" {
		return fmt.Sprintf("%s (%d vCPU, %d x %s)", t.Name, t.CPUs, t.BundledCount, t.Bundled)
	}
	return fmt.Sprintf("%s (%d vCPU)", t.Name, t.CPUs)
}
