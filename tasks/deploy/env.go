package deploy

import (
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/vanixiets/vanixiets/tasks/paths"
)

// FromEnv builds Options for the Mage targets from the environment, as
// getenv reads it (os.Getenv at a front door; FromEnv reads no
// variable itself):
//
//	VANIXIETS_FLAKE           fleet flake (default the checkout's lab fleet: paths.Flake)
//	VANIXIETS_LAB             see WantsLab (the front door plugs the lab in)
//	VANIXIETS_DRY_RUN         1: plan only, change no host
//	VANIXIETS_DEPLOY_ACTION   switch (default), boot, test, dry-activate
//	VANIXIETS_DEPLOY_TIMEOUT  magic rollback window, e.g. 30s (0s: off)
//	VANIXIETS_DEPLOY_PARALLEL machines at once (default DefaultParallel)
//	VANIXIETS_SSH_CONFIG      the one ssh_config resolving targets (non-lab; default ~/.ssh/config, /etc/ssh/ssh_config)
//	VANIXIETS_KNOWN_HOSTS     known_hosts for non-lab targets
//	VANIXIETS_VARS_DIR        the flake's vars (default <flake>/vars; "-": no uploads)
func FromEnv(repo string, getenv func(string) string) (Options, error) {
	var o Options
	o.Flake = getenv(paths.FlakeEnv)
	if o.Flake == "" {
		// The lab fleet of the checkout, when there is one; else none
		// yet: a front door given --flake (the compiled suite, run
		// anywhere) sets it after.
		o.Flake, _ = paths.Flake("", repo)
	}
	o.DryRun = truthy(getenv("VANIXIETS_DRY_RUN"))
	o.Action = getenv("VANIXIETS_DEPLOY_ACTION")
	if v := getenv("VANIXIETS_DEPLOY_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return o, fmt.Errorf("VANIXIETS_DEPLOY_TIMEOUT=%q: want a duration such as 30s", v)
		}
		o.Timeout = OffAtZero(d)
	}
	if v := getenv("VANIXIETS_DEPLOY_PARALLEL"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return o, fmt.Errorf("VANIXIETS_DEPLOY_PARALLEL=%q: want a positive number", v)
		}
		o.Parallel = n
	}
	o.SSHConfig = getenv("VANIXIETS_SSH_CONFIG")
	o.VarsDir = getenv(paths.VarsDirEnv)
	if v := getenv("VANIXIETS_KNOWN_HOSTS"); v != "" {
		o.KnownHosts = filepath.SplitList(v)
	}
	return o, nil
}

// WantsLab says whether a deployment of flake goes to lab hosts rather
// than to the machines' targetHosts. The fleet decides in its own data: a
// fleet that declares itself a lab (fleet.lab, see IsRepoLab) deploys to
// the lab. Deploying any other flake to the lab is an explicit choice,
// --lab or VANIXIETS_LAB=1; VANIXIETS_LAB=0 sends a lab fleet to its
// targetHosts; setting is that variable's value, as the front door read
// it. Nothing looks at the flake's directory name.
func WantsLab(flake string, flagLab bool, setting string) (bool, error) {
	if flagLab {
		return true, nil
	}
	switch v := setting; v {
	case "1", "true", "yes":
		return true, nil
	case "0", "false", "no":
		return false, nil
	case "":
		return IsRepoLab(flake), nil
	default:
		return false, fmt.Errorf("VANIXIETS_LAB=%q: want 1 (deploy to lab hosts) or 0 (to the machines' targetHosts)", v)
	}
}

// OffAtZero turns a duration read from a flag or variable, where 0s
// turns a timer off, into the Options value, where off is negative: an
// Option's zero value means its default (Timeout 30 s, Stall a minute),
// so a 0s passed through as it is would quietly mean the default instead.
func OffAtZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

func truthy(s string) bool {
	switch s {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// SSHConfigForLab refuses an ssh_config named on the command line
// (--ssh-config) for a deployment that goes to the lab: lab hosts answer
// only at the addresses the lab's own ssh_config gives, so another file
// there is a mistake to name, not a setting to drop quietly. (The
// variable alone, VANIXIETS_SSH_CONFIG, is meant for the real fleet and
// is left aside for the lab.)
func SSHConfigForLab(path string, l Lab) error {
	return fmt.Errorf("--ssh-config %s: this deploy goes to lab %s, whose hosts are reached through the lab's own ssh_config (%s); drop --ssh-config, or deploy to the machines' targetHosts (VANIXIETS_LAB=0)", path, l.Name(), l.SSHConfigPath())
}
