# Recipes for hands that type `just`: one recipe per Mage target, named
# after it (deploy:machine is `just deploy-machine`), passing every argument
# through unchanged to scripts/mage, which starts the compiled targets at
# once when nothing changed. `just --list` shows the recipes, `scripts/mage -l`
# what each target does. TestJustfileMirrorsTargets (tasks/cli) runs the real
# just and fails when a target has no recipe or a recipe names no target.

# Arguments reach the recipe's shell as "$@", each word as it was typed
# (a `lab-ssh` command line with quotes keeps them).
set positional-arguments

default:
    @just --list

# install what the suite drives (Nix, lab tools, terraform, Bazel, just)
setup:
    bash scripts/setup.sh

# run every test, as CI does
test *args:
    bash scripts/test.sh "$@"

# deploy a machine of the lab fleet (default cinnabar): `just deploy`, `just deploy galena --yes`
deploy machine="cinnabar" *flags:
    scripts/mage deploy:machine "$@"

alias rollback := deploy-rollback
alias ci := ci-run

[group('deploy')]
deploy-fleet *args:
    scripts/mage deploy:fleet "$@"

[group('deploy')]
deploy-machine *args:
    scripts/mage deploy:machine "$@"

[group('deploy')]
deploy-rollback *args:
    scripts/mage deploy:rollback "$@"


[group('check')]
check-flake *args:
    scripts/mage check:flake "$@"

[group('check')]
check-fleet *args:
    scripts/mage check:fleet "$@"

[group('check')]
check-overlays *args:
    scripts/mage check:overlays "$@"


[group('fleet')]
fleet-show *args:
    scripts/mage fleet:show "$@"

[group('fleet')]
fleet-status *args:
    scripts/mage fleet:status "$@"


[group('vars')]
vars-check *args:
    scripts/mage vars:check "$@"

[group('vars')]
vars-generate *args:
    scripts/mage vars:generate "$@"

[group('vars')]
vars-get *args:
    scripts/mage vars:get "$@"

[group('vars')]
vars-migrate *args:
    scripts/mage vars:migrate "$@"

[group('vars')]
vars-rekey *args:
    scripts/mage vars:rekey "$@"


[group('secrets')]
secrets-check *args:
    scripts/mage secrets:check "$@"

[group('secrets')]
secrets-edit *args:
    scripts/mage secrets:edit "$@"

[group('secrets')]
secrets-rules *args:
    scripts/mage secrets:rules "$@"

[group('secrets')]
secrets-updatekeys *args:
    scripts/mage secrets:updatekeys "$@"


[group('tf')]
tf-apply *args:
    scripts/mage tf:apply "$@"

[group('tf')]
tf-destroy *args:
    scripts/mage tf:destroy "$@"

[group('tf')]
tf-output *args:
    scripts/mage tf:output "$@"

[group('tf')]
tf-plan *args:
    scripts/mage tf:plan "$@"

[group('tf')]
tf-provision *args:
    scripts/mage tf:provision "$@"

[group('tf')]
tf-render *args:
    scripts/mage tf:render "$@"

[group('tf')]
tf-validate *args:
    scripts/mage tf:validate "$@"


[group('ci')]
ci-explain *args:
    scripts/mage ci:explain "$@"

[group('ci')]
ci-plan *args:
    scripts/mage ci:plan "$@"

[group('ci')]
ci-run *args:
    scripts/mage ci:run "$@"

[group('ci')]
ci-workflow *args:
    scripts/mage ci:workflow "$@"


[group('lab')]
lab-down *args:
    scripts/mage lab:down "$@"

[group('lab')]
lab-ssh *args:
    scripts/mage lab:ssh "$@"

[group('lab')]
lab-status *args:
    scripts/mage lab:status "$@"

[group('lab')]
lab-up *args:
    scripts/mage lab:up "$@"


[group('bench')]
bench-cache *args:
    scripts/mage bench:cache "$@"

[group('bench')]
bench-ci *args:
    scripts/mage bench:ci "$@"

[group('bench')]
bench-deploy *args:
    scripts/mage bench:deploy "$@"

[group('bench')]
bench-engine *args:
    scripts/mage bench:engine "$@"

[group('bench')]
bench-fleet *args:
    scripts/mage bench:fleet "$@"

[group('bench')]
bench-lab *args:
    scripts/mage bench:lab "$@"

[group('bench')]
bench-overlays *args:
    scripts/mage bench:overlays "$@"

[group('bench')]
bench-tf *args:
    scripts/mage bench:tf "$@"

[group('bench')]
bench-vars *args:
    scripts/mage bench:vars "$@"


[group('bazel')]
bazel-checkbuild *args:
    scripts/mage bazel:checkBuild "$@"

[group('bazel')]
bazel-gazelle *args:
    scripts/mage bazel:gazelle "$@"

[group('bazel')]
bazel-test *args:
    scripts/mage bazel:test "$@"


[group('cache')]
cache-keygen *args:
    scripts/mage cache:keygen "$@"
