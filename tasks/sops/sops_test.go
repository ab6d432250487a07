package sops

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/paths"
)

func newID(t testing.TB) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	assert.NilError(t, err)
	return id
}

var plainFor = map[Format]string{
	Binary: "-----BEGIN OPENSSH PRIVATE KEY-----\nnot really\n-----END OPENSSH PRIVATE KEY-----\n",
	JSON:   `{"password": "hunter2", "nested": {"n": 42, "f": 1.5, "on": true, "list": ["a", "b"], "empty": ""}, "note_unencrypted": "visible"}`,
	YAML:   "password: hunter2\nnested:\n  n: 42\n  f: 1.5\n  on: true\n  list:\n  - a\n  - b\nnote_unencrypted: visible\n",
}

func TestRoundTrip(t *testing.T) {
	a, b := newID(t), newID(t)
	for _, format := range []Format{Binary, JSON, YAML} {
		t.Run(format.String(), func(t *testing.T) {
			ct, err := Encrypt(format, []byte(plainFor[format]), []string{a.Recipient().String(), b.Recipient().String()})
			assert.NilError(t, err)
			assert.Assert(t, !strings.Contains(string(ct), "hunter2"))
			rs, err := Recipients(format, ct)
			assert.NilError(t, err)
			assert.Equal(t, len(rs), 2)
			for _, id := range []*age.X25519Identity{a, b} {
				pt, err := Decrypt(format, ct, []age.Identity{id})
				assert.NilError(t, err)
				want, _ := PlainDoc(format, []byte(plainFor[format]))
				got, _ := PlainDoc(format, pt)
				assert.Assert(t, equalMap(want, got), "got %s", pt)
			}
			if format != Binary {
				assert.Assert(t, strings.Contains(string(ct), "visible"), "the _unencrypted key stays clear")
			}
			_, err = Decrypt(format, ct, []age.Identity{newID(t)})
			assert.ErrorContains(t, err, "is a recipient")
		})
	}
}

// TestBadInput: each bad file gives an error naming what is wrong.
func TestBadInput(t *testing.T) {
	a := newID(t)
	ct, err := Encrypt(Binary, []byte("secret"), []string{a.Recipient().String()})
	assert.NilError(t, err)
	other, err := Encrypt(Binary, []byte("other"), []string{a.Recipient().String()})
	assert.NilError(t, err)
	f, _ := Parse(Binary, ct)
	g, _ := Parse(Binary, other)
	swapped := *f
	swapped.Meta.MAC = g.Meta.MAC
	swappedB, _ := swapped.Emit()
	for _, tc := range []struct {
		name, in, want string
	}{
		{"not json", "{", "not valid JSON"},
		{"no metadata", `{"data": "x"}`, `no "sops" metadata`},
		{"no mac", `{"data": "x", "sops": {"lastmodified": "2026-01-01T00:00:00Z", "age": []}}`, `no "mac"`},
		{"mac of another file", string(swappedB), "MAC"},
		{"tampered value", strings.Replace(string(ct), "data:", "data:AAAA", 1), "MAC mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decrypt(Binary, []byte(tc.in), []age.Identity{a})
			assert.ErrorContains(t, err, tc.want)
		})
	}
	_, err = Decrypt(Binary, []byte(strings.Replace(string(ct), "data:", "data:AAAA", 1)), []age.Identity{a})
	assert.Assert(t, errors.Is(err, ErrMAC))
}

func TestUpdateKeysAndEdit(t *testing.T) {
	a, b := newID(t), newID(t)
	ct, err := Encrypt(YAML, []byte(plainFor[YAML]), []string{a.Recipient().String()})
	assert.NilError(t, err)
	same, changed, err := UpdateKeys(YAML, ct, []age.Identity{a}, []string{a.Recipient().String()})
	assert.NilError(t, err)
	assert.Assert(t, !changed)
	assert.Equal(t, string(same), string(ct))
	nb, changed, err := UpdateKeys(YAML, ct, []age.Identity{a}, []string{b.Recipient().String(), a.Recipient().String()})
	assert.NilError(t, err)
	assert.Assert(t, changed)
	_, err = Decrypt(YAML, nb, []age.Identity{b})
	assert.NilError(t, err)

	doc, err := DecryptDoc(YAML, nb, []age.Identity{b})
	assert.NilError(t, err)
	doc.Items[0].Value = "changed"
	ed, changed, err := Edit(YAML, nb, []age.Identity{b}, doc)
	assert.NilError(t, err)
	assert.Assert(t, changed)
	oldF, _ := Parse(YAML, nb)
	newF, _ := Parse(YAML, ed)
	// the edited value changed, every other value is byte-identical
	assert.Assert(t, oldF.Doc.Items[0].Value != newF.Doc.Items[0].Value)
	assert.DeepEqual(t, oldF.Doc.Items[1:], newF.Doc.Items[1:], cmpMaps)
	pt, err := Decrypt(YAML, ed, []age.Identity{a})
	assert.NilError(t, err)
	assert.Assert(t, is.Contains(string(pt), "password: changed"))
}

func sopsBinary(t *testing.T) string {
	t.Helper()
	p, err := BinaryPath(paths.Tools())
	if err != nil {
		t.Skip(err.Error())
	}
	return p
}

func runSops(t *testing.T, bin, keyFile string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"SOPS_AGE_KEY_FILE=" + keyFile, "HOME=" + t.TempDir(), "PATH=/usr/bin:/bin"}
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return out, errors.New(string(ee.Stderr))
	}
	return out, err
}

