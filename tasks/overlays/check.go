package overlays

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Version is the checker's own version. It is part of the cache key, so a
// changed rule set never answers with an old report. Bump it with any change
// to the rules or the report format.
const Version = "overlays/2"

// DefaultMaxAge is how old a documented fallback, override or patch may be
// before it is reported as stale, for review.
const DefaultMaxAge = 90 * 24 * time.Hour

// DefaultSystems are the systems of the lab fleet and the user's fleet:
// cinnabar, electrum, galena and scheelite are x86_64-linux; stibnite,
// blackphos, argentum and rosegold are aarch64-darwin.
var DefaultSystems = []string{"x86_64-linux", "aarch64-darwin"}

// probeSystems are evaluated in addition to the fleet's systems, so that a
// fallback guarded for a platform the fleet lacks is seen and reported.
var probeSystems = []string{"x86_64-linux", "aarch64-linux", "x86_64-darwin", "aarch64-darwin"}

// Options configure one check. The zero value checks the current directory
// against DefaultSystems with DefaultMaxAge.
type Options struct {
	// Root is the flake root: overlays live in Root/modules/nixpkgs.
	Root string
	// Systems are the systems of the fleet's machines (from the fleet
	// inventory); DefaultSystems when empty.
	Systems []string
	// MaxAge is the stale threshold; DefaultMaxAge when zero.
	MaxAge time.Duration
	// Now is the clock (injectable for tests); time.Now when nil.
	Now func() time.Time
	// Nix is the nix-instantiate binary; found on PATH when empty.
	Nix string
	// Jobs bounds parallel Nix evaluations when one batch fails; NumCPU when 0.
	Jobs int
}

func (o Options) withDefaults() Options {
	if o.Root == "" {
		o.Root = "."
	}
	if len(o.Systems) == 0 {
		o.Systems = DefaultSystems
	}
	if o.MaxAge == 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Jobs == 0 {
		o.Jobs = runtime.NumCPU()
	}
	return o
}

// Severity of a finding: errors fail the check, warnings are printed.
type Severity string

