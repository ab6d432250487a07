package status

import (
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestCompare(t *testing.T) {
	const a, b = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-system-a", "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-system-b"
	for _, tc := range []struct {
		name, running, want, state string
	}{
		{"same system", a, a, UpToDate},
		{"older system", a, b, Behind},
		{"no system yet", "", b, Never},
		{"flake did not evaluate", a, "", Unknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, compare(tc.running, tc.want), tc.state)
		})
	}
}

func TestTable(t *testing.T) {
	act := time.Date(2026, 11, 30, 9, 15, 0, 0, time.UTC)
	const top = "/nix/store/0123456789abcdefghijklmnopqrstuv-nixos-system-alpha"
	for _, tc := range []struct {
		name    string
		rows    []Row
		lines   []string // substrings each of which a line of the table holds
		summary string
	}{
		{
			name: "up to date",
			rows: []Row{{Machine: "alpha", State: UpToDate, Generation: 3, Running: top, Want: top, Activated: act}},
			lines: []string{
				"alpha", "up to date", " 3 ", "2026-11-30 09:15Z", "01234567…-nixos-system-alpha",
			},
			summary: "1 machine(s): 1 up to date\n",
		},
		{
			name: "behind, never deployed and unreachable",
			rows: []Row{
				{Machine: "alpha", State: Behind, Generation: 1, Running: top, Want: "/nix/store/zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-nixos-system-alpha"},
				{Machine: "beta", State: Never, Want: top},
				{Machine: "galena", State: Unknown, Unreachable: true, Error: "galena (root@galena) did not answer within 2s", Cloud: "enabled"},
			},
			lines:   []string{"behind (flake: zzzzzzzz…-nixos-system-alpha)", "never deployed (flake: 01234567…", "unknown: galena (root@galena) did not answer within 2s", "enabled"},
			summary: "3 machine(s): 1 behind, 1 never deployed, 1 unknown (1 unreachable)\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := Table(tc.rows)
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			assert.Equal(t, len(lines), len(tc.rows)+2, out) // header, rows, summary
			assert.Assert(t, strings.HasPrefix(lines[0], "MACHINE"), out)
			for _, s := range tc.lines {
				assert.Assert(t, is.Contains(out, s))
			}
			assert.Assert(t, strings.HasSuffix(out, tc.summary), out)
		})
	}
}
