package fakegcp

import (
	"regexp"
	"strings"
)

// route is a request path taken apart: which kind of resource it names and
// the names in it.
type route struct {
	kind    string // zone, machineType, acceleratorType, image, imageFamily, instances, instance, serialPort, disk, operation, operationWait
	project string
	zone    string
	name    string
}

// collection is how Calls groups requests ("instances", "operations").
func (rt route) collection() string {
	switch rt.kind {
	case "instance", "instances", "serialPort":
		return "instances"
	case "operation", "operationWait":
		return "operations"
	case "image", "imageFamily":
		return "images"
	}
	return rt.kind + "s"
}

// Names follow Compute Engine's rules: projects 6-30 characters
// (lowercase letters, digits, hyphens; image projects such as debian-cloud
// included), resources RFC 1035 labels of at most 63.
var (
	projectRE  = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	resourceRE = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)
)

// parsePath maps a URL path under BasePath to a route. A path of the right
// shape with a badly formed name is a 400 naming the field; any other path
// is a route of kind "" (answered 501 by the caller) and no error.
func parsePath(p string) (route, *apiError) {
	rest, ok := strings.CutPrefix(p, BasePath)
	if !ok {
		return route{}, errf(404, "notFound", "no such API %s: the Compute Engine API lives under %s", p, BasePath)
	}
	segs := strings.Split(rest, "/")
	if len(segs) < 2 || segs[0] != "projects" {
		return route{}, nil
	}
	rt := route{project: segs[1]}
	if !projectRE.MatchString(rt.project) {
		return route{}, errf(400, "invalid", "Invalid value for project: %s", rt.project)
	}
	segs = segs[2:]
	check := func(field, v string) *apiError {
		if !resourceRE.MatchString(v) {
			return errf(400, "invalid", "Invalid value for field '%s': '%s'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'", field, v)
		}
		return nil
	}
	switch {
	case len(segs) >= 3 && segs[0] == "global" && segs[1] == "images":
		if len(segs) == 3 {
			rt.kind, rt.name = "image", segs[2]
		} else if len(segs) == 4 && segs[2] == "family" {
			rt.kind, rt.name = "imageFamily", segs[3]
		} else {
			return route{}, nil
		}
		return rt, check("image", rt.name)
	case len(segs) >= 2 && segs[0] == "zones":
		rt.zone = segs[1]
		if e := check("zone", rt.zone); e != nil {
			return route{}, e
		}
		segs = segs[2:]
	default:
		return route{}, nil
	}
	switch {
	case len(segs) == 0:
		rt.kind = "zone"
		return rt, nil
	case len(segs) == 1 && segs[0] == "instances":
		rt.kind = "instances"
		return rt, nil
	case len(segs) == 3 && segs[0] == "instances" && segs[2] == "serialPort":
		rt.kind, rt.name = "serialPort", segs[1]
		return rt, check("instance", rt.name)
	case len(segs) == 3 && segs[0] == "operations" && segs[2] == "wait":
		rt.kind, rt.name = "operationWait", segs[1]
		return rt, nil
	case len(segs) != 2:
		return route{}, nil
	}
	kind, ok := zonalKinds[segs[0]]
	if !ok {
		return route{}, nil
	}
	rt.kind, rt.name = kind, segs[1]
	if kind == "operation" {
		// the fake names its operations itself; they are not resource names
		return rt, nil
	}
	return rt, check(kind, rt.name)
}

// zonalKinds is the kind of one zonal resource by its collection's name
// in a path (zones/<zone>/<collection>/<name>).
var zonalKinds = map[string]string{
	"instances":        "instance",
	"disks":            "disk",
	"operations":       "operation",
	"machineTypes":     "machineType",
	"acceleratorTypes": "acceleratorType",
}

// refRE reads a reference to a zonal resource as the provider sends it:
// a full link, a "projects/p/zones/z/<kind>/name" or
// "projects/p/global/<kind>/name" path, either without its project, or a
// bare name.
var refRE = regexp.MustCompile(`^(?:https?://[^/]+/compute/v1/)?(?:projects/([^/]+)/)?(?:zones/([^/]+)/|global/)?(?:([a-zA-Z]+)/)?([^/]+)$`)

// parseRef returns the zone (empty when the reference has none), the
// collection (empty likewise) and the name of a reference.
func parseRef(ref string) (zone, kind, name string, ok bool) {
	m := refRE.FindStringSubmatch(ref)
	if m == nil {
		return "", "", "", false
	}
	return m[2], m[3], m[4], true
}

// imageRef reads a source image reference: "projects/p/global/images/x",
// "projects/p/global/images/family/f", a full link to either, or
// "global/images/..." in the instance's own project.
var imageRE = regexp.MustCompile(`^(?:https?://[^/]+/compute/v1/)?(?:projects/([^/]+)/)?global/images/(family/)?([^/]+)$`)

func parseImageRef(ref, project string) (proj, name string, family, ok bool) {
	m := imageRE.FindStringSubmatch(ref)
	if m == nil {
		return "", "", false, false
	}
	proj = m[1]
	if proj == "" {
		proj = project
	}
	return proj, m[3], m[2] != "", true
}
