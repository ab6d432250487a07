package deploy

import (
	"fmt"
	"slices"
	"strings"
)

// Totals sums the table up in one line, for a fleet whose table is
// longer than a screen: how many machines ended how, the failed and
// rolled-back ones by name ("64 machines: 47 ok, 1 unchanged, 16 failed:
// edge-01, ..."). Results in the order a reader looks for them.
func Totals(rows []Summary) string {
	order := []string{"ok", "unchanged", "planned", "rolled back", "failed"}
	count := map[string]int{}
	names := map[string][]string{}
	for _, r := range rows {
		res := r.Result
		if !slices.Contains(order, res) {
			order = append(order, res)
		}
		count[res]++
		if res == "failed" || res == "rolled back" {
			names[res] = append(names[res], r.Machine)
		}
	}
	var parts []string
	for _, res := range order {
		if count[res] == 0 {
			continue
		}
		p := fmt.Sprintf("%d %s", count[res], res)
		if len(names[res]) > 0 {
			p += " (" + strings.Join(names[res], ", ") + ")"
		}
		parts = append(parts, p)
	}
	noun := "machines"
	if len(rows) == 1 {
		noun = "machine"
	}
	return fmt.Sprintf("%d %s: %s", len(rows), noun, strings.Join(parts, ", "))
}
