//go:build e2e

package deploy

import "github.com/vanixiets/vanixiets/tasks/cache"

func openCache(dir string) cache.Store { return cache.NewLocal(dir) }
