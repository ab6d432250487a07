package deploy

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/sys/unix"

	"github.com/vanixiets/vanixiets/tasks/pipeline"
)

// IsTerminal reports whether f is a character device (a terminal): the
// Mage targets show bars there and plain lines elsewhere (CI logs, pipes).
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// AggregateAbove is the largest selection whose progress shows every
// machine (a bar each on a terminal, a line per step elsewhere). A larger
// one is shown as the fleet: on a terminal one bar per phase (copy,
// activate, ...) and one for the machines done, elsewhere a line at each
// quarter of the machines done and every HeartbeatEvery; failures, and the
// shared steps (evaluate, build), are shown in every mode. Sixty-four
// machines would otherwise be 64 bars taller than a screen, or 500 lines
// in a CI log.
const AggregateAbove = 12

// HeartbeatEvery is how often a long fleet deployment prints its
// aggregate line when no quarter was reached in the meantime (plain
// output only): a CI log shows it is alive and where it is.
const HeartbeatEvery = 10 * time.Second

// display is what a deployment shows while it runs. newDisplay chooses it.
type display interface {
	// Write prints a note (a warning, the identities used) above
	// whatever is drawn.
	io.Writer
	// step shows that a step started or ended. m is its machine (sharedBar
	// for evaluate and build), kind the step's kind (copy, activate...),
	// text the step's line, last whether it was m's last step to end.
	step(m, kind string, e pipeline.Event, text string, last bool)
	// stop draws the last frame, or prints the last line, and returns
	// once it is out.
	stop()
}

// newDisplay decides, in this one place, how a deployment of steps is
// shown on out: per machine or for the fleet (AggregateAbove), as bars (a
// terminal) or as lines.
func newDisplay(out io.Writer, bars bool, steps []*pipeline.Step, parallel int) display {
	fleet := len(machinesOf(steps)) > AggregateAbove
	switch {
	case out == io.Discard:
		return lineDisplay{io.Discard}
	case bars && fleet:
		return newFleetBars(out, steps)
	case bars:
		return newBars(out, steps)
	case fleet:
		return newFleetLines(out, steps, parallel, HeartbeatEvery)
	}
	return lineDisplay{out}
}

// machinesOf lists the machines of steps (the part of "<m>:<kind>" before
// the colon), in name order, each once.
func machinesOf(steps []*pipeline.Step) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range steps {
		if m, _, ok := strings.Cut(s.Name, ":"); ok && !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}

// event turns a pipeline event into the step's line and hands it to the
// display; a machine's last step ending also ends its connection
// (machineSteps), so the deployment keeps open only the connections of
// the machines in flight.
func (d *Deployer) event(e pipeline.Event) {
	m, kind, ok := strings.Cut(e.Step, ":")
	if !ok {
		m, kind = sharedBar, e.Step
	}
	text := stepText(kind, e)
	last := false
	switch {
	case ok && e.Started:
		d.left.started(m)
	case ok:
		last = d.left.ended(m)
	}
	if disp := d.display(); disp != nil {
		disp.step(m, kind, e, text, last)
	}
	if last {
		d.closeConn(m)
	}
}

// listed names machines in a line: each up to AggregateAbove, else how
// many ("64 machines" says more than a line of 64 names).
func listed(names []string) string {
	if len(names) > AggregateAbove {
		return fmt.Sprintf("%d machines", len(names))
	}
	return strings.Join(names, ", ")
}

// display returns the running deployment's display (nil between runs).
func (d *Deployer) display() display {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.disp
}

// printf prints a note above the display, or on Out between runs.
func (d *Deployer) printf(format string, a ...any) {
	var w io.Writer = d.opt.Out
	if disp := d.display(); disp != nil {
		w = disp
	}
	fmt.Fprintf(w, format+"\n", a...)
}

// stepText is the progress line of the event e of a step of the kind
// given: its start, or how it ended and what it did, told by its outputs
// (the step's own note, else describe's standard words).
func stepText(kind string, e pipeline.Event) string {
	if e.Started {
		return kind + " ..."
	}
	r := e.Result
	took := r.Duration.Round(time.Millisecond)
	switch {
	case r.Status == pipeline.Cached:
		return fmt.Sprintf("%-9s up to date (%s)", kind, took)
	case r.Status.OK() && r.Outputs[outNote] != "":
		return fmt.Sprintf("%-9s done in %s%s", kind, took, r.Outputs[outNote])
	case r.Status.OK():
		return fmt.Sprintf("%-9s done in %s%s", kind, took, describe(kind, r.Outputs))
	}
	return fmt.Sprintf("%-9s %s: %v", kind, r.Status, r.Err)
}

