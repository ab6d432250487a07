package lab

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procStart returns a process's kernel start time (field 22 of
// /proc/<pid>/stat) and whether it is a zombie. Together with the pid it
// identifies a process for good: a recycled pid has a different start time.
func procStart(pid int) (start uint64, zombie bool, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); field 22 is f[19].
	if len(f) < 20 {
		return 0, false, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	return start, f[0] == "Z", err
}

// alive reports whether the process pid with the recorded start time runs.
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	s, z, err := procStart(pid)
	return err == nil && !z && s == start
}

// stop sends SIGTERM to the recorded process, then SIGKILL if it is still
// there after grace, and waits until it is gone.
func stop(pid int, start uint64, grace time.Duration) {
	if !alive(pid, start) {
		return
	}
	syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	killed := false
	for alive(pid, start) {
		if time.Now().After(deadline) {
			if killed {
				return // unkillable (D state); the caller reports what is left
			}
			syscall.Kill(pid, syscall.SIGKILL)
			killed, deadline = true, time.Now().Add(5*time.Second)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
