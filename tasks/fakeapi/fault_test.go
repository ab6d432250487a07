package fakeapi

import (
	"strings"
	"testing"

	"gotest.tools/v3/assert"
)

func TestParseFault(t *testing.T) {
	tests := []struct {
		in   string
		want Fault
		err  string
	}{
		{in: "POST /servers#2=500", want: Fault{Method: "POST", Path: "/servers", Nth: 2, Status: 500}},
		{in: "delete /servers/#0=503", want: Fault{Method: "DELETE", Path: "/servers/", Nth: 0, Status: 503}},
		{in: "POST servers#2=500", err: "want METHOD"},
		{in: "POST /servers#x=500", err: "want METHOD"},
		{in: "POST /servers#1=99", err: "want METHOD"},
		{in: "", err: "want METHOD"},
	}
	for _, tc := range tests {
		got, err := ParseFault(tc.in)
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err)
			continue
		}
		assert.NilError(t, err)
		assert.DeepEqual(t, got, tc.want)
	}
}

func FuzzParseFault(f *testing.F) {
	f.Add("POST /servers#2=500")
	f.Add("GET /actions#0=503")
	f.Fuzz(func(t *testing.T, s string) {
		ft, err := ParseFault(s)
		if err != nil {
			return
		}
		if ft.Status < 100 || ft.Status > 599 || ft.Nth < 0 || !strings.HasPrefix(ft.Path, "/") {
			t.Fatalf("ParseFault(%q) accepted %+v", s, ft)
		}
	})
}

// TestRequestsTake: the n-th matching request fails, or every one with
// Nth 0; the fake says how a path matches; every request is counted.
func TestRequestsTake(t *testing.T) {
	type req struct {
		method, path string
		fails        bool
		n            int
	}
	for _, tc := range []struct {
		name    string
		faults  []Fault
		matches func(path, pattern string) bool
		reqs    []req
	}{
		{
			name: "second matching request, by prefix", faults: []Fault{{Method: "POST", Path: "/servers", Nth: 2, Status: 500}},
			matches: strings.HasPrefix,
			reqs: []req{
				{"POST", "/servers", false, 0}, {"GET", "/servers", false, 0}, {"POST", "/v2/servers", false, 0},
				{"POST", "/servers/7/actions", true, 2}, {"POST", "/servers", false, 0},
			},
		},
		{
			name: "every matching request, by part", faults: []Fault{{Method: "POST", Path: "/instances", Status: 503}},
			matches: strings.Contains,
			reqs: []req{
				{"POST", "/projects/p/zones/z/instances", true, 1}, {"GET", "/projects/p/zones/z/instances", false, 0},
				{"POST", "/projects/p/zones/z/instances", true, 2},
			},
		},
		{
			name: "the first fault that triggers wins", matches: strings.HasPrefix,
			faults: []Fault{{Method: "DELETE", Path: "/servers", Nth: 1, Status: 500}, {Method: "DELETE", Path: "/servers", Status: 503}},
			// A request a fault failed is not counted by the faults after it.
			reqs: []req{{"DELETE", "/servers/1", true, 1}, {"DELETE", "/servers/1", true, 1}},
		},
		{name: "no faults", matches: strings.HasPrefix, reqs: []req{{"POST", "/servers", false, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := NewRequests(tc.faults, tc.matches)
			want := map[string]int{}
			for i, r := range tc.reqs {
				_, n, hit := fs.Take(r.method+" "+r.path, r.method, r.path)
				want[r.method+" "+r.path]++
				assert.Check(t, hit == r.fails, "request %d (%s %s): hit=%v", i, r.method, r.path, hit)
				assert.Check(t, n == r.n, "request %d: n=%d, want %d", i, n, r.n)
			}
			fs.Count("POST token")
			want["POST token"]++
			assert.DeepEqual(t, fs.Counts(), want)
		})
	}
}

// TestFaultFlag: -fail collects every fault given, and refuses a bad one.
func TestFaultFlag(t *testing.T) {
	var f FaultFlag
	assert.NilError(t, f.Set("POST /servers#2=500"))
	assert.NilError(t, f.Set("GET /actions#0=503"))
	assert.DeepEqual(t, []Fault(f), []Fault{{"POST", "/servers", 2, 500}, {"GET", "/actions", 0, 503}})
	assert.ErrorContains(t, f.Set("POST /servers"), "want METHOD /path#N=STATUS")
	assert.Equal(t, len(f), 2)
}
