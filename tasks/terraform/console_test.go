package terraform

import (
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"gotest.tools/v3/assert"
)

const (
	consoleKey1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZ6nbcl0H0rXe1r7Ebf0qbmhW3mO2tpCrTRzMEi0Zxz root@galena"
	consoleKey2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1Xb0Y2Hh7bE8t6oyG7Z4Wc0Xh3A6u+oQfQ3l2m7aQK root@galena"
)

// TestParseConsoleHostKeys: the keys of the last complete block, each
// line a key; a block with anything else, or no block, is an error.
func TestParseConsoleHostKeys(t *testing.T) {
	block := func(lines ...string) string {
		return ConsoleHostKeysBegin + "\n" + strings.Join(lines, "\n") + "\n" + ConsoleHostKeysEnd + "\n"
	}
	tests := []struct {
		name, console string
		want          []string
		err           string
	}{
		{name: "one block", console: "galena login: \n" + block(consoleKey1), want: []string{consoleKey1}},
		{name: "two keys", console: block(consoleKey1, consoleKey2), want: []string{consoleKey1, consoleKey2}},
		{name: "booted twice: the last block", console: block(consoleKey1) + "reboot\n" + block(consoleKey2), want: []string{consoleKey2}},
		{name: "unfinished last block: the complete one", console: block(consoleKey1) + ConsoleHostKeysBegin + "\n" + consoleKey2 + "\n", want: []string{consoleKey1}},
		{name: "no block yet", console: "galena login: \n", err: "no -----BEGIN SSH HOST KEY KEYS----- block on the console (yet)"},
		{name: "a line that is no key", console: block("ecdsa-sha2-nistp256 garbage"), err: `host key block: "ecdsa-sha2-nistp256 garbage" is no public key`},
		{name: "end without begin", console: ConsoleHostKeysEnd + "\n", err: "no -----BEGIN SSH HOST KEY KEYS----- block"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := ParseConsoleHostKeys(tc.console)
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				return
			}
			assert.NilError(t, err)
			var got []string
			for _, k := range keys {
				got = append(got, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))+" root@galena")
			}
			assert.DeepEqual(t, got, tc.want)
		})
	}
}

func FuzzParseConsoleHostKeys(f *testing.F) {
	f.Add(ConsoleHostKeysBegin + "\n" + consoleKey1 + "\n" + ConsoleHostKeysEnd + "\n")
	f.Add("login:\n" + ConsoleHostKeysBegin + "\n\n" + ConsoleHostKeysEnd)
	f.Fuzz(func(t *testing.T, s string) {
		keys, err := ParseConsoleHostKeys(s)
		if err == nil && !strings.Contains(s, ConsoleHostKeysEnd) {
			t.Fatalf("keys %v without an end marker", keys)
		}
	})
}

// TestStateInstance: google_compute_instance.<m>'s project, zone and name
// from a state; another machine or type is not found; a record without
// them is an error.
func TestStateInstance(t *testing.T) {
	state := `{"version":4,"resources":[
{"mode":"managed","type":"hcloud_server","name":"galena","instances":[{"attributes":{"name":"galena"}}]},
{"mode":"managed","type":"google_compute_instance","name":"galena","instances":[{"attributes":{"project":"p1","zone":"us-central1-a","name":"galena"}}]},
{"mode":"managed","type":"google_compute_instance","name":"broken","instances":[{"attributes":{"name":"broken"}}]}]}`
	tests := []struct {
		name string
		want instanceRef
		ok   bool
		err  string
	}{
		{name: "galena", want: instanceRef{Project: "p1", Zone: "us-central1-a", Name: "galena"}, ok: true},
		{name: "scheelite"},
		{name: "broken", err: "google_compute_instance.broken has no project, zone or name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, ok, err := stateInstance([]byte(state), "google_compute_instance", tc.name)
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				return
			}
			assert.NilError(t, err)
			assert.Equal(t, ok, tc.ok)
			assert.Equal(t, in, tc.want)
		})
	}
}
