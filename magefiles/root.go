//go:build mage

package main

import (
	"os"

	"github.com/vanixiets/vanixiets/tasks/paths"
)

// repoRoot is the directory holding go.mod, found from the working
// directory upwards (mage runs targets in the magefiles' parent).
func repoRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return paths.Checkout(d)
}
