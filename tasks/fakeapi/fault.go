package fakeapi

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
)

// Fault makes the n-th request matching Method and Path fail with Status
// and the fake's own error body. How Path matches is the fake's to say
// (Faults.Hit): a prefix of the URL path for Hetzner ("/servers"), a part
// of it for Compute Engine ("/instances", below a project and zone). Nth
// counts from 1; 0 means every matching request.
type Fault struct {
	Method string
	Path   string
	Nth    int
	Status int
}

// ParseFault reads "METHOD /path#N=STATUS", e.g. "POST /servers#2=500".
func ParseFault(s string) (Fault, error) {
	bad := fmt.Errorf("fault %q: want METHOD /path#N=STATUS, e.g. \"POST /servers#2=500\"", s)
	m, rest, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok {
		return Fault{}, bad
	}
	p, rest, ok := strings.Cut(rest, "#")
	if !ok {
		return Fault{}, bad
	}
	n, st, ok := strings.Cut(rest, "=")
	if !ok {
		return Fault{}, bad
	}
	nth, err1 := strconv.Atoi(n)
	status, err2 := strconv.Atoi(st)
	if err1 != nil || err2 != nil || nth < 0 || status < 100 || status > 599 || !strings.HasPrefix(p, "/") {
		return Fault{}, bad
	}
	return Fault{Method: strings.ToUpper(m), Path: p, Nth: nth, Status: status}, nil
}

// FaultFlag collects -fail flags (flag.Value): the fakes' commands take
// any number.
type FaultFlag []Fault

func (f *FaultFlag) String() string { return fmt.Sprint(*f) }

// Set implements flag.Value.
func (f *FaultFlag) Set(s string) error {
	ft, err := ParseFault(s)
	if err != nil {
		return err
	}
	*f = append(*f, ft)
	return nil
}

// Requests counts a fake's requests, by kind for the tests that read them
// and by fault, to fail the n-th a fault names. It is safe for concurrent
// use.
type Requests struct {
	mu      sync.Mutex
	counts  map[string]int
	faults  []Fault
	seen    []int
	matches func(path, pattern string) bool
}

// NewRequests returns the counter of a fake's requests, with its faults
// and its rule for a fault's Path matching a request's path.
func NewRequests(faults []Fault, matches func(path, pattern string) bool) *Requests {
	return &Requests{counts: map[string]int{}, faults: append([]Fault(nil), faults...), seen: make([]int, len(faults)), matches: matches}
}

// Count counts a request of the kind given ("POST /servers").
func (fs *Requests) Count(kind string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.counts[kind]++
}

// Counts returns how many requests of each kind were counted.
func (fs *Requests) Counts() map[string]int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return maps.Clone(fs.counts)
}

// Take counts a request of the kind given, and returns the first fault
// it triggers, with how many requests that fault has matched so far.
// Faults after the one that triggered do not count the request: it never
// reached them.
func (fs *Requests) Take(kind, method, path string) (ft Fault, n int, hit bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.counts[kind]++
	for i, ft := range fs.faults {
		if ft.Method != method || !fs.matches(path, ft.Path) {
			continue
		}
		fs.seen[i]++
		if ft.Nth == 0 || fs.seen[i] == ft.Nth {
			return ft, fs.seen[i], true
		}
	}
	return Fault{}, 0, false
}