// describe is what a step of the kind given did, from the outputs every
// such step writes.
func describe(step string, o pipeline.Outputs) string {
	switch step {
	case phaseCopy:
		return fmt.Sprintf(": %s paths, %s", o[outSent], humanBytes(atoi64(o[outBytes])))
	case phaseActivate:
		return fmt.Sprintf(": generation %s -> %s", o[outGenBefore], o[outGenAfter])
	case phasePlan:
		return ": " + o[outPlan]
	}
	return ""
}

func atoi64(s string) int64 { v, _ := strconv.ParseInt(s, 10, 64); return v }

func atoi(s string) int { v, _ := strconv.Atoi(s); return v }

// lineDisplay prints a line per step start and end: a small selection in
// a CI log or a pipe.
type lineDisplay struct{ w io.Writer }

func (l lineDisplay) Write(p []byte) (int, error) { return l.w.Write(p) }

func (l lineDisplay) step(m, kind string, e pipeline.Event, text string, _ bool) {
	if m == sharedBar {
		m = "*"
	}
	if e.Started {
		fmt.Fprintf(l.w, "%-10s %-9s ...\n", m, kind)
		return
	}
	fmt.Fprintf(l.w, "%-10s %s\n", m, text)
}

func (lineDisplay) stop() {}

// bars draws one progress bar per machine (and one for the shared steps,
// evaluate and build) while a deployment runs: each bar counts the
// machine's steps, and its text says what the machine is doing now. Lines
// printed meanwhile (notes, warnings) go above the bars.
type bars struct {
	p      *mpb.Progress
	mu     sync.Mutex
	bar    map[string]*mpb.Bar
	status map[string]string
}

const sharedBar = "*"

// plainWriter hides the *os.File behind a writer, so mpb falls back to
// its configured width instead of asking the terminal.
type plainWriter struct{ io.Writer }

// newProgress starts mpb on out, which may be a terminal.
func newProgress(out io.Writer) *mpb.Progress {
	if f, ok := out.(*os.File); ok {
		// A terminal that reports no size (a bare pty, as under script(1))
		// would make mpb draw zero-width lines.
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err != nil || ws.Col == 0 {
			out = plainWriter{f}
		}
	}
	return mpb.New(mpb.WithOutput(out), mpb.WithWidth(120), mpb.WithRefreshRate(120*time.Millisecond), mpb.WithAutoRefresh())
}

// addBar adds a bar of total steps labelled label, its text given by status.
func addBar(p *mpb.Progress, label string, total int64, status func() string) *mpb.Bar {
	return p.AddBar(total,
		mpb.PrependDecorators(
			decor.Name(label, decor.WC{W: 11, C: decor.DindentRight}),
			decor.CountersNoUnit("%d/%d", decor.WC{W: 6, C: decor.DindentRight}),
		),
		mpb.AppendDecorators(
			decor.Elapsed(decor.ET_STYLE_GO, decor.WC{W: 7}),
			decor.Any(func(decor.Statistics) string { return " " + status() }),
		),
		mpb.BarWidth(24),
		mpb.BarFillerClearOnComplete(),
	)
}

func newBars(out io.Writer, steps []*pipeline.Step) *bars {
	b := &bars{p: newProgress(out), bar: map[string]*mpb.Bar{}, status: map[string]string{}}
	count := map[string]int64{}
	for _, s := range steps {
		m, _, ok := strings.Cut(s.Name, ":")
		if !ok {
			m = sharedBar
		}
		count[m]++
	}
	names := make([]string, 0, len(count))
	for m := range count {
		names = append(names, m)
	}
	sort.Slice(names, func(i, j int) bool {
		// shared steps first, then machines by name
		if (names[i] == sharedBar) != (names[j] == sharedBar) {
			return names[i] == sharedBar
		}
		return names[i] < names[j]
	})
	for _, m := range names {
		label := m
		if m == sharedBar {
			label = "(fleet)"
		}
		b.status[m] = "waiting"
		b.bar[m] = addBar(b.p, label, count[m], func() string { return b.get(m) })
	}
	return b
}

