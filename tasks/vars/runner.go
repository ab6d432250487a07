package vars

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// scriptInput is everything a generator script sees.
type scriptInput struct {
	unit *Unit
	// in maps a dependency name to its files' contents ($in/<dep>/<file>).
	in map[string]map[string][]byte
	// prompts maps a prompt name to its answer ($prompts/<name>).
	prompts map[string][]byte
}

// runner runs generator scripts.
type runner struct {
	// tmpBase is where private work directories are made; see TmpBase.
	tmpBase string
	// extraPath is prepended to the minimal PATH.
	extraPath string
}

// TmpBase is the directory the private work directories of generator scripts
// are created in: $VANIXIETS_VARS_TMPDIR, else /dev/shm when writable (memory,
// so plaintext never reaches a disk), else the system temporary directory.
func TmpBase() string {
	if d := os.Getenv("VANIXIETS_VARS_TMPDIR"); d != "" {
		return d
	}
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if f, err := os.CreateTemp("/dev/shm", ".vanixiets-probe-"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return "/dev/shm"
		}
	}
	return os.TempDir()
}

// minimalPath is the PATH a script gets: system tools only, so that a
// generator does not depend on what happens to be on the operator's PATH.
const minimalPath = "/usr/bin:/bin"

// ScriptError is a generator script that failed; Stderr is its output.
type ScriptError struct {
	Unit   string
	Err    error
	Stderr string
}

func (e *ScriptError) Error() string {
	msg := fmt.Sprintf("%s: script failed: %v", e.Unit, e.Err)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += "\n--- stderr ---\n" + s
	}
	return msg
}

func (e *ScriptError) Unwrap() error { return e.Err }

// run executes the unit's script in a private 0700 directory holding $in,
// $out and $prompts, with a minimal environment, and returns the declared
// files it wrote. The directory is removed afterwards, on error and on
// cancellation too (the script's process group is killed first).
func (r runner) run(ctx context.Context, si scriptInput) (files map[string][]byte, err error) {
	u := si.unit
	root, release, err := newWorkDir(r.tmpBase)
	if err != nil {
		return nil, fmt.Errorf("%s: private work directory: %w", u, err)
	}
	defer release()
	in, out, prompts, home, tmp := filepath.Join(root, "in"), filepath.Join(root, "out"), filepath.Join(root, "prompts"), filepath.Join(root, "home"), filepath.Join(root, "tmp")
	for _, d := range []string{in, out, prompts, home, tmp} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, err
		}
	}
	for dep, fs := range si.in {
		if err := os.Mkdir(filepath.Join(in, dep), 0o700); err != nil {
			return nil, err
		}
		for n, b := range fs {
			if err := os.WriteFile(filepath.Join(in, dep, n), b, 0o600); err != nil {
				return nil, err
			}
		}
	}
	for n, b := range si.prompts {
		if err := os.WriteFile(filepath.Join(prompts, n), b, 0o600); err != nil {
			return nil, err
		}
	}
	path := minimalPath
	if r.extraPath != "" {
		path = r.extraPath + ":" + minimalPath
	}
	cmd := exec.CommandContext(ctx, "/bin/sh", "-e", "-c", u.Gen.Script)
	cmd.Dir = tmp
	cmd.Env = []string{
		"PATH=" + path,
		"HOME=" + home,
		"TMPDIR=" + tmp,
		"LANG=C",
		"LC_ALL=C",
		"in=" + in,
		"out=" + out,
		"prompts=" + prompts,
		"generator=" + u.Name,
		"machine=" + u.Machine,
	}
	var stderr bytes.Buffer
	// One writer for both streams: exec then shares one pipe, so output
	// interleaves as the script wrote it and nothing writes concurrently.
	lb := &limitedBuffer{buf: &stderr, max: 64 << 10}
	cmd.Stdout = lb
	cmd.Stderr = lb
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: interrupted: %w", u, ctx.Err())
		}
		return nil, &ScriptError{Unit: u.String(), Err: err, Stderr: stderr.String()}
	}
	files = map[string][]byte{}
	for _, f := range u.Files {
		b, err := os.ReadFile(filepath.Join(out, f.Name))
		if errors.Is(err, fs.ErrNotExist) {
			if p, ok := u.Gen.Prompts[f.Name]; ok && p.Persist {
				files[f.Name] = si.prompts[f.Name]
				continue
			}
			return nil, &ScriptError{Unit: u.String(), Err: fmt.Errorf("declared file %q not written to $out", f.Name), Stderr: stderr.String()}
		}
		if err != nil {
			return nil, &ScriptError{Unit: u.String(), Err: fmt.Errorf("read $out/%s: %v", f.Name, err), Stderr: stderr.String()}
		}
		files[f.Name] = b
	}
	ents, err := os.ReadDir(out)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if u.File(e.Name()) == nil {
			return nil, &ScriptError{Unit: u.String(), Err: fmt.Errorf("wrote undeclared file %q to $out (declare it in files, or do not write it)", e.Name()), Stderr: stderr.String()}
		}
	}
	return files, nil
}

