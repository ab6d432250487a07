package fakeapi

import (
	"fmt"
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

// Faults counts the requests each fault matches, to fail the n-th. It is
// safe for concurrent use.
type Faults struct {
	mu      sync.Mutex
	faults  []Fault
	seen    []int
	matches func(path, pattern string) bool
}

// NewFaults returns the counter of faults, with the fake's rule for a
// fault's Path matching a request's path.
func NewFaults(faults []Fault, matches func(path, pattern string) bool) *Faults {
	return &Faults{faults: append([]Fault(nil), faults...), seen: make([]int, len(faults)), matches: matches}
}

// Hit counts the request and returns the first fault it triggers, with
// how many requests that fault has matched so far. Faults after the one
// that triggered do not count the request: it never reached them.
func (fs *Faults) Hit(method, path string) (ft Fault, n int, hit bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
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