func (b *bars) get(m string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.status[m]
}

func (b *bars) step(m, _ string, e pipeline.Event, text string, _ bool) {
	b.event(m, firstLine(text), !e.Started)
}

// event updates machine m's bar: text on every event, one tick per ended step.
func (b *bars) event(m, text string, ended bool) {
	b.mu.Lock()
	b.status[m] = text
	bar := b.bar[m]
	b.mu.Unlock()
	if bar != nil && ended {
		bar.Increment()
	}
}

// Write prints above the bars.
func (b *bars) Write(p []byte) (int, error) { return b.p.Write(p) }

// stop ends every bar (a machine that failed early has steps that never
// ran) and waits until the last frame is drawn.
func (b *bars) stop() {
	b.mu.Lock()
	all := make([]*mpb.Bar, 0, len(b.bar))
	for _, bar := range b.bar {
		all = append(all, bar)
	}
	b.mu.Unlock()
	stopBars(b.p, all)
}

func stopBars(p *mpb.Progress, all []*mpb.Bar) {
	for _, bar := range all {
		if !bar.Completed() {
			bar.Abort(false)
		}
	}
	p.Wait()
}

// tally counts a fleet deployment as its events come: machines done (ok
// or failed), and per step kind how many ended and how many run now. The
// aggregate displays draw from it.
type tally struct {
	mu       sync.Mutex
	machines int
	done     int
	failedN  int
	failed   map[string]bool
	kinds    []string       // in the order a machine goes through them
	total    map[string]int // steps of each kind
	ended    map[string]int
	running  map[string]int
	started  map[string]bool // step names started and not yet ended
}

func newTally(steps []*pipeline.Step) *tally {
	t := &tally{failed: map[string]bool{}, total: map[string]int{}, ended: map[string]int{}, running: map[string]int{},
		started: map[string]bool{}}
	t.machines = len(machinesOf(steps))
	for _, s := range steps {
		_, kind, ok := strings.Cut(s.Name, ":")
		if !ok {
			continue
		}
		if t.total[kind] == 0 {
			t.kinds = append(t.kinds, kind)
		}
		t.total[kind]++
	}
	return t
}

// add counts one event of machine m's step kind. It returns whether the
// event is a failure to show (a step that failed or was cancelled; a step
// skipped after its machine's failure is not shown again).
func (t *tally) add(m, kind string, e pipeline.Event, last bool) (showFailure bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e.Started {
		t.started[e.Step] = true
		t.running[kind]++
		return false
	}
	if t.started[e.Step] {
		delete(t.started, e.Step)
		t.running[kind]--
	}
	t.ended[kind]++
	if !e.Result.Status.OK() {
		t.failed[m] = true
		showFailure = e.Result.Status != pipeline.Skipped
	}
	if last {
		t.done++
		if t.failed[m] {
			t.failedN++
		}
	}
	return showFailure
}

// line is the aggregate line: "48/64 machines done (47 ok, 1 failed);
// deploying 8: copy 3, activate 5".
func (t *tally) line() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := fmt.Sprintf("%d/%d machines done (%d ok, %d failed)", t.done, t.machines, t.done-t.failedN, t.failedN)
	if now := t.runningLocked(); now != "" {
		s += "; " + now
	}
	return s
}

// runningLocked says which steps run now, by kind: "copy 3, activate 5".
func (t *tally) runningLocked() string {
	var parts []string
	for _, k := range t.kinds {
		if n := t.running[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
		}
	}
	return strings.Join(parts, ", ")
}

// fleetLines is the fleet's progress in a CI log or a pipe: the shared
// steps' lines, one line per failure as it happens, and the aggregate line
// at each quarter of the machines done and every heartbeat otherwise.
type fleetLines struct {
	w  io.Writer
	mu sync.Mutex // one line at a time
	t  *tally
	// next is the count of machines done at which the next quarter's line
	// is printed.
	quarter, next int
	last          time.Time
	quit, gone    chan struct{}
}

