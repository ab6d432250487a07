//go:build e2e

package terraform

import "github.com/vanixiets/vanixiets/tasks/lab"

func labtestConfig() lab.Config { return lab.Config{} }
