package overlays

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// WriteJSON writes the report as indented JSON, for tools.
func (r Report) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteTable writes the report for people: findings (each with its fix),
// the stale entries oldest first, the platform-conditional entries per
// system, and a summary line.
func (r Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(r.Findings) > 0 {
		fmt.Fprintln(tw, "SEVERITY\tRULE\tLOCATION\tMESSAGE")
		for _, f := range r.Findings {
			loc := f.File
			if f.Line > 0 {
				loc = fmt.Sprintf("%s:%d", f.File, f.Line)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Severity, f.Rule, loc, f.Message)
			if f.Fix != "" {
				fmt.Fprintf(tw, "\t\t\tfix: %s\n", f.Fix)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(r.Stale) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "STALE (oldest first)\tAGE\tADDED\tLOCATION\tREMOVE WHEN")
		for _, s := range r.Stale {
			fmt.Fprintf(tw, "%s\t%dd\t%s\t%s:%d\t%s\n", s.Name, s.AgeDays, s.DateAdded, s.File, s.Line, s.Remove)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(r.Platforms) > 0 {
		fmt.Fprintln(w)
		systems := make([]string, 0, len(r.Platforms))
		for s := range r.Platforms {
			systems = append(systems, s)
		}
		sort.Strings(systems)
		fmt.Fprintln(tw, "PLATFORM\tENTRY\tLOCATION\tGUARD")
		for _, s := range systems {
			for _, p := range r.Platforms[s] {
				fmt.Fprintf(tw, "%s\t%s\t%s:%d\t%s\n", s, p.Name, p.File, p.Line, p.Guard)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(r.Findings) > 0 || len(r.Stale) > 0 || len(r.Platforms) > 0 {
		fmt.Fprintln(w)
	}
	_, err := fmt.Fprintln(w, r.Summary())
	return err
}

// Summary is the one-line verdict.
func (r Report) Summary() string {
	entries := 0
	var layers []string
	for _, f := range r.Files {
		entries += len(f.Entries)
		layers = append(layers, string(f.Layer))
	}
	verdict := "ok"
	if !r.OK {
		verdict = "FAILED"
	}
	src := ""
	if r.Cached {
		src = " (cached)"
	}
	return fmt.Sprintf("overlays %s: %s, %d files, %d entries, %d custom packages, %d errors, %d warnings%s",
		r.Root, verdict, len(r.Files), entries, len(r.Custom), r.Errors, r.Warnings, src) + layerList(layers)
}

func layerList(l []string) string {
	if len(l) == 0 {
		return ""
	}
	seen := map[string]bool{}
	var u []string
	for _, x := range l {
		if !seen[x] {
			seen[x] = true
			u = append(u, x)
		}
	}
	return " [" + strings.Join(u, ", ") + "]"
}
