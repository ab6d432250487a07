package deploy

import (
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/vanixiets/vanixiets/tasks/pipeline"
)

// DefaultParallel is how many machines deploy at once when
// Options.Parallel is not set: four per core, at least 8 and at most 32.
// A machine in flight costs the deployer little CPU (one SSH connection,
// NARs written and signed in process: docs/deploy.md, Figures) and mostly
// waits for its host, so several per core keep the cores busy; the bound
// keeps a large machine from opening hundreds of connections at once.
func DefaultParallel() int { return min(32, max(8, 4*runtime.NumCPU())) }

// inFlight turns the deployment's steps into machines in flight: each
// machine's steps ("<m>:<kind>") form one pipeline group, so that
// Options.Parallel counts machines, each deploying from its first step to
// its last while the rest wait, and it returns the step limit that goes
// with it: a machine in flight runs at most two steps at once (its
// before-activation secrets beside its copy), and the shared evaluate and
// build run before any.
func inFlight(steps []*pipeline.Step, machines int) (stepSlots int) {
	for _, s := range steps {
		if m, _, ok := strings.Cut(s.Name, ":"); ok {
			s.Group = m
		}
	}
	return 2*machines + 2
}

// machineSteps counts, per machine, the steps that have not ended, so
// that the event of a machine's last step is known as such: its
// connection is closed then, not at the end of the whole deployment, and
// its time in the table is its own, from its first step's start.
type machineSteps struct {
	mu    sync.Mutex
	left  map[string]int
	begin map[string]time.Time
	spent map[string]time.Duration // from the first step's start to the last's end
}

func newMachineSteps(steps []*pipeline.Step) *machineSteps {
	ms := &machineSteps{left: map[string]int{}, begin: map[string]time.Time{}, spent: map[string]time.Duration{}}
	for _, s := range steps {
		if m, _, ok := strings.Cut(s.Name, ":"); ok {
			ms.left[m]++
		}
	}
	return ms
}

// started notes that one of m's steps started (the first starts m's clock).
func (ms *machineSteps) started(m string) {
	if ms == nil {
		return
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if _, ok := ms.begin[m]; !ok {
		ms.begin[m] = time.Now()
	}
}

// ended counts one ended step of m and says whether it was m's last; then
// m's time (took) is from its first step's start to now.
func (ms *machineSteps) ended(m string) (last bool) {
	if ms == nil {
		return false
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.left[m]--
	if ms.left[m] != 0 {
		return false
	}
	if t0, ok := ms.begin[m]; ok {
		ms.spent[m] = time.Since(t0)
	}
	return true
}

// took is m's time, once its last step ended (0 when none started).
func (ms *machineSteps) took(m string) time.Duration {
	if ms == nil {
		return 0
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.spent[m]
}

// closeConn closes machine m's deployment connection once its steps have
// all ended.
func (d *Deployer) closeConn(m string) {
	d.mu.Lock()
	e := d.conns[m]
	delete(d.conns, m)
	d.mu.Unlock()
	if e == nil {
		return
	}
	e.once.Do(func() {}) // a dial still running would otherwise set e.c after this
	if e.c != nil {
		e.c.Close()
	}
}
