package terraform

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// lockHolder starts this test binary as a run that takes the workspace lock
// of workDir and starts a real child process (sleep), inheriting the lock
// when inherit is set, as terraform does. The child is a copy of sleep
// under workDir/data when asProvider is set, where terraform keeps its
// providers. It returns the run's process and the child's pid.
func lockHolder(t *testing.T, workDir string, inherit, asProvider bool) (*exec.Cmd, int) {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	assert.NilError(t, err, "the lock test needs sleep(1)")
	if asProvider {
		b, err := os.ReadFile(sleep)
		assert.NilError(t, err)
		sleep = filepath.Join(workDir, "data", "providers", "terraform-provider-test")
		assert.NilError(t, os.MkdirAll(filepath.Dir(sleep), 0o755))
		assert.NilError(t, os.WriteFile(sleep, b, 0o755))
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLockHolder$")
	cmd.Env = append(os.Environ(), "VANIXIETS_LOCK_HELPER=1", "HELPER_WORK="+workDir, "HELPER_CHILD="+sleep,
		"HELPER_INHERIT="+strconv.FormatBool(inherit))
	out, err := cmd.StdoutPipe()
	assert.NilError(t, err)
	cmd.Stderr = os.Stderr
	assert.NilError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	assert.NilError(t, err, "helper said nothing")
	var child int
	_, err = fmt.Sscanf(line, "child %d", &child)
	assert.NilError(t, err, "helper said %q", line)
	t.Cleanup(func() { syscall.Kill(child, syscall.SIGKILL) })
	return cmd, child
}

// TestHelperLockHolder is the run lockHolder starts; it holds the lock
// until it is killed.
func TestHelperLockHolder(t *testing.T) {
	if os.Getenv("VANIXIETS_LOCK_HELPER") != "1" {
		t.Skip("helper process only")
	}
	w := &Workspace{StateFile: "state", WorkDir: os.Getenv("HELPER_WORK")}
	lock, err := w.acquire(context.Background())
	assert.NilError(t, err)
	rn := &run{w: w, lock: lock}
	child := exec.Command(os.Getenv("HELPER_CHILD"), "600")
	if os.Getenv("HELPER_INHERIT") == "true" {
		err = rn.withLock(child.Start)
	} else {
		err = child.Start()
	}
	assert.NilError(t, err)
	fmt.Printf("child %d\n", child.Process.Pid)
	select {}
}

// noteWriter is a Stderr that says when something was written to it.
type noteWriter struct {
	mu    sync.Mutex
	buf   strings.Builder
	wrote chan struct{}
	once  sync.Once
}

func (n *noteWriter) Write(b []byte) (int, error) {
	n.mu.Lock()
	n.buf.Write(b)
	n.mu.Unlock()
	n.once.Do(func() { close(n.wrote) })
	return len(b), nil
}

func (n *noteWriter) String() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.buf.String()
}

