package vars

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/poll"

	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/fsutil/treetest"
)

func TestGenerateLabFromNothingThenNoChange(t *testing.T) {
	f, ids := labFleet(t)
	v := newVars(t, f, ids, labEnv)
	rep := mustGenerate(t, v, GenerateOptions{})
	p, err := v.Plan()
	assert.NilError(t, err)
	assert.Equal(t, len(rep.Generated), len(p.Units))
	// 8 machines x (openssh, openssh-fingerprint, zerotier) + shared admin-password.
	assert.Equal(t, len(p.Units), 8*3+1)
	assert.Assert(t, is.Contains(rep.Generated, "shared/admin-password"))
	assertCheckClean(t, v)
	assertNoPlaintext(t, v)

	// Layout: clan's paths.
	for _, rel := range []string{
		"per-machine/cinnabar/openssh/ssh.id_ed25519/secret",
		"per-machine/cinnabar/openssh/ssh.id_ed25519/machines/cinnabar/key.json",
		"per-machine/cinnabar/openssh/ssh.id_ed25519/users/cameron/key.json",
		"per-machine/cinnabar/openssh/ssh.id_ed25519.pub/value",
		"per-machine/cinnabar/openssh/.validation-hash",
		"per-machine/rosegold/zerotier/zerotier-ip/value",
		"shared/admin-password/admin-password/secret",
	} {
		_, err := os.Stat(filepath.Join(v.Dir, rel))
		assert.NilError(t, err, rel)
	}
	// The shared secret is encrypted to the four NixOS machines and cameron.
	links, probs := readLinks(filepath.Join(v.Dir, "shared/admin-password/admin-password"))
	assert.Equal(t, len(probs), 0, "%v", probs)
	assert.DeepEqual(t, slices.Sorted(maps.Keys(links)), []string{"machines/cinnabar", "machines/electrum", "machines/galena", "machines/scheelite", "users/cameron"})
	rs, err := secretRecipients(mustRead(t, filepath.Join(v.Dir, "shared/admin-password/admin-password/secret")))
	assert.NilError(t, err)
	assert.Equal(t, len(rs), 5)

	before := treetest.Snapshot(t, v.Dir)
	v2 := newVarsAt(t, v)
	rep2 := mustGenerate(t, v2, GenerateOptions{})
	assert.Equal(t, len(rep2.Generated), 0)
	assert.Equal(t, rep2.UpToDate, len(p.Units))
	assert.Equal(t, len(rep2.StaleRecipients), 0)
	assert.DeepEqual(t, treetest.Changed(before, treetest.Snapshot(t, v.Dir)), []string(nil))
}

// newVarsAt returns a fresh Vars (no cached plan) over the same directory.
func newVarsAt(t testing.TB, v *Vars) *Vars {
	t.Helper()
	n := New(v.Fleet, v.Dir)
	n.TmpDir, n.Identities, n.Prompter = v.TmpDir, v.Identities, v.Prompter
	return n
}

func TestScriptChangeRegeneratesItAndDependentsOnly(t *testing.T) {
	f, ids := labFleet(t)
	v := newVars(t, f, ids, labEnv)
	mustGenerate(t, v, GenerateOptions{})
	before := treetest.Snapshot(t, v.Dir)

	f.Machines["cinnabar"].Generators["openssh"].Script += "\n# rotated\n"
	v2 := newVarsAt(t, v)
	rep := mustGenerate(t, v2, GenerateOptions{})
	assert.DeepEqual(t, rep.Generated, []string{"per-machine/cinnabar/openssh", "per-machine/cinnabar/openssh-fingerprint"})
	for _, c := range treetest.Changed(before, treetest.Snapshot(t, v.Dir)) {
		assert.Assert(t, strings.HasPrefix(c, "per-machine/cinnabar/openssh") || c == "per-machine/cinnabar", "changed: %s", c)
	}
	// cinnabar's new host key makes its other secrets' recipients stale.
	sort.Strings(rep.StaleRecipients)
	assert.DeepEqual(t, rep.StaleRecipients, []string{"per-machine/cinnabar/zerotier/zerotier-identity-secret", "shared/admin-password/admin-password"})
	probs, err := v2.Check(CheckOptions{Decrypt: true})
	assert.NilError(t, err)
	assert.Assert(t, len(probs) > 0)

	rekeyed, err := newVarsAt(t, v).Rekey()
	assert.NilError(t, err)
	sort.Strings(rekeyed)
	assert.DeepEqual(t, rekeyed, []string{"per-machine/cinnabar/zerotier/zerotier-identity-secret", "shared/admin-password/admin-password"})
	assertCheckClean(t, newVarsAt(t, v))

	// A validation change of the shared generator regenerates only it.
	f.Machines["cinnabar"].Generators["admin-password"].Validation = []byte(`{"length":"48-hex"}`)
	for _, m := range []string{"electrum", "galena", "scheelite"} {
		f.Machines[m].Generators["admin-password"].Validation = []byte(`{"length":"48-hex"}`)
	}
	rep = mustGenerate(t, newVarsAt(t, v), GenerateOptions{})
	assert.DeepEqual(t, rep.Generated, []string{"shared/admin-password"})

	// --regenerate with --generator rotates the host key and its dependent.
	rep = mustGenerate(t, newVarsAt(t, v), GenerateOptions{Machines: []string{"galena"}, Generators: []string{"openssh"}, Regenerate: true})
	assert.DeepEqual(t, rep.Generated, []string{"per-machine/galena/openssh", "per-machine/galena/openssh-fingerprint"})
	assertNoPlaintext(t, v)
}

