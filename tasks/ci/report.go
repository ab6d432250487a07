package ci

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vanixiets/vanixiets/tasks/fsutil"
)

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Body    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

// WriteJUnit writes one test case per job: passed, failed (with the tail of
// its log) or skipped (a cache hit, with the reason).
func WriteJUnit(path string, outs []Outcome) error {
	s := junitSuite{Name: "vanixiets-ci"}
	var total time.Duration
	for _, o := range outs {
		c := junitCase{Name: o.Job.Name, ClassName: "ci", Time: secs(o.Duration)}
		total += o.Duration
		switch {
		case o.Err != nil:
			s.Failures++
			c.Failure = &junitFailure{Message: o.Err.Error(), Body: tail(o.Log, 200)}
		case !o.Ran:
			s.Skipped++
			c.Skipped = &junitSkipped{Message: "cache hit: " + o.Reason}
		default:
			c.SystemOut = "key " + o.ShortKey() + "; log " + o.Log
		}
		s.Cases = append(s.Cases, c)
	}
	s.Tests = len(outs)
	s.Time = secs(total)
	b, err := xml.MarshalIndent(junitSuites{Suites: []junitSuite{s}}, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFile(path, append([]byte(xml.Header), append(b, '\n')...), 0o644)
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// tail returns the last n lines of a file ("" when unreadable).
func tail(path string, n int) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Annotate prints GitHub Actions workflow commands for failed jobs, so the
// failure shows on the run's summary page: one ::error per finding of the
// job's log that names a file of the repository at root (go vet, go test,
// the overlay and vars checks; see Findings), on that file and line, then
// one for the job with the tail of its log.
func Annotate(w io.Writer, outs []Outcome, root string) {
	module := modulePath(root)
	for _, o := range outs {
		if o.Err == nil {
			continue
		}
		if f, err := os.Open(o.Log); err == nil {
			for _, fd := range Findings(f, root, module) {
				fmt.Fprintln(w, AnnotationLine(o.Job.Name, fd))
			}
			f.Close()
		}
		fmt.Fprintf(w, "::error title=CI job %s failed::%s\n", o.Job.Name, escapeData(o.Err.Error()+"\n"+tail(o.Log, 20)))
	}
}

// modulePath is the module line of root's go.mod ("" without one).
func modulePath(root string) string {
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if m, ok := strings.CutPrefix(strings.TrimSpace(l), "module "); ok {
			return strings.Trim(strings.TrimSpace(m), `"`)
		}
	}
	return ""
}

// Summary prints the failed jobs with their log paths: the last lines of
// each log, then what failed in it (go test's "--- FAIL:" lines and the
// findings naming the repository's files, as Annotate reads them). A long
// go test job's tail is only its package list; what failed comes last, so
// a reader who sees only the end of the output still sees it.
func Summary(w io.Writer, outs []Outcome, root string) {
	module := modulePath(root)
	ran, hit, failed := 0, 0, 0
	for _, o := range outs {
		switch {
		case o.Err != nil:
			failed++
			fmt.Fprintf(w, "\n--- %s FAILED: %v\n%s\n", o.Job.Name, o.Err, tail(o.Log, 30))
			if what := failures(o.Log, root, module, 30); what != "" {
				fmt.Fprintf(w, "--- %s, what failed:\n%s\n", o.Job.Name, what)
			}
			fmt.Fprintf(w, "--- full log: %s\n", o.Log)
		case o.Ran:
			ran++
		default:
			hit++
		}
	}
	fmt.Fprintf(w, "ci: %d passed, %d failed, %d skipped\n", ran, failed, hit)
}

// failures lists, at most n lines, the tests a job's log says failed
// ("--- FAIL: TestX (1.2s)", subtests indented as go test indents them)
// and its findings as "file:line: message".
func failures(logPath, root, module string, n int) string {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return ""
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if t := strings.TrimRight(l, "\r"); failRE.MatchString(t) {
			out = append(out, t)
		}
	}
	for _, f := range Findings(strings.NewReader(string(b)), root, module) {
		loc := f.File
		if f.Line > 0 {
			loc += ":" + strconv.Itoa(f.Line)
		}
		out = append(out, "    "+loc+": "+f.Message)
	}
	if len(out) > n {
		out = append(out[:n], fmt.Sprintf("... and %d more", len(out)-n))
	}
	return strings.Join(out, "\n")
}

// failRE is go test's line naming a failed test or subtest.
var failRE = regexp.MustCompile(`^\s*--- FAIL: \S+`)

// Explain writes the inputs that make a job's key.
func Explain(w io.Writer, p Planned) {
	fmt.Fprintf(w, "job %s\nkey %s (%s)\nstatus: %s\n", p.Job.Name, p.Key, p.ShortKey(), map[bool]string{true: "hit", false: "miss: " + p.Reason}[p.Hit])
	fmt.Fprintf(w, "definition %s\nrunner %s\n", p.Job.Definition(), p.Runner)
	for _, t := range p.Job.Tools {
		fmt.Fprintf(w, "tool %-10s %s\n", t, p.Tools[t])
	}
	for _, n := range p.Job.Needs {
		fmt.Fprintf(w, "needs %s\n", n)
	}
	fmt.Fprintf(w, "files %d (%d bytes), manifest %s\n", len(p.Files.Files), p.Files.Bytes(), p.Files.Sum())
	for _, f := range p.Files.Files {
		fmt.Fprintf(w, "  %s %04o %s\n", f.Hex()[:16], uint32(f.Mode.Perm()), f.Path)
	}
}