const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Schema names the shape of the JSON report (docs/overlays.md, "JSON
// output"). It changes only when a field is removed or changes meaning, so
// CI jobs and editors can refuse a report they do not understand instead of
// misreading it; new fields may appear without a change.
const Schema = "vanixiets.overlays.report/v2"

// Finding is one problem, located and with a fix. Every field is always
// present in JSON: Line is 0 when the finding concerns a whole file or
// directory (a missing file, a package directory).
type Finding struct {
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	File     string   `json:"file"` // relative to Root, slash-separated
	Line     int      `json:"line"` // 1-based; 0: the whole file
	Message  string   `json:"message"`
	Fix      string   `json:"fix"`
}

// Layer is one of the five overlay layers, in composition order.
type Layer string

const (
	LayerChannels  Layer = "channels"
	LayerFallbacks Layer = "stable-fallbacks"
	LayerOverrides Layer = "overrides"
	LayerExternal  Layer = "external"
	LayerCustom    Layer = "custom-packages"
)

// rank is the position of a layer in the composition order.
func (l Layer) rank() int {
	switch l {
	case LayerChannels:
		return 0
	case LayerFallbacks:
		return 1
	case LayerOverrides:
		return 2
	case LayerExternal:
		return 3
	case LayerCustom:
		return 4
	}
	return 3
}

// Kind is what an overlay entry does, read from how its value is written.
type Kind string

const (
	KindChannel    Kind = "channel"    // stable = import inputs.nixpkgs-stable ...
	KindFallback   Kind = "fallback"   // foo = final.stable.foo; inherit (final.stable) foo;
	KindOverride   Kind = "override"   // foo = prev.foo.overrideAttrs ...
	KindDefinition Kind = "definition" // anything else (aliases, new attributes)
	KindPatch      Kind = "patch"      // an element of a channel's patches list
	KindPackage    Kind = "package"    // pkgs/by-name/<name>
	// KindLocal is a package the overlay builds itself (stdenv.mkDerivation,
	// callPackage, ...), possibly adjusted with overrideAttrs: not a fix of a
	// nixpkgs package, so it needs no removal condition.
	KindLocal Kind = "local"
	// KindReroute is a permanent re-route: an override that routes a package
	// (or a package inside a set, such as python3Packages.duckdb) to a custom
	// pkgs/by-name package, or one whose documentation says "Permanent:". It
	// needs a description; a removal condition and a date are optional.
	KindReroute Kind = "reroute"
)

// Entry is one attribute an overlay defines (or one patch, or one custom
// package), with its documentation and the systems it applies on.
type Entry struct {
	Name       string   `json:"name"`
	File       string   `json:"file"`
	Line       int      `json:"line"`
	Layer      Layer    `json:"layer"`
	Kind       Kind     `json:"kind"`
	Channel    string   `json:"channel,omitempty"` // for fallbacks: the channel chosen
	SelfRef    bool     `json:"buildsOnPrev,omitempty"`
	Guard      string   `json:"guard,omitempty"`
	Systems    []string `json:"systems,omitempty"` // nil when evaluation failed
	Header     Header   `json:"header"`
	HeaderLine int      `json:"-"`
	// DocFrom says where the documentation was read: "entry" (the block
	// directly above it), "file header" (a one-override file's header) or
	// "entry and file header".
	DocFrom string `json:"docFrom,omitempty"`

	dateAt       int  // absolute line of its Date added, 0 if none
	headerDoc    bool // documented by its file's header
	routesCustom bool // its value reads a custom (pkgs/by-name) package

	value   []token
	inherit bool
	srcFile string // the overlay file that defines it (File may be an imported helper)
	evalOK  bool
}

// FileSummary is one overlay file as the checker saw it.
type FileSummary struct {
	File     string   `json:"file"`
	Layer    Layer    `json:"layer"`
	Priority int      `json:"priority"`
	Overlays int      `json:"overlays"`
	Opaque   []string `json:"external,omitempty"`
	Entries  []Entry  `json:"entries"`

	entries    []*Entry
	target     string // the option it appends to, as written
	appendLine int
	explicit   bool // named for its layer or with a Layer: line
}

// StaleEntry is an entry older than MaxAge.
type StaleEntry struct {
	Name      string `json:"name"`
	File      string `json:"file"`
	Line      int    `json:"line"`
	DateAdded string `json:"dateAdded"`
	AgeDays   int    `json:"ageDays"`
	Remove    string `json:"removeWhen,omitempty"`
}

// PlatformEntry is an entry that applies on some systems only.
type PlatformEntry struct {
	Name  string `json:"name"`
	File  string `json:"file"`
	Line  int    `json:"line"`
	Guard string `json:"guard,omitempty"`
}

// Report is the result of a check.
type Report struct {
	Schema    string                     `json:"schema"`
	Root      string                     `json:"root"`
	Version   string                     `json:"version"`
	Systems   []string                   `json:"systems"`
	OK        bool                       `json:"ok"`
	Errors    int                        `json:"errors"`
	Warnings  int                        `json:"warnings"`
	Findings  []Finding                  `json:"findings"`
	Files     []FileSummary              `json:"files"`
	Custom    []string                   `json:"customPackages"`
	Stale     []StaleEntry               `json:"stale"`
	Platforms map[string][]PlatformEntry `json:"platforms"`
	Cached    bool                       `json:"cached"`
}

// Paths of the overlay tree relative to the flake root.
const (
	NixpkgsDir  = "modules/nixpkgs"
	OverlaysDir = "modules/nixpkgs/overlays"
	ComposeFile = "modules/nixpkgs/compose.nix"
)

// ByNameDirs are where custom packages (Layer 3) are looked for.
var ByNameDirs = []string{"pkgs/by-name", "modules/nixpkgs/pkgs/by-name"}

type checker struct {
	opt       Options
	root      string // absolute
	findings  []Finding
	evalSys   []string
	fileOrder map[string]int // overlay file -> composition position

	option     string          // the overlays option as the tree spells it
	optionFrom string          // where that was read
	sep        string          // pkgsNameSeparator of nested by-name groups
	custom     map[string]bool // custom package names
	sums       []*FileSummary
}

func (c *checker) add(sev Severity, rule, file string, line int, msg, fix string) {
	c.findings = append(c.findings, Finding{Severity: sev, Rule: rule, File: file, Line: line, Message: msg, Fix: fix})
}

func (c *checker) rel(p string) string {
	if r, err := filepath.Rel(c.root, p); err == nil && !strings.HasPrefix(r, "..") {
		return filepath.ToSlash(r)
	}
	return p
}

// Check reads Root's overlay tree and returns every finding. A broken tree
// yields findings, never an error; the error is for a checker that cannot
// run at all (no nix-instantiate, cancelled context).
func Check(ctx context.Context, opt Options) (Report, error) {
	opt = opt.withDefaults()
	root, err := filepath.Abs(opt.Root)
	if err != nil {
		return Report{}, fmt.Errorf("flake root %s: %w", opt.Root, err)
	}
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		return Report{}, fmt.Errorf("flake root %s is not a directory: pass --flake-root (VANIXIETS_FLAKE_ROOT) naming a flake checkout", opt.Root)
	}
	nixBin := opt.Nix
	if nixBin == "" {
		if nixBin, err = exec.LookPath("nix-instantiate"); err != nil {
			return Report{}, fmt.Errorf("nix-instantiate not found on PATH: install Nix (scripts/setup.sh) or set Options.Nix")
		}
	}
	c := &checker{opt: opt, root: root}
	c.evalSys = union(opt.Systems, probeSystems)
	c.option, c.optionFrom = c.declaredOption()
	rep := Report{Schema: Schema, Root: opt.Root, Version: Version, Systems: opt.Systems, Platforms: map[string][]PlatformEntry{}}

	// Inputs: overlays/*.nix, compose.nix.
	ovDir := filepath.Join(root, OverlaysDir)
	files, _ := filepath.Glob(filepath.Join(ovDir, "*.nix"))
	sort.Strings(files)
	if len(files) == 0 {
		c.add(Error, "overlays-empty", OverlaysDir, 0,
			"no overlay files: "+OverlaysDir+"/*.nix is missing or empty",
			"add "+OverlaysDir+"/channels.nix and stable-fallbacks.nix, and a file per override (or overrides.nix), each a module appending to "+c.option)
	}
	composePath := filepath.Join(root, ComposeFile)
	haveCompose := true
	if _, err := os.Stat(composePath); err != nil {
		haveCompose = false
	}
	toParse := append([]string(nil), files...)
	if haveCompose {
		toParse = append(toParse, composePath)
	}
	bad, err := parseAll(ctx, nixBin, toParse)
	if err != nil {
		return Report{}, err
	}
	for _, f := range toParse {
		if ne, ok := bad[f]; ok {
			c.add(Error, "syntax", c.rel(f), ne.Line, "not valid Nix: "+ne.Msg,
				"fix the syntax; nix-instantiate --parse "+c.rel(f)+" shows the same error")
		}
	}

	// Go reading and stand-in evaluation of the valid overlay files.
	srcs := map[string]*source{}
	var inputs []evalInput
	var good []string
	for _, f := range files {
		if _, broken := bad[f]; broken {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			c.add(Error, "read", c.rel(f), 0, "cannot read: "+err.Error(), "check the file's permissions")
			continue
		}
		s := readSource(string(data))
		srcs[f] = s
		good = append(good, f)
		inputs = append(inputs, evalInput{Path: f, Names: nonNil(s.Names), Inputs: s.Inputs})
	}
	evals, evalBad, err := evalAll(ctx, nixBin, c.evalSys, inputs, opt.Jobs)
	if err != nil {
		return Report{}, err
	}

	// Tree-wide facts first: the option's spelling, the custom packages.
	if c.optionFrom == "" {
		c.option, c.optionFrom = majorityOption(good, srcs)
	}
	if !haveCompose {
		c.add(Error, "compose-missing", ComposeFile, 0,
			"compose.nix is missing: nothing composes "+c.option+" into flake.overlays.default",
			"create "+ComposeFile+": flake.overlays.default = final: prev: (lib.composeManyExtensions config."+c.option+" final prev) // customPackages")
	}
	c.sep = c.nameSeparator()
	custom := c.customPackages()
	c.custom = map[string]bool{}
	for _, e := range custom {
		rep.Custom = append(rep.Custom, e.Name)
		c.custom[e.Name] = true
	}

	// Per-file structure.
	var all []*Entry
	var sums []*FileSummary
	for _, f := range good {
		sum, entries := c.file(f, srcs[f], evals, evalBad)
		sums = append(sums, sum)
		all = append(all, entries...)
	}
	c.sums = sums
	c.order(sums)
	for _, e := range all {
		c.entryRules(e, &rep)
	}
	c.crossLayer(append(all, custom...))
	c.crossRefs(good, srcs, sums)
	if haveCompose {
		if _, broken := bad[composePath]; !broken {
			c.compose(composePath)
		}
	}

	sort.SliceStable(sums, func(i, j int) bool { return c.fileOrder[sums[i].File] < c.fileOrder[sums[j].File] })
	for _, s := range sums {
		for _, e := range s.entries {
			s.Entries = append(s.Entries, *e)
		}
		if s.Entries == nil {
			s.Entries = []Entry{}
		}
		rep.Files = append(rep.Files, *s)
	}
	sort.SliceStable(rep.Stale, func(i, j int) bool {
		if rep.Stale[i].AgeDays != rep.Stale[j].AgeDays {
			return rep.Stale[i].AgeDays > rep.Stale[j].AgeDays
		}
		return rep.Stale[i].Name < rep.Stale[j].Name
	})
	sort.SliceStable(c.findings, func(i, j int) bool {
		a, b := c.findings[i], c.findings[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Rule < b.Rule
	})
	rep.Findings = c.findings
	if rep.Findings == nil {
		rep.Findings = []Finding{}
	}
	for _, f := range rep.Findings {
		if f.Severity == Error {
			rep.Errors++
		} else {
			rep.Warnings++
		}
	}
	rep.OK = rep.Errors == 0
	if rep.Stale == nil {
		rep.Stale = []StaleEntry{}
	}
	return rep, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func union(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range [][]string{a, b} {
		for _, s := range l {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// layerOf names a file's layer: a "Layer:" line in its header, else its
// name. known is false for a Layer: line naming no layer; explicit is false
// when neither says, and the checker files it by content (layerByContent).
func layerOf(path string, h Header) (layer Layer, known, explicit bool) {
	switch strings.TrimSpace(h.Layer) {
	case "":
	case "channels", "1", "channels (layer 1)":
		return LayerChannels, true, true
	case "stable-fallbacks", "fallbacks", "2":
		return LayerFallbacks, true, true
	case "overrides", "4":
		return LayerOverrides, true, true
	case "external", "5":
		return LayerExternal, true, true
	default:
		return LayerExternal, false, true
	}
	switch strings.TrimSuffix(filepath.Base(path), ".nix") {
	case "channels":
		return LayerChannels, true, true
	case "stable-fallbacks", "fallbacks":
		return LayerFallbacks, true, true
	case "overrides":
		return LayerOverrides, true, true
	}
	return LayerExternal, true, false
}

// file checks one overlay module's shape and collects its entries, each
// classified and carrying its documentation. A file that is not named for a
// layer (and has no Layer: line) is filed by what it holds: the user's tree
// keeps one override per file under the package's name, and such a file is
// an overrides file, not an external one.
func (c *checker) file(path string, s *source, evals map[string]evalFile, evalBad map[string]nixError) (*FileSummary, []*Entry) {
	rel := c.rel(path)
	layer, known, explicit := layerOf(path, s.FileHeader)
	sum := &FileSummary{File: rel, Layer: layer, Priority: s.Priority, Overlays: len(s.Elements), target: s.AppendTarget, appendLine: s.AppendLine, explicit: explicit}
	if !known {
		c.add(Error, "layer-unknown", rel, s.FileHeaderLine+s.FileHeader.LayerLine, fmt.Sprintf("header names layer %q, which is not one of channels, stable-fallbacks, overrides, external", s.FileHeader.Layer),
			"write one of: # Layer: channels | stable-fallbacks | overrides | external")
	}
	ev, evalOK := evals[path]
	if ne, failed := evalBad[path]; failed {
		loc := ""
		if ne.File != "" {
			loc = fmt.Sprintf(" (at %s:%d)", c.rel(ne.File), ne.Line)
		}
		c.add(Warning, "eval-standin", rel, ne.Line*boolInt(ne.File == path),
			"could not evaluate against stand-in final/prev: "+ne.Msg+loc+"; entries were read from the source only",
			"the checker's stand-ins lack something this file uses; the check of attributes per platform is skipped for it")
	}
	target := s.AppendTarget
	if evalOK {
		target = ev.Target
		sum.Priority = ev.Priority
	}
	if target == "" {
		c.add(Error, "module-shape", rel, 1,
			"does not append to "+c.option+": an overlay file must be a module { "+c.option+" = [ (final: prev: { ... }) ]; }",
			"wrap the overlay: { ... }: { "+c.option+" = [ (final: prev: { ... }) ]; }")
		return sum, nil
	}
	sum.target = target
	if target != c.option {
		c.add(Error, "option-mismatch", rel, s.AppendLine,
			fmt.Sprintf("appends to %s, but this tree composes %s (%s): its overlays never reach flake.overlays.default", target, c.option, c.optionFrom),
			fmt.Sprintf("write %s = [ ... ] in %s, as the other overlay files do", c.option, rel))
	}
	var entries []*Entry
	n := len(s.Elements)
	if evalOK {
		n = len(ev.Overlays)
	}
	for i := 0; i < n; i++ {
		var el *element
		if i < len(s.Elements) && (!evalOK || len(s.Elements) == len(ev.Overlays)) {
			el = &s.Elements[i]
		}
		line := s.AppendLine
		if el != nil {
			line = el.Line
		}
		kind := "ok"
		if evalOK {
			kind = ev.Overlays[i].Kind
		} else if el != nil {
			switch {
			case el.Lambdas == 1:
				kind = "one-arg"
			case el.Ref != "":
				kind = "opaque"
			}
		}
		switch kind {
		case "not-function", "one-arg", "not-attrs":
			what := map[string]string{"not-function": "is not a function", "one-arg": "takes one argument", "not-attrs": "does not return an attribute set"}[kind]
			c.add(Error, "overlay-arity", rel, line,
				fmt.Sprintf("overlay #%d %s: an overlay is a function of two arguments returning an attribute set", i+1, what),
				"write it as (final: prev: { ... })")
			continue
		case "opaque":
			ref := ""
			if evalOK {
				ref = ev.Overlays[i].Ref
			} else if el != nil {
				ref = el.Ref
			}
			sum.Opaque = append(sum.Opaque, ref)
			continue
		}
		var goEntries []*Entry
		if el != nil {
			goEntries = el.Entries
		}
		if !evalOK {
			if el == nil {
				continue
			}
			for _, e := range goEntries {
				e.File, e.evalOK = rel, false
				entries = append(entries, e)
			}
			continue
		}
		entries = append(entries, c.mergeEval(rel, path, s, ev.Overlays[i], goEntries)...)
	}
	for _, p := range s.Patches {
		p.File = rel
		entries = append(entries, p)
	}
	for _, e := range entries {
		e.srcFile = rel
		c.classify(e, s)
	}
	c.document(rel, s, entries, explicit)
	if !explicit {
		layer = layerByContent(entries)
		sum.Layer = layer
	}
	for _, e := range entries {
		e.Layer = layer
	}
	sum.entries = entries
	c.fileHeaderRule(rel, s, layer, entries, explicit)
	// System strings the fleet does not have.
	fleet := setOf(c.opt.Systems)
	for _, l := range s.SystemLits {
		if !fleet[l.System] {
			c.add(Warning, "platform-system", rel, l.Line,
				fmt.Sprintf("names system %s, which no fleet machine has (fleet: %s)", l.System, strings.Join(c.opt.Systems, ", ")),
				"remove the conditional, or correct the system string")
		}
	}
	return sum, entries
}

// layerByContent files an overlay file that is not named for a layer by the
// entries it holds: channels, else stable fallbacks (without overrides),
// else overrides and re-routes, else (local packages, new attributes,
// external flakes' overlays) the external layer.
func layerByContent(entries []*Entry) Layer {
	n := map[Kind]int{}
	for _, e := range entries {
		n[e.Kind]++
	}
	switch {
	case n[KindChannel] > 0:
		return LayerChannels
	case n[KindFallback] > 0 && n[KindOverride]+n[KindReroute] == 0:
		return LayerFallbacks
	case n[KindOverride]+n[KindReroute] > 0:
		return LayerOverrides
	}
	return LayerExternal
}

// document gives each entry its documentation. A layer file (named for its
// layer, or with a Layer: line) holds many entries, each documented by the
// comment block directly above it. Any other file holding a single override
// or stable fallback documents it in the file's header: the header fills
// whatever the entry's own block (if any) does not say.
func (c *checker) document(rel string, s *source, entries []*Entry, layerFile bool) {
	for _, e := range entries {
		if e.HeaderLine > 0 {
			e.DocFrom = "entry"
			if e.Header.DateLine >= 0 && e.Header.DateRaw != "" {
				e.dateAt = e.HeaderLine + e.Header.DateLine
			}
		}
	}
	if layerFile {
		return
	}
	var doc []*Entry
	for _, e := range entries {
		if e.Kind == KindOverride || e.Kind == KindFallback || e.Kind == KindReroute {
			doc = append(doc, e)
		}
	}
	if len(doc) != 1 {
		return
	}
	doc[0].headerDoc = true
	if s.FileHeaderLine == 0 {
		return
	}
	e, fh := doc[0], s.FileHeader
	h := &e.Header
	from := "file header"
	if e.HeaderLine > 0 {
		from = "entry and file header"
	}
	filled := false
	if h.Symptom == "" && fh.Symptom != "" {
		h.Symptom, filled = fh.Symptom, true
	}
	for _, r := range fh.References {
		if !h.has(r.Kind) {
			h.References, filled = append(h.References, r), true
		}
	}
	if h.Remove == "" && fh.Remove != "" {
		h.Remove, filled = fh.Remove, true
	}
	h.HasTODO = h.HasTODO || fh.HasTODO
	if h.DateRaw == "" && fh.DateRaw != "" {
		h.DateRaw, h.DateAdded, h.DateErr = fh.DateRaw, fh.DateAdded, fh.DateErr
		e.dateAt, filled = s.FileHeaderLine+fh.DateLine, true
	}
	h.Permanent = h.Permanent || fh.Permanent
	if filled || e.HeaderLine == 0 {
		e.DocFrom = from
	}
	if e.Kind == KindOverride && h.Permanent {
		e.Kind = KindReroute
	}
}

// fileHeaderRule asks every overlay file to say what it provides. A file
// whose entries each carry their own comment block says it there; a file
// whose single override lacks documentation is reported once, by
// doc-missing.
func (c *checker) fileHeaderRule(rel string, s *source, layer Layer, entries []*Entry, layerFile bool) {
	if s.FileHeaderLine > 0 && s.FileHeader.Symptom != "" {
		return
	}
	if !layerFile && len(entries) > 0 {
		own := true
		for _, e := range entries {
			if e.HeaderLine == 0 || e.Header.Symptom == "" {
				own = false
			}
			if e.headerDoc {
				return // doc-missing names this file's header
			}
		}
		if own {
			return
		}
	}
	c.add(Warning, "file-header", rel, 1, "no header comment saying what this "+string(layer)+" file provides",
		"start "+rel+" with # comments saying what it adds to nixpkgs and why")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func setOf(l []string) map[string]bool {
	m := map[string]bool{}
	for _, s := range l {
		m[s] = true
	}
	return m
}

// mergeEval joins the evaluated attributes of one overlay (per system, with
// positions) with the entries the Go reading found.
func (c *checker) mergeEval(rel, path string, s *source, ov evalOverlay, goEntries []*Entry) []*Entry {
	type pos struct {
		line int
		file string
	}
	present := map[string][]string{}
	where := map[string]pos{}
	var order []string
	for _, sys := range c.evalSys {
		es, ok := ov.Systems[sys]
		if !ok || es.Error {
			continue
		}
		for _, raw := range es.Entries {
			var name, file string
			var line int
			_ = json.Unmarshal(raw[0], &name)
			_ = json.Unmarshal(raw[1], &line)
			_ = json.Unmarshal(raw[2], &file)
			if _, seen := where[name]; !seen {
				order = append(order, name)
			}
			present[name] = append(present[name], sys)
			if _, seen := where[name]; !seen || (file == path && where[name].file != path) {
				where[name] = pos{line, file}
			}
		}
	}
	for _, l := range present {
		sort.Strings(l)
	}
	used := map[*Entry]bool{}
	var out []*Entry
	for _, name := range order {
		p := where[name]
		var e *Entry
		for _, g := range goEntries {
			if !used[g] && g.Name == name && (p.line == 0 || g.Line == p.line) {
				e = g
				break
			}
		}
		if e == nil {
			for _, g := range goEntries {
				if !used[g] && g.Name == name {
					e = g
					break
				}
			}
		}
		if e == nil {
			e = &Entry{Name: name, Line: p.line}
			if p.file == path && p.line > 0 {
				if lines, hl := s.commentAbove(p.line); len(lines) > 0 {
					e.Header, e.HeaderLine = ParseHeader(lines), hl
				}
			}
		}
		used[e] = true
		e.File, e.evalOK = rel, true
		if p.file != "" && p.file != path {
			e.File = c.rel(p.file)
		}
		e.Systems = present[name]
		out = append(out, e)
		// Several definitions of one name in one overlay (per-platform
		// branches) are one entry per branch: keep the other Go entries too.
		for _, g := range goEntries {
			if !used[g] && g.Name == name {
				used[g] = true
				g.File, g.evalOK = rel, true
				g.Systems = present[name]
				out = append(out, g)
			}
		}
	}
	for _, g := range goEntries {
		if !used[g] {
			// Defined in the source, present on no evaluated system.
			g.File, g.evalOK = rel, true
			g.Systems = []string{}
			out = append(out, g)
		}
	}
	return out
}