var storeExt = map[Format]string{Binary: "secret", JSON: "s.json", YAML: "s.yaml"}

// TestInteropWithSops: sops decrypts what the suite writes (all three
// stores), the suite decrypts what sops writes, and sops decrypts files
// the suite edited and updated.
func TestInteropWithSops(t *testing.T) {
	bin := sopsBinary(t)
	a, b := newID(t), newID(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "keys.txt")
	assert.NilError(t, os.WriteFile(keyFile, []byte(a.String()+"\n"), 0o600))
	for _, format := range []Format{Binary, JSON, YAML} {
		t.Run(format.String()+"/sops reads ours", func(t *testing.T) {
			ct, err := Encrypt(format, []byte(plainFor[format]), []string{a.Recipient().String(), b.Recipient().String()})
			assert.NilError(t, err)
			p := filepath.Join(t.TempDir(), storeExt[format])
			assert.NilError(t, os.WriteFile(p, ct, 0o600))
			out, err := runSops(t, bin, keyFile, "decrypt", p)
			assert.NilError(t, err)
			assertSameDoc(t, format, out, []byte(plainFor[format]))

			// edited and re-keyed by the suite, still read by sops
			doc, err := DecryptDoc(format, ct, []age.Identity{a})
			assert.NilError(t, err)
			if format == Binary {
				doc.Items[0].Value = "new content"
			} else {
				doc.Items[0].Value = "new password"
			}
			ed, _, err := Edit(format, ct, []age.Identity{a}, doc)
			assert.NilError(t, err)
			c := newID(t)
			ed, _, err = UpdateKeys(format, ed, []age.Identity{a}, []string{a.Recipient().String(), c.Recipient().String()})
			assert.NilError(t, err)
			assert.NilError(t, os.WriteFile(p, ed, 0o600))
			out, err = runSops(t, bin, keyFile, "decrypt", p)
			assert.NilError(t, err)
			assert.Assert(t, is.Contains(string(out), "new "))

			// a tampered file is refused by sops too
			f, _ := Parse(format, ct)
			g, _ := Parse(format, ed)
			f.Meta.MAC = g.Meta.MAC
			bad, _ := f.Emit()
			assert.NilError(t, os.WriteFile(p, bad, 0o600))
			_, err = runSops(t, bin, keyFile, "decrypt", p)
			assert.ErrorContains(t, err, "MAC")
		})
		t.Run(format.String()+"/we read sops'", func(t *testing.T) {
			p := filepath.Join(t.TempDir(), storeExt[format])
			assert.NilError(t, os.WriteFile(p, []byte(plainFor[format]), 0o600))
			out, err := runSops(t, bin, keyFile, "encrypt", "--age", a.Recipient().String()+","+b.Recipient().String(), p)
			assert.NilError(t, err)
			pt, err := Decrypt(format, out, []age.Identity{b})
			assert.NilError(t, err)
			assertSameDoc(t, format, pt, []byte(plainFor[format]))
			// our edit of sops' file keeps untouched values identical
			doc, err := DecryptDoc(format, out, []age.Identity{b})
			assert.NilError(t, err)
			if format != Binary {
				doc.Items[0].Value = "rotated"
				ed, changed, err := Edit(format, out, []age.Identity{b}, doc)
				assert.NilError(t, err)
				assert.Assert(t, changed)
				of, _ := Parse(format, out)
				nf, _ := Parse(format, ed)
				assert.DeepEqual(t, of.Doc.Items[1:], nf.Doc.Items[1:], cmpMaps)
				assert.NilError(t, os.WriteFile(p, ed, 0o600))
				got, err := runSops(t, bin, keyFile, "decrypt", p)
				assert.NilError(t, err)
				assert.Assert(t, is.Contains(string(got), "rotated"))
			}
		})
	}
}

func assertSameDoc(t *testing.T, format Format, got, want []byte) {
	t.Helper()
	if format == Binary {
		assert.Equal(t, string(got), string(want))
		return
	}
	g, err := PlainDoc(format, got)
	assert.NilError(t, err, "%s", got)
	w, _ := PlainDoc(format, want)
	gj, _ := json.Marshal(toPlain(g))
	wj, _ := json.Marshal(toPlain(w))
	assert.Equal(t, string(gj), string(wj))
}

func toPlain(v any) any {
	switch x := v.(type) {
	case *Map:
		var out [][2]any
		for _, it := range x.Items {
			out = append(out, [2]any{it.Key, toPlain(it.Value)})
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = toPlain(x[i])
		}
		return out
	}
	return v
}

// FuzzParse: no input makes the parsers panic, and a file that parses
// emits and parses again to the same document.
func FuzzParse(f *testing.F) {
	id, _ := age.GenerateX25519Identity()
	for _, format := range []Format{Binary, JSON, YAML} {
		ct, _ := Encrypt(format, []byte(plainFor[format]), []string{id.Recipient().String()})
		f.Add(ct, uint8(format))
	}
	f.Add([]byte(`{"sops": []}`), uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, fm uint8) {
		format := Format(fm % 3)
		p, err := Parse(format, b)
		if err != nil || len(p.Meta.Other) > 0 {
			return
		}
		out, err := p.Emit()
		if err != nil {
			return
		}
		q, err := Parse(format, out)
		assert.NilError(t, err, "%s", out)
		assert.Assert(t, equalMap(p.Doc, q.Doc))
	})
}

var cmpMaps = cmpOpt()
