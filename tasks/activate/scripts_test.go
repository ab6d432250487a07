package activate

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/hostsh"
)

// runFuncs runs body after the scripts' shared functions, with $D in dir,
// under shell sh (posh or dash: a Mac's sh is no laxer), and returns its
// output and exit code.
func runFuncs(t *testing.T, sh, dir, body string, env ...string) (string, int) {
	t.Helper()
	if _, err := exec.LookPath(sh); err != nil {
		t.Fatalf("%s is not installed: apt-get install %s (scripts/setup.sh installs it)", sh, sh)
	}
	script := hostsh.Prelude + vars + "D=" + hostsh.Quote(dir) + "\n" + funcs + body
	cmd := exec.Command(sh, "-c", script)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		assert.NilError(t, err)
	}
	return string(out), code
}

// TestLock: the machine's lock is a symbolic link naming its holder; a
// live holder keeps it, a dead one's is broken, an older version's flock
// file gives way, unlock removes only one's own, and concurrent lockers
// exclude each other (under posh and dash).
func TestLock(t *testing.T) {
	dead := exec.Command("true")
	assert.NilError(t, dead.Run())
	deadPID := dead.Process.Pid
	for _, sh := range hostsh.Shells {
		t.Run(sh, func(t *testing.T) {
			for _, tc := range []struct {
				name   string
				before func(t *testing.T, lock string)
				code   int
				holder string // the link's target afterwards ("" none)
			}{
				{"free", nil, 0, "me"},
				{"held by a live process", func(t *testing.T, lock string) {
					assert.NilError(t, os.Symlink(fmt.Sprintf("%d:other", os.Getpid()), lock))
				}, 1, fmt.Sprintf("%d:other", os.Getpid())},
				{"held by a dead process", func(t *testing.T, lock string) {
					assert.NilError(t, os.Symlink(fmt.Sprintf("%d:other", deadPID), lock))
				}, 0, "me"},
				{"an older version's flock file", func(t *testing.T, lock string) {
					assert.NilError(t, os.WriteFile(lock, nil, 0o644))
				}, 0, "me"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					dir := t.TempDir()
					lock := filepath.Join(dir, "lock")
					if tc.before != nil {
						tc.before(t, lock)
					}
					out, code := runFuncs(t, sh, dir, `lock 0 me`)
					assert.Equal(t, code, tc.code, out)
					got, _ := os.Readlink(lock)
					assert.Equal(t, got, tc.holder)
					_, err := os.Stat(filepath.Join(dir, "lock.break"))
					assert.Assert(t, os.IsNotExist(err), "lock.break left behind")
				})
			}

			t.Run("unlock removes only its own", func(t *testing.T) {
				dir := t.TempDir()
				lock := filepath.Join(dir, "lock")
				assert.NilError(t, os.Symlink("1:other", lock))
				_, code := runFuncs(t, sh, dir, `unlock 2:me`)
				assert.Equal(t, code, 0)
				got, _ := os.Readlink(lock)
				assert.Equal(t, got, "1:other")
				_, code = runFuncs(t, sh, dir, `unlock 1:other`)
				assert.Equal(t, code, 0)
				_, err := os.Lstat(lock)
				assert.Assert(t, os.IsNotExist(err))
			})

			t.Run("busy names the holder and the fix", func(t *testing.T) {
				dir := t.TempDir()
				assert.NilError(t, os.Symlink("123:tok", filepath.Join(dir, "lock")))
				out, _ := runFuncs(t, sh, dir, `busy 7`)
				assert.Check(t, is.Contains(out, "holds "+dir+"/lock (123:tok; waited 7 s)"))
				assert.Check(t, is.Contains(out, "remove "+dir+"/lock and "+dir+"/lock.break"))
			})

			t.Run("mutual exclusion", func(t *testing.T) {
				dir := t.TempDir()
				log := filepath.Join(dir, "log")
				// A stale lock to break first: every locker sees a dead holder.
				assert.NilError(t, os.Symlink(fmt.Sprintf("%d:stale", deadPID), filepath.Join(dir, "lock")))
				var wg sync.WaitGroup
				for i := 0; i < 6; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						out, code := runFuncs(t, sh, dir, fmt.Sprintf(`lock 20 "$$:%d" || exit 9
echo in >> %s; sleep 0.05; echo out >> %s
unlock "$$:%d"`, i, hostsh.Quote(log), hostsh.Quote(log), i))
						assert.Check(t, code == 0, out)
					}()
				}
				wg.Wait()
				b, err := os.ReadFile(log)
				assert.NilError(t, err)
				assert.Equal(t, string(b), strings.Repeat("in\nout\n", 6), "two lockers held the lock at once")
			})
		})
	}
}

