package sops

import "github.com/google/go-cmp/cmp"

func cmpOpt() cmp.Option {
	return cmp.Comparer(func(a, b *Map) bool { return equalMap(a, b) })
}
