package activate

import (
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
)

func TestParseDryActivate(t *testing.T) {
	for _, tc := range []struct {
		name string
		out  string
		want Units
	}{
		{name: "nothing to do", out: "would activate the configuration...\n", want: Units{}},
		{
			// NixOS 23.11's Perl switch-to-configuration, with the
			// activation script's own dry-run lines in between.
			name: "perl",
			out: "would stop the following units: nginx.service, old-timer.timer\n" +
				"would NOT stop the following changed units: systemd-journald.service\n" +
				"would activate the configuration...\n" +
				"setting up /etc...\n" +
				"would restart systemd\n" +
				"would reload the following units: dbus.service\n" +
				"would restart the following units: sshd.service, systemd-networkd.service\n" +
				"would start the following units: caddy.service\n",
			want: Units{
				Stop: []string{"nginx.service", "old-timer.timer"}, Keep: []string{"systemd-journald.service"},
				RestartSystemd: true, Reload: []string{"dbus.service"},
				Restart: []string{"sshd.service", "systemd-networkd.service"}, Start: []string{"caddy.service"},
			},
		},
		{
			name: "the lab's, one unit each",
			out: "would stop the following units: zerotier-controller.service\r\nwould activate the configuration...\r\n" +
				"would activate /nix/store/x (current: /nix/store/y)\r\nwould start the following units: zerotier-peer.service\r\n",
			want: Units{Stop: []string{"zerotier-controller.service"}, Start: []string{"zerotier-peer.service"}},
		},
		{
			name: "a verb twice, an empty list, lookalikes",
			out: "would start the following units: a.service\nwould start the following units: b.service\n" +
				"would restart the following units: \n" +
				"  would stop the following units: indented.service\n" +
				"I would stop the following units: x.service\n",
			want: Units{Start: []string{"a.service", "b.service"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseDryActivate(tc.out)
			assert.DeepEqual(t, got, tc.want)
			assert.Equal(t, got.Empty(), tc.name == "nothing to do")
		})
	}
}

// FuzzParseDryActivate: whatever a host prints, the parse does not panic
// and every unit it returns is a non-empty name the output holds.
func FuzzParseDryActivate(f *testing.F) {
	f.Add("would stop the following units: a.service, b.socket\nwould restart systemd\n")
	f.Add("would NOT stop the following changed units: x\nwould start the following units: ,,\n")
	f.Add("would reload the following units: dbus.service\r\n")
	f.Fuzz(func(t *testing.T, out string) {
		u := ParseDryActivate(out)
		for _, l := range [][]string{u.Stop, u.Restart, u.Start, u.Reload, u.Keep} {
			for _, n := range l {
				if n == "" || strings.Contains(n, ",") || n != strings.TrimSpace(n) || !strings.Contains(out, n) {
					t.Fatalf("unit %q from %q", n, out)
				}
			}
		}
		if u.RestartSystemd && !strings.Contains(out, "would restart systemd") {
			t.Fatalf("restart systemd from %q", out)
		}
	})
}

// localShell runs command lines with this machine's sh.
type localShell struct{}

func (localShell) Output(ctx context.Context, command string, stdin io.Reader) ([]byte, error) {
	c := exec.CommandContext(ctx, "sh", "-c", command)
	c.Stdin = stdin
	return c.Output()
}

// TestDryActivateAbsent: a toplevel the host's store lacks is said so
// (present false), not run; a darwin machine has no dry activation.
func TestDryActivateAbsent(t *testing.T) {
	u, out, present, err := DryActivate(context.Background(), localShell{}, "nixos", filepath.Join(t.TempDir(), "nix", "store", "x-nixos-system"))
	assert.NilError(t, err)
	assert.Assert(t, !present)
	assert.Equal(t, out, "")
	assert.Assert(t, u.Empty())

	_, _, present, err = DryActivate(context.Background(), localShell{}, "darwin", "/nix/store/x-darwin-system")
	assert.NilError(t, err)
	assert.Assert(t, !present)
}
