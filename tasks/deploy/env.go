package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/vanixiets/vanixiets/tasks/lab"
)

// FromEnv builds Options for the Mage targets from the environment:
//
//	VANIXIETS_FLAKE           fleet flake (default <repo>/lab: the lab fleet)
//	VANIXIETS_LAB             1: deploy to lab hosts, 0: to the targetHosts;
//	                          default 1 exactly when the flake is the lab's
//	VANIXIETS_DRY_RUN         1: plan only, change no host
//	VANIXIETS_DEPLOY_ACTION   switch (default), boot, test, dry-activate
//	VANIXIETS_DEPLOY_TIMEOUT  magic rollback window, e.g. 30s (0s: off)
//	VANIXIETS_DEPLOY_PARALLEL machines at once (default 8)
//	VANIXIETS_SSH_CONFIG      ssh_config resolving targets (non-lab)
//	VANIXIETS_KNOWN_HOSTS     known_hosts for non-lab targets
//	VANIXIETS_VARS_DIR        the flake's vars (default <flake>/vars; "-": no uploads)
func FromEnv(repo string) (Options, error) {
	var o Options
	o.Flake = os.Getenv("VANIXIETS_FLAKE")
	labDefault := o.Flake == ""
	if o.Flake == "" {
		o.Flake = filepath.Join(repo, "lab")
	}
	useLab := labDefault
	switch os.Getenv("VANIXIETS_LAB") {
	case "1", "true", "yes":
		useLab = true
	case "0", "false", "no":
		useLab = false
	}
	if useLab {
		l, err := lab.Default()
		if err != nil {
			return o, err
		}
		o.Lab = l
	}
	o.DryRun = truthy(os.Getenv("VANIXIETS_DRY_RUN"))
	o.Action = os.Getenv("VANIXIETS_DEPLOY_ACTION")
	if v := os.Getenv("VANIXIETS_DEPLOY_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return o, fmt.Errorf("VANIXIETS_DEPLOY_TIMEOUT=%q: want a duration such as 30s", v)
		}
		o.Timeout = d
		if d == 0 {
			o.Timeout = -1
		}
	}
	if v := os.Getenv("VANIXIETS_DEPLOY_PARALLEL"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return o, fmt.Errorf("VANIXIETS_DEPLOY_PARALLEL=%q: want a positive number", v)
		}
		o.Parallel = n
	}
	o.SSHConfig = os.Getenv("VANIXIETS_SSH_CONFIG")
	o.VarsDir = os.Getenv("VANIXIETS_VARS_DIR")
	if v := os.Getenv("VANIXIETS_KNOWN_HOSTS"); v != "" {
		o.KnownHosts = filepath.SplitList(v)
	}
	return o, nil
}

func truthy(s string) bool {
	switch s {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}
