//go:build mage

package main

import (
	"errors"
	"os"
	"path/filepath"
)

// repoRoot is the directory holding go.mod, found from the working
// directory upwards (mage runs targets in the magefiles' parent).
func repoRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", errors.New("not inside the vanixiets repository (no go.mod above the working directory): run the targets from the checkout (cd <checkout> && go tool mage <target>), or from anywhere with <checkout>/scripts/mage <target>")
		}
		d = p
	}
}
