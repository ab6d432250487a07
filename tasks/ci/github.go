package ci

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// What ci:run and ci:plan tell GitHub Actions, through the files and the
// workflow commands the runner provides: the step outputs the generated
// workflow's conditions read, the run's summary page, and annotations on
// the lines a failing job complains about.

// WriteStepOutputs writes the key step's outputs (to the file
// $GITHUB_OUTPUT names): skip=true when every planned job is a hit, so the
// workflow's later steps (set-up, ci:run) are skipped; keys lists each job's
// short key.
func WriteStepOutputs(w io.Writer, ps []Planned) error {
	skip := len(ps) > 0
	var keys []string
	for _, p := range ps {
		skip = skip && p.Hit
		keys = append(keys, p.ShortKey())
	}
	_, err := fmt.Fprintf(w, "skip=%v\nkeys=%s\n", skip, strings.Join(keys, " "))
	return err
}

// WriteStepSummary writes the markdown table of a run (to the file
// $GITHUB_STEP_SUMMARY names): one row per job with SKIP, RUN or FAIL, its
// short key and the reason (where a hit was validated; what changed on a
// miss).
func WriteStepSummary(w io.Writer, outs []Outcome) error {
	var b strings.Builder
	b.WriteString("| job | result | key | reason |\n|---|---|---|---|\n")
	for _, o := range outs {
		verb := "RUN"
		switch {
		case o.Err != nil:
			verb = "FAIL"
		case !o.Ran && o.Hit:
			verb = "SKIP"
		case !o.Ran:
			verb = "NOT RUN"
		}
		fmt.Fprintf(&b, "| %s | %s | `%s` | %s |\n", mdCell(o.Job.Name), verb, o.ShortKey(), mdCell(o.Reason))
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "\r", "").Replace(s)
}

// AppendToEnvFile appends to the file a GitHub variable names
// ($GITHUB_OUTPUT, $GITHUB_STEP_SUMMARY), the way the runner expects.
func AppendToEnvFile(name string, write func(io.Writer) error) error {
	p := os.Getenv(name)
	if p == "" {
		return fmt.Errorf("$%s is not set: GitHub Actions sets it; set it to a file to try this outside Actions", name)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("$%s: %w", name, err)
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Finding is a complaint in a job's log that names a file of the
// repository, with its line when it has one.
type Finding struct {
	File    string // relative to the repository root, slash-separated
	Line    int    // 0: the whole file
	Col     int
	Message string
}

// locRE matches "path:line[:col]: message" (go vet, compilers, gofmt -e,
// the overlay check's table) and "path: message" (vars:check). The path
// must name a file of the repository for it to count.
var locRE = regexp.MustCompile(`^\s*((?:\./)?[A-Za-z0-9_.+@/-]+)(?::(\d+))?(?::(\d+))?:\s+(.+)$`)

// tableRE matches a row of the overlay check's table: severity, rule,
// path:line, message.
var tableRE = regexp.MustCompile(`^(error|warning)\s+\S+\s+([A-Za-z0-9_.+@/-]+\.[A-Za-z0-9]+):(\d+)\s+(.+)$`)

// goFailRE is go test's line naming a failed package.
var goFailRE = regexp.MustCompile(`^(?:FAIL|---\s+FAIL:.*)\s+(\S+)\s+[0-9.]+s$|^FAIL\s+(\S+)\s+\[`)

// Findings reads a job's log for complaints naming the repository's files.
// go test prints a failing assertion as "    name_test.go:12: ..." (the
// package's directory left out) and names the package on a later "FAIL
// <import path>" line: such findings are resolved through module (the
// repository's module path). Lines naming no existing file are skipped, so
// an annotation always points at a real line.
func Findings(log io.Reader, root, module string) []Finding {
	var out, pending []Finding
	exists := func(rel string) bool {
		fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel)))
		return err == nil && !fi.IsDir()
	}
	sc := bufio.NewScanner(log)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if m := goFailRE.FindStringSubmatch(line); m != nil {
			pkg := m[1] + m[2]
			if dir, ok := strings.CutPrefix(pkg, module+"/"); ok {
				for _, f := range pending {
					f.File = path.Join(dir, f.File)
					if exists(f.File) {
						out = append(out, f)
					}
				}
			}
			pending = nil
			continue
		}
		if m := tableRE.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[3])
			if exists(m[2]) {
				out = append(out, Finding{File: m[2], Line: n, Message: m[4]})
			}
			continue
		}
		m := locRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		f := Finding{File: strings.TrimPrefix(m[1], "./"), Message: strings.TrimSpace(m[4])}
		f.Line, _ = strconv.Atoi(m[2])
		f.Col, _ = strconv.Atoi(m[3])
		switch {
		case exists(f.File):
			out = append(out, f)
		case !strings.Contains(f.File, "/") && strings.HasSuffix(f.File, ".go") && f.Line > 0:
			pending = append(pending, f) // go test: resolved by its FAIL line
		}
	}
	return out
}

// escapeData escapes a workflow command's message; escapeProp its
// properties (file, title).
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProp(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// AnnotationLine is the ::error workflow command for a finding of job.
func AnnotationLine(job string, f Finding) string {
	props := "file=" + escapeProp(f.File)
	if f.Line > 0 {
		props += ",line=" + strconv.Itoa(f.Line)
	}
	if f.Col > 0 {
		props += ",col=" + strconv.Itoa(f.Col)
	}
	props += ",title=" + escapeProp("CI job "+job)
	return "::error " + props + "::" + escapeData(f.Message)
}
