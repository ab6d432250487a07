package closure

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
)

// TestDaemonCmdPassesTheRoot: the daemon's command line, run by a POSIX
// shell as a host's login shell runs it, starts nix-daemon with --stdio
// and, for an install's copy, --store <root> (a stand-in nix-daemon first
// on PATH prints the arguments it got).
func TestDaemonCmdPassesTheRoot(t *testing.T) {
	bin := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(bin, "nix-daemon"), []byte("#!/bin/sh\nprintf '<%s>' \"$@\"\n"), 0o755))
	tests := []struct{ root, want string }{
		{"", "<--stdio>"},
		{"/mnt", "<--stdio><--store></mnt>"},
		{"/mnt/with space/it's", "<--stdio><--store></mnt/with space/it's>"},
	}
	for _, tc := range tests {
		t.Run(tc.root, func(t *testing.T) {
			cmd := exec.Command("sh", "-c", daemonCmd(tc.root))
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
			out, err := cmd.CombinedOutput()
			assert.NilError(t, err, string(out))
			assert.Equal(t, strings.TrimSpace(string(out)), tc.want)
		})
	}
}
