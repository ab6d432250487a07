package overlays

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"gotest.tools/v3/assert"
)

func TestParseHeader(t *testing.T) {
	cases := []struct {
		name  string
		lines []string
		want  Header
	}{
		{
			name: "fallback",
			lines: []string{
				" lean4: not built by hydra for darwin",
				" Hydra: https://hydra.nixos.org/job/nixpkgs/trunk/lean4.aarch64-darwin",
				" TODO: Remove when hydra provides darwin binaries",
				" Date added: 2026-03-21",
			},
			want: Header{
				Symptom:    "not built by hydra for darwin",
				References: []Reference{{URL: "https://hydra.nixos.org/job/nixpkgs/trunk/lean4.aarch64-darwin", Kind: "hydra"}},
				Remove:     "hydra provides darwin binaries", HasTODO: true,
				DateRaw: "2026-03-21", DateAdded: time.Date(2026, 3, 21, 0, 0, 0, 0, time.UTC), DateLine: 3, Lines: 4,
			},
		},
		{
			name: "explicit symptom wins, issue link",
			lines: []string{
				"mactop: Test fails in the sandbox",
				"Symptom: mkdir /homeless-shelter: read-only file system",
				"Reference: https://github.com/metaspartan/mactop/issues/61.",
				"TODO: check later",
			},
			want: Header{
				Symptom:    "mkdir /homeless-shelter: read-only file system",
				References: []Reference{{URL: "https://github.com/metaspartan/mactop/issues/61", Kind: "issue"}},
				HasTODO:    true, Lines: 4,
			},
		},
		{
			name:  "malformed date",
			lines: []string{"x: broken", "Date added: 24/01/2026"},
			want:  Header{Symptom: "broken", DateRaw: "24/01/2026", DateErr: "want YYYY-MM-DD", DateLine: 1, Lines: 2},
		},
		{
			name:  "prose first line and a layer",
			lines: []string{"", "Rename graphite-cli binary from gt to gph", "Layer: Overrides", "See https://example.org/x"},
			want: Header{Symptom: "Rename graphite-cli binary from gt to gph", Layer: "overrides", LayerLine: 2, Lines: 4,
				References: []Reference{{URL: "https://example.org/x", Kind: "other"}}},
		},
		{name: "empty", lines: nil, want: Header{}},
		{
			name:  "pull request and date-only block",
			lines: []string{"PR: https://github.com/NixOS/nixpkgs/pull/367510", "Date added: 2026-02-30"},
			want: Header{References: []Reference{{URL: "https://github.com/NixOS/nixpkgs/pull/367510", Kind: "issue"}},
				DateRaw: "2026-02-30", DateErr: "want YYYY-MM-DD", DateLine: 1, Lines: 2},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.DeepEqual(t, ParseHeader(tc.lines), tc.want)
		})
	}
}

// FuzzParseHeader: any comment block parses without panicking, and the
// parsed fields keep their invariants.
func FuzzParseHeader(f *testing.F) {
	f.Add("lean4: broken\nHydra: https://hydra.nixos.org/job/x\nTODO: Remove when fixed\nDate added: 2026-03-21")
	f.Add("Date added: 2026-13-45\nTODO: remove when\nSymptom:")
	f.Add("# # Upstream: http://[::1]:80/issues/1 https://%zz\n\xff\xfe: ::")
	f.Add("Date added: 0000-00-00\nLayer: 5\nhttps://github.com/a/b/pull/1)")
	f.Fuzz(func(t *testing.T, s string) {
		h := ParseHeader(strings.Split(s, "\n"))
		if h.DateErr == "" && h.DateRaw != "" {
			d, err := time.Parse(DateLayout, h.DateRaw)
			if err != nil || !d.Equal(h.DateAdded) {
				t.Fatalf("date %q accepted as %v", h.DateRaw, h.DateAdded)
			}
		}
		if h.DateErr != "" && !h.DateAdded.IsZero() {
			t.Fatalf("malformed date %q has a value", h.DateRaw)
		}
		for _, field := range []string{h.Symptom, h.Remove, h.Layer, h.DateRaw} {
			if strings.Contains(field, "\n") || !utf8.ValidString(field) {
				t.Fatalf("field %q spans lines or is not UTF-8", field)
			}
		}
		for _, r := range h.References {
			if !strings.HasPrefix(r.URL, "http") || (r.Kind != "hydra" && r.Kind != "issue" && r.Kind != "tracker" && r.Kind != "other") {
				t.Fatalf("bad reference %+v", r)
			}
		}
	})
}

// FuzzReadSource: the Go reading of any input never panics (Nix reports the
// syntax; the reader must survive whatever it is given).
func FuzzReadSource(f *testing.F) {
	f.Add("{ lib, ... }: { flake.nixpkgsOverlays = lib.mkOrder 200 [ (final: prev: { a = final.stable.a; }) ]; }")
	f.Add("final: prev: { x = ''${prev.y}'' ; inherit (prev) z; \"q\" = let a = 1; in a; }")
	f.Add("{ nixpkgsOverlays = [ (f: p: with p; { a = { b = [ ${ ; }")
	f.Add("patches = [ (fetchpatch { url = \"https://x/y.patch\"; }) https://a/b ];")
	f.Fuzz(func(t *testing.T, s string) {
		src := readSource(s)
		c := &checker{custom: map[string]bool{"a": true}}
		for _, e := range src.Elements {
			for _, en := range e.Entries {
				c.classify(en, src)
			}
		}
		_ = src.paragraphs()
	})
}

func TestReadSourceEntries(t *testing.T) {
	src := readSource(`{ lib, inputs, ... }:
{
  flake.nixpkgsOverlays = lib.mkOrder 250 [
    (
      final: prev:
      let x = { notAnEntry = 1; }; in
      {
        # a: broken
        a = final.stable.a;
        inherit (final.patched) b c;
      }
      // prev.lib.optionalAttrs prev.stdenv.isDarwin {
        d = prev.d.overrideAttrs (o: { e = let f = 1; in f; });
        "g-h" = with prev; x;
      }
    )
    inputs.nuenv.overlays.nuenv
  ];
}`)
	assert.Equal(t, src.Priority, 250)
	assert.Equal(t, src.AppendTarget, "flake.nixpkgsOverlays")
	assert.Equal(t, len(src.Elements), 2)
	assert.Equal(t, src.Elements[0].Lambdas, 2)
	assert.Equal(t, src.Elements[1].Ref, "inputs.nuenv.overlays.nuenv")
	var got []string
	c := &checker{}
	for _, e := range src.Elements[0].Entries {
		c.classify(e, src)
		got = append(got, e.Name+":"+string(e.Kind)+":"+e.Guard)
	}
	assert.DeepEqual(t, got, []string{"a:fallback:", "b:fallback:", "c:fallback:", "d:override:isDarwin", "g-h:definition:isDarwin"})
	assert.Equal(t, src.Elements[0].Entries[0].Header.Symptom, "broken")
	assert.DeepEqual(t, src.Inputs, map[string][]string{"nuenv": {"nuenv"}})
}
