package fakehcloud

import (
	"net/http"
	"reflect"
	"strconv"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
)

// The catalog: a few of Hetzner's real server types, images and locations,
// with their real names, so the fleet's sizing (cx22, ubuntu-24.04, nbg1)
// resolves as it would against the real API.

func locations() []schema.Location {
	return []schema.Location{
		{ID: 1, Name: "fsn1", Description: "Falkenstein DC Park 1", Country: "DE", City: "Falkenstein", Latitude: 50.47612, Longitude: 12.370071, NetworkZone: "eu-central"},
		{ID: 2, Name: "nbg1", Description: "Nuremberg DC Park 1", Country: "DE", City: "Nuremberg", Latitude: 49.452102, Longitude: 11.076665, NetworkZone: "eu-central"},
		{ID: 3, Name: "hel1", Description: "Helsinki DC Park 1", Country: "FI", City: "Helsinki", Latitude: 60.169855, Longitude: 24.938379, NetworkZone: "eu-central"},
		{ID: 4, Name: "ash", Description: "Ashburn, VA", Country: "US", City: "Ashburn, VA", Latitude: 39.045821, Longitude: -77.487073, NetworkZone: "us-east"},
	}
}

func locationByName(name string) (schema.Location, bool) {
	for _, l := range locations() {
		if l.Name == name {
			return l, true
		}
	}
	return schema.Location{}, false
}

func datacenters() []schema.Datacenter {
	var out []schema.Datacenter
	for _, l := range locations() {
		ids := []int64{}
		for _, t := range serverTypes() {
			ids = append(ids, t.ID)
		}
		out = append(out, schema.Datacenter{ID: l.ID, Name: l.Name + "-dc" + strconv.Itoa(int(l.ID)), Description: l.Description,
			Location: l, ServerTypes: schema.DatacenterServerTypes{Supported: ids, Available: ids, AvailableForMigration: ids}})
	}
	return out
}

func serverTypes() []schema.ServerType {
	mk := func(id int64, name, cpu, arch string, cores int, mem float32, disk int) schema.ServerType {
		var locs []schema.ServerTypeLocation
		for _, l := range locations() {
			locs = append(locs, schema.ServerTypeLocation{ID: l.ID, Name: l.Name})
		}
		return schema.ServerType{ID: id, Name: name, Description: name, Category: "shared", Cores: cores, Memory: mem,
			Disk: disk, StorageType: "local", CPUType: cpu, Architecture: arch, Locations: locs}
	}
	return []schema.ServerType{
		mk(22, "cx22", "shared", "x86", 2, 4, 40),
		mk(23, "cx32", "shared", "x86", 4, 8, 80),
		mk(24, "cx42", "shared", "x86", 8, 16, 160),
		mk(104, "cpx11", "shared", "x86", 2, 2, 40),
		mk(105, "cpx21", "shared", "x86", 3, 4, 80),
		mk(106, "cpx31", "shared", "x86", 4, 8, 160),
		mk(45, "cax11", "shared", "arm", 2, 4, 40),
		mk(96, "ccx13", "dedicated", "x86", 2, 8, 80),
	}
}

func serverTypeByName(name string) (schema.ServerType, bool) {
	for _, t := range serverTypes() {
		if t.Name == name || strconv.FormatInt(t.ID, 10) == name {
			return t, true
		}
	}
	return schema.ServerType{}, false
}

func images() []schema.Image {
	created := time.Date(2024, 4, 25, 0, 0, 0, 0, time.UTC)
	mk := func(id int64, name, flavor, version, arch string) schema.Image {
		n, v := name, version
		return schema.Image{ID: id, Status: "available", Type: "system", Name: &n, Description: flavor + " " + version,
			DiskSize: 5, Created: &created, OSFlavor: flavor, OSVersion: &v, Architecture: arch, RapidDeploy: true,
			Labels: map[string]string{}}
	}
	return []schema.Image{
		mk(161547269, "ubuntu-24.04", "ubuntu", "24.04", "x86"),
		mk(161547270, "ubuntu-24.04", "ubuntu", "24.04", "arm"),
		mk(67794396, "ubuntu-22.04", "ubuntu", "22.04", "x86"),
		mk(114690387, "debian-12", "debian", "12", "x86"),
		mk(114690389, "debian-12", "debian", "12", "arm"),
	}
}

func imageFor(nameOrID, arch string) (schema.Image, bool) {
	for _, im := range images() {
		if strconv.FormatInt(im.ID, 10) == nameOrID {
			return im, true
		}
		if im.Name != nil && *im.Name == nameOrID && (arch == "" || im.Architecture == arch) {
			return im, true
		}
	}
	return schema.Image{}, false
}

// catalog serves a read-only collection: GET /<plural> (filters name,
// architecture) and GET /<plural>/<id>.
func (f *Fake) catalog(r *http.Request, segs []string, plural, singular string, items any) (any, *apiError) {
	if r.Method != http.MethodGet {
		return nil, errf(405, "method_not_allowed", "%s not allowed on /%s", r.Method, plural)
	}
	rv := reflect.ValueOf(items)
	if len(segs) == 2 {
		id, e := parseID(segs[1])
		if e != nil {
			return nil, e
		}
		for i := 0; i < rv.Len(); i++ {
			if rv.Index(i).FieldByName("ID").Int() == id {
				return map[string]any{singular: rv.Index(i).Interface()}, nil
			}
		}
		return nil, notFound(singular, id)
	}
	if len(segs) != 1 {
		return nil, errf(404, "not_found", "no such endpoint %s", r.URL.Path)
	}
	q := r.URL.Query()
	name, archs := q.Get("name"), q["architecture"]
	out := reflect.MakeSlice(rv.Type(), 0, rv.Len())
	for i := 0; i < rv.Len(); i++ {
		it := rv.Index(i)
		if name != "" {
			nf := it.FieldByName("Name")
			if nf.Kind() == reflect.Pointer {
				if nf.IsNil() || nf.Elem().String() != name {
					continue
				}
			} else if nf.String() != name {
				continue
			}
		}
		if len(archs) > 0 {
			af := it.FieldByName("Architecture")
			if !af.IsValid() || !contains(archs, af.String()) {
				continue
			}
		}
		out = reflect.Append(out, it)
	}
	return listResponse(plural, out.Interface(), out.Len()), nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
