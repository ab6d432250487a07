package terranix

import "sort"

func sortStrings(s []string) { sort.Strings(s) }
