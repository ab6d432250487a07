package deploy

import (
	"io"
	"os"
	"sort"
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

func newBars(out io.Writer, steps []*pipeline.Step) *bars {
	if f, ok := out.(*os.File); ok {
		// A terminal that reports no size (a bare pty, as under script(1))
		// would make mpb draw zero-width lines.
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err != nil || ws.Col == 0 {
			out = plainWriter{f}
		}
	}
	b := &bars{
		p:      mpb.New(mpb.WithOutput(out), mpb.WithWidth(120), mpb.WithRefreshRate(120*time.Millisecond), mpb.WithAutoRefresh()),
		bar:    map[string]*mpb.Bar{},
		status: map[string]string{},
	}
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
		b.bar[m] = b.p.AddBar(count[m],
			mpb.PrependDecorators(
				decor.Name(label, decor.WC{W: 11, C: decor.DindentRight}),
				decor.CountersNoUnit("%d/%d", decor.WC{W: 6, C: decor.DindentRight}),
			),
			mpb.AppendDecorators(
				decor.Elapsed(decor.ET_STYLE_GO, decor.WC{W: 7}),
				decor.Any(func(decor.Statistics) string { return " " + b.get(m) }),
			),
			mpb.BarWidth(24),
			mpb.BarFillerClearOnComplete(),
		)
	}
	return b
}

func (b *bars) get(m string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.status[m]
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
	for _, bar := range all {
		if !bar.Completed() {
			bar.Abort(false)
		}
	}
	b.p.Wait()
}
