// Package labtest gives each test its own lab: a name and a private /24
// derived from the test and chance, a directory under t.TempDir(), and a
// t.Cleanup that takes it down again even when the test fails. Tests from
// different packages run concurrently, so nothing here is a fixed global
// name or range; a range that collides with a route (another test's lab
// included) is retried with another.
//
// Use it only in e2e tests (build tag e2e): it needs root.
package labtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/lab"
)

// Repo returns the path of parts (slash-free elements) in the repository's
// checkout, found from this file's place, so a test finds the lab flake,
// the test fleets and the scripts whatever package it runs in.
func Repo(parts ...string) string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(append([]string{filepath.Dir(self), "..", "..", ".."}, parts...)...)
}

// LabFleetMachines are the machines of the repository's lab fleet, read
// from its committed rendering (tasks/fleet/testdata/lab-fleet.json, which
// tasks/fleet's tests check against nix): the lab itself knows no fleet,
// and tests that do not care which fleet get this one without running nix.
func LabFleetMachines(tb testing.TB) []lab.Machine {
	tb.Helper()
	b, err := os.ReadFile(Repo("tasks", "fleet", "testdata", "lab-fleet.json"))
	if err != nil {
		tb.Fatal(fmt.Errorf("labtest: the lab fleet's rendering: %w", err))
	}
	f, err := fleet.Parse(b)
	if err != nil {
		tb.Fatal(fmt.Errorf("labtest: the lab fleet's rendering: %w", err))
	}
	return lab.MachinesFromFleet(f)
}

var unsafeRE = regexp.MustCompile(`[^A-Za-z0-9]+`)

// Name derives a lab name from the test: up to 15 characters of its name
// and 6 random hex digits.
func Name(tb testing.TB) string {
	base := strings.Trim(unsafeRE.ReplaceAllString(strings.TrimPrefix(tb.Name(), "Test"), "-"), "-")
	if len(base) > 15 {
		base = base[:15]
	}
	var b [3]byte
	rand.Read(b[:])
	if base == "" {
		base = "t"
	}
	return base + "-" + hex.EncodeToString(b[:])
}

// RandomRange picks a /24 inside 10.128.0.0/9, avoiding lab.DefaultRange.
func RandomRange() netip.Prefix {
	for {
		n, _ := rand.Int(rand.Reader, big.NewInt(1<<15))
		v := uint32(n.Int64())
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(128 + v>>8), byte(v), 0}), 24)
		if !p.Overlaps(lab.DefaultRange) {
			return p
		}
	}
}

// NeedRoot skips the test unless it runs as root: lab hosts are network
// namespaces, and only root makes them. CI and the fresh machine run as
// root, so there every lab test runs.
func NeedRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root (lab hosts are network namespaces)")
	}
}

// Config returns a fresh config for the test: its own name, a random range
// and a directory under t.TempDir(), the lab fleet's machines when base
// names none (LabFleetMachines). Fields set in base are kept.
func Config(tb testing.TB, base lab.Config) lab.Config {
	if base.Machines == nil {
		base.Machines = LabFleetMachines(tb)
	}
	if base.Name == "" {
		base.Name = Name(tb)
	}
	if !base.Range.IsValid() {
		base.Range = RandomRange()
	}
	if base.Dir == "" {
		base.Dir = tb.TempDir()
	}
	return base
}

// Open opens a lab for the test and registers its Down with t.Cleanup
// (a Down failure fails the test). It makes nothing yet.
func Open(tb testing.TB, base lab.Config) *lab.Lab {
	tb.Helper()
	l, err := lab.Open(Config(tb, base))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := l.Down(ctx); err != nil {
			tb.Errorf("lab cleanup: %v", err)
		}
	})
	return l
}

// Up opens a lab for the test (see Open) and brings up the named machines
// (none: every default machine), retrying with another random range while
// the range overlaps a route of the machine.
func Up(tb testing.TB, base lab.Config, machines ...string) (*lab.Lab, []lab.Host) {
	tb.Helper()
	randomRange := !base.Range.IsValid()
	var err error
	for try := 0; try < 10; try++ {
		l := Open(tb, base)
		var hs []lab.Host
		hs, err = l.Up(context.Background(), machines)
		if err == nil {
			return l, hs
		}
		if !randomRange || !errors.Is(err, lab.ErrRangeOverlap) {
			break
		}
	}
	tb.Fatal(fmt.Errorf("labtest: %w", err))
	return nil, nil
}

// Host returns machine's host among hs (Up's, or a lab's Hosts), failing
// the test when there is none.
func Host(tb testing.TB, hs []lab.Host, machine string) lab.Host {
	tb.Helper()
	for _, h := range hs {
		if h.Name == machine {
			return h
		}
	}
	tb.Fatalf("no lab host %s", machine)
	return lab.Host{}
}

// summaryRow is a row of deploy's summary table: the machine, then its
// generation before and after ("3 -> 4").
var summaryRow = regexp.MustCompile(`(?m)^([a-z0-9-]+)\s+\d+ -> \d+\s+.*$`)

// SummaryRows maps each machine of a deploy's summary table, in a target's
// output, to its row.
func SummaryRows(out string) map[string]string {
	rows := map[string]string{}
	for _, m := range summaryRow.FindAllStringSubmatch(out, -1) {
		rows[m[1]] = m[0]
	}
	return rows
}

// CompiledTargets compiles the mage targets once (scripts/mage, under its
// lock) and returns a private copy of the binary, so that a long test runs
// one version of the suite throughout, whatever another test or a rebuild
// does to the shared one meanwhile.
func CompiledTargets(tb testing.TB) string {
	tb.Helper()
	if out, err := exec.Command("bash", Repo("scripts", "mage"), "-l").CombinedOutput(); err != nil {
		tb.Fatalf("labtest: compile the targets (scripts/mage -l): %v\n%s", err, out)
	}
	b, err := os.ReadFile(Repo(".work", "mage-bin"))
	if err != nil {
		tb.Fatal(err)
	}
	bin := filepath.Join(tb.TempDir(), "mage")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		tb.Fatal(err)
	}
	return bin
}
