package overlays

import (
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Header is the documentation block written as # comments directly above an
// overlay entry (or at the top of a file). The seed's package fix workflow
// asks every stable fallback, override and patch to say why it exists and
// when it can go:
//
//	# lean4: not built by hydra for darwin, compiles from source (~9 min)
//	# Hydra: https://hydra.nixos.org/job/nixpkgs/trunk/lean4.aarch64-darwin
//	# TODO: Remove when hydra provides darwin binaries
//	# Date added: 2026-03-21
type Header struct {
	// Symptom is what breaks: the text of a "Symptom:" line, else the text
	// after "<name>:" on the first line, else the first prose line.
	Symptom string `json:"symptom,omitempty"`
	// References are every http(s) URL in the block, in order.
	References []Reference `json:"references,omitempty"`
	// Remove is the removal condition of a "TODO: Remove when ..." line.
	Remove string `json:"remove,omitempty"`
	// HasTODO reports a TODO line, with or without a removal condition.
	HasTODO bool `json:"-"`
	// DateRaw is the text after "Date added:" as written; DateAdded is its
	// parsed value, zero when DateRaw is empty or malformed (DateErr says why).
	DateRaw   string    `json:"dateRaw,omitempty"`
	DateAdded time.Time `json:"dateAdded,omitzero"`
	DateErr   string    `json:"dateErr,omitempty"`
	DateLine  int       `json:"-"` // 0-based line within the block
	// Layer is the text of a "Layer:" line (file headers only); LayerLine
	// its 0-based line within the block.
	Layer     string `json:"layer,omitempty"`
	LayerLine int    `json:"-"`
	// Permanent reports a "Permanent: <why>" line: the entry is a deliberate,
	// lasting re-route, not a fix waiting for upstream, so it needs no
	// removal condition.
	Permanent bool `json:"permanent,omitempty"`
	// Lines is the number of comment lines in the block.
	Lines int `json:"-"`
}

// Reference is one URL of a header with what kind of evidence it is.
type Reference struct {
	URL string `json:"url"`
	// Kind is "hydra" (hydra.nixos.org), "issue" (one issue, pull request,
	// merge request, commit or comparison: numbered or hashed), "tracker" (a
	// project's issue or pull request list, which names no particular
	// problem), or "other".
	Kind string `json:"kind"`
}

// DateLayout is the one accepted form of "Date added:".
const DateLayout = "2006-01-02"

var (
	urlRE      = regexp.MustCompile(`https?://[^\s<>"'` + "`" + `)\]]+`)
	keyRE      = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9 ._/-]{0,40}?)\s*:\s*(.*)$`)
	issuePat   = regexp.MustCompile(`/(issues|pull|pulls|merge_requests)/[0-9]+(/|\?|#|$)|/commit/[0-9a-fA-F]{7,}|/compare/[^/]+`)
	trackerPat = regexp.MustCompile(`/(issues|pulls|pull|merge_requests)/?$`)
)

// known header keys: a first line "Hydra: ..." is not a symptom.
var headerKeys = map[string]bool{
	"hydra": true, "upstream": true, "reference": true, "references": true, "ref": true,
	"pr": true, "issue": true, "issues": true, "todo": true, "date added": true, "layer": true,
	"failing": true, "symptom": true, "note": true, "see": true, "patch": true, "link": true,
	"permanent": true, "fix": true,
}

// ParseHeader reads a block of comment lines, each given without its leading
// "#" (surrounding spaces are ignored). It never fails: missing or malformed
// parts are left empty and reported by the checker.
func ParseHeader(lines []string) Header {
	var h Header
	h.Lines = len(lines)
	firstProse := ""
	for i, raw := range lines {
		line := strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(raw), "#"))
		line = strings.ToValidUTF8(line, "")
		if line == "" {
			continue
		}
		for _, u := range urlRE.FindAllString(line, -1) {
			u = strings.TrimRight(u, ".,;:")
			h.References = append(h.References, Reference{URL: u, Kind: classifyURL(u)})
		}
		m := keyRE.FindStringSubmatch(line)
		if m == nil || strings.HasPrefix(m[2], "//") {
			// No key, or the colon belongs to a URL.
			if firstProse == "" {
				firstProse = line
			}
			continue
		}
		key := strings.ToLower(strings.TrimSpace(m[1]))
		val := strings.TrimSpace(m[2])
		switch {
		case key == "symptom":
			if h.Symptom == "" {
				h.Symptom = val
			}
		case key == "todo":
			h.HasTODO = true
			lower := strings.ToLower(val)
			if strings.HasPrefix(lower, "remove when") {
				if r := strings.TrimSpace(val[len("remove when"):]); r != "" && h.Remove == "" {
					h.Remove = r
				}
			}
		case key == "date added" || key == "date-added" || key == "added":
			if h.DateRaw == "" {
				h.DateRaw = val
				h.DateLine = i
				d, err := time.Parse(DateLayout, val)
				if err != nil || val == "" {
					h.DateErr = "want YYYY-MM-DD"
				} else {
					h.DateAdded = d
				}
			}
		case key == "layer":
			if h.Layer == "" {
				h.Layer = strings.ToLower(val)
				h.LayerLine = i
			}
		case key == "permanent":
			h.Permanent = true
		case headerKeys[key]:
		default:
			// "<name>: what breaks" on a prose line.
			if firstProse == "" && val != "" {
				firstProse = val
			}
		}
	}
	if h.Symptom == "" {
		h.Symptom = firstProse
	}
	return h
}

func classifyURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "other"
	}
	host := strings.ToLower(p.Hostname())
	if host == "hydra.nixos.org" {
		return "hydra"
	}
	if issuePat.MatchString(p.Path) || (p.Path == "/show_bug.cgi" && p.Query().Get("id") != "") {
		return "issue"
	}
	if trackerPat.MatchString(p.Path) {
		return "tracker"
	}
	return "other"
}

// has reports whether the header carries a reference of the given kind.
func (h Header) has(kind string) bool {
	for _, r := range h.References {
		if r.Kind == kind {
			return true
		}
	}
	return false
}
