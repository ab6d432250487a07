// Package cachetest starts a real bazel-remote for tests of other packages
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

// BazelRemote starts bazel-remote (built by scripts/install-bazel-remote.sh,
// which it runs when the binary is missing and CI is set; otherwise the
// test skips saying how to get it) on a free loopback port with its own
// directory, and returns its URL. The test's cleanup stops it.
func BazelRemote(tb testing.TB, repoRoot string) string {
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
	for attempt := 0; attempt < 5; attempt++ {
		url, log, retry := try(tb, bin)
		if url != "" {
			return url
		}
		if !retry {
			tb.Fatalf("bazel-remote did not start; its log:\n%s", log)
		}
	}
	tb.Fatalf("bazel-remote did not start: its port was taken five times")
	return ""
}

func try(tb testing.TB, bin string) (url, log string, retry bool) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // a tiny race with other processes: a clash is retried
	dir := tb.TempDir()
	logPath := filepath.Join(dir, "bazel-remote.log")
	logf, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--dir", filepath.Join(dir, "cache"), "--max_size", "1", "--http_address", addr, "--grpc_address", "none")
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
			return "", log, strings.Contains(log, "address already in use")
		default:
		}
		if resp, err := client.Get("http://" + addr + "/status"); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			return "", readLog() + "\n(not ready after 20 s)", false
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Cleanup(stop)
	return "http://" + addr, "", false
}
