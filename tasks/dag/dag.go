// Package dag is the suite's one walk over dependency graphs: the
// pipeline's steps, CI jobs, vars generators (per fleet and per plan) and
// a closure's store paths all ask the same two questions, "is there a
// cycle, and which?" and "in what order, dependencies first?". Each caller
// used to answer them with its own depth-first search; now they describe
// their graph as a node list and a next function, and say the error their
// users need in their own words.
//
// Both walks are depth-first in the order of nodes and of next's results,
// so a caller that passes sorted input gets a reproducible answer (the same
// cycle named, the same order run) on every machine.
package dag

// Cycle returns one cycle reachable from nodes as a path that starts and
// ends on the same node (a -> b -> a is [a b a]), or nil when there is none.
// A self-loop is a cycle of one ([a a]); callers that allow them filter
// them out of next.
func Cycle[N comparable](nodes []N, next func(N) []N) []N {
	const (
		white = iota
		grey
		black
	)
	color := map[N]int{}
	var stack, found []N
	var visit func(N) bool
	visit = func(n N) bool {
		color[n] = grey
		stack = append(stack, n)
		for _, d := range next(n) {
			switch color[d] {
			case grey:
				for i := range stack {
					if stack[i] == d {
						found = append(append([]N{}, stack[i:]...), d)
						break
					}
				}
				return true
			case white:
				if visit(d) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
		return false
	}
	for _, n := range nodes {
		if color[n] == white && visit(n) {
			return found
		}
	}
	return nil
}

// Order returns nodes and everything they reach, each after the nodes next
// gives for it, otherwise in input order. It expects an acyclic graph (ask
// Cycle first): on a cycle it still returns every node once, in an order
// that breaks the cycle at the edge it met last.
func Order[N comparable](nodes []N, next func(N) []N) []N {
	done := map[N]bool{}
	out := make([]N, 0, len(nodes))
	var visit func(N)
	visit = func(n N) {
		if done[n] {
			return
		}
		done[n] = true
		for _, d := range next(n) {
			visit(d)
		}
		out = append(out, n)
	}
	for _, n := range nodes {
		visit(n)
	}
	return out
}
