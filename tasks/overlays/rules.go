package overlays

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// channelNames are the attributes Layer 1 exports.
var channelNames = map[string]bool{"stable": true, "unstable": true, "patched": true, "nixpkgs": true, "inputs": true}

var overrideFns = map[string]bool{
	"overrideAttrs": true, "override": true, "overridePythonAttrs": true, "overrideDerivation": true,
	"overrideScope": true, "overrideScope'": true, "overrideModAttrs": true, "packageOverrides": true,
	"overrideCabal": true, "overrideGoAttrs": true, "extend": true,
}

// allTokens flattens a value's tokens with the tokens of its antiquotations.
func allTokens(ts []token) []token {
	var out []token
	for _, t := range ts {
		out = append(out, t)
		if len(t.Inner) > 0 {
			out = append(out, allTokens(t.Inner)...)
		}
	}
	return out
}

// localBuilders build a package from source inside the overlay: an
// overrideAttrs on their result adjusts the overlay's own package, it does
// not fix a nixpkgs one.
var localBuilders = map[string]bool{
	"mkDerivation": true, "callPackage": true, "buildGoModule": true, "buildRustPackage": true,
	"buildNpmPackage": true, "buildPythonApplication": true, "buildPythonPackage": true,
	"buildDotnetModule": true, "writeShellApplication": true, "writeShellScriptBin": true,
	"writeScriptBin": true, "symlinkJoin": true, "runCommand": true, "runCommandLocal": true,
}

// classify decides what an entry does from how its value is written: a
// channel, a stable fallback, an override of a package from nixpkgs or a
// flake input, a permanent re-route to a custom package, an adjustment of a
// package the overlay builds itself (local), or a plain definition.
func (c *checker) classify(e *Entry, s *source) {
	if e.Kind == KindPatch || e.Kind == KindPackage {
		return
	}
	ts := allTokens(e.value)
	if e.inherit {
		chain := selChain(ts, 0)
		switch {
		case len(chain) >= 2 && pkgSetNames[chain[0]] && channelNames[chain[1]]:
			e.Kind, e.Channel = KindFallback, chain[1]
		case channelNames[e.Name]:
			e.Kind = KindChannel
		default:
			e.Kind = KindDefinition
		}
		return
	}
	var override, local, importsInput bool
	channel := ""
	for i, t := range ts {
		if t.Kind != tIdent {
			continue
		}
		if t.Text == "packageOverrides" || (overrideFns[t.Text] && i > 1 && ts[i-1].punct(".")) {
			if t.Text != "packageOverrides" && s.origin(receiver(ts, i-1), 0) == "local" {
				local = true
			} else {
				override = true
			}
		}
		if t.Text == "import" && i+1 < len(ts) && ts[i+1].is(tIdent, "inputs") {
			importsInput = true
		}
		if pkgSetNames[t.Text] && (i == 0 || !ts[i-1].punct(".")) {
			ch := selChain(ts, i)
			if len(ch) >= 2 && channelNames[ch[1]] && channel == "" {
				channel = ch[1]
			}
			if len(ch) >= 2 && (t.Text == "prev" || t.Text == "super") && ch[1] == e.Name {
				e.SelfRef = true
			}
			if len(ch) >= 2 && t.Text != "prev" && t.Text != "super" && c.custom[ch[1]] && ch[1] != e.Name {
				e.routesCustom = true
			}
		}
	}
	switch {
	case channelNames[e.Name] || importsInput:
		e.Kind = KindChannel
	case override && e.routesCustom:
		e.Kind = KindReroute
	case override:
		e.Kind = KindOverride
	case channel != "":
		e.Kind, e.Channel = KindFallback, channel
	case local:
		e.Kind = KindLocal
	default:
		e.Kind = KindDefinition
	}
}

// receiver is the head of the attribute path ending just before ts[dot]
// (the "." of x.y.overrideAttrs): "x".
func receiver(ts []token, dot int) string {
	j := dot - 1
	head := ""
	for j >= 0 && (ts[j].Kind == tIdent || ts[j].Kind == tString) {
		head = ts[j].Text
		if j >= 2 && ts[j-1].punct(".") {
			j -= 2
			continue
		}
		break
	}
	return head
}

// origin says where the value named name comes from: "upstream" (final,
// prev, pkgs or a flake input), "local" (a let binding built with a local
// builder such as stdenv.mkDerivation) or "" (unknown, treated as upstream).
func (s *source) origin(name string, depth int) string {
	switch {
	case name == "" || depth > 4:
		return ""
	case pkgSetNames[name] || name == "inputs":
		return "upstream"
	}
	v := s.binding(name)
	if len(v) == 0 {
		return ""
	}
	k := 0
	for k < len(v) && v[k].punct("(") {
		k++
	}
	chain := selChain(v, k)
	if len(chain) == 0 {
		return ""
	}
	if localBuilders[chain[len(chain)-1]] {
		return "local"
	}
	if len(chain) == 1 {
		return s.origin(chain[0], depth+1)
	}
	return s.origin(chain[0], depth+1)
}

