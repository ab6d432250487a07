package terraform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The workspace lock is an flock on WorkDir/lock. An flock belongs to the
// open file description, not to the process that took it: every process
// holding a descriptor of that description holds the lock, and the kernel
// drops it when the last one is closed. A run hands its descriptor to each
// terraform it starts (withLock), and terraform hands it on to its
// providers, so the lock lives as long as anything the run started. That is
// what makes a killed run safe: if the suite's process dies while terraform
// is still applying (terraform survives its parent wherever the parent-death
// signal terraform-exec asks for is not delivered, and its providers always
// do), the next run cannot take the lock and race it for the run directory's
// state; it waits until terraform has finished writing, then recovers that
// state (recoverRuns).

// lockPoll is how often a run waiting for a killed run's terraform tries
// the lock again.
const lockPoll = 100 * time.Millisecond

// acquire takes the workspace lock. When another live process's run holds
// it, it fails at once, naming that run's pid. When the run that took it is dead,
// what still holds it is terraform (or a provider) that run started:
// orphaned providers, which would never end on their own, are killed, and a
// terraform still applying is waited for (until ctx ends), with a note on
// Stderr saying what is awaited.
func (w *Workspace) acquire(ctx context.Context) (*os.File, error) {
	f, err := os.OpenFile(w.lockPath(), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	noted := false
	for {
		w.reapProviders()
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %v", w.lockPath(), err)
		}
		owner := lockOwner(f)
		self := owner == os.Getpid()
		if (self && heldHere(w.lockPath())) || (!self && (owner <= 0 || processAlive(owner))) {
			f.Close()
			return nil, fmt.Errorf("terraform state %s is in use by another run (pid %d, lock %s): wait for it to finish", w.StateFile, owner, w.lockPath())
		}
		// Left to wait for: terraform a killed run started, or, when this
		// process took the lock itself and none of its runs holds it now, a
		// process it started while a run's descriptor was inheritable
		// (withLock): that run's terraform and providers, or any other
		// command this program started in that window (another workspace's
		// terraform, an ssh of a parallel deploy). Each of them ends, and
		// the lock with it.
		if !noted {
			noted = true
			if self {
				fmt.Fprintf(w.stderr(), "terraform state %s: held by a process this program started (an earlier run's terraform, or a command started while a run was starting terraform); waiting for it to end (interrupt to stop waiting; the lock is %s)\n", w.StateFile, w.lockPath())
			} else {
				fmt.Fprintf(w.stderr(), "terraform state %s: the run that held it (pid %d) was killed, but terraform it started is still running; waiting for it to finish writing its state (interrupt to stop waiting; the lock is %s)\n", w.StateFile, owner, w.lockPath())
			}
		}
		select {
		case <-ctx.Done():
			f.Close()
			if self {
				return nil, fmt.Errorf("terraform state %s: stopped waiting for a process this program started, which still holds %s: %w", w.StateFile, w.lockPath(), ctx.Err())
			}
			return nil, fmt.Errorf("terraform state %s: stopped waiting for the terraform left running by killed run pid %d (it still holds %s): %w", w.StateFile, owner, w.lockPath(), ctx.Err())
		case <-time.After(lockPoll):
		}
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	ours.Lock()
	ours.held[w.lockPath()] = f
	ours.Unlock()
	return f, nil
}

// ours are the workspace locks this process has taken, by lock path, so
// that a lock held under this process's pid can be told apart: a run of
// this process still holding it (its descriptor open: the lock is in use)
// from a process this program started that inherited it (wait for it).
var ours = struct {
	sync.Mutex
	held map[string]*os.File
}{held: map[string]*os.File{}}

// heldHere reports whether a run of this process holds the lock at path
// now: the descriptor it took the lock with is still open.
func heldHere(path string) bool {
	ours.Lock()
	defer ours.Unlock()
	f := ours.held[path]
	if f == nil {
		return false
	}
	if _, err := f.Stat(); err != nil {
		delete(ours.held, path)
		return false
	}
	return true
}

// lockOwner is the pid the lock's holder wrote into it (0 when unreadable).
func lockOwner(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil {
		return 0
	}
	return pid
}

// processAlive reports whether pid is a running process. kill(0) also
// succeeds on a zombie, which has closed its files already: /proc tells
// them apart where there is one.
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) == 0 || fields[0] != "Z"
}

// withLock runs fn, a terraform command, with the lock's descriptor
// inheritable, so the terraform fn starts (and its providers) hold the lock
// until they exit, even if this process dies first. The descriptor is
// inheritable only while fn runs; any other process this program starts
// in that window inherits it as well and holds the lock until it exits,
// which can only make a later run wait, never let two runs overlap.
func (rn *run) withLock(fn func() error) error {
	fd := rn.lock.Fd()
	if _, err := unix.FcntlInt(fd, unix.F_SETFD, 0); err != nil {
		return fmt.Errorf("lock %s: make it inheritable: %v", rn.w.lockPath(), err)
	}
	defer unix.FcntlInt(fd, unix.F_SETFD, unix.FD_CLOEXEC)
	return fn()
}

func (w *Workspace) stderr() io.Writer {
	if w.Stderr != nil {
		return w.Stderr
	}
	return os.Stderr
}
