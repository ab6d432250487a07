"""Rules that run the suite's own checkers as Bazel actions and tests.

Every rule calls one binary, //tools/steprunner, with declared input files
only, so Bazel's content-addressed cache reruns a check exactly when one of
its inputs changed. Two actions need Nix and its store (evaluating the
flake's `fleet` output and building its terraform JSON); they carry the
"no-sandbox" execution requirement, because a Bazel sandbox hides /nix. Their
outputs are plain JSON files, and all tests but the overlay check read only
those files and run sandboxed.

  fleet_json            build: <flake>#fleet as JSON
  fleet_test            test: one machine's record and role memberships
  fleet_tests           macro: one fleet_test per machine, plus the
                        fleet-wide fleet_inventory_test
  overlay_compose_test  test: the overlay tree composes (needs nix-instantiate)
  terranix_render       build: packages.<system>.terraform as config.tf.json
  terranix_test         test: the rendered JSON matches the fleet's cloud machines
  vars_check_test       test: the vars tree matches the fleet's generators
  fleet_suite           macro: all of the above but the overlay check, for
                        one fleet flake (declared once per fleet in BUILD)
"""

load("//rules:fleet_machines.bzl", "FLEET_MACHINES")

# steprunner is built in the target configuration, also where a build
# action (fleet_json, terranix_render) runs it. Tests run it at test time,
# so for them "target" is the only right choice; the build actions need the
# host's own /nix/store (no-sandbox), so they can only ever execute on the
# machine that builds, whose platform is the target's. "exec" there would
# compile steprunner, its 16 packages, their modules and the Go standard
# library a second time, in the exec configuration (opt): 190 more actions,
# about three minutes of a cold build on two cores, for the same binary.
_STEPRUNNER = attr.label(
    default = Label("//tools/steprunner"),
    executable = True,
    cfg = "target",
)

# Evaluating with nix needs /nix/store (writable, no daemon): no sandbox.
_NIX_EXEC = {"no-sandbox": "1"}

def _paths(files):
    return [f.path for f in files]

def _short_paths(files):
    return [f.short_path for f in files]

# ---- build actions ----------------------------------------------------------

def _nix_step(ctx, out, argv, mnemonic, progress):
    """Runs steprunner argv (plus -out and the srcs) as a no-sandbox action."""
    args = ctx.actions.args()
    args.add_all(argv)
    args.add("-out", out)
    args.add_all(ctx.files.srcs)
    ctx.actions.run(
        executable = ctx.executable._steprunner,
        arguments = [args],
        inputs = ctx.files.srcs,
        outputs = [out],
        mnemonic = mnemonic,
        progress_message = progress,
        execution_requirements = _NIX_EXEC,
    )
    return [DefaultInfo(files = depset([out]))]

def _fleet_json_impl(ctx):
    return _nix_step(
        ctx,
        ctx.actions.declare_file(ctx.label.name + ".json"),
        ["fleet-eval", "-flake", ctx.attr.flake],
        "FleetEval",
        "Evaluating %s#fleet" % ctx.attr.flake,
    )

fleet_json = rule(
    implementation = _fleet_json_impl,
    doc = "Evaluates `<flake>#fleet` (nix eval --json) from exactly srcs.",
    attrs = {
        "srcs": attr.label_list(allow_files = True, mandatory = True, doc = "Every file the flake reads, paths relative to the workspace root."),
        "flake": attr.string(default = "lab", doc = "The flake's directory, relative to the workspace root."),
        "_steprunner": _STEPRUNNER,
    },
)

def _terranix_render_impl(ctx):
    return _nix_step(
        ctx,
        ctx.actions.declare_file(ctx.label.name + ".tf.json"),
        ["terranix-render", "-flake", ctx.attr.flake, "-system", ctx.attr.system],
        "TerranixRender",
        "Rendering %s#packages.%s.terraform" % (ctx.attr.flake, ctx.attr.system),
    )

terranix_render = rule(
    implementation = _terranix_render_impl,
    doc = "Builds `<flake>#packages.<system>.terraform` into <name>.tf.json (canonical JSON).",
    attrs = {
        "srcs": attr.label_list(allow_files = True, mandatory = True),
        "flake": attr.string(default = "lab"),
        "system": attr.string(default = "x86_64-linux"),
        "_steprunner": _STEPRUNNER,
    },
)

# ---- tests -------------------------------------------------------------------

def _step_test(ctx, argv, inputs):
    """Writes the test's launcher: steprunner with argv, run from runfiles."""
    runner = ctx.executable._steprunner
    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.write(
        output = script,
        content = "#!/bin/sh\nexec %s %s\n" % (
            _shell_quote(runner.short_path),
            " ".join([_shell_quote(a) for a in argv]),
        ),
        is_executable = True,
    )
    runfiles = ctx.runfiles(files = [runner] + inputs)
    runfiles = runfiles.merge(ctx.attr._steprunner[DefaultInfo].default_runfiles)
    return [DefaultInfo(executable = script, runfiles = runfiles)]

def _shell_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"

def _fleet_test_impl(ctx):
    argv = ["fleet-machine", "-fleet", ctx.file.fleet.short_path, "-machine", ctx.attr.machine]
    return _step_test(ctx, argv, [ctx.file.fleet])

fleet_test = rule(
    implementation = _fleet_test_impl,
    test = True,
    doc = "Passes when machine's record has the contract's shape, validates, and its role memberships are consistent.",
    attrs = {
        "fleet": attr.label(allow_single_file = [".json"], mandatory = True),
        "machine": attr.string(mandatory = True),
        "_steprunner": _STEPRUNNER,
    },
)