// workPrefix starts the name of every work directory; workLock is the file
// in it that its run holds locked.
const (
	workPrefix = "vanixiets-vars-"
	workLock   = ".owner.lock"
)

// newWorkDir makes a private (0700) work directory under base and locks it
// for this process with flock on <dir>/.owner.lock, which also records the
// pid. The lock is what SweepStale asks: the kernel drops it when the
// process dies, however it dies (SIGKILL, power loss of a tmpfs aside), so
// a run that was killed leaves a directory anyone can recognise as
// abandoned, while a live run's directory is never touched. release
// removes the directory and then drops the lock.
func newWorkDir(base string) (dir string, release func(), err error) {
	dir, err = os.MkdirTemp(base, workPrefix)
	if err != nil {
		return "", nil, err
	}
	fail := func(err error) (string, func(), error) {
		os.RemoveAll(dir)
		return "", nil, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fail(err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, workLock), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fail(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return fail(fmt.Errorf("lock %s: %w", lock.Name(), err))
	}
	fmt.Fprintf(lock, "%d\n", os.Getpid())
	return dir, func() {
		os.RemoveAll(dir)
		lock.Close()
	}, nil
}

// unlockedGrace is how old a work directory without a lock file must be to
// count as abandoned: one made by a suite older than the lock, or killed
// in the instant between creating the directory and its lock.
const unlockedGrace = time.Minute

// SweepStale removes the work directories under base (TmpBase() when "")
// that no live run holds: a generator run that was killed (SIGKILL, OOM)
// cannot remove its own, and it may hold decrypted dependency secrets and
// the fresh outputs. Only this user's directories are considered; a
// directory whose lock is held is in use and left alone. Generate calls it
// first, so a kill's plaintext lives at most until the next run. It
// returns the removed directories.
func SweepStale(base string) ([]string, error) {
	if base == "" {
		base = TmpBase()
	}
	ents, err := os.ReadDir(base)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var removed []string
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), workPrefix) {
			continue
		}
		dir := filepath.Join(base, e.Name())
		st, err := os.Lstat(dir)
		if err != nil || !st.IsDir() {
			continue
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Geteuid() {
			continue // another user's: not ours to judge
		}
		if !abandoned(dir, st) {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			return removed, fmt.Errorf("remove abandoned work directory %s: %w", dir, err)
		}
		removed = append(removed, dir)
	}
	return removed, nil
}

// abandoned reports whether no live process holds dir's lock.
func abandoned(dir string, st fs.FileInfo) bool {
	lock, err := os.OpenFile(filepath.Join(dir, workLock), os.O_RDWR, 0)
	if err != nil {
		return errors.Is(err, fs.ErrNotExist) && time.Since(st.ModTime()) > unlockedGrace
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return false // held: a live run
	}
	// Ours now; RemoveAll follows, and the lock dies with the file.
	return true
}

// limitedBuffer keeps the first max bytes of a stream.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		if len(p) > room {
			l.buf.Write(p[:room])
		} else {
			l.buf.Write(p)
		}
	}
	return len(p), nil
}