var docTemplate = map[Kind]string{
	KindFallback: "# <name>: <what breaks on unstable>\n# Hydra: https://hydra.nixos.org/job/nixpkgs/trunk/<name>.<system>\n# TODO: Remove when <the fix reaches unstable>\n# Date added: YYYY-MM-DD",
	KindOverride: "# <name>: <symptom>\n# Upstream: https://github.com/<owner>/<repo>/issues/<n>\n# TODO: Remove when <upstream fix lands>\n# Date added: YYYY-MM-DD",
	KindPatch:    "# <name>: <what the patch fixes>\n# PR: https://github.com/NixOS/nixpkgs/pull/<n>\n# TODO: Remove when <the PR reaches the channel>\n# Date added: YYYY-MM-DD",
	KindReroute:  "# <name>: <why it is routed to the custom package>\n# Permanent: <why it stays>",
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " | ") }

// entryRules checks one entry: its layer, its documentation, its age and
// the platforms it applies on.
func (c *checker) entryRules(e *Entry, rep *Report) {
	// Wrong layer.
	switch {
	case e.Kind == KindChannel && e.Layer != LayerChannels:
		c.add(Error, "wrong-layer", e.File, e.Line,
			fmt.Sprintf("%s defines channel %q outside the channels layer", e.Layer, e.Name),
			"move it to "+c.layerFile(LayerChannels, e.Name)+", or rename the attribute")
	case e.Layer == LayerChannels && e.Kind != KindChannel && e.Kind != KindPatch:
		c.add(Error, "wrong-layer", e.File, e.Line,
			fmt.Sprintf("channels layer defines %s %q; Layer 1 only exports channels (stable, unstable, patched, nixpkgs)", e.Kind, e.Name),
			"move it to "+c.suggestFile(e))
	case e.Layer == LayerFallbacks && e.Kind != KindFallback:
		c.add(Error, "wrong-layer", e.File, e.Line,
			fmt.Sprintf("stable-fallbacks defines %s %q; Layer 2 only selects packages from a channel (final.stable.<pkg>)", e.Kind, e.Name),
			"move it to "+c.suggestFile(e))
	case e.Layer == LayerOverrides && e.Kind == KindFallback:
		c.add(Error, "wrong-layer", e.File, e.Line,
			fmt.Sprintf("overrides defines stable fallback %q (final.%s.%s); fallbacks belong to Layer 2", e.Name, e.Channel, e.Name),
			"move it to "+c.layerFile(LayerFallbacks, e.Name))
	case e.Layer == LayerExternal && e.Kind == KindFallback:
		c.add(Error, "wrong-layer", e.File, e.Line,
			fmt.Sprintf("external overlay file defines stable fallback %q; fallbacks belong to Layer 2", e.Name),
			"move it to "+c.layerFile(LayerFallbacks, e.Name))
	}

	// Documentation.
	if tmpl, ok := docTemplate[e.Kind]; ok {
		h := e.Header
		var missing []string
		if h.Symptom == "" {
			missing = append(missing, "symptom")
		}
		switch {
		case e.Kind == KindReroute:
		case e.Kind == KindFallback && e.Channel != "patched":
			if !h.has("hydra") {
				missing = append(missing, "Hydra link (https://hydra.nixos.org/...)")
			}
		case e.Kind == KindFallback:
			if !h.has("issue") && !h.has("hydra") {
				missing = append(missing, "upstream PR link")
			}
		default:
			if !h.has("issue") {
				m := "upstream issue or PR link"
				for _, r := range h.References {
					if r.Kind == "tracker" {
						m += " (" + r.URL + " is the issue list, not an issue)"
						break
					}
				}
				missing = append(missing, m)
			}
		}
		if h.Remove == "" && e.Kind != KindReroute {
			missing = append(missing, "removal condition (TODO: Remove when ...)")
		}
		if h.DateRaw == "" && e.Kind != KindReroute {
			missing = append(missing, "Date added")
		}
		if len(missing) > 0 {
			where := "directly above the entry in " + e.File
			if e.headerDoc {
				where = "in the header of " + e.File + " (the file's one " + kindLabel(e.Kind) + ")"
			}
			c.add(Error, "doc-missing", e.File, e.Line,
				fmt.Sprintf("%s %s lacks %s", kindLabel(e.Kind), e.Name, strings.Join(missing, ", ")),
				"document it "+where+": "+oneLine(strings.ReplaceAll(tmpl, "<name>", e.Name)))
		}
		if h.DateRaw != "" && h.DateErr != "" {
			c.add(Error, "doc-date", e.File, e.dateAt,
				fmt.Sprintf("%s %s: Date added %q is not a date (want YYYY-MM-DD)", kindLabel(e.Kind), e.Name, h.DateRaw),
				fmt.Sprintf("write the date the entry was added as YYYY-MM-DD at %s:%d, e.g. Date added: 2025-01-31", e.File, e.dateAt))
		}
		if !h.DateAdded.IsZero() {
			now := c.opt.Now()
			age := int(now.Sub(h.DateAdded).Hours() / 24)
			switch {
			case age < 0:
				c.add(Warning, "doc-date", e.File, e.dateAt,
					fmt.Sprintf("%s %s: Date added %s is in the future", kindLabel(e.Kind), e.Name, h.DateRaw),
					fmt.Sprintf("write the date the entry was added at %s:%d", e.File, e.dateAt))
			case now.Sub(h.DateAdded) > c.opt.MaxAge:
				rep.Stale = append(rep.Stale, StaleEntry{Name: e.Name, File: e.File, Line: e.Line, DateAdded: h.DateRaw, AgeDays: age, Remove: h.Remove})
				cond := h.Remove
				if cond == "" {
					cond = "its removal condition"
				}
				c.add(Warning, "stale", e.File, e.Line,
					fmt.Sprintf("%s %s was added %s, %d days ago (limit %d): review it", kindLabel(e.Kind), e.Name, h.DateRaw, age, int(c.opt.MaxAge.Hours()/24)),
					fmt.Sprintf("check whether %q holds: if so delete the entry, else re-date it at %s:%d after review", cond, e.File, e.dateAt))
			}
		}
	}

	// Platforms.
	if e.Systems == nil || e.Kind == KindPatch {
		return
	}
	if len(e.Systems) == len(c.evalSys) {
		return
	}
	fleet := setOf(c.opt.Systems)
	inFleet := false
	for _, s := range e.Systems {
		if fleet[s] {
			inFleet = true
			rep.Platforms[s] = append(rep.Platforms[s], PlatformEntry{Name: e.Name, File: e.File, Line: e.Line, Guard: e.Guard})
		}
	}
	if !inFleet && (len(e.Systems) > 0 || e.Guard != "") {
		on := "no system"
		if len(e.Systems) > 0 {
			on = strings.Join(e.Systems, ", ")
		}
		c.add(Warning, "platform-unused", e.File, e.Line,
			fmt.Sprintf("%s %s applies only on %s, which no fleet machine has (fleet: %s)", kindLabel(e.Kind), e.Name, on, strings.Join(c.opt.Systems, ", ")),
			"remove it, or fix its platform conditional (isDarwin, isLinux, hostPlatform.system)")
	}
}

