// Package hostexec holds what the two ways of running a host-side command
// share: tasks/remote runs it over SSH, tasks/localexec on the machine the
// deployer sits at, and the deploy must not care which. Both report a
// command that ran and failed with the one ExitError below, so a caller
// that asks errors.As for it, or reads its message, gets the same answer
// whichever way the command ran.
package hostexec

import "fmt"

// ExitError is a command that ran and exited non-zero, or died of a
// signal (Code is then -1 and Signal its name as SSH spells it: "TERM",
// "KILL").
type ExitError struct {
	Target  string // the host, as its runner names it
	Command string
	Code    int
	Signal  string
	Stderr  string // the last line of stderr, the command's own reason
}

// maxCommand is how much of a command the message quotes: a host script
// is long, and its first words say which one it was.
const maxCommand = 80

func (e *ExitError) Error() string {
	cmd := e.Command
	if len(cmd) > maxCommand {
		cmd = cmd[:maxCommand-3] + "..."
	}
	how := fmt.Sprintf("exit status %d", e.Code)
	if e.Signal != "" {
		how = "killed by signal " + e.Signal
	}
	msg := fmt.Sprintf("%s: %q: %s", e.Target, cmd, how)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}