// TestLockLivesWithWhatTheRunStarted: the workspace lock is held by every
// process that inherited it, so a run killed while its terraform still runs
// does not hand the lock to the next run until that terraform is done.
func TestLockLivesWithWhatTheRunStarted(t *testing.T) {
	for _, tc := range []struct {
		name string
		// inherit: the child is started the way terraform is (withLock).
		inherit, asProvider bool
		// killRun: the run that took the lock is killed before the next run
		// tries it.
		killRun bool
		// want: "refused" (another live run), "waits" (until the child
		// exits), "free" (at once).
		want string
		// childSurvives: the child is still running at the end (the next
		// run left it alone, and so did the test).
		childSurvives bool
	}{
		{name: "a live run refuses a second locker", inherit: true, want: "refused", childSurvives: true},
		{name: "terraform of a killed run keeps the next run waiting", inherit: true, killRun: true, want: "waits"},
		{name: "a provider orphaned by a killed run is killed, then the lock is taken", inherit: true, asProvider: true, killRun: true, want: "free"},
		{name: "a process started outside withLock does not hold the lock", killRun: true, want: "free", childSurvives: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			workDir := t.TempDir()
			holder, child := lockHolder(t, workDir, tc.inherit, tc.asProvider)
			if tc.killRun {
				assert.NilError(t, holder.Process.Kill())
				holder.Wait()
			}
			note := &noteWriter{wrote: make(chan struct{})}
			w := &Workspace{StateFile: "state", WorkDir: workDir, Stderr: note}
			switch tc.want {
			case "refused":
				_, err := w.acquire(context.Background())
				assert.ErrorContains(t, err, fmt.Sprintf("in use by another run (pid %d", holder.Process.Pid))
				assert.ErrorContains(t, err, "wait for it to finish")
			case "waits":
				type result struct {
					f   *os.File
					err error
				}
				got := make(chan result, 1)
				go func() { f, err := w.acquire(context.Background()); got <- result{f, err} }()
				<-note.wrote
				assert.Check(t, is.Contains(note.String(), fmt.Sprintf("the run that held it (pid %d) was killed", holder.Process.Pid)))
				select {
				case r := <-got:
					t.Fatalf("lock taken while the killed run's child still holds it: %v", r.err)
				default:
				}
				// An interrupted wait says what it was waiting for.
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				_, err := w.acquire(ctx)
				assert.Assert(t, errors.Is(err, context.Canceled), "got %v", err)
				assert.ErrorContains(t, err, "stopped waiting for the terraform left running by killed run")
				// The child ends: the waiting run gets the lock.
				assert.NilError(t, syscall.Kill(child, syscall.SIGKILL))
				r := <-got
				assert.NilError(t, r.err)
				r.f.Close()
			case "free":
				f, err := w.acquire(context.Background())
				assert.NilError(t, err)
				assert.Equal(t, lockOwner(f), os.Getpid(), "the lock names its new holder")
				f.Close()
				assert.Equal(t, note.String(), "", "nothing was waited for")
			}
			assert.Equal(t, processAlive(child), tc.childSurvives)
		})
	}
}

func FuzzLockOwner(f *testing.F) {
	for _, s := range []string{"1234\n", "", "x", " 7 ", "-1\n", "99999999999999999999999"} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, s string) {
		p := filepath.Join(dir, "lock")
		assert.NilError(t, os.WriteFile(p, []byte(s), 0o600))
		fh, err := os.Open(p)
		assert.NilError(t, err)
		defer fh.Close()
		got := lockOwner(fh)
		if len(s) > 32 {
			return // only the head is read; it must not panic
		}
		want, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			want = 0
		}
		assert.Equal(t, got, want)
	})
}

// stateJSON is a minimal terraform state.
func stateJSON(lineage string, serial int, servers ...string) []byte {
	var res []string
	for _, s := range servers {
		res = append(res, fmt.Sprintf(`{"mode":"managed","type":"hcloud_server","name":%q}`, s))
	}
	return []byte(fmt.Sprintf(`{"version":4,"serial":%d,"lineage":%q,"outputs":{},"resources":[%s]}`, serial, lineage, strings.Join(res, ",")))
}