func kindLabel(k Kind) string {
	switch k {
	case KindFallback:
		return "stable fallback"
	case KindOverride:
		return "override"
	case KindPatch:
		return "patch"
	case KindPackage:
		return "custom package"
	case KindReroute:
		return "re-route"
	case KindLocal:
		return "local package"
	}
	return string(k)
}

// suggestFile is where an entry of e's kind belongs in this tree.
func (c *checker) suggestFile(e *Entry) string {
	switch e.Kind {
	case KindFallback:
		return c.layerFile(LayerFallbacks, e.Name)
	case KindOverride, KindReroute:
		return c.layerFile(LayerOverrides, e.Name)
	case KindChannel:
		return c.layerFile(LayerChannels, e.Name)
	}
	return c.layerFile(LayerExternal, e.Name) + " (or a package under pkgs/by-name)"
}

// crossLayer reports a name defined by two overlay files: the later one
// either discards the earlier (it does not build on prev.<name>, or it is a
// custom package merged last with //), or both modify the same package.
func (c *checker) crossLayer(all []*Entry) {
	pos := func(e *Entry) int {
		if e.Layer == LayerCustom {
			return 1 << 20
		}
		return c.fileOrder[e.srcFile]
	}
	byName := map[string][]*Entry{}
	var names []string
	for _, e := range all {
		if e.Kind == KindPatch {
			continue
		}
		if _, ok := byName[e.Name]; !ok {
			names = append(names, e.Name)
		}
		byName[e.Name] = append(byName[e.Name], e)
	}
	sort.Strings(names)
	for _, n := range names {
		defs := byName[n]
		sort.SliceStable(defs, func(i, j int) bool { return pos(defs[i]) < pos(defs[j]) })
		for i := 1; i < len(defs); i++ {
			b := defs[i]
			// The nearest earlier definition from another file on a shared system.
			var a *Entry
			for k := i - 1; k >= 0; k-- {
				if defs[k].srcFile != b.srcFile && overlap(defs[k], b) {
					a = defs[k]
					break
				}
			}
			if a == nil || channelNames[n] {
				continue
			}
			at := fmt.Sprintf("%s:%d", a.File, a.Line)
			bt := fmt.Sprintf("%s:%d", b.File, b.Line)
			switch {
			case b.Kind == KindPackage:
				c.add(Error, "shadowed", a.File, a.Line,
					fmt.Sprintf("%s %s (%s) is shadowed by custom package %s, merged last with //: the %s never reaches a machine", kindLabel(a.Kind), n, at, bt, kindLabel(a.Kind)),
					"delete the entry at "+at+", or rename the custom package")
			case !b.SelfRef:
				c.add(Error, "shadowed", a.File, a.Line,
					fmt.Sprintf("%s %s (%s, layer %s) is shadowed by %s (layer %s), which redefines it without building on prev.%s", kindLabel(a.Kind), n, at, a.Layer, bt, b.Layer, n),
					fmt.Sprintf("delete one of the two, or make %s build on prev.%s", bt, n))
			default:
				c.add(Warning, "double-override", b.File, b.Line,
					fmt.Sprintf("%s is modified in two files: %s (layer %s) and %s (layer %s)", n, at, a.Layer, bt, b.Layer),
					"merge the two into one entry, or document in both why each is needed")
			}
		}
	}
}