func TestAddMachineThenRekeyChangesOnlySharedRecipients(t *testing.T) {
	f, ids := labFleet(t)
	v := newVars(t, f, ids, labEnv)
	mustGenerate(t, v, GenerateOptions{})

	// A new NixOS server tagged "server": cameron administers it, and it
	// declares the shared admin-password generator.
	g := *f.Machines["galena"]
	g.Name = "newbox"
	g.Cloud = nil
	f.Machines["newbox"] = &g
	before := treetest.Snapshot(t, v.Dir)

	rep := mustGenerate(t, newVarsAt(t, v), GenerateOptions{Machines: []string{"newbox"}})
	assert.DeepEqual(t, rep.Generated, []string{"per-machine/newbox/openssh", "per-machine/newbox/openssh-fingerprint", "per-machine/newbox/zerotier"})
	assert.DeepEqual(t, rep.StaleRecipients, []string{"shared/admin-password/admin-password"})
	for _, c := range treetest.Changed(before, treetest.Snapshot(t, v.Dir)) {
		assert.Assert(t, strings.HasPrefix(c, "per-machine/newbox") || c == "per-machine", "changed: %s", c)
	}

	mid := treetest.Snapshot(t, v.Dir)
	oldSecret, err := newVarsAt(t, v).Get("cinnabar", "admin-password/admin-password")
	assert.NilError(t, err)
	rekeyed, err := newVarsAt(t, v).Rekey()
	assert.NilError(t, err)
	assert.DeepEqual(t, rekeyed, []string{"shared/admin-password/admin-password"})
	assert.DeepEqual(t, treetest.Changed(mid, treetest.Snapshot(t, v.Dir)), []string{"shared/admin-password/admin-password", "shared/admin-password/admin-password/machines", "shared/admin-password/admin-password/machines/newbox", "shared/admin-password/admin-password/secret"})
	// Same plaintext, now readable by newbox too.
	newSecret, err := newVarsAt(t, v).Get("newbox", "admin-password/admin-password")
	assert.NilError(t, err)
	assert.Equal(t, string(newSecret), string(oldSecret))
	assertCheckClean(t, newVarsAt(t, v))

	// A second rekey has nothing to do.
	rekeyed, err = newVarsAt(t, v).Rekey()
	assert.NilError(t, err)
	assert.Equal(t, len(rekeyed), 0)
}

func TestDependencyGetsInputs(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	gens := `{` + opensshGen + `,` + gen("base", `printf secret-base > "$out/key"; printf public-base > "$out/id.pub"`, nil, "key", "id.pub") + `,` +
		gen("derived", `cat "$in/base/key" "$in/base/id.pub" > "$out/both"; test "$PATH" = /usr/bin:/bin; test -z "${GOPATH:-}"; test "$(stat -c %a "$in")" = 700`, []string{"base"}, "both") + `}`
	f := parseFleet(t, fleetJSON(gens, id.Recipient().String()))
	f.Machines["m"].Generators["derived"].Reads = []string{"base/key"}
	v := newVars(t, f, map[string]*age.X25519Identity{"admin": id}, nil)
	t.Setenv("GOPATH", "/leak")
	mustGenerate(t, v, GenerateOptions{})
	b, err := v.Get("m", "derived/both")
	assert.NilError(t, err)
	assert.Equal(t, string(b), "secret-basepublic-base")

	// A later change of derived alone reads base's secret back from disk
	// (decrypting with the admin identity).
	f.Machines["m"].Generators["derived"].Script += " # v2"
	rep := mustGenerate(t, newVarsAt(t, v), GenerateOptions{})
	assert.DeepEqual(t, rep.Generated, []string{"per-machine/m/derived"})
	b, err = newVarsAt(t, v).Get("m", "derived/both")
	assert.NilError(t, err)
	assert.Equal(t, string(b), "secret-basepublic-base")
	assertCheckClean(t, newVarsAt(t, v))
}

