# Recipes for hands that type `just`: each calls the same Mage target.
# `just --list` shows them; `go tool mage -l` shows every target.

default:
    @just --list

# install what the suite drives (Nix, lab tools, terraform, Bazel)
setup:
    bash scripts/setup.sh

# run every test, as CI does
test *args:
    bash scripts/test.sh {{args}}

# deploy a machine of the lab fleet (default cinnabar)
deploy machine="cinnabar" *flags:
    go tool mage deploy:machine {{machine}} {{flags}}

# deploy many machines in parallel: names or @tag
deploy-fleet *selectors:
    go tool mage deploy:fleet {{selectors}}

rollback machine:
    go tool mage deploy:rollback {{machine}}

check-fleet:
    go tool mage check:fleet

check-flake:
    go tool mage check:flake

check-overlays:
    go tool mage check:overlays

vars-generate *machines:
    go tool mage vars:generate {{machines}}

vars-check:
    go tool mage vars:check

tf-plan:
    go tool mage tf:plan

tf-apply *flags:
    go tool mage tf:apply {{flags}}

lab-up *machines:
    go tool mage lab:up {{machines}}

lab-down:
    go tool mage lab:down

lab-status:
    go tool mage lab:status

ci *jobs:
    go tool mage ci:run {{jobs}}

bazel-test:
    go tool mage bazel:test