// overlap reports whether two entries apply on a common system (unknown
// systems count as all).
func overlap(a, b *Entry) bool {
	if a.Systems == nil || b.Systems == nil || a.Kind == KindPackage || b.Kind == KindPackage {
		return true
	}
	for _, x := range a.Systems {
		for _, y := range b.Systems {
			if x == y {
				return true
			}
		}
	}
	return false
}

// compose checks compose.nix: it composes nixpkgsOverlays with
// lib.composeManyExtensions, merges custom packages last with //, and
// defines flake.overlays.default.
func (c *checker) compose(path string) {
	rel := c.rel(path)
	data, err := os.ReadFile(path)
	if err != nil {
		c.add(Error, "read", rel, 0, "cannot read: "+err.Error(), "check the file's permissions")
		return
	}
	s := readSource(string(data))
	code := s.code
	cme := -1
	for i, t := range code {
		if t.is(tIdent, "composeManyExtensions") {
			cme = i
			break
		}
	}
	if cme < 0 {
		c.add(Error, "compose-shape", rel, 1,
			"compose.nix does not use lib.composeManyExtensions: the overlays list is not composed in order",
			"flake.overlays.default = final: prev: (lib.composeManyExtensions config."+c.option+" final prev) // customPackages;")
		return
	}
	arg := false
	for j := cme + 1; j < len(code) && j < cme+8; j++ {
		if code[j].is(tIdent, "nixpkgsOverlays") {
			arg = true
		}
	}
	if !arg {
		c.add(Error, "compose-shape", rel, code[cme].Line,
			"lib.composeManyExtensions is not applied to config."+c.option+": the layer files' overlays are not composed",
			"compose the list the overlay files append to: lib.composeManyExtensions config."+c.option)
	}
	// Custom packages: a binding whose value uses withSystem or .packages.
	custom := map[string]bool{}
	for i := 0; i+1 < len(code); i++ {
		if code[i].Kind != tIdent || !code[i+1].punct("=") {
			continue
		}
		end := s.valueEnd(i+2, len(code))
		for _, t := range code[i+2 : end] {
			if t.is(tIdent, "withSystem") || t.is(tIdent, "packages") {
				custom[code[i].Text] = true
			}
		}
	}
	last := -1
	for i, t := range code {
		if t.punct("//") {
			last = i
		}
	}
	hint := "end the overlay with the custom packages: (lib.composeManyExtensions config." + c.option + " final prev) // customPackages"
	if last < cme {
		c.add(Error, "compose-custom-last", rel, code[cme].Line,
			"compose.nix does not merge custom packages (pkgs/by-name) after the composed overlays", hint)
	} else {
		ok := false
		end := s.valueEnd(last+1, len(code))
		for _, t := range code[last+1 : end] {
			if t.Kind == tIdent && (custom[t.Text] || t.Text == "withSystem" || t.Text == "customPackages") {
				ok = true
			}
		}
		if !ok {
			c.add(Error, "compose-custom-last", rel, code[last].Line,
				"the last // in compose.nix does not merge custom packages: pkgs/by-name must come after every overlay layer", hint)
		}
	}
	def := false
	for i := 0; i+2 < len(code); i++ {
		if code[i].is(tIdent, "overlays") && code[i+1].punct(".") && code[i+2].is(tIdent, "default") {
			def = true
		}
	}
	if !def {
		c.add(Warning, "compose-output", rel, 1, "compose.nix does not define flake.overlays.default, which machines import",
			"flake.overlays.default = final: prev: ...;")
	}
}