// TestDependencySecretsOnlyWhenRead: a script gets its dependencies' public
// files, and a dependency's secret only when it declares it in reads. On
// the old code every file of every dependency, private keys included, was
// written into the work directory.
func TestDependencySecretsOnlyWhenRead(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	listing := `ls "$in/base" > "$out/seen"`
	tests := []struct {
		name  string
		reads []string
		want  string
	}{
		{name: "public files only", want: "id.pub\n"},
		{name: "declared secret", reads: []string{"base/key"}, want: "id.pub\nkey\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gens := `{` + opensshGen + `,` + gen("base", `printf secret-base > "$out/key"; printf public-base > "$out/id.pub"`, nil, "key", "id.pub") + `,` +
				gen("derived", listing, []string{"base"}, "seen") + `}`
			f := parseFleet(t, fleetJSON(gens, id.Recipient().String()))
			f.Machines["m"].Generators["derived"].Reads = tc.reads
			v := newVars(t, f, map[string]*age.X25519Identity{"admin": id}, nil)
			mustGenerate(t, v, GenerateOptions{})
			b, err := v.Get("m", "derived/seen")
			assert.NilError(t, err)
			assert.Equal(t, string(b), tc.want)
		})
	}
}

func TestBadInput(t *testing.T) {
	admin, _ := age.GenerateX25519Identity()
	tests := []struct {
		name string
		gens string
		key  string
		env  env
		want []string
	}{
		{
			name: "dependency cycle",
			gens: `{` + opensshGen + `,` + gen("a", "true", []string{"b"}, "x") + `,` + gen("b", "true", []string{"c"}, "y") + `,` + gen("c", "true", []string{"a"}, "z") + `}`,
			want: []string{"cycle", "per-machine/m/a -> per-machine/m/b -> per-machine/m/c -> per-machine/m/a"},
		},
		{
			name: "failing script",
			gens: `{` + opensshGen + `,` + gen("boom", `echo "cannot reach the frobnicator" >&2; printf x > "$out/x"; exit 3`, nil, "x") + `}`,
			want: []string{`generator "boom" of machine "m": script failed: exit status 3`, "cannot reach the frobnicator"},
		},
		{
			name: "missing declared output",
			gens: `{` + opensshGen + `,` + gen("lazy", `true`, nil, "x") + `}`,
			want: []string{`declared file "x" not written to $out`},
		},
		{
			name: "undeclared output",
			gens: `{` + opensshGen + `,` + gen("extra", `touch "$out/x" "$out/y"`, nil, "x") + `}`,
			want: []string{`wrote undeclared file "y"`},
		},
		{
			name: "prompt without answer",
			gens: `{` + opensshGen + `,"pw":{"files":{"pw":{"secret":true,"deploy":true,"owner":"root","group":"root","mode":"0400","neededFor":"users"}},"prompts":{"pw":{"description":"root password","type":"hidden","persist":false}},"dependencies":[],"script":"cp \"$prompts/pw\" \"$out/pw\"","share":false,"validation":null}}`,
			want: []string{`needs prompt "pw" (root password)`, "not interactive", "VANIXIETS_PROMPT_PW_PW", "VANIXIETS_PROMPTS_FILE"},
		},
		{
			name: "host key not ed25519",
			gens: `{"openssh":{"files":{"ssh.id_ed25519":{"secret":true,"deploy":true,"owner":"root","group":"root","mode":"0400","neededFor":"services"},"ssh.id_ed25519.pub":{"secret":false,"deploy":false,"owner":"root","group":"root","mode":"0444","neededFor":"services"}},"prompts":{},"dependencies":[],"script":"ssh-keygen -q -t rsa -b 1024 -N '' -C '' -f \"$out/ssh.id_ed25519\"","share":false,"validation":null}}`,
			want: []string{`machine "m" host key`, "ssh-rsa", "only ssh-ed25519"},
		},
		{
			name: "malformed admin key",
			gens: `{` + opensshGen + `}`,
			key:  "age1notakey",
			want: []string{`user "admin" ageKeys[0]`, `"age1notakey" is not an age X25519 recipient`},
		},
		{
			name: "admin ssh key instead of age key",
			gens: `{` + opensshGen + `}`,
			key:  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIClklWE/k8X3GDnGw9Ksa/flF4U+q+ZSuCadUPp7lIDk",
			want: []string{`user "admin" ageKeys[0]`, "not an age X25519 recipient"},
		},
		{
			name: "shared generator depending on a per-machine one",
			gens: `{` + opensshGen + `,` + gen("p", "true", nil, "x") + `,"s":{"files":{"y":{"secret":true,"deploy":true,"owner":"root","group":"root","mode":"0400","neededFor":"services"}},"prompts":{},"dependencies":["p"],"script":"true","share":true,"validation":null}}`,
			want: []string{`shared generator "s" depends on per-machine generator "p"`},
		},
		{
			name: "bad file name",
			gens: `{` + opensshGen + `,` + gen("g", "true", nil, "../escape") + `}`,
			want: []string{`file name "../escape"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := tc.key
			if key == "" {
				key = admin.Recipient().String()
			}
			f, err := fleet.Parse([]byte(fleetJSON(tc.gens, key)))
			assert.NilError(t, err)
			v := newVars(t, f, map[string]*age.X25519Identity{"admin": admin}, tc.env)
			_, err = v.Generate(context.Background(), GenerateOptions{})
			assert.Assert(t, err != nil)
			for _, w := range tc.want {
				assert.Assert(t, is.Contains(err.Error(), w))
			}
			assertNoPlaintext(t, v)
			// Nothing of the failing generator was written (earlier ones,
			// such as openssh, may be complete).
			ents, _ := os.ReadDir(filepath.Join(v.Dir, "per-machine", "m"))
			for _, e := range ents {
				assert.Assert(t, e.Name() == "openssh" && tc.name != "host key not ed25519" && tc.name != "malformed admin key" && tc.name != "admin ssh key instead of age key", "written: %s", e.Name())
				assert.Assert(t, !strings.HasPrefix(e.Name(), "."), "temporary left: %s", e.Name())
			}
		})
	}
}

func TestInterruptLeavesNothing(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	// The script records its own PID and its child's, then waits: the
	// test cancels once both are written, and then checks that the whole
	// process group is gone, not only that Generate returned.
	pids := t.TempDir()
	script := `printf partial > "$out/x"; sleep 30 & echo $! > ` + pids + `/child; echo $$ > ` + pids + `/sh.tmp; mv ` + pids + `/sh.tmp ` + pids + `/sh; wait; printf x > "$out/x"`
	gens := `{` + opensshGen + `,` + gen("slow", script, nil, "x") + `}`
	f := parseFleet(t, fleetJSON(gens, id.Recipient().String()))
	v := newVars(t, f, map[string]*age.X25519Identity{"admin": id}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if _, err := os.Stat(filepath.Join(pids, "sh")); err == nil {
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	_, err := v.Generate(ctx, GenerateOptions{})
	assert.ErrorContains(t, err, "interrupted")
	for _, name := range []string{"sh", "child"} {
		b, err := os.ReadFile(filepath.Join(pids, name))
		assert.NilError(t, err)
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		assert.NilError(t, err)
		poll.WaitOn(t, func(poll.LogT) poll.Result {
			if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
				return poll.Success()
			}
			return poll.Continue("the generator's %s (pid %d) is still running", name, pid)
		}, poll.WithTimeout(10*time.Second))
	}
	assertNoPlaintext(t, v)
	_, err = os.Stat(filepath.Join(v.Dir, "per-machine/m/slow"))
	assert.Assert(t, os.IsNotExist(err))
}

func TestFailedRegenerationKeepsOldSet(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	gens := `{` + opensshGen + `,` + gen("g", `printf one > "$out/x.pub"`, nil, "x.pub") + `}`
	f := parseFleet(t, fleetJSON(gens, id.Recipient().String()))
	v := newVars(t, f, map[string]*age.X25519Identity{"admin": id}, nil)
	mustGenerate(t, v, GenerateOptions{})
	before := treetest.Snapshot(t, v.Dir)
	f.Machines["m"].Generators["g"].Script = `printf two > "$out/x.pub"; exit 1`
	_, err := newVarsAt(t, v).Generate(context.Background(), GenerateOptions{})
	assert.ErrorContains(t, err, "script failed")
	assert.DeepEqual(t, treetest.Changed(before, treetest.Snapshot(t, v.Dir)), []string(nil))
}

func TestRecoverInterruptedSwap(t *testing.T) {
	dir := t.TempDir()
	// An old set moved aside with the new one never installed: restored.
	assert.NilError(t, os.MkdirAll(filepath.Join(dir, ".g.old-123", "f"), 0o755))
	assert.NilError(t, os.WriteFile(filepath.Join(dir, ".g.old-123", "f", "value"), []byte("old"), 0o644))
	// An unfinished new set: removed.
	assert.NilError(t, os.MkdirAll(filepath.Join(dir, ".h.new-456", "f"), 0o755))
	// An old set whose replacement is in place: removed.
	assert.NilError(t, os.MkdirAll(filepath.Join(dir, "k"), 0o755))
	assert.NilError(t, os.MkdirAll(filepath.Join(dir, ".k.old-789"), 0o755))
	assert.NilError(t, recoverDir(dir))
	ents, err := os.ReadDir(dir)
	assert.NilError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	assert.DeepEqual(t, names, []string{"g", "k"})
	b, err := os.ReadFile(filepath.Join(dir, "g", "f", "value"))
	assert.NilError(t, err)
	assert.Equal(t, string(b), "old")
}

func TestSwapDirBothWays(t *testing.T) {
	for _, name := range []string{"exchange", "renames"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			target := filepath.Join(dir, "g")
			assert.NilError(t, os.MkdirAll(filepath.Join(target, "old"), 0o755))
			tmp := filepath.Join(dir, ".g.new-1")
			assert.NilError(t, os.MkdirAll(filepath.Join(tmp, "new"), 0o755))
			swap := swapDir
			if name == "renames" {
				swap = swapDirRenames
			}
			assert.NilError(t, swap(tmp, target))
			ents, _ := os.ReadDir(dir)
			assert.Equal(t, len(ents), 1)
			_, err := os.Stat(filepath.Join(target, "new"))
			assert.NilError(t, err)
		})
	}
}

func TestPrompts(t *testing.T) {
	u := &Unit{Name: "wifi-pw", Machine: "stibnite"}
	p := &fleet.Prompt{Name: "psk", Description: "wifi key", Type: "line"}
	tests := []struct {
		name string
		env  env
		file map[string]string
		want string
		err  string
	}{
		{name: "generic env", env: env{"VANIXIETS_PROMPT_WIFI_PW_PSK": "g"}, want: "g"},
		{name: "machine env wins", env: env{"VANIXIETS_PROMPT_WIFI_PW_PSK": "g", "VANIXIETS_PROMPT_STIBNITE_WIFI_PW_PSK": "m"}, want: "m"},
		{name: "empty env is an answer", env: env{"VANIXIETS_PROMPT_WIFI_PW_PSK": ""}, want: ""},
		{name: "file", file: map[string]string{"wifi-pw/psk": "f"}, want: "f"},
		{name: "file per machine wins", file: map[string]string{"wifi-pw/psk": "f", "stibnite/wifi-pw/psk": "fm"}, want: "fm"},
		{name: "env beats file", env: env{"VANIXIETS_PROMPT_WIFI_PW_PSK": "e"}, file: map[string]string{"wifi-pw/psk": "f"}, want: "e"},
		{name: "no answer", err: "VANIXIETS_PROMPT_WIFI_PW_PSK"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &DefaultPrompter{LookupEnv: tc.env.lookup, file: tc.file}
			b, err := d.Ask(u, p)
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				return
			}
			assert.NilError(t, err)
			assert.Equal(t, string(b), tc.want)
		})
	}
}

func TestPromptsFileFromEnv(t *testing.T) {
	pf := filepath.Join(t.TempDir(), "prompts.json")
	assert.NilError(t, os.WriteFile(pf, []byte(`{"admin-password/admin-password":"hunter2"}`), 0o600))
	t.Setenv("VANIXIETS_PROMPTS_FILE", pf)
	t.Setenv("VANIXIETS_NONINTERACTIVE", "1")
	d, err := NewPrompter()
	assert.NilError(t, err)
	assert.Assert(t, !d.Interactive)
	f, ids := labFleet(t)
	v := newVars(t, f, ids, nil)
	v.Prompter = d
	mustGenerate(t, v, GenerateOptions{Machines: []string{"galena"}})
	b, err := v.Get("galena", "admin-password/admin-password")
	assert.NilError(t, err)
	assert.Equal(t, string(b), "hunter2")

	assert.NilError(t, os.WriteFile(pf, []byte(`["not an object"]`), 0o600))
	_, err = NewPrompter()
	assert.ErrorContains(t, err, "want a JSON object")
}
