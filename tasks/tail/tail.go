// Package tail keeps the end of what a command wrote, for the one line of
// an error that says why it failed. The SSH sessions (tasks/remote), this
// machine's shell (tasks/localexec), the closure copy and the deploy's
// builds and installs all report a failed command by its last words; they
// share these instead of each keeping a copy.
package tail

import (
	"strings"
	"sync"
)

// Buffer keeps the last Max bytes written to it, safe for concurrent
// writers (a command's stderr may be copied while its error is read).
type Buffer struct {
	Max int

	mu  sync.Mutex
	buf []byte
}

func (t *Buffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.Max {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-t.Max:]...)
	}
	return len(p), nil
}

func (t *Buffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// LastLine is the last line of s, surrounding space trimmed.
func LastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// LastLines is the last n lines of s joined by " | ", for one line of an
// error message.
func LastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