func newFleetLines(w io.Writer, steps []*pipeline.Step, parallel int, heartbeat time.Duration) *fleetLines {
	f := &fleetLines{w: w, t: newTally(steps), quit: make(chan struct{}), gone: make(chan struct{})}
	f.quarter = 1
	f.next = f.quarterAt(1)
	verb := "deploying"
	if f.t.total[phasePlan] > 0 {
		verb = "planning" // a dry run
	}
	f.printf("%-10s %s %d machines, %d at once", "*", verb, f.t.machines, parallel)
	go func() {
		defer close(f.gone)
		tick := time.NewTicker(heartbeat / 4)
		defer tick.Stop()
		for {
			select {
			case <-f.quit:
				return
			case <-tick.C:
				f.mu.Lock()
				quiet := time.Since(f.last) >= heartbeat
				f.mu.Unlock()
				if quiet {
					f.printf("%-10s %s", "*", f.t.line())
				}
			}
		}
	}()
	return f
}

// quarterAt is the number of machines done at quarter q (1..4), at least 1.
func (f *fleetLines) quarterAt(q int) int { return max(1, (f.t.machines*q+3)/4) }

func (f *fleetLines) printf(format string, a ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fmt.Fprintf(f.w, format+"\n", a...)
	f.last = time.Now()
}

func (f *fleetLines) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = time.Now()
	return f.w.Write(p)
}

func (f *fleetLines) step(m, kind string, e pipeline.Event, text string, last bool) {
	if m == sharedBar {
		lineDisplay{f}.step(m, kind, e, text, last)
		return
	}
	if f.t.add(m, kind, e, last) {
		f.printf("%-10s %s", m, firstLine(text))
	}
	if !last {
		return
	}
	f.t.mu.Lock()
	done := f.t.done
	f.t.mu.Unlock()
	f.mu.Lock()
	reached := f.quarter <= 4 && done >= f.next
	for f.quarter <= 4 && done >= f.next {
		f.quarter++
		f.next = f.quarterAt(f.quarter)
	}
	f.mu.Unlock()
	if reached {
		f.printf("%-10s %s", "*", f.t.line())
	}
}

func (f *fleetLines) stop() {
	close(f.quit)
	<-f.gone
}

// fleetBars is the fleet's progress on a terminal: a bar for the shared
// steps, one for the machines done (with how many are ok, failed and in
// flight) and one per step kind (with how many run now); failures are
// printed above them as they happen.
type fleetBars struct {
	p      *mpb.Progress
	t      *tally
	mu     sync.Mutex
	shared string
	bars   map[string]*mpb.Bar // sharedBar, "machines", and each kind
}

func newFleetBars(out io.Writer, steps []*pipeline.Step) *fleetBars {
	f := &fleetBars{p: newProgress(out), t: newTally(steps), shared: "waiting", bars: map[string]*mpb.Bar{}}
	sharedSteps := int64(0)
	for _, s := range steps {
		if !strings.Contains(s.Name, ":") {
			sharedSteps++
		}
	}
	f.bars[sharedBar] = addBar(f.p, "(fleet)", sharedSteps, func() string {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.shared
	})
	f.bars["machines"] = addBar(f.p, "machines", int64(f.t.machines), func() string {
		f.t.mu.Lock()
		defer f.t.mu.Unlock()
		inFlight := 0
		for _, n := range f.t.running {
			inFlight += n
		}
		return fmt.Sprintf("%d ok, %d failed, %d steps running", f.t.done-f.t.failedN, f.t.failedN, inFlight)
	})
	for _, k := range f.t.kinds {
		f.bars[k] = addBar(f.p, k, int64(f.t.total[k]), func() string {
			f.t.mu.Lock()
			defer f.t.mu.Unlock()
			return fmt.Sprintf("%d running", f.t.running[k])
		})
	}
	return f
}

func (f *fleetBars) Write(p []byte) (int, error) { return f.p.Write(p) }

func (f *fleetBars) step(m, kind string, e pipeline.Event, text string, last bool) {
	if m == sharedBar {
		f.mu.Lock()
		f.shared = firstLine(text)
		f.mu.Unlock()
		if !e.Started {
			f.bars[sharedBar].Increment()
		}
		return
	}
	if f.t.add(m, kind, e, last) {
		fmt.Fprintf(f.p, "%-10s %s\n", m, firstLine(text))
	}
	if !e.Started {
		f.bars[kind].Increment()
	}
	if last {
		f.bars["machines"].Increment()
	}
}

func (f *fleetBars) stop() {
	all := make([]*mpb.Bar, 0, len(f.bars))
	for _, b := range f.bars {
		all = append(all, b)
	}
	stopBars(f.p, all)
}