// TestSwitchToDarwin runs switch_to on nix-darwin systems as
// darwin-rebuild does: activate-user (as this user, no $SUDO_USER) before
// activate, unless the system's activate-user is nix-darwin's deprecated
// stub; a failing activate-user stops before activate. NixOS systems run
// switch-to-configuration with the action.
func TestSwitchToDarwin(t *testing.T) {
	for _, sh := range hostsh.Shells {
		t.Run(sh, func(t *testing.T) {
			for _, tc := range []struct {
				name, class, activateUser string
				code                      int
				want                      string
			}{
				{"darwin without activate-user", "darwin", "", 0, "activate\n"},
				{"darwin with activate-user", "darwin", "#!/bin/sh\necho activate-user >> \"$LOG\"\n", 0, "activate-user\nactivate\n"},
				{"darwin's deprecated stub", "darwin", "#!/bin/sh\n# nix-darwin: deprecated\necho stub >> \"$LOG\"\n", 0, "activate\n"},
				{"activate-user fails", "darwin", "#!/bin/sh\necho activate-user >> \"$LOG\"; exit 3\n", 3, "activate-user\n"},
				{"nixos", "nixos", "", 0, "switch-to-configuration test\n"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					dir := t.TempDir()
					top := filepath.Join(dir, "system")
					log := filepath.Join(dir, "log")
					assert.NilError(t, os.MkdirAll(filepath.Join(top, "bin"), 0o755))
					write := func(name, text string) {
						assert.NilError(t, os.WriteFile(filepath.Join(top, name), []byte(text), 0o755))
					}
					write("activate", "#!/bin/sh\necho activate >> \"$LOG\"\n")
					write("bin/switch-to-configuration", "#!/bin/sh\necho switch-to-configuration \"$1\" >> \"$LOG\"\n")
					if tc.activateUser != "" {
						write("activate-user", tc.activateUser)
					}
					out, code := runFuncs(t, sh, dir, fmt.Sprintf("class=%s\nswitch_to %s test", tc.class, hostsh.Quote(top)), "LOG="+log, "SUDO_USER=")
					assert.Equal(t, code, tc.code, out)
					b, _ := os.ReadFile(log)
					assert.Equal(t, string(b), tc.want)
				})
			}
		})
	}
}

// TestTopOf: a link resolves to its store path without readlink -f; a
// dangling one to nothing.
func TestTopOf(t *testing.T) {
	dir := t.TempDir()
	sys := filepath.Join(dir, "store", "abc-system")
	assert.NilError(t, os.MkdirAll(sys, 0o755))
	assert.NilError(t, os.Symlink(sys, filepath.Join(dir, "system-3-link")))
	assert.NilError(t, os.Symlink("system-3-link", filepath.Join(dir, "system")))
	assert.NilError(t, os.Symlink(filepath.Join(dir, "gone"), filepath.Join(dir, "dangling")))
	for _, sh := range hostsh.Shells {
		out, code := runFuncs(t, sh, dir, fmt.Sprintf("echo \"[$(top_of %s)] [$(top_of %s)]\"", hostsh.Quote(filepath.Join(dir, "system")), hostsh.Quote(filepath.Join(dir, "dangling"))))
		assert.Equal(t, code, 0, out)
		real, err := filepath.EvalSymlinks(sys)
		assert.NilError(t, err)
		assert.Equal(t, out, "["+real+"] []\n", sh)
	}
}
