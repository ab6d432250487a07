package activate

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Units is what a switch would do to a NixOS machine's systemd units, as
// the system's own `switch-to-configuration dry-activate` says it.
type Units struct {
	Stop    []string `json:"stop,omitempty"`
	Restart []string `json:"restart,omitempty"`
	Start   []string `json:"start,omitempty"`
	Reload  []string `json:"reload,omitempty"`
	// Keep are changed units NixOS would not stop (X-StopIfChanged=false
	// and the like: "would NOT stop the following changed units").
	Keep []string `json:"keep,omitempty"`
	// RestartSystemd: systemd itself would be re-executed.
	RestartSystemd bool `json:"restartSystemd,omitempty"`
}

// Empty says whether the switch would touch no unit.
func (u Units) Empty() bool {
	return len(u.Stop)+len(u.Restart)+len(u.Start)+len(u.Reload)+len(u.Keep) == 0 && !u.RestartSystemd
}

// unitLine matches the lines switch-to-configuration dry-activate prints
// about units (the Perl script and switch-to-configuration-ng alike, on
// stderr): "would stop the following units: a.service, b.socket".
var unitLine = regexp.MustCompile(`^would (stop|NOT stop|restart|start|reload) the following (?:changed )?units: (.*)$`)

// ParseDryActivate reads dry-activate's output. Lines it does not know
// ("would activate the configuration...", the activation script's own
// dry-run output) are ignored; a verb said twice adds to its list.
func ParseDryActivate(out string) Units {
	var u Units
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "would restart systemd" {
			u.RestartSystemd = true
			continue
		}
		m := unitLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var names []string
		for _, n := range strings.Split(m[2], ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
		switch m[1] {
		case "stop":
			u.Stop = append(u.Stop, names...)
		case "NOT stop":
			u.Keep = append(u.Keep, names...)
		case "restart":
			u.Restart = append(u.Restart, names...)
		case "start":
			u.Start = append(u.Start, names...)
		case "reload":
			u.Reload = append(u.Reload, names...)
		}
	}
	return u
}

// Outputter runs a command line on a host and returns its stdout (an SSH
// connection, *remote.Client).
type Outputter interface {
	Output(ctx context.Context, command string, stdin io.Reader) ([]byte, error)
}

// absentMarker is what dryActivateScript prints when the toplevel is not
// in the host's store.
const absentMarker = "VANIXIETS-ABSENT"

// dryActivateScript runs the new system's own dry-activate, its stderr
// (where NixOS says what it would do) into stdout, without the common
// prelude: it must not even make the deployer's directories.
// Args: toplevel.
const dryActivateScript = `top=$1
if [ ! -x "$top/bin/switch-to-configuration" ]; then echo ` + absentMarker + `; exit 0; fi
exec "$top/bin/switch-to-configuration" dry-activate 2>&1`

// DryActivate asks a NixOS host what switching to top would do to its
// units: top's own `switch-to-configuration dry-activate`, which changes
// nothing. It runs only when top is in the host's store (present false
// otherwise: a dry run copies nothing, so a system not yet copied cannot
// say). Darwin machines have no such command (present false as well).
// out is what the command printed.
func DryActivate(ctx context.Context, c Outputter, class, top string) (u Units, out string, present bool, err error) {
	if class == "darwin" {
		return Units{}, "", false, nil
	}
	b, err := c.Output(ctx, shScript(dryActivateScript, []string{top}), nil)
	out = string(b)
	if err != nil {
		return Units{}, out, true, fmt.Errorf("dry-activate %s: %v", top, err)
	}
	if strings.TrimSpace(out) == absentMarker {
		return Units{}, "", false, nil
	}
	return ParseDryActivate(out), out, true, nil
}
