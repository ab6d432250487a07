package ci

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func findingsRoot(t testing.TB) string {
	root := t.TempDir()
	for _, p := range []string{"tasks/x/x.go", "tasks/x/x_test.go", "modules/nixpkgs/overlays/a.nix", "lab/vars/per-machine/m/g/f/secret"} {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// Findings in the logs the jobs print: go vet, go test, the overlay table,
// vars:check; lines naming no file of the repository give nothing.
func TestFindings(t *testing.T) {
	root := findingsRoot(t)
	const mod = "example.com/m"
	tests := []struct {
		name, log string
		want      []Finding
	}{
		{"go vet", "# example.com/m/tasks/x\ntasks/x/x.go:12:3: unreachable code\n",
			[]Finding{{File: "tasks/x/x.go", Line: 12, Col: 3, Message: "unreachable code"}}},
		{"go vet ./", "./tasks/x/x.go:4:1: bad\n", []Finding{{File: "tasks/x/x.go", Line: 4, Col: 1, Message: "bad"}}},
		{"go test", "--- FAIL: TestA (0.00s)\n    x_test.go:45: assertion failed: 1 != 2\nFAIL\nFAIL\texample.com/m/tasks/x\t0.012s\n",
			[]Finding{{File: "tasks/x/x_test.go", Line: 45, Message: "assertion failed: 1 != 2"}}},
		{"go test other module", "    x_test.go:45: boom\nFAIL\tother.org/y/tasks/x\t0.1s\n", nil},
		{"overlay table", "SEVERITY  RULE    LOCATION                            MESSAGE\nerror     header  modules/nixpkgs/overlays/a.nix:3    no header comment\n",
			[]Finding{{File: "modules/nixpkgs/overlays/a.nix", Line: 3, Message: "no header comment"}}},
		{"vars check", "lab/vars/per-machine/m/g/f/secret: not encrypted to cinnabar\n",
			[]Finding{{File: "lab/vars/per-machine/m/g/f/secret", Message: "not encrypted to cinnabar"}}},
		{"no such file", "tasks/y/y.go:1:1: nope\nwarning: something\nci: 1 passed\n", nil},
		{"directory", "tasks/x: not a file\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Findings(strings.NewReader(tc.log), root, mod)
			assert.DeepEqual(t, got, tc.want)
		})
	}
}

func FuzzFindings(f *testing.F) {
	root := findingsRoot(f)
	f.Add("tasks/x/x.go:12:3: unreachable code\n")
	f.Add("    x_test.go:45: a\nFAIL\texample.com/m/tasks/x\t0.1s\n")
	f.Add("error  r  modules/nixpkgs/overlays/a.nix:3  m\n")
	f.Add("tasks/x/x.go:99999999999999999999: huge\n")
	f.Fuzz(func(t *testing.T, log string) {
		for _, fd := range Findings(strings.NewReader(log), root, "example.com/m") {
			if fd.Line < 0 || fd.Col < 0 || fd.File == "" {
				t.Fatalf("bad finding %+v", fd)
			}
			if _, err := os.Stat(filepath.Join(root, fd.File)); err != nil {
				t.Fatalf("finding names a missing file: %+v", fd)
			}
			line := AnnotationLine("j", fd)
			if strings.ContainsAny(line, "\r\n") {
				t.Fatalf("annotation spans lines: %q", line)
			}
		}
	})
}

func TestAnnotationLine(t *testing.T) {
	tests := []struct {
		f    Finding
		want string
	}{
		{Finding{File: "a/b.go", Line: 3, Col: 2, Message: "x\ny 100%"}, "::error file=a/b.go,line=3,col=2,title=CI job j::x%0Ay 100%25"},
		{Finding{File: "a,b:c", Message: "m"}, "::error file=a%2Cb%3Ac,title=CI job j::m"},
	}
	for _, tc := range tests {
		assert.Equal(t, AnnotationLine("j", tc.f), tc.want)
	}
}

// A failed job's log becomes ::error lines on the files it names, then one
// for the job.
func TestAnnotateFindings(t *testing.T) {
	root := findingsRoot(t)
	assert.NilError(t, os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/m\n"), 0o644))
	log := filepath.Join(t.TempDir(), "lint.log")
	assert.NilError(t, os.WriteFile(log, []byte("tasks/x/x.go:7:2: declared and not used: v\n"), 0o644))
	p := Planned{Job: Job{Name: "lint"}, Key: strings.Repeat("ab", 32)}
	var b bytes.Buffer
	Annotate(&b, []Outcome{{Planned: p, Ran: true, Err: errors.New("job lint failed"), Log: log}, {Planned: p, Ran: true}}, root)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	assert.Equal(t, len(lines), 2, b.String())
	assert.Equal(t, lines[0], "::error file=tasks/x/x.go,line=7,col=2,title=CI job lint::declared and not used: v")
	assert.Check(t, is.Contains(lines[1], "::error title=CI job lint failed::job lint failed"))
}

func TestStepOutputsAndSummary(t *testing.T) {
	key := strings.Repeat("0123456789abcdef", 4)
	hit := Planned{Job: Job{Name: "a"}, Key: key, Hit: true, Reason: "validated at 1a2b on laptop (remote http://c:9092)"}
	miss := Planned{Job: Job{Name: "b"}, Key: key, Reason: "changed x|y"}
	tests := []struct {
		ps   []Planned
		want string
	}{
		{[]Planned{hit}, "skip=true\nkeys=job-result-a-0123456789ab\n"},
		{[]Planned{hit, miss}, "skip=false\nkeys=job-result-a-0123456789ab job-result-b-0123456789ab\n"},
		{nil, "skip=false\nkeys=\n"},
	}
	for _, tc := range tests {
		var b bytes.Buffer
		assert.NilError(t, WriteStepOutputs(&b, tc.ps))
		assert.Equal(t, b.String(), tc.want)
	}
	var b bytes.Buffer
	assert.NilError(t, WriteStepSummary(&b, []Outcome{{Planned: hit}, {Planned: miss, Ran: true}, {Planned: miss, Ran: true, Err: errors.New("x")}}))
	assert.Equal(t, b.String(), "| job | result | key | reason |\n|---|---|---|---|\n"+
		"| a | SKIP | `job-result-a-0123456789ab` | validated at 1a2b on laptop (remote http://c:9092) |\n"+
		"| b | RUN | `job-result-b-0123456789ab` | changed x\\|y |\n"+
		"| b | FAIL | `job-result-b-0123456789ab` | changed x\\|y |\n\n")
}

// A failed job's summary names the failing tests and the lines of the
// repository they failed at after the log's tail, which for a long go
// test job is only the package list.
func TestSummaryNamesWhatFailed(t *testing.T) {
	root := findingsRoot(t)
	assert.NilError(t, os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/m\n"), 0o644))
	tests := []struct {
		name, log string
		want      []string
		wantNot   string
	}{
		{"go test subtest", "=== RUN TestA\n--- FAIL: TestA (1.00s)\n    --- FAIL: TestA/b (0.50s)\n        x_test.go:45: assertion failed: 1 != 2\nFAIL\nFAIL\texample.com/m/tasks/x\t0.012s\n" + strings.Repeat("ok  \texample.com/m/y\t0.1s\n", 50),
			[]string{"--- j, what failed:\n--- FAIL: TestA (1.00s)\n    --- FAIL: TestA/b (0.50s)\n    tasks/x/x_test.go:45: assertion failed: 1 != 2\n--- full log: "}, ""},
		{"vet finding", "tasks/x/x.go:7:2: declared and not used: v\n",
			[]string{"--- j, what failed:\n    tasks/x/x.go:7: declared and not used: v\n"}, ""},
		{"nothing recognised: the tail alone", "boom\n", []string{"FAILED: job j failed\nboom\n--- full log: "}, "what failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "j.log")
			assert.NilError(t, os.WriteFile(log, []byte(tc.log), 0o644))
			var b bytes.Buffer
			Summary(&b, []Outcome{{Planned: Planned{Job: Job{Name: "j"}}, Ran: true, Err: errors.New("job j failed"), Log: log}}, root)
			for _, w := range tc.want {
				assert.Check(t, is.Contains(b.String(), w))
			}
			if tc.wantNot != "" {
				assert.Check(t, !strings.Contains(b.String(), tc.wantNot), b.String())
			}
			assert.Check(t, is.Contains(b.String(), "ci: 0 passed, 1 failed, 0 skipped"))
		})
	}
}
