package overlays

import (
	"strings"
	"testing"
	"unicode/utf8"

	"gotest.tools/v3/assert"
)

// TestClassify: what an entry is, read from how its value is written and
// traced through let bindings; custom is the set of by-name packages.
func TestClassify(t *testing.T) {
	cases := []struct {
		name, overlay, entry string
		want                 Kind
	}{
		{"nixpkgs fix", `final: prev: { mactop = prev.mactop.overrideAttrs (o: { doCheck = false; }); }`, "mactop", KindOverride},
		{"input package through a let", `final: prev: { gw = let base = inputs.agents.packages.x.gw; in base.overrideAttrs (o: { }); }`, "gw", KindOverride},
		{"local package adjusted", `final: prev: let pkg = prev.stdenv.mkDerivation { pname = "s"; }; in { s = if prev.stdenv.isDarwin then pkg.overrideAttrs (o: { }) else pkg; }`, "s", KindLocal},
		{"local through two lets", `final: prev: let a = prev.callPackage ./a.nix { }; b = a; in { a = b.overrideAttrs (o: { }); }`, "a", KindLocal},
		{"re-route to a custom package", `final: prev: { python3 = prev.python3.override { packageOverrides = f: p: { duckdb = final.py-duckdb or p.duckdb; }; }; }`, "python3", KindReroute},
		{"override of a package set", `final: prev: { python3 = prev.python3.override { packageOverrides = f: p: { x = p.x; }; }; }`, "python3", KindOverride},
		{"stable fallback", `final: prev: { jq = final.stable.jq; }`, "jq", KindFallback},
		{"new attribute", `final: prev: { texWith = prev.texliveSmall.withPackages (ps: [ ]); }`, "texWith", KindDefinition},
		{"channel", `final: prev: { stable = import inputs.nixpkgs-stable { }; }`, "stable", KindChannel},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := readSource("{ inputs, ... }: { nixpkgsOverlays = [ (" + tc.overlay + ") ]; }")
			assert.Equal(t, len(src.Elements), 1)
			c := &checker{custom: map[string]bool{"py-duckdb": true}}
			var got Kind
			for _, e := range src.Elements[0].Entries {
				c.classify(e, src)
				if e.Name == tc.entry {
					got = e.Kind
				}
			}
			assert.Equal(t, got, tc.want)
		})
	}
}

// TestDocumentFromHeader: a one-override file's header documents its
// entry, with the date's line in the header; a layer file's header does not.
func TestDocumentFromHeader(t *testing.T) {
	const file = `# mactop: tests write to $HOME
#
# Upstream: https://github.com/o/mactop/issues/3
# TODO: Remove when the test uses a temporary directory
# Date added: 2026-10-01
{ ... }:
{
  nixpkgsOverlays = [
    (final: prev: {
      mactop = prev.mactop.overrideAttrs (o: { doCheck = false; });
    })
  ];
}
`
	for _, layerFile := range []bool{false, true} {
		src := readSource(file)
		c := &checker{custom: map[string]bool{}}
		es := src.Elements[0].Entries
		for _, e := range es {
			c.classify(e, src)
		}
		c.document("x.nix", src, es, layerFile)
		e := es[0]
		if layerFile {
			assert.Equal(t, e.Header.DateRaw, "")
			assert.Equal(t, e.headerDoc, false)
			continue
		}
		assert.Equal(t, e.DocFrom, "file header")
		assert.Equal(t, e.Header.Symptom, "tests write to $HOME")
		assert.Equal(t, e.Header.Remove, "the test uses a temporary directory")
		assert.Equal(t, e.dateAt, 5)
		assert.Assert(t, e.Header.has("issue"))
	}
}

// FuzzSentences: any comment paragraph splits into sentences that cover
// its text in order, each byte carrying a line of the paragraph.
func FuzzSentences(f *testing.F) {
	f.Add("Skipped on darwin because stable-fallbacks.nix routes\npkgs.bitwarden-cli to stable. Accept it.", 7)
	f.Add("e.g. pkgs/by-name/x/. ; ! ?\n\n#", 1)
	f.Add("\xff. a", 0)
	f.Fuzz(func(t *testing.T, text string, start int) {
		if !utf8.ValidString(text) {
			text = strings.ToValidUTF8(text, "")
		}
		p := paragraph{start: start, lines: strings.Split(text, "\n")}
		n := 0
		for _, s := range p.sentences() {
			assert.Equal(t, len(s.lines), len(s.text))
			for i := range s.text {
				l := s.lineAt(i)
				assert.Assert(t, l >= start && l < start+len(p.lines), "line %d outside the paragraph", l)
			}
			n += len(s.text)
		}
		total := 0 // the lines joined by one space, after the first non-empty one
		for k, l := range p.lines {
			if k > 0 && total > 0 {
				total++
			}
			total += len(strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(l), "#")))
		}
		assert.Equal(t, n, total)
	})
}
