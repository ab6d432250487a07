//go:build mage

// Mage targets for vanixiets. Every target is a thin wrapper: it parses its
// arguments, calls a package under tasks/, and prints. Run "go tool mage -l" for the list.
package main

import "github.com/magefile/mage/mg"

// Deploy builds and activates machine configurations.
type Deploy mg.Namespace

// Check validates the fleet: inventory, flake, overlays.
type Check mg.Namespace

// Vars generates, checks and rekeys machine secrets.
type Vars mg.Namespace

// Tf renders terranix JSON and drives terraform.
type Tf mg.Namespace

// Ci runs the repository's CI jobs with per-job content-addressed caching.
type Ci mg.Namespace

// Lab manages the embedded test fleet of network-namespace hosts.
type Lab mg.Namespace

// Bench prints the suite's performance figures.
type Bench mg.Namespace

// Fleet shows inventory records.
type Fleet mg.Namespace

// Bazel maintains the Bazel build files.
type Bazel mg.Namespace