def _fleet_inventory_test_impl(ctx):
    argv = ["fleet-inventory", "-fleet", ctx.file.fleet.short_path]
    return _step_test(ctx, argv, [ctx.file.fleet])

fleet_inventory_test = rule(
    implementation = _fleet_inventory_test_impl,
    test = True,
    doc = "Passes when the fleet-wide parts (instances, users, zerotier controller) validate.",
    attrs = {
        "fleet": attr.label(allow_single_file = [".json"], mandatory = True),
        "_steprunner": _STEPRUNNER,
    },
)

def fleet_tests(name, fleet, machines, **kwargs):
    """One fleet_test per machine (<name>_<machine>), and <name>_inventory.

    machines comes from rules/fleet_machines.bzl, which
    `go tool mage bazel:gazelle` regenerates from the fleet; a stale list
    fails `go tool mage bazel:checkBuild`.
    """
    tests = []
    for m in machines:
        fleet_test(name = "%s_%s" % (name, m), fleet = fleet, machine = m, **kwargs)
        tests.append(":%s_%s" % (name, m))
    fleet_inventory_test(name = name + "_inventory", fleet = fleet, **kwargs)
    tests.append(":%s_inventory" % name)
    native.test_suite(name = name, tests = tests, tags = kwargs.get("tags", []))

def _overlay_compose_test_impl(ctx):
    argv = ["overlays", "-root", ctx.attr.root]
    if ctx.attr.systems:
        argv += ["-systems", ",".join(ctx.attr.systems)]
    argv += _short_paths(ctx.files.srcs)
    return _step_test(ctx, argv, ctx.files.srcs)

_overlay_compose_test = rule(
    implementation = _overlay_compose_test_impl,
    test = True,
    attrs = {
        "srcs": attr.label_list(allow_files = True, mandatory = True),
        "root": attr.string(default = "."),
        "systems": attr.string_list(),
        "_steprunner": _STEPRUNNER,
    },
)

def overlay_compose_test(name, tags = [], **kwargs):
    """Checks the overlay tree (ROOT/modules/nixpkgs) with the suite's checker.

    It evaluates with nix-instantiate, which needs the Nix store: the test is
    tagged no-sandbox.
    """
    _overlay_compose_test(name = name, tags = tags + ["no-sandbox"], **kwargs)

def _terranix_test_impl(ctx):
    argv = ["terranix-check", "-tf", ctx.file.tf.short_path, "-fleet", ctx.file.fleet.short_path]
    return _step_test(ctx, argv, [ctx.file.tf, ctx.file.fleet])

terranix_test = rule(
    implementation = _terranix_test_impl,
    test = True,
    doc = "Validates a terranix_render output against the fleet's cloud machines.",
    attrs = {
        "tf": attr.label(allow_single_file = [".json"], mandatory = True),
        "fleet": attr.label(allow_single_file = [".json"], mandatory = True),
        "_steprunner": _STEPRUNNER,
    },
)

def _vars_check_test_impl(ctx):
    argv = ["vars-check", "-fleet", ctx.file.fleet.short_path, "-dir", ctx.attr.dir] + _short_paths(ctx.files.srcs)
    return _step_test(ctx, argv, [ctx.file.fleet] + ctx.files.srcs)

vars_check_test = rule(
    implementation = _vars_check_test_impl,
    test = True,
    doc = "Checks the vars tree (layout, recipients, public values) against the fleet's generators.",
    attrs = {
        "srcs": attr.label_list(allow_files = True, mandatory = True),
        "dir": attr.string(mandatory = True, doc = "The vars tree, relative to the workspace root."),
        "fleet": attr.label(allow_single_file = [".json"], mandatory = True),
        "_steprunner": _STEPRUNNER,
    },
)

def fleet_suite(name, flake, srcs, vars_srcs = None, tags = [], **kwargs):
    """Every check of one fleet flake, named <name>_*.

      <name>_fleet            fleet_json: <flake>#fleet
      <name>_fleet_tests      fleet_tests: one test per machine + inventory
      <name>_terraform        terranix_render of the flake
      <name>_terraform_test   terranix_test against the fleet
      <name>_vars_check_test  vars_check_test of <flake>/vars (vars_srcs)

    flake is the flake's directory relative to the workspace root; srcs are
    every file its evaluation reads (the flake's own and what it imports).
    The machines come from FLEET_MACHINES[flake] (rules/fleet_machines.bzl),
    which `go tool mage bazel:gazelle` regenerates from the fleet_suite
    calls of the root BUILD.bazel: declaring the suite there is all it
    takes. A suite tagged "manual" (a flake that needs the network, such as
    the real fleet at the root) is left out of `bazel test //...` and gets
    no machine list offline: only its inventory test until its machines are
    listed where it evaluates.
    """
    fleet_json(name = name + "_fleet", srcs = srcs, flake = flake, tags = tags)
    fleet_tests(
        name = name + "_fleet_tests",
        fleet = ":%s_fleet" % name,
        machines = FLEET_MACHINES.get(flake, []),
        tags = tags,
        **kwargs
    )
    terranix_render(name = name + "_terraform", srcs = srcs, flake = flake, tags = tags)
    terranix_test(name = name + "_terraform_test", fleet = ":%s_fleet" % name, tf = ":%s_terraform" % name, tags = tags, **kwargs)
    if vars_srcs != None:
        vars_check_test(
            name = name + "_vars_check_test",
            srcs = vars_srcs,
            dir = "vars" if flake == "." else flake + "/vars",
            fleet = ":%s_fleet" % name,
            tags = tags,
            **kwargs
        )
