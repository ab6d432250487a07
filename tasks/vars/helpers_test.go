package vars

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"
	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/fleet"
)

// labFleet returns the lab fleet (a snapshot of `nix eval --json lab#fleet`)
// with fresh test identities as the admins' age keys.
func labFleet(t testing.TB) (*fleet.Fleet, map[string]*age.X25519Identity) {
	t.Helper()
	b, err := os.ReadFile("testdata/lab-fleet.json")
	assert.NilError(t, err)
	f, err := fleet.Parse(b)
	assert.NilError(t, err)
	ids := map[string]*age.X25519Identity{}
	for _, n := range f.UserNames() {
		u := f.Users[n]
		if len(u.AgeKeys) == 0 {
			continue
		}
		id, err := age.GenerateX25519Identity()
		assert.NilError(t, err)
		ids[n] = id
		u.AgeKeys = []string{id.Recipient().String()}
	}
	return f, ids
}

func parseFleet(t testing.TB, js string) *fleet.Fleet {
	t.Helper()
	f, err := fleet.Parse([]byte(js))
	assert.NilError(t, err)
	return f
}

// env is a prompt environment for tests.
type env map[string]string

func (e env) lookup(k string) (string, bool) { v, ok := e[k]; return v, ok }

// newVars returns Vars over a fresh directory, decrypting with ids,
// answering prompts from e (non-interactive), with its own temporary base so
// the test can prove no plaintext is left behind.
func newVars(t testing.TB, f *fleet.Fleet, ids map[string]*age.X25519Identity, e env) *Vars {
	t.Helper()
	root := t.TempDir()
	tmp := filepath.Join(root, "tmp")
	assert.NilError(t, os.Mkdir(tmp, 0o700))
	v := New(f, filepath.Join(root, "vars"))
	v.TmpDir = tmp
	v.Identities = func() ([]age.Identity, error) {
		var out []age.Identity
		for _, n := range slices.Sorted(maps.Keys(ids)) {
			out = append(out, ids[n])
		}
		return out, nil
	}
	v.Prompter = &DefaultPrompter{LookupEnv: e.lookup}
	return v
}

var labEnv = env{"VANIXIETS_PROMPT_ADMIN_PASSWORD_ADMIN_PASSWORD": ""}

// assertNoPlaintext fails when a script's work directory survived.
func assertNoPlaintext(t testing.TB, v *Vars) {
	t.Helper()
	ents, err := os.ReadDir(v.TmpDir)
	assert.NilError(t, err)
	assert.Equal(t, len(ents), 0, "work directories left behind: %v", ents)
}

func mustGenerate(t testing.TB, v *Vars, opts GenerateOptions) *Report {
	t.Helper()
	rep, err := v.Generate(context.Background(), opts)
	assert.NilError(t, err)
	return rep
}

func assertCheckClean(t testing.TB, v *Vars) {
	t.Helper()
	probs, err := v.Check(CheckOptions{Decrypt: true})
	assert.NilError(t, err)
	assert.Equal(t, len(probs), 0, "check: %v", probs)
}

// fleetJSON builds a one-machine fleet with the given generators JSON and a
// single admin whose key is id.
func fleetJSON(gens string, adminKey string) string {
	return `{"machines":{"m":{"machineClass":"nixos","system":"x86_64-linux","tags":[],"description":"","deploy":{"targetHost":"root@m","healthChecks":[]},"cloud":null,"generators":` + gens + `}},
"instances":{"user-admin":{"module":{"name":"users"},"roles":{"default":{"machines":{"m":{}},"tags":{},"settings":{"admin":true,"user":"admin"}}}}},
"users":{"admin":{"description":"","ageKeys":[` + jsonString(adminKey) + `]}}}`
}

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

const opensshGen = `"openssh":{"files":{"ssh.id_ed25519":{"secret":true,"deploy":true,"owner":"root","group":"root","mode":"0400","neededFor":"services"},"ssh.id_ed25519.pub":{"secret":false,"deploy":false,"owner":"root","group":"root","mode":"0444","neededFor":"services"}},"prompts":{},"dependencies":[],"script":"ssh-keygen -q -t ed25519 -N '' -C '' -f \"$out/ssh.id_ed25519\"","share":false,"validation":null}`

func gen(name, script string, deps []string, files ...string) string {
	var fs []string
	for _, f := range files {
		secret := !strings.HasSuffix(f, ".pub")
		fs = append(fs, jsonString(f)+`:{"secret":`+map[bool]string{true: "true", false: "false"}[secret]+`,"deploy":true,"owner":"root","group":"root","mode":"0400","neededFor":"services"}`)
	}
	d, _ := json.Marshal(deps)
	if deps == nil {
		d = []byte("[]")
	}
	return jsonString(name) + `:{"files":{` + strings.Join(fs, ",") + `},"prompts":{},"dependencies":` + string(d) + `,"script":` + jsonString(script) + `,"share":false,"validation":null}`
}

// ageCLI runs Debian's age command.
func ageCLI(t testing.TB, stdin []byte, args ...string) ([]byte, error) {
	t.Helper()
	p, err := exec.LookPath("age")
	if err != nil {
		t.Skip("age command not installed (apt-get install age)")
	}
	cmd := exec.Command(p, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, &exec.ExitError{ProcessState: cmd.ProcessState, Stderr: stderr.Bytes()}
	}
	return out, nil
}
