package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// forest is the committed generated fleet.
const forest = "../../testdata/fleets/forest"

// TestCommittedForest: the committed fleet is what the generator makes.
func TestCommittedForest(t *testing.T) {
	if os.Getenv("TEST_SRCDIR") != "" {
		t.Skip("reads testdata/fleets/forest from the git checkout, which Bazel's sandbox does not hold; go test runs it")
	}
	want, err := Flake(DefaultMachines)
	assert.NilError(t, err)
	got, err := os.ReadFile(filepath.Join(forest, "flake.nix"))
	assert.NilError(t, err)
	assert.Assert(t, string(got) == string(want),
		"testdata/fleets/forest/flake.nix is not the generator's output: run go generate ./tools/fleetgen (or go run ./tools/fleetgen -o testdata/fleets/forest) and commit it")
	link, err := os.Readlink(filepath.Join(forest, "keys", "ops.agekey"))
	assert.NilError(t, err, "testdata/fleets/forest/keys/ops.agekey: want a link to %s (go generate ./tools/fleetgen)", KeyLink)
	assert.Equal(t, link, KeyLink)
	// The link resolves: the fleet's admin identity is grove's test key.
	_, err = os.Stat(filepath.Join(forest, "keys", "ops.agekey"))
	assert.NilError(t, err)
}

func TestMachines(t *testing.T) {
	for _, tc := range []struct {
		n     int
		roles map[string]int
		first string
		last  string
		err   string
	}{
		{n: 1, roles: map[string]int{"web": 1}, first: "web-01", last: "web-01"},
		{n: 8, roles: map[string]int{"web": 3, "db": 1, "batch": 1, "cache": 1, "edge": 1, "desk": 1}, first: "web-01", last: "desk-01"},
		{n: 64, roles: map[string]int{"web": 24, "db": 8, "batch": 8, "cache": 8, "edge": 8, "desk": 8}, first: "web-01", last: "desk-08"},
		{n: 0, err: "-n 0: want between 1 and 1000 machines"},
		{n: 1001, err: "-n 1001: want between 1 and 1000 machines"},
	} {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			ms, err := Machines(tc.n)
			if tc.err != "" {
				assert.Error(t, err, tc.err)
				return
			}
			assert.NilError(t, err)
			assert.Equal(t, len(ms), tc.n)
			roles := map[string]int{}
			names := map[string]bool{}
			hosts := map[string]bool{}
			for _, m := range ms {
				roles[m.Role]++
				assert.Check(t, !names[m.Name], "duplicate machine %s", m.Name)
				names[m.Name] = true
				_, host, _ := strings.Cut(m.Target, "@")
				assert.Check(t, !hosts[host], "two machines at %s", host)
				hosts[host] = true
				assert.Check(t, m.Rack >= 1 && m.Rack <= 4, "%s in rack %d", m.Name, m.Rack)
				assert.Check(t, m.Darwin == (m.Role == "desk"), "%s", m.Name)
			}
			assert.DeepEqual(t, roles, tc.roles)
			assert.Equal(t, ms[0].Name, tc.first)
			assert.Equal(t, ms[len(ms)-1].Name, tc.last)
		})
	}
}

func TestFlake(t *testing.T) {
	b, err := Flake(8)
	assert.NilError(t, err)
	s := string(b)
	for _, want := range []string{
		`web-01 = server "root@web-01.forest.test" [ "web" "rack-1" ];`,
		`edge-01 = server "admin@edge-01.forest.test" [ "edge" "rack-4" ];`,
		`desk-01 = desk "dev@desk-01.local";`,
		`roles.controller.machines.web-01 = { };`,
		`lab.identities = [ "keys/ops.agekey" ];`,
		`description = "forest: a 8-machine test fleet (input-free, generated)";`,
	} {
		assert.Check(t, is.Contains(s, want))
	}
	assert.Equal(t, strings.Count(s, " = server "), 7)
	assert.Equal(t, strings.Count(s, " = desk "), 1)
}

func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fleet")
	for i := 0; i < 2; i++ { // the second run finds everything in place
		assert.NilError(t, Write(dir, []byte("{ }\n")))
		b, err := os.ReadFile(filepath.Join(dir, "flake.nix"))
		assert.NilError(t, err)
		assert.Equal(t, string(b), "{ }\n")
		l, err := os.Readlink(filepath.Join(dir, "keys", "ops.agekey"))
		assert.NilError(t, err)
		assert.Equal(t, l, KeyLink)
	}
	// A link pointing elsewhere is replaced.
	p := filepath.Join(dir, "keys", "ops.agekey")
	assert.NilError(t, os.Remove(p))
	assert.NilError(t, os.Symlink("elsewhere", p))
	assert.NilError(t, Write(dir, []byte("{ }\n")))
	l, err := os.Readlink(p)
	assert.NilError(t, err)
	assert.Equal(t, l, KeyLink)
}
