package lab

import (
	"testing"

	"gotest.tools/v3/assert"
)

func TestParseLabNix(t *testing.T) {
	for _, tc := range []struct {
		in      string
		def     string
		per     map[string]string
		wantErr string
	}{
		{in: "", def: "2.8", per: map[string]string{}},
		{in: "2.26", def: "2.26", per: map[string]string{}},
		{in: "2.8,cinnabar=2.26, galena=2.26", def: "2.8", per: map[string]string{"cinnabar": "2.26", "galena": "2.26"}},
		{in: "cinnabar=2.8,2.26", def: "2.26", per: map[string]string{"cinnabar": "2.8"}},
		{in: "2.24", wantErr: `"2.24" is no tested Nix version: use 2.8 or 2.26`},
		{in: "cinnabar=latest", wantErr: `"latest" is no tested Nix version`},
		{in: "Cin nabar=2.26", wantErr: `"Cin nabar" is no machine name`},
	} {
		def, per, err := parseLabNix(tc.in)
		if tc.wantErr != "" {
			assert.ErrorContains(t, err, "VANIXIETS_LAB_NIX=")
			assert.ErrorContains(t, err, tc.wantErr)
			continue
		}
		assert.NilError(t, err, tc.in)
		assert.Equal(t, def, tc.def, tc.in)
		assert.DeepEqual(t, per, tc.per)
	}
}

func TestOpenRejectsBadLabNix(t *testing.T) {
	t.Setenv("VANIXIETS_LAB_NIX", "3.0")
	_, err := Open(Config{Dir: t.TempDir()})
	assert.ErrorContains(t, err, `VANIXIETS_LAB_NIX="3.0"`)
	// the config's own value wins over the environment
	l, err := Open(Config{Dir: t.TempDir(), Nix: "2.8,cinnabar=2.26"})
	assert.NilError(t, err)
	assert.Equal(t, l.nixFor("cinnabar"), "2.26")
	assert.Equal(t, l.nixFor("galena"), "2.8")
}
