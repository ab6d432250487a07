package secrets

import (
	"os"
	"path/filepath"
	"testing"

	"filippo.io/age"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/sops"
)

// newStore: the lab fleet (tasks/vars' testdata) with keys made here.
func newStore(t *testing.T) (*Store, map[string]*age.X25519Identity) { return newStoreB(t) }

func newStoreB(t testing.TB) (*Store, map[string]*age.X25519Identity) {
	t.Helper()
	b, err := os.ReadFile("../vars/testdata/lab-fleet.json")
	assert.NilError(t, err)
	f, err := fleet.Parse(b)
	assert.NilError(t, err)
	ids := map[string]*age.X25519Identity{}
	for _, n := range f.UserNames() {
		id, err := age.GenerateX25519Identity()
		assert.NilError(t, err)
		ids[n] = id
		f.Users[n].AgeKeys = []string{id.Recipient().String()}
	}
	var all []age.Identity
	for _, id := range ids {
		all = append(all, id)
	}
	return &Store{Fleet: f, Dir: t.TempDir(), Identities: func() ([]age.Identity, error) { return all, nil }}, ids
}

// editorWriting is an $EDITOR (a real program, /bin/sh) that replaces the
// file with content, or exits 3 when content is "FAIL".
func editorWriting(t *testing.T, content string) []string {
	p := filepath.Join(t.TempDir(), "content")
	assert.NilError(t, os.WriteFile(p, []byte(content), 0o600))
	return []string{"/bin/sh", "-c", `if [ "$(cat "$0")" = FAIL ]; then exit 3; fi; cat "$0" > "$1"`, p}
}

func TestRulesEditUpdateKeysCheck(t *testing.T) {
	s, ids := newStore(t)
	user := s.Fleet.UserNames()[0]

	// rules: written once, then current; stale after a key change.
	wrote, err := s.WriteRules()
	assert.NilError(t, err)
	assert.Assert(t, wrote)
	wrote, err = s.WriteRules()
	assert.NilError(t, err)
	assert.Assert(t, !wrote)
	rules, _ := os.ReadFile(filepath.Join(s.Dir, RulesFile))
	assert.Assert(t, is.Contains(string(rules), "path_regex: ^secrets/users/"+user+`\.sops\.yaml$`))
	assert.Assert(t, is.Contains(string(rules), ids[user].Recipient().String()))
	assert.NilError(t, s.RulesStale())

	// edit creates the file; sops-nix's shape; a second edit changing one
	// key keeps the other's ciphertext.
	changed, err := s.Edit(user, editorWriting(t, "github-token: abc\nemail-password: def\n"))
	assert.NilError(t, err)
	assert.Assert(t, changed)
	p := filepath.Join(s.Dir, UserFile(user))
	before := mustRead(t, p)
	changed, err = s.Edit(user, editorWriting(t, "github-token: abc\nemail-password: NEW\n"))
	assert.NilError(t, err)
	assert.Assert(t, changed)
	after := mustRead(t, p)
	bf, _ := sops.Parse(sops.YAML, before)
	af, _ := sops.Parse(sops.YAML, after)
	assert.Equal(t, bf.Doc.Items[0].Value, af.Doc.Items[0].Value, "unchanged value re-encrypted")
	assert.Assert(t, bf.Doc.Items[1].Value != af.Doc.Items[1].Value)

	// nothing saved differently: nothing written
	changed, err = s.Edit(user, editorWriting(t, "github-token: abc\nemail-password: NEW\n"))
	assert.NilError(t, err)
	assert.Assert(t, !changed)

	// updatekeys: no change, 0 files; a new user key, exactly that file.
	done, err := s.UpdateKeys()
	assert.NilError(t, err)
	assert.Equal(t, len(done), 0)
	assert.DeepEqual(t, mustRead(t, p), after)
	nk, _ := age.GenerateX25519Identity()
	old := s.Fleet.Users[user].AgeKeys
	s.Fleet.Users[user].AgeKeys = append(append([]string(nil), old...), nk.Recipient().String())
	assert.ErrorContains(t, s.RulesStale(), "secrets:rules")
	probs, err := s.Check(nil)
	assert.NilError(t, err)
	assert.Assert(t, len(probs) == 2, "%v", probs) // stale rules, stale recipients
	done, err = s.UpdateKeys()
	assert.NilError(t, err)
	assert.DeepEqual(t, done, []string{p})
	pt, err := sops.Decrypt(sops.YAML, mustRead(t, p), []age.Identity{nk})
	assert.NilError(t, err)
	assert.Assert(t, is.Contains(string(pt), "NEW"))
	_, err = s.WriteRules()
	assert.NilError(t, err)
	probs, err = s.Check([]age.Identity{nk})
	assert.NilError(t, err)
	assert.Equal(t, len(probs), 0, "%v", probs)
}

// TestEditBadInput: the old file stays byte-identical and no plaintext is
// left behind when the editor fails or saves garbage, or the identity is
// wrong.
func TestEditBadInput(t *testing.T) {
	s, _ := newStore(t)
	user := s.Fleet.UserNames()[0]
	tmp := t.TempDir()
	t.Setenv("VANIXIETS_VARS_TMPDIR", tmp)
	_, err := s.Edit(user, editorWriting(t, "a: b\n"))
	assert.NilError(t, err)
	p := filepath.Join(s.Dir, UserFile(user))
	orig := mustRead(t, p)
	wrong, _ := age.GenerateX25519Identity()
	for _, tc := range []struct {
		name   string
		editor []string
		ids    []age.Identity
		want   string
	}{
		{"editor exits non-zero", editorWriting(t, "FAIL"), nil, "unchanged"},
		{"not YAML", editorWriting(t, "a: [b\n"), nil, "not usable"},
		{"comment kept out", editorWriting(t, "# note\na: c\n"), nil, "YAML comment"},
		{"wrong identity", editorWriting(t, "a: c\n"), []age.Identity{wrong}, "is a recipient"},
		{"no editor", nil, nil, "set $EDITOR"},
		{"unknown user", editorWriting(t, "a: c\n"), nil, "not in the fleet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := *s
			if tc.ids != nil {
				st.Identities = func() ([]age.Identity, error) { return tc.ids, nil }
			}
			u := user
			if tc.name == "unknown user" {
				u = "nobody"
			}
			_, err := st.Edit(u, tc.editor)
			assert.ErrorContains(t, err, tc.want)
			assert.DeepEqual(t, mustRead(t, p), orig)
			ents, _ := os.ReadDir(tmp)
			assert.Equal(t, len(ents), 0, "plaintext left in %s", tmp)
		})
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	assert.NilError(t, err)
	return b
}
