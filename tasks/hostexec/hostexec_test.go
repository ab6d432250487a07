package hostexec

import (
	"strings"
	"testing"

	"gotest.tools/v3/assert"
)

// TestExitErrorMessage: the message names the host, the command (cut to
// its first words), how it ended and its last words.
func TestExitErrorMessage(t *testing.T) {
	long := strings.Repeat("x", 100)
	tests := []struct {
		name string
		err  ExitError
		want string
	}{
		{"exit", ExitError{Target: "root@cinnabar", Command: "false", Code: 1},
			`root@cinnabar: "false": exit status 1`},
		{"with stderr", ExitError{Target: "this machine", Command: "switch", Code: 3, Stderr: "it broke"},
			`this machine: "switch": exit status 3: it broke`},
		{"signal", ExitError{Target: "root@electrum", Command: "sleep 60", Code: -1, Signal: "TERM"},
			`root@electrum: "sleep 60": killed by signal TERM`},
		{"long command", ExitError{Target: "h", Command: long, Code: 2},
			`h: "` + strings.Repeat("x", 77) + `...": exit status 2`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.err.Error(), tc.want)
		})
	}
}