// TestRecoverRuns: what a killed run's terraform wrote to its plaintext run
// directory is encrypted into the state file when it is newer, and the
// plaintext is removed; a damaged state is kept and refused.
func TestRecoverRuns(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	assert.NilError(t, err)
	for _, tc := range []struct {
		name   string
		stored []byte // the encrypted state before (nil: none)
		legacy bool   // the run directory is in WorkDir/runs
		left   []byte // the killed run's terraform.tfstate (nil: none)
		want   []byte // the stored state after
		note   string
		err    string
	}{
		{name: "no stored state", left: stateJSON("L", 1, "alpha"), want: stateJSON("L", 1, "alpha"), note: "recovered the state (serial 1)"},
		{name: "newer serial", stored: stateJSON("L", 1), left: stateJSON("L", 3, "alpha"), want: stateJSON("L", 3, "alpha"), note: "recovered the state (serial 3)"},
		{name: "older serial is dropped", stored: stateJSON("L", 4, "alpha"), left: stateJSON("L", 2), want: stateJSON("L", 4, "alpha")},
		{name: "other lineage is dropped", stored: stateJSON("L", 1), left: stateJSON("M", 9, "alpha"), want: stateJSON("L", 1)},
		{name: "no state in the directory", stored: stateJSON("L", 1), want: stateJSON("L", 1)},
		{name: "legacy location", legacy: true, left: stateJSON("L", 2, "alpha"), want: stateJSON("L", 2, "alpha"), note: "recovered the state (serial 2)"},
		{name: "damaged state is refused and kept", stored: stateJSON("L", 1), left: []byte(`{"version":4,"serial":2,"resources":[{"mode":"man`), want: stateJSON("L", 1), err: "holds a damaged terraform.tfstate"},
		{name: "emptied state is refused and kept", left: []byte{}, err: "holds a damaged terraform.tfstate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w := &Workspace{StateFile: filepath.Join(dir, "terraform.tfstate.age"), WorkDir: filepath.Join(dir, "work")}
			runs, err := w.runsRoot()
			assert.NilError(t, err)
			t.Cleanup(func() { os.RemoveAll(runs) })
			w.runs = runs
			v := Vault{Identities: []age.Identity{id}, Recipients: []age.Recipient{id.Recipient()}}
			if tc.stored != nil {
				assert.NilError(t, v.Write(w.StateFile, tc.stored))
			}
			root := runs
			if tc.legacy {
				root = filepath.Join(w.WorkDir, "runs")
			}
			left := filepath.Join(root, "run-killed")
			assert.NilError(t, os.MkdirAll(left, 0o700))
			if tc.left != nil {
				assert.NilError(t, os.WriteFile(filepath.Join(left, "terraform.tfstate"), tc.left, 0o600))
			}
			rn := &run{w: w, vault: v, state0: tc.stored}
			got, note, err := rn.recoverRuns()
			stored, rerr := v.Read(w.StateFile)
			assert.NilError(t, rerr)
			assert.Equal(t, string(stored), string(tc.want))
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				assert.ErrorContains(t, err, left)
				_, serr := os.Stat(filepath.Join(left, "terraform.tfstate"))
				assert.NilError(t, serr, "the damaged state is kept for a person to look at")
				return
			}
			assert.NilError(t, err)
			assert.Assert(t, is.Contains(note, tc.note))
			if tc.note != "" {
				assert.Equal(t, string(got), string(tc.want))
			} else {
				assert.Assert(t, got == nil)
			}
			_, serr := os.Stat(left)
			assert.Assert(t, errors.Is(serr, os.ErrNotExist), "the plaintext run directory is removed")
		})
	}
}

// TestRunsRootIsPrivate: run directories are made in a directory only the
// user can enter; one that is not is refused with what to do.
func TestRunsRootIsPrivate(t *testing.T) {
	w := &Workspace{WorkDir: t.TempDir()}
	runs, err := w.runsRoot()
	assert.NilError(t, err)
	t.Cleanup(func() { os.RemoveAll(runs) })
	fi, err := os.Stat(runs)
	assert.NilError(t, err)
	assert.Equal(t, fi.Mode().Perm(), os.FileMode(0o700))
	again, err := w.runsRoot()
	assert.NilError(t, err)
	assert.Equal(t, again, runs, "one place per workspace, so a later run finds a killed run's directories")

	assert.NilError(t, os.Chmod(runs, 0o755))
	_, err = w.runsRoot()
	assert.ErrorContains(t, err, "is not a private directory of yours")
	assert.ErrorContains(t, err, "remove it")
}

// TestLockInheritedByAChildIsWaitedFor: a process this program started
// while a run's lock descriptor was inheritable (withLock) keeps the lock
// after that run ended. The next run of this process waits for it to end,
// as for a killed run's terraform, instead of failing as if another run
// held the state. Found by applying two workspaces at once in one process:
// each terraform inherited the other workspace's lock, and the next run of
// either failed with "in use by another run" naming its own process.
func TestLockInheritedByAChildIsWaitedFor(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	assert.NilError(t, err, "the lock test needs sleep(1)")
	log := &bytes.Buffer{}
	w := &Workspace{StateFile: "x", WorkDir: t.TempDir(), Stderr: log}
	f, err := w.acquire(context.Background())
	assert.NilError(t, err)
	child := exec.Command(sleep, "1")
	assert.NilError(t, (&run{w: w, lock: f}).withLock(child.Start))
	go child.Wait()
	f.Close() // the run has ended; its child still holds the lock

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f2, err := w.acquire(ctx)
	assert.NilError(t, err, "waited for the child, then took the lock")
	defer f2.Close()
	assert.Check(t, !processAlive(child.Process.Pid), "the lock was taken while the child held it")
	assert.Check(t, is.Contains(log.String(), "held by a process this program started"))

	// A run of this process that still holds the lock is another run: no wait.
	_, err = w.acquire(ctx)
	assert.ErrorContains(t, err, "in use by another run")
}
