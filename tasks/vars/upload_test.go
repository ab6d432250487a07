package vars

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"filippo.io/age"
	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/fsutil/treetest"
)

// shellRemote runs commands with the local /bin/sh: the real commands a
// host runs, without SSH. It records every command and stdin it was given.
// With binDir set, binDir comes first on the PATH (a directory whose sh is
// another shell, to run the upload script as that host would).
type shellRemote struct {
	stdins [][]byte
	cmds   []string
	binDir string
}

func (r *shellRemote) Run(ctx context.Context, cmd string, stdin io.Reader, stdout io.Writer) error {
	c := exec.CommandContext(ctx, "/bin/sh", "-c", cmd)
	if r.binDir != "" {
		c.Env = append(os.Environ(), "PATH="+r.binDir+":"+os.Getenv("PATH"))
	}
	var in []byte
	if stdin != nil {
		in, _ = io.ReadAll(stdin)
		c.Stdin = bytes.NewReader(in)
	}
	r.cmds = append(r.cmds, cmd)
	r.stdins = append(r.stdins, in)
	var stderr bytes.Buffer
	c.Stdout, c.Stderr = stdout, &stderr
	if err := c.Run(); err != nil {
		return &exec.ExitError{ProcessState: c.ProcessState, Stderr: stderr.Bytes()}
	}
	return nil
}

func statOf(t *testing.T, p string) (os.FileMode, uint32, uint32) {
	t.Helper()
	st, err := os.Stat(p)
	assert.NilError(t, err)
	sys := st.Sys().(*syscall.Stat_t)
	return st.Mode().Perm(), sys.Uid, sys.Gid
}

func TestUploadPhasesModesOwnersAndSkips(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown to other users needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	f, ids := labFleet(t)
	// cinnabar's zerotier secret belongs to a service user; the shared
	// admin password is needed by activation (users).
	zf := f.Machines["cinnabar"].Generators["zerotier"].Files["zerotier-identity-secret"]
	zf.Owner, zf.Group, zf.Mode = "nobody", "root", "0440"
	v := newVars(t, f, ids, labEnv)
	mustGenerate(t, v, GenerateOptions{})
	root := filepath.Join(t.TempDir(), "run", "secrets", "vars")
	r := &shellRemote{}
	ctx := context.Background()

	res, err := v.Upload(ctx, r, "cinnabar", BeforeActivation, root)
	assert.NilError(t, err)
	assert.DeepEqual(t, res.Sent, []string{"admin-password/admin-password"})
	_, err = os.Stat(filepath.Join(root, "zerotier"))
	assert.Assert(t, os.IsNotExist(err), "services secret installed before activation")

	res, err = v.Upload(ctx, r, "cinnabar", AfterActivation, root)
	assert.NilError(t, err)
	assert.DeepEqual(t, res.Sent, []string{"openssh/ssh.id_ed25519", "zerotier/zerotier-identity-secret"})

	for name, want := range map[string]struct {
		mode     os.FileMode
		uid, gid uint32
	}{
		"admin-password/admin-password":     {0o400, 0, 0},
		"openssh/ssh.id_ed25519":            {0o400, 0, 0},
		"zerotier/zerotier-identity-secret": {0o440, uint32(atoi(nobody.Uid)), 0},
	} {
		mode, uid, gid := statOf(t, filepath.Join(root, name))
		assert.Equal(t, mode, want.mode, name)
		assert.Equal(t, uid, want.uid, name)
		assert.Equal(t, gid, want.gid, name)
		got, err := os.ReadFile(filepath.Join(root, name))
		assert.NilError(t, err)
		g, fl, _ := strings.Cut(name, "/")
		plain, err := v.Get("cinnabar", g+"/"+fl)
		assert.NilError(t, err)
		assert.Assert(t, bytes.Equal(got, plain), name)
	}
	mode, _, _ := statOf(t, filepath.Join(root, manifestName))
	assert.Equal(t, mode, os.FileMode(0o600))
	// No temporary files, and the secrets never were on a command line.
	ents, _ := os.ReadDir(filepath.Join(root, "zerotier"))
	assert.Equal(t, len(ents), 1)
	plain, _ := v.Get("cinnabar", "zerotier/zerotier-identity-secret")
	for _, c := range r.cmds {
		assert.Assert(t, !strings.Contains(c, strings.TrimSpace(string(plain))))
	}

	// Second deploy: nothing sent.
	for _, ph := range []Phase{BeforeActivation, AfterActivation} {
		res, err = v.Upload(ctx, r, "cinnabar", ph, root)
		assert.NilError(t, err)
		assert.Equal(t, len(res.Sent), 0, ph.String())
	}
	// A file deleted on the host is sent again; a mode change is applied.
	assert.NilError(t, os.Remove(filepath.Join(root, "openssh/ssh.id_ed25519")))
	zf.Mode = "0400"
	v.plan = nil
	res, err = v.Upload(ctx, r, "cinnabar", AfterActivation, root)
	assert.NilError(t, err)
	assert.DeepEqual(t, res.Sent, []string{"openssh/ssh.id_ed25519", "zerotier/zerotier-identity-secret"})
	mode, _, _ = statOf(t, filepath.Join(root, "zerotier/zerotier-identity-secret"))
	assert.Equal(t, mode, os.FileMode(0o400))

	// A file the machine no longer declares is removed after activation.
	delete(f.Machines["cinnabar"].Generators, "zerotier")
	v.plan = nil
	res, err = v.Upload(ctx, r, "cinnabar", AfterActivation, root)
	assert.NilError(t, err)
	assert.DeepEqual(t, res.Removed, []string{"zerotier/zerotier-identity-secret"})
	_, err = os.Stat(filepath.Join(root, "zerotier"))
	assert.Assert(t, os.IsNotExist(err))
	man, _ := os.ReadFile(filepath.Join(root, manifestName))
	assert.Assert(t, !strings.Contains(string(man), "zerotier"))
}

