// Package cachetest starts a real bazel-remote for tests: the cache's own
// (damaged entries, storage modes, htpasswd, forgeries) and other packages'
// (the CI workflow replay shares one between a "laptop" and the replayed
// GitHub jobs). It is a test place: only tests import it.
package cachetest

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vanixiets/vanixiets/tasks/paths"
)

// Server is a running bazel-remote on a loopback port, stopped (and its
// directory removed) by the test's cleanup, pass or fail.
type Server struct {
	URL string
	// Dir is its --dir, for tests that damage entries behind its back.
	Dir string
	cmd *exec.Cmd
}

// Kill stops the server at once, as a crash or a lost network would.
func (s *Server) Kill() error { return s.cmd.Process.Kill() }

// Start starts bazel-remote (built by scripts/install-bazel-remote.sh under
// repoRoot, which it runs when the binary is missing and CI is set;
// otherwise the test skips saying how to get it) with its own directory and
// a free loopback port. gRPC is off, so nothing fixed is bound and tests of
// other packages may run at the same time. extra flags are appended
// (--storage_mode, --htpasswd_file, ...).
func Start(tb testing.TB, repoRoot string, extra ...string) *Server {
	tb.Helper()
	bin := filepath.Join(paths.Tools(), "bazel-remote")
	if _, err := os.Stat(bin); err != nil {
		script := filepath.Join(repoRoot, "scripts", "install-bazel-remote.sh")
		if os.Getenv("CI") == "" {
			tb.Skipf("bazel-remote is not installed at %s: run `bash %s` (CI runs it itself)", bin, script)
		}
		if out, err := exec.Command("bash", script).CombinedOutput(); err != nil {
			tb.Fatalf("%s failed: %v\n%s", script, err, out)
		}
	}
	var lastLog string
	for attempt := 0; attempt < 5; attempt++ {
		s, log, retry := try(tb, bin, extra)
		if s != nil {
			return s
		}
		lastLog = log
		if !retry {
			break
		}
	}
	tb.Fatalf("bazel-remote did not start; its log:\n%s", lastLog)
	return nil
}

// BazelRemote starts a default server and returns its URL.
func BazelRemote(tb testing.TB, repoRoot string) string {
	tb.Helper()
	return Start(tb, repoRoot).URL
}

func try(tb testing.TB, bin string, extra []string) (s *Server, log string, retry bool) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // a tiny race with other processes: a clash is retried
	dir := tb.TempDir()
	logPath := filepath.Join(tb.TempDir(), "bazel-remote.log")
	logf, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	defer logf.Close()
	args := append([]string{
		"--dir", filepath.Join(dir, "cache"),
		"--max_size", "1",
		"--http_address", addr,
		"--grpc_address", "none",
	}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = dieWithParent()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	readLog := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-exited:
			log := readLog()
			return nil, log, strings.Contains(log, "address already in use")
		default:
		}
		if resp, err := client.Get("http://" + addr + "/status"); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			// 401: up, but behind --htpasswd_file.
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			return nil, readLog() + "\n(not ready after 20 s)", false
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Cleanup(func() {
		stop()
		if tb.Failed() {
			tb.Logf("bazel-remote log:\n%s", readLog())
		}
	})
	return &Server{URL: "http://" + addr, Dir: filepath.Join(dir, "cache"), cmd: cmd}, "", false
}
