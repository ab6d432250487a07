package cachetest

import "syscall"

// dieWithParent kills the server when the test process dies, so a crashed
// test leaves no bazel-remote behind.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