func TestUploadBinaryAndErrors(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	gens := `{` + opensshGen + `,` + gen("bin", `head -c 4096 /dev/urandom > "$out/blob"; printf '%s' "it's 100% \"quoted\" \\ \$HOME" > "$out/quotes"`, nil, "blob", "quotes") + `}`
	f := parseFleet(t, fleetJSON(gens, id.Recipient().String()))
	for _, fl := range f.Machines["m"].Generators["bin"].Files {
		fl.Owner, fl.Group = "", "" // defaults: root
		if os.Geteuid() != 0 {
			u, _ := user.Current()
			g, _ := user.LookupGroupId(u.Gid)
			fl.Owner, fl.Group = u.Username, g.Name
		}
	}
	v := newVars(t, f, map[string]*age.X25519Identity{"admin": id}, nil)
	mustGenerate(t, v, GenerateOptions{})
	root := filepath.Join(t.TempDir(), "secrets")
	_, err := v.Upload(context.Background(), &shellRemote{}, "m", AfterActivation, root)
	assert.NilError(t, err)
	for _, n := range []string{"blob", "quotes"} {
		got, err := os.ReadFile(filepath.Join(root, "bin", n))
		assert.NilError(t, err)
		want, err := v.Get("m", "bin/"+n)
		assert.NilError(t, err)
		assert.Assert(t, bytes.Equal(got, want), n)
	}

	// Not a recipient: clear error, nothing on the host.
	other, _ := age.GenerateX25519Identity()
	v2 := newVarsAt(t, v)
	v2.Identities = func() ([]age.Identity, error) { return []age.Identity{other}, nil }
	root2 := filepath.Join(t.TempDir(), "secrets")
	_, err = v2.Upload(context.Background(), &shellRemote{}, "m", AfterActivation, root2)
	assert.ErrorContains(t, err, "the deploying admin must be a recipient")
	_, err = os.Stat(root2)
	assert.Assert(t, os.IsNotExist(err))

	// A host that fails mid-way (unknown owner) keeps no temporary file.
	f.Machines["m"].Generators["bin"].Files["quotes"].Owner = "no-such-user-xyz"
	v.plan = nil
	assert.NilError(t, os.RemoveAll(root))
	_, err = v.Upload(context.Background(), &shellRemote{}, "m", AfterActivation, root)
	assert.ErrorContains(t, err, "install secrets")
	ents, _ := os.ReadDir(filepath.Join(root, "bin"))
	for _, e := range ents {
		assert.Assert(t, !strings.HasPrefix(e.Name(), "."), "temporary left: %s", e.Name())
	}
}

