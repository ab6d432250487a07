package cli

import (
	"github.com/vanixiets/vanixiets/tasks/activate"
	"github.com/vanixiets/vanixiets/tasks/fleet"
)

// The one table of the suite's targets: what each takes on the command
// line and from the environment. A target added to the magefiles is added
// here too; TestTableMatchesMage (front doors) fails when the two differ.

// Flags shared by several targets.
var (
	flagVerbose = Flag{Name: "verbose", Spec: Spec{Kind: Bool}, Env: "VANIXIETS_VERBOSE"}
	flagFlake   = Flag{Name: "flake", Spec: Spec{Kind: Flake}, Env: "VANIXIETS_FLAKE"}
	flagYes     = Flag{Name: "yes", Spec: Spec{Kind: Bool}, Env: "VANIXIETS_YES"}
	flagForce   = Flag{Name: "force", Spec: Spec{Kind: Bool}, Env: "CI_FORCE_RUN"}
	ciParallel  = Flag{Name: "parallel", Spec: Spec{Kind: Count}, Env: "VANIXIETS_CI_PARALLEL"}
	// --ssh-config names the one ssh_config resolving targets, as ssh -F
	// does; without it ~/.ssh/config then /etc/ssh/ssh_config are read
	// (the lab's own file for the lab). docs/deploy.md, "Reaching machines".
	flagSSHConfig = Flag{Name: "ssh-config", Spec: Spec{Kind: File}, Env: "VANIXIETS_SSH_CONFIG"}
)

// DeployModes are the activation actions --mode takes: activation's own
// list, so a new action is a new mode without a second edit.
var DeployModes = activate.Actions

// Environment shared by groups of targets.
var (
	// every target: where the suite keeps its caches and tools.
	envCache = []EnvVar{
		{Name: "VANIXIETS_HOME", Spec: Spec{Kind: CacheDir}},
		{Name: "VANIXIETS_CACHE_DIR", Spec: Spec{Kind: CacheDir}},
		{Name: "VANIXIETS_TOOLS", Spec: Spec{Kind: CacheDir}},
		{Name: "VANIXIETS_REMOTE_CACHE", Spec: Spec{Kind: URL}},
		// the deployer's Nix: 2.8 (the machine's), 2.26 (scripts/install-nix-2.26.sh)
		// or a nix binary's path; nix.ResolveVersion checks it and names the fix.
		{Name: "VANIXIETS_NIX", Spec: Spec{Kind: Text, Meta: "<2.8|2.26|path>"}},
	}
	envIdentity = []EnvVar{
		{Name: "VANIXIETS_AGE_IDENTITY", Spec: Spec{Kind: Files}},
		{Name: "VANIXIETS_AGE_KEY_FILE", Spec: Spec{Kind: Files}},
		{Name: "SOPS_AGE_KEY_FILE", Spec: Spec{Kind: File}},
	}
	envVars = []EnvVar{
		{Name: "VANIXIETS_VARS_DIR", Spec: Spec{Kind: Dir}},
		{Name: "VANIXIETS_PROMPTS_FILE", Spec: Spec{Kind: File}},
		{Name: "VANIXIETS_VARS_TMPDIR", Spec: Spec{Kind: Dir}},
	}
	envLab = []EnvVar{
		{Name: "VANIXIETS_LAB_RANGE", Spec: Spec{Kind: CIDR}},
		{Name: "VANIXIETS_LAB_DIR", Spec: Spec{Kind: CacheDir}},
		// the lab hosts' Nix, for the lab or per machine (2.8,cinnabar=2.26);
		// lab.Open checks it and names the accepted values.
		{Name: "VANIXIETS_LAB_NIX", Spec: Spec{Kind: Text, Meta: "<2.8|2.26|2.8,m=2.26>"}},
	}
	envTf = []EnvVar{
		{Name: "VANIXIETS_TF_STATE", Spec: Spec{Kind: StateFile}},
		{Name: "VANIXIETS_TF_STATE_NEW", Spec: Spec{Kind: Bool}},
		{Name: "VANIXIETS_FAKE_BACKEND", Spec: Spec{Kind: Mode, Modes: []string{"lab", "memory"}}},
		{Name: "HCLOUD_ENDPOINT", Spec: Spec{Kind: URL}},
	}
	envDeploy = []EnvVar{
		{Name: "VANIXIETS_LAB", Spec: Spec{Kind: Bool}},
		{Name: "VANIXIETS_KNOWN_HOSTS", Spec: Spec{Kind: Files}},
	}
)

