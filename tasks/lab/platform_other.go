//go:build !linux

package lab

import "errors"

// ErrNeedsLinux is what every lab operation answers on a platform without
// Linux's network and mount namespaces (a Mac). The rest of the suite
// (checks, vars, terraform, deploying real machines) works there; only the
// stand-in fleet does not.
var ErrNeedsLinux = errors.New("the lab needs Linux (network and mount namespaces, run as root): run lab targets and the e2e tests on a Linux machine or VM; everything else works here")

func supported() error { return ErrNeedsLinux }

func bindShared(string) error { return ErrNeedsLinux }

func unmount(string) error { return ErrNeedsLinux }
