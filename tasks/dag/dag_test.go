package dag

import (
	"testing"

	"gotest.tools/v3/assert"
)

// graph is a test graph written as "a:b,c b:c": each node's edges.
func graph(edges map[string][]string) func(string) []string {
	return func(n string) []string { return edges[n] }
}

func TestCycle(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes []string
		edges map[string][]string
		want  []string
	}{
		{"empty", nil, nil, nil},
		{"chain", []string{"a", "b", "c"}, map[string][]string{"a": {"b"}, "b": {"c"}}, nil},
		{"diamond", []string{"a", "b", "c", "d"}, map[string][]string{"a": {"b", "c"}, "b": {"d"}, "c": {"d"}}, nil},
		{"self", []string{"a"}, map[string][]string{"a": {"a"}}, []string{"a", "a"}},
		{"two", []string{"a", "b"}, map[string][]string{"a": {"b"}, "b": {"a"}}, []string{"a", "b", "a"}},
		{"tail then loop", []string{"x", "a", "b", "c"}, map[string][]string{"x": {"a"}, "a": {"b"}, "b": {"c"}, "c": {"a"}}, []string{"a", "b", "c", "a"}},
		{"reached only through next", []string{"x"}, map[string][]string{"x": {"y"}, "y": {"z"}, "z": {"y"}}, []string{"y", "z", "y"}},
		{"first of two cycles in input order", []string{"p", "a"}, map[string][]string{"a": {"b"}, "b": {"a"}, "p": {"q"}, "q": {"p"}}, []string{"p", "q", "p"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.DeepEqual(t, Cycle(tc.nodes, graph(tc.edges)), tc.want)
		})
	}
}

func TestOrder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes []string
		edges map[string][]string
		want  []string
	}{
		{"empty", nil, nil, []string{}},
		{"independent keep input order", []string{"c", "a", "b"}, nil, []string{"c", "a", "b"}},
		{"deps first", []string{"a", "b", "c"}, map[string][]string{"a": {"c"}, "b": {"c"}}, []string{"c", "a", "b"}},
		{"diamond once each", []string{"a"}, map[string][]string{"a": {"b", "c"}, "b": {"d"}, "c": {"d"}}, []string{"d", "b", "c", "a"}},
		{"reached nodes included", []string{"a"}, map[string][]string{"a": {"z"}}, []string{"z", "a"}},
		{"cycle still lists each once", []string{"a", "b"}, map[string][]string{"a": {"b"}, "b": {"a"}}, []string{"b", "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.DeepEqual(t, Order(tc.nodes, graph(tc.edges)), tc.want)
		})
	}
}

// TestOrderRespectsEdges checks the property every caller relies on, over
// a generated graph: each node comes after everything it points to.
func TestOrderRespectsEdges(t *testing.T) {
	edges := map[int][]int{}
	var nodes []int
	for i := 0; i < 200; i++ {
		nodes = append(nodes, i)
		for _, d := range []int{i * 7 % 13, i / 3, i / 2} {
			if d < i {
				edges[i] = append(edges[i], d)
			}
		}
	}
	next := func(n int) []int { return edges[n] }
	assert.Assert(t, Cycle(nodes, next) == nil)
	pos := map[int]int{}
	for i, n := range Order(nodes, next) {
		pos[n] = i
	}
	assert.Equal(t, len(pos), len(nodes))
	for n, ds := range edges {
		for _, d := range ds {
			assert.Assert(t, pos[d] < pos[n], "%d must come before %d", d, n)
		}
	}
}