func env(groups ...[]EnvVar) []EnvVar {
	out := append([]EnvVar{}, envCache...)
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

func flags(fs ...Flag) []Flag { return append(fs, flagVerbose) }

var deployFlags = []Flag{
	{Name: "dry-run", Spec: Spec{Kind: Bool}, Env: "VANIXIETS_DRY_RUN"},
	flagFlake,
	flagSSHConfig,
	{Name: "mode", Spec: Spec{Kind: Mode, Modes: DeployModes}, Env: "VANIXIETS_DEPLOY_ACTION"},
	{Name: "timeout", Spec: Spec{Kind: Duration}, Env: "VANIXIETS_DEPLOY_TIMEOUT"},
	// --stall: a copy moving no byte for this long gives its host up
	// (deploy.Options.Stall; 0s: no limit).
	{Name: "stall", Spec: Spec{Kind: Duration}, Env: "VANIXIETS_DEPLOY_STALL"},
	flagYes,
	{Name: "no-provision", Spec: Spec{Kind: Bool}, Env: "VANIXIETS_NO_PROVISION"},
	// --lab deploys a flake that does not declare itself a lab fleet to
	// the lab; its variable, VANIXIETS_LAB (envDeploy), also takes 0.
	{Name: "lab", Spec: Spec{Kind: Bool}},
	flagLocal,
	// --build-on target: every selected machine builds its own system from
	// the copied derivations (the fleet's deploy.buildOn, overridden).
	{Name: "build-on", Spec: Spec{Kind: Mode, Modes: fleet.BuildOnValues}, Env: "VANIXIETS_BUILD_ON"},
}

// flagLocal deploys (or rolls back) the machine the suite runs on: no
// SSH, sudo -n when not root. No variable: it names this machine, which an
// environment left set would name by accident.
var flagLocal = Flag{Name: "local", Spec: Spec{Kind: Bool}}

var deployEnv = env(envIdentity, envVars, envLab, envTf, envDeploy)

// Targets is every target of the magefiles.
var Targets = []Target{
	{Name: "deploy:machine", Args: "<machine>", Min: 1, Max: 1, Params: 1, Flags: flags(deployFlags...), Env: deployEnv},
	{Name: "deploy:fleet", Args: "[@tag|machine...]", Max: -1,
		Flags: flags(append(append([]Flag{}, deployFlags...), Flag{Name: "parallel", Spec: Spec{Kind: Count}, Env: "VANIXIETS_DEPLOY_PARALLEL"})...), Env: deployEnv},
	{Name: "deploy:rollback", Args: "<machine>", Min: 1, Max: 1, Params: 1, Flags: flags(flagFlake, flagLocal, flagSSHConfig), Env: deployEnv},

	{Name: "check:fleet", Flags: flags(flagFlake), Env: env()},
	{Name: "check:flake", Flags: flags(flagFlake), Env: env()},
	{Name: "check:overlays", Flags: flags(
		Flag{Name: "flake-root", Spec: Spec{Kind: Dir}, Env: "VANIXIETS_FLAKE_ROOT"},
		Flag{Name: "json", Spec: Spec{Kind: Bool}, Env: "VANIXIETS_JSON"},
		Flag{Name: "max-age", Spec: Spec{Kind: Age}, Env: "VANIXIETS_OVERLAY_MAX_AGE"},
		Flag{Name: "systems", Spec: Spec{Kind: List}, Env: "VANIXIETS_FLEET_SYSTEMS"},
	), Env: env()},
	{Name: "fleet:show", Args: "<machine>", Min: 1, Max: 1, Params: 1, Flags: flags(flagFlake), Env: env()},
	{Name: "fleet:status", Args: "[@tag|machine...]", Max: -1, Flags: flags(flagFlake, flagSSHConfig,
		Flag{Name: "json", Spec: Spec{Kind: Bool}, Env: "VANIXIETS_JSON"},
		Flag{Name: "timeout", Spec: Spec{Kind: Duration}, Env: "VANIXIETS_STATUS_TIMEOUT"},
		Flag{Name: "lab", Spec: Spec{Kind: Bool}},
	), Env: deployEnv},

	{Name: "vars:generate", Args: "[machine...]", Max: -1, Flags: flags(flagFlake,
		Flag{Name: "generator", Spec: Spec{Kind: List}, Env: "VANIXIETS_VARS_GENERATOR"},
		Flag{Name: "regenerate", Spec: Spec{Kind: Bool}, Env: "VANIXIETS_VARS_REGENERATE"},
	), Env: env(envIdentity, envVars)},
	{Name: "vars:check", Flags: flags(flagFlake, Flag{Name: "generators", Spec: Spec{Kind: File}}), Env: env(envIdentity, envVars)},
	{Name: "vars:rekey", Flags: flags(flagFlake), Env: env(envIdentity, envVars)},
	{Name: "vars:migrate", Flags: flags(flagFlake), Env: env(envIdentity, envVars)},
	{Name: "secrets:rules", Flags: flags(flagFlake, Flag{Name: "check", Spec: Spec{Kind: Bool}}), Env: env()},
	{Name: "secrets:edit", Args: "<user>", Min: 1, Max: 1, Params: 1, Flags: flags(flagFlake), Env: env(envIdentity, envVars)},
	{Name: "secrets:updatekeys", Flags: flags(flagFlake), Env: env(envIdentity)},
	{Name: "secrets:check", Flags: flags(flagFlake), Env: env(envIdentity)},
	{Name: "vars:get", Args: "<machine> <generator>/<file>", Min: 2, Max: 2, Params: 2, Flags: flags(flagFlake), Env: env(envIdentity, envVars)},

	{Name: "tf:render", Flags: flags(flagFlake), Env: env(envIdentity, envTf, envLab)},
	{Name: "tf:plan", Flags: flags(flagFlake), Env: env(envIdentity, envTf, envLab)},
	{Name: "tf:apply", Flags: flags(flagFlake, flagYes), Env: env(envIdentity, envTf, envLab)},
	{Name: "tf:destroy", Flags: flags(flagFlake, flagYes), Env: env(envIdentity, envTf, envLab)},
	{Name: "tf:output", Flags: flags(flagFlake), Env: env(envIdentity, envTf, envLab)},
	{Name: "tf:validate", Flags: flags(flagFlake, Flag{Name: "strict", Spec: Spec{Kind: Bool}, Env: "VANIXIETS_TF_STRICT"}), Env: env(envIdentity, envTf, envLab)},
	{Name: "tf:provision", Args: "<machine>", Min: 1, Max: 1, Params: 1, Flags: flags(flagFlake, flagYes), Env: env(envIdentity, envTf, envLab)},

	{Name: "ci:run", Args: "[job...]", Max: -1, Flags: flags(flagForce, ciParallel,
		Flag{Name: "junit", Spec: Spec{Kind: OutFile}, Env: "VANIXIETS_JUNIT"},
		Flag{Name: "stream", Spec: Spec{Kind: Bool}, Env: "VANIXIETS_CI_STREAM"},
	), Env: env()},
	{Name: "ci:plan", Args: "[job...]", Max: -1, Flags: flags(flagForce, ciParallel,
		// the workflow's key step: skip=true|false into $GITHUB_OUTPUT
		Flag{Name: "github-output", Spec: Spec{Kind: Bool}},
	), Env: env()},
	{Name: "ci:workflow", Flags: flags(Flag{Name: "check", Spec: Spec{Kind: Bool}}), Env: env()},
	{Name: "ci:explain", Args: "<job>", Min: 1, Max: 1, Params: 1, Flags: flags(), Env: env()},

	{Name: "lab:up", Args: "[machine...]", Max: -1, Flags: flags(flagFlake), Env: env(envLab, []EnvVar{{Name: "VANIXIETS_LAB_MACHINES", Spec: Spec{Kind: List}}})},
	{Name: "lab:down", Flags: flags(), Env: env(envLab)},
	{Name: "lab:status", Flags: flags(), Env: env(envLab)},
	{Name: "lab:ssh", Args: "<machine>", Min: 1, Max: 1, Command: true, Flags: flags(), Env: env(envLab)},

	{Name: "bench:engine", Flags: flags(), Env: env()},
	{Name: "bench:cache", Flags: flags(), Env: env()},
	{Name: "bench:ci", Flags: flags(), Env: env()},
	{Name: "bench:fleet", Flags: flags(), Env: env()},
	{Name: "bench:overlays", Flags: flags(), Env: env()},
	{Name: "bench:vars", Flags: flags(), Env: env()},
	{Name: "bench:lab", Flags: flags(), Env: env()},
	{Name: "bench:deploy", Flags: flags(), Env: env()},
	{Name: "bench:tf", Flags: flags(), Env: env()},

	{Name: "bazel:gazelle", Flags: flags(), Env: env()},
	{Name: "bazel:checkbuild", Flags: flags(), Env: env()},
	{Name: "bazel:test", Flags: flags(), Env: env()},

	{Name: "cache:keygen", Args: "<name>", Min: 1, Max: 1, Params: 1, Flags: flags(), Env: env()},
}