func TestPhaseOf(t *testing.T) {
	for n, want := range map[string]Phase{"partitioning": BeforeActivation, "activation": BeforeActivation, "users": BeforeActivation, "services": AfterActivation, "": AfterActivation} {
		assert.Equal(t, PhaseOf(n), want, n)
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// countRemote counts the sessions an upload opens: each Run of a real
// host's Remote is one SSH session (sshd's fork, the login shell, our sh).
type countRemote struct {
	Remote
	runs int
}

func (c *countRemote) Run(ctx context.Context, cmd string, stdin io.Reader, stdout io.Writer) error {
	c.runs++
	return c.Remote.Run(ctx, cmd, stdin, stdout)
}

// procRemote runs each command as shellRemote does, but in a new PID
// namespace, and records how many processes it started (the host's sh
// included). PIDs in a new namespace are handed out in sequence from 1 (the
// namespace's init, our wrapper sh): a probe started after the command gets
// PID 2 plus the number of processes the command started. (The kernel's
// ns_last_pid is not usable for this: on 6.x it read 1 after some runs.)
// Needs root and util-linux's unshare.
type procRemote struct {
	shellRemote
	procs []int
	dir   string
}

func newProcRemote(t testing.TB, binDir string) *procRemote {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("counting host processes needs root (a PID namespace)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("counting host processes needs unshare (util-linux)")
	}
	return &procRemote{shellRemote: shellRemote{binDir: binDir}, dir: t.TempDir()}
}

func (r *procRemote) Run(ctx context.Context, cmd string, stdin io.Reader, stdout io.Writer) error {
	count := filepath.Join(r.dir, "count")
	_ = os.Remove(count)
	probe := "sh -c " + shq("echo $$ > "+shq(count))
	wrapped := "unshare --pid --fork /bin/sh -c " + shq(cmd+"; s=$?; "+probe+"; exit $s")
	err := r.shellRemote.Run(ctx, wrapped, stdin, stdout)
	b, rerr := os.ReadFile(count)
	if rerr != nil {
		return fmt.Errorf("process count: %v (run: %v)", rerr, err)
	}
	r.procs = append(r.procs, atoi(strings.TrimSpace(string(b)))-2)
	return err
}

// hostShells are the POSIX shells at hand to play a host's sh: dash
// (Debian's /bin/sh) and bash started as sh (NixOS's /bin/sh, and macOS's
// in its old version). Each is a directory to put first on the PATH.
func hostShells(t *testing.T) []struct{ name, binDir string } {
	t.Helper()
	var out []struct{ name, binDir string }
	for _, n := range []string{"dash", "bash"} {
		p, err := exec.LookPath(n)
		if err != nil {
			continue
		}
		dir := t.TempDir()
		assert.NilError(t, os.Symlink(p, filepath.Join(dir, "sh")))
		out = append(out, struct{ name, binDir string }{n, dir})
	}
	if len(out) == 0 {
		t.Skip("neither dash nor bash installed")
	}
	return out
}

// uploadEnv is a one-machine fleet with secrets of both phases: boot/pw
// (needed for users: before activation), app/a (random: a regeneration
// changes it), cfg/b (fixed content: for owner and mode changes) and old/c
// (to be dropped from the fleet). Owners are root, or the current user
// when not root.
type uploadEnv struct {
	f    *fleet.Fleet
	v    *Vars
	root string
}

func newUploadEnv(t testing.TB) *uploadEnv {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	assert.NilError(t, err)
	random := `head -c 16 /dev/urandom | od -An -tx1 > "$out/%s"`
	gens := `{` + opensshGen + `,` + gen("boot", fmt.Sprintf(random, "pw"), nil, "pw") + `,` +
		gen("app", fmt.Sprintf(random, "a"), nil, "a") + `,` +
		gen("cfg", `printf 'fixed\n' > "$out/b"`, nil, "b") + `,` +
		gen("old", fmt.Sprintf(random, "c"), nil, "c") + `}`
	f := parseFleet(t, fleetJSON(gens, id.Recipient().String()))
	f.Machines["m"].Generators["boot"].Files["pw"].NeededFor = "users"
	// The host key is there to make the machine a recipient; it is not
	// uploaded, to keep the lists short.
	f.Machines["m"].Generators["openssh"].Files["ssh.id_ed25519"].Deploy = false
	if os.Geteuid() != 0 {
		u, err := user.Current()
		assert.NilError(t, err)
		g, err := user.LookupGroupId(u.Gid)
		assert.NilError(t, err)
		for _, gn := range f.Machines["m"].Generators {
			for _, fl := range gn.Files {
				fl.Owner, fl.Group = u.Username, g.Name
			}
		}
	}
	v := newVars(t, f, map[string]*age.X25519Identity{"admin": id}, nil)
	mustGenerate(t, v, GenerateOptions{})
	return &uploadEnv{f: f, v: v, root: filepath.Join(t.TempDir(), "run", "secrets", "vars")}
}

func (e *uploadEnv) file(g, f string) *fleet.File { return e.f.Machines["m"].Generators[g].Files[f] }

// regenerate rotates generator g's secrets in the store.
func (e *uploadEnv) regenerate(t testing.TB, g string) {
	t.Helper()
	mustGenerate(t, e.v, GenerateOptions{Generators: []string{g}, Regenerate: true})
}

// replan makes the next Upload read the fleet again.
func (e *uploadEnv) replan() { e.v.plan = nil }

// uploadBoth uploads both phases, as a deploy does.
func (e *uploadEnv) uploadBoth(t testing.TB, r Remote) {
	t.Helper()
	for _, ph := range []Phase{BeforeActivation, AfterActivation} {
		_, err := e.v.Upload(context.Background(), r, "m", ph, e.root)
		assert.NilError(t, err, ph.String())
	}
}

// hostFiles snapshots the regular files under root (mode, mtime,
// content): what a reader of the secrets sees.
func hostFiles(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	if _, err := os.Lstat(root); os.IsNotExist(err) {
		return out
	}
	for k, v := range treetest.Snapshot(t, root) {
		if !strings.HasPrefix(v, "d") {
			out[k] = v
		}
	}
	return out
}

// assertNoTemporaries fails when an upload left a temporary file.
func assertNoTemporaries(t testing.TB, root string) {
	t.Helper()
	if _, err := os.Lstat(root); os.IsNotExist(err) {
		return
	}
	for k := range treetest.Snapshot(t, root) {
		assert.Assert(t, !strings.Contains(filepath.Base(k), ".tmp."), "temporary file left: %s", k)
	}
}

func manifestLines(t testing.TB, root string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, manifestName))
	assert.NilError(t, err)
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func orNone(s []string) []string {
	if s == nil {
		return []string{}
	}
	sort.Strings(s)
	return s
}

// TestUploadOneSessionWritesOnlyChanges runs a deploy's life on one host:
// each Upload is one session; a current secret is not rewritten (its mtime
// stays) and is reported Skipped; a change of content, mode or owner, or a
// file deleted on the host, sends that file alone; a file the fleet no
// longer declares is removed after activation and leaves the manifest.
// Every step runs under dash and under bash as sh.
func TestUploadOneSessionWritesOnlyChanges(t *testing.T) {
	steps := []struct {
		name     string
		change   func(t *testing.T, e *uploadEnv)
		rootOnly bool
		phase    Phase
		sent     []string
		skipped  []string
		removed  []string
		// changed are the files under root whose mode, mtime or content
		// the step changes.
		changed []string
		// procs is how many processes the host starts, its sh included
		// (checked when they can be counted).
		procs int
		check func(t *testing.T, e *uploadEnv)
	}{
		{name: "first upload before activation", phase: BeforeActivation,
			sent: []string{"boot/pw"}, changed: []string{".manifest", "boot/pw"},
			// sh, mkdir, chmod (directories), chown, mv (file), mv (manifest)
			procs: 6},
		{name: "first upload after activation", phase: AfterActivation,
			sent: []string{"app/a", "cfg/b", "old/c"}, changed: []string{".manifest", "app/a", "cfg/b", "old/c"},
			procs: 8,
			check: func(t *testing.T, e *uploadEnv) {
				assert.Equal(t, len(manifestLines(t, e.root)), 4)
				for _, n := range []string{"boot/pw", "app/a", "cfg/b", "old/c"} {
					mode, _, _ := statOf(t, filepath.Join(e.root, n))
					assert.Equal(t, mode, os.FileMode(0o400), n)
					got, err := os.ReadFile(filepath.Join(e.root, n))
					assert.NilError(t, err)
					want, err := e.v.Get("m", n)
					assert.NilError(t, err)
					assert.Assert(t, bytes.Equal(got, want), n)
				}
				mode, _, _ := statOf(t, filepath.Join(e.root, manifestName))
				assert.Equal(t, mode, os.FileMode(0o600))
				for _, d := range []string{".", "boot", "app"} {
					mode, _, _ := statOf(t, filepath.Join(e.root, d))
					assert.Equal(t, mode, os.FileMode(0o755), d)
				}
			}},
		{name: "nothing changed before activation", phase: BeforeActivation,
			skipped: []string{"boot/pw"}, procs: 1},
		{name: "nothing changed after activation", phase: AfterActivation,
			skipped: []string{"app/a", "cfg/b", "old/c"}, procs: 1},
		{name: "content changed", phase: AfterActivation,
			change: func(t *testing.T, e *uploadEnv) { e.regenerate(t, "app") },
			sent:   []string{"app/a"}, skipped: []string{"cfg/b", "old/c"},
			changed: []string{".manifest", "app/a"},
			// sh, chmod (directories), chown, mv, mv
			procs: 5,
			check: func(t *testing.T, e *uploadEnv) {
				got, _ := os.ReadFile(filepath.Join(e.root, "app/a"))
				want, _ := e.v.Get("m", "app/a")
				assert.Assert(t, bytes.Equal(got, want))
			}},
		{name: "mode changed", phase: AfterActivation,
			change: func(t *testing.T, e *uploadEnv) { e.file("cfg", "b").Mode = "0440"; e.replan() },
			sent:   []string{"cfg/b"}, skipped: []string{"app/a", "old/c"},
			changed: []string{".manifest", "cfg/b"},
			// sh, chmod (directories), chown, chmod 0440, mv, mv
			procs: 6,
			check: func(t *testing.T, e *uploadEnv) {
				mode, _, _ := statOf(t, filepath.Join(e.root, "cfg/b"))
				assert.Equal(t, mode, os.FileMode(0o440))
			}},
		{name: "owner changed", phase: AfterActivation, rootOnly: true,
			change: func(t *testing.T, e *uploadEnv) {
				if _, err := user.Lookup("nobody"); err != nil {
					t.Skip("no user nobody")
				}
				e.file("cfg", "b").Owner = "nobody"
				e.replan()
			},
			sent: []string{"cfg/b"}, skipped: []string{"app/a", "old/c"},
			changed: []string{".manifest", "cfg/b"}, procs: 6,
			check: func(t *testing.T, e *uploadEnv) {
				nobody, _ := user.Lookup("nobody")
				mode, uid, gid := statOf(t, filepath.Join(e.root, "cfg/b"))
				assert.Equal(t, mode, os.FileMode(0o440))
				assert.Equal(t, uid, uint32(atoi(nobody.Uid)))
				assert.Equal(t, gid, uint32(0))
			}},
		{name: "file deleted on the host", phase: AfterActivation,
			change: func(t *testing.T, e *uploadEnv) {
				assert.NilError(t, os.Remove(filepath.Join(e.root, "app/a")))
			},
			sent: []string{"app/a"}, skipped: []string{"cfg/b", "old/c"},
			changed: []string{".manifest", "app/a"}, procs: 5},
		{name: "undeclared file kept before activation", phase: BeforeActivation,
			change:  func(t *testing.T, e *uploadEnv) { delete(e.f.Machines["m"].Generators, "old"); e.replan() },
			skipped: []string{"boot/pw"}, procs: 1},
		{name: "undeclared file removed after activation", phase: AfterActivation,
			skipped: []string{"app/a", "cfg/b"}, removed: []string{"old/c"},
			changed: []string{".manifest", "old/c"},
			// sh, rm, rmdir, mv (manifest)
			procs: 4,
			check: func(t *testing.T, e *uploadEnv) {
				_, err := os.Stat(filepath.Join(e.root, "old"))
				assert.Assert(t, os.IsNotExist(err), "directory of a removed file")
				lines := manifestLines(t, e.root)
				assert.Equal(t, len(lines), 3)
				assert.Assert(t, !strings.Contains(strings.Join(lines, "\n"), "old/c"))
			}},
		{name: "nothing changed after removal", phase: AfterActivation,
			skipped: []string{"app/a", "cfg/b"}, procs: 1},
	}
	for _, sh := range hostShells(t) {
		t.Run(sh.name, func(t *testing.T) {
			e := newUploadEnv(t)
			var pr *procRemote
			if os.Geteuid() == 0 {
				pr = newProcRemote(t, sh.binDir)
			}
			for _, st := range steps {
				if st.rootOnly && os.Geteuid() != 0 {
					t.Logf("%s: skipped (needs root)", st.name)
					continue
				}
				if st.change != nil {
					st.change(t, e)
				}
				before := hostFiles(t, e.root)
				var base Remote = &shellRemote{binDir: sh.binDir}
				if pr != nil {
					base = pr
				}
				r := &countRemote{Remote: base}
				res, err := e.v.Upload(context.Background(), r, "m", st.phase, e.root)
				assert.NilError(t, err, st.name)
				assert.Equal(t, r.runs, 1, "%s: sessions", st.name)
				assert.DeepEqual(t, orNone(res.Sent), orNone(st.sent))
				assert.DeepEqual(t, orNone(res.Skipped), orNone(st.skipped))
				assert.DeepEqual(t, orNone(res.Removed), orNone(st.removed))
				assert.DeepEqual(t, orNone(treetest.Changed(before, hostFiles(t, e.root))), orNone(st.changed))
				assertNoTemporaries(t, e.root)
				if pr != nil {
					assert.Equal(t, pr.procs[len(pr.procs)-1], st.procs, "%s: processes on the host", st.name)
					assert.DeepEqual(t, pr.cmds[len(pr.cmds)-1:], []string{pr.cmds[len(pr.cmds)-1]})
				}
				if st.check != nil {
					st.check(t, e)
				}
			}
		})
	}
}

// TestUploadFailureLeavesHostAsItWas: a write that fails returns an error
// naming the machine, the phase and the root, leaves no temporary file, and
// leaves the files and the manifest as they were; the next upload, once the
// cause is gone, succeeds.
func TestUploadFailureLeavesHostAsItWas(t *testing.T) {
	for _, tc := range []struct {
		name string
		// breakHost makes the next after-activation upload fail, after a
		// full upload of both phases; it may move the root.
		breakHost func(t *testing.T, e *uploadEnv)
		mend      func(t *testing.T, e *uploadEnv)
		wantSent  []string
	}{
		{name: "root is a regular file",
			breakHost: func(t *testing.T, e *uploadEnv) {
				e.root = filepath.Join(t.TempDir(), "vars")
				assert.NilError(t, os.WriteFile(e.root, []byte("not a directory\n"), 0o644))
			},
			mend:     func(t *testing.T, e *uploadEnv) { assert.NilError(t, os.Remove(e.root)) },
			wantSent: []string{"app/a", "cfg/b", "old/c"}},
		{name: "a secret's directory is a regular file",
			breakHost: func(t *testing.T, e *uploadEnv) {
				e.regenerate(t, "app") // app/a must be written too, and must stay the old one
				assert.NilError(t, os.RemoveAll(filepath.Join(e.root, "cfg")))
				assert.NilError(t, os.WriteFile(filepath.Join(e.root, "cfg"), []byte("in the way\n"), 0o644))
			},
			mend:     func(t *testing.T, e *uploadEnv) { assert.NilError(t, os.Remove(filepath.Join(e.root, "cfg"))) },
			wantSent: []string{"app/a", "cfg/b"}},
		{name: "unknown owner",
			breakHost: func(t *testing.T, e *uploadEnv) {
				e.regenerate(t, "app")
				e.file("cfg", "b").Owner = "no-such-user-xyz"
				e.replan()
			},
			mend: func(t *testing.T, e *uploadEnv) {
				e.file("cfg", "b").Owner = or(e.file("app", "a").Owner, "root")
				e.replan()
			},
			// cfg/b is back to what the host has: the manifest survived.
			wantSent: []string{"app/a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newUploadEnv(t)
			e.uploadBoth(t, &shellRemote{})
			tc.breakHost(t, e)
			before := hostFiles(t, e.root)
			r := &countRemote{Remote: &shellRemote{}}
			_, err := e.v.Upload(context.Background(), r, "m", AfterActivation, e.root)
			assert.ErrorContains(t, err, `machine "m": install secrets (after-activation) under `+e.root+":")
			assert.Equal(t, r.runs, 1)
			assert.DeepEqual(t, orNone(treetest.Changed(before, hostFiles(t, e.root))), []string{})
			assertNoTemporaries(t, filepath.Dir(e.root))

			tc.mend(t, e)
			res, err := e.v.Upload(context.Background(), &shellRemote{}, "m", AfterActivation, e.root)
			assert.NilError(t, err)
			assert.DeepEqual(t, orNone(res.Sent), orNone(tc.wantSent))
		})
	}
}

// cutRemote passes on only the first half of the script: a session cut
// short.
type cutRemote struct{ Remote }

func (c cutRemote) Run(ctx context.Context, cmd string, stdin io.Reader, stdout io.Writer) error {
	b, err := io.ReadAll(stdin)
	if err != nil {
		return err
	}
	return c.Remote.Run(ctx, cmd, bytes.NewReader(b[:len(b)/2]), stdout)
}

// TestUploadCutScriptRunsNothing: the host's sh reads the whole script
// before running any of it, so a script cut short (a dropped connection)
// fails without writing anything.
func TestUploadCutScriptRunsNothing(t *testing.T) {
	e := newUploadEnv(t)
	_, err := e.v.Upload(context.Background(), cutRemote{&shellRemote{}}, "m", AfterActivation, e.root)
	assert.ErrorContains(t, err, "install secrets")
	_, err = os.Stat(filepath.Dir(e.root))
	assert.Assert(t, os.IsNotExist(err), "the cut script created %s", filepath.Dir(e.root))
}

func TestCreateUmask(t *testing.T) {
	for mode, want := range map[string]string{
		"0400": "0377", "400": "0377", "0600": "0177", "0000": "0777", "0200": "0577",
		// Group or other bits, or execute: 077, then chmod after chown.
		"0440": "077", "0444": "077", "0644": "077", "0500": "077", "0700": "077", "bad": "077",
	} {
		assert.Equal(t, createUmask(mode), want, mode)
	}
}

// FuzzUploadParse: whatever a host prints, parse does not panic, and when
// it accepts the answer, every item is either sent or skipped, once.
func FuzzUploadParse(f *testing.F) {
	f.Add([]byte("vanixiets-upload sent g/a\nvanixiets-upload skipped z/b\nvanixiets-upload removed old/c\n"))
	f.Add([]byte("motd\nvanixiets-upload skipped g/a\nvanixiets-upload skipped z/b\n"))
	f.Add([]byte("vanixiets-upload sent g/a\nvanixiets-upload sent g/a\n"))
	f.Add([]byte("vanixiets-upload bogus x\n"))
	u := &uploadScript{items: []uploadItem{{name: "g/a"}, {name: "z/b"}}}
	f.Fuzz(func(t *testing.T, out []byte) {
		res, err := u.parse(out)
		if err != nil {
			return
		}
		got := append(append([]string(nil), res.Sent...), res.Skipped...)
		sort.Strings(got)
		assert.DeepEqual(t, got, []string{"g/a", "z/b"})
	})
}

// canCountProcs says whether procRemote works here.
func canCountProcs() bool {
	_, err := exec.LookPath("unshare")
	return os.Geteuid() == 0 && err == nil
}

// BenchmarkUpload is one deploy's uploads to the lab's cinnabar (both
// phases, as a deploy runs them) with the local sh playing the host.
// "unchanged" is the usual deploy (every secret current on the host),
// "first" a first deploy (the host's root removed before each op).
//
// ns/op is wall time without SSH. What a host pays per deploy is in
// sessions/op (each is also an sshd fork and the user's login shell, about
// 8-10 ms of CPU on a 2-core box) and host-procs/op (every process the
// host starts for the upload, its sh included: a fork and exec each, about
// 1.5 ms); both are counted once, with a PID namespace (root only).
func BenchmarkUpload(b *testing.B) {
	for _, bc := range []struct {
		name  string
		first bool
	}{{"unchanged", false}, {"first", true}} {
		b.Run(bc.name, func(b *testing.B) {
			f, ids := labFleet(b)
			v := newVars(b, f, ids, labEnv)
			mustGenerate(b, v, GenerateOptions{Machines: []string{"cinnabar"}})
			root := filepath.Join(b.TempDir(), "vars")
			deploy := func(r Remote) {
				if bc.first {
					b.StopTimer()
					if err := os.RemoveAll(root); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				for _, ph := range []Phase{BeforeActivation, AfterActivation} {
					if _, err := v.Upload(context.Background(), r, "cinnabar", ph, root); err != nil {
						b.Fatal(err)
					}
				}
			}
			deploy(&shellRemote{})
			cr := &countRemote{Remote: &shellRemote{}}
			var pr *procRemote
			if canCountProcs() {
				pr = &procRemote{dir: b.TempDir()}
				cr.Remote = pr
			}
			deploy(cr)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				deploy(&shellRemote{})
			}
			b.ReportMetric(float64(cr.runs), "sessions/op")
			if pr != nil {
				n := 0
				for _, p := range pr.procs {
					n += p
				}
				b.ReportMetric(float64(n), "host-procs/op")
			}
		})
	}
}
