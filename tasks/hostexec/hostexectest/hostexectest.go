// Package hostexectest holds the one test every runner of host-side
// commands must pass (tasks/remote over SSH, tasks/localexec on this
// machine): the same command lines give the same output and fail with the
// same *hostexec.ExitError. It imports nothing of the suite but hostexec,
// so tasks/remote's own tests may use it.
//
// Imported by tests only.
package hostexectest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/hostexec"
)

// RunFunc is a runner's Run: command is a shell command line, stdin may be
// nil, stdout and stderr receive the streams.
type RunFunc func(ctx context.Context, command string, stdin io.Reader, stdout, stderr io.Writer) error

// Conform runs the shared cases through run, a runner whose errors name
// the host as target.
func Conform(t *testing.T, target string, run RunFunc) {
	tests := []struct {
		name    string
		command string
		stdin   string // "": a nil stdin
		stdout  string
		code    int // 0: no error
		signal  string
		stderr  string // the ExitError's Stderr
	}{
		{name: "output", command: `echo "one two"; echo three`, stdout: "one two\nthree\n"},
		{name: "stdin", command: `tr a-z A-Z`, stdin: "secret\n", stdout: "SECRET\n"},
		{name: "args", command: `sh -c 'echo "$1/$2"' x 'a b' c`, stdout: "a b/c\n"},
		{name: "exit", command: `echo partial; echo "it broke" >&2; exit 3`, stdout: "partial\n", code: 3, stderr: "it broke"},
		{name: "last line of stderr", command: `printf 'one\ntwo\n' >&2; exit 1`, code: 1, stderr: "two"},
		{name: "signal", command: `echo dying >&2; kill -TERM $$`, code: -1, signal: "TERM", stderr: "dying"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdin io.Reader
			if tc.stdin != "" {
				stdin = strings.NewReader(tc.stdin)
			}
			var out, errb bytes.Buffer
			err := run(context.Background(), tc.command, stdin, &out, &errb)
			assert.Equal(t, out.String(), tc.stdout)
			if tc.code == 0 {
				assert.NilError(t, err)
				return
			}
			var ee *hostexec.ExitError
			assert.Assert(t, errors.As(err, &ee), "%v", err)
			assert.Equal(t, ee.Code, tc.code)
			assert.Equal(t, ee.Signal, tc.signal)
			assert.Equal(t, ee.Stderr, tc.stderr)
			assert.Equal(t, ee.Command, tc.command)
			assert.Check(t, is.Contains(err.Error(), target))
			assert.Check(t, is.Contains(errb.String(), tc.stderr), "stderr is streamed as well as kept")
		})
	}
}
