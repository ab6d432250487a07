package tail

import (
	"fmt"
	"testing"

	"gotest.tools/v3/assert"
)

func TestBuffer(t *testing.T) {
	for _, tc := range []struct {
		max    int
		writes []string
		want   string
	}{
		{8, nil, ""},
		{8, []string{"abc"}, "abc"},
		{8, []string{"abcd", "efgh"}, "abcdefgh"},
		{8, []string{"abcd", "efghij"}, "cdefghij"},
		{4, []string{"abcdefghij"}, "ghij"},
	} {
		b := &Buffer{Max: tc.max}
		for _, w := range tc.writes {
			n, err := b.Write([]byte(w))
			assert.NilError(t, err)
			assert.Equal(t, n, len(w), "Write reports all of p taken")
		}
		assert.Equal(t, b.String(), tc.want, fmt.Sprint(tc.writes))
	}
}

func TestLastLines(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		one  string
		want string
	}{
		{"", 2, "", ""},
		{"only\n", 2, "only", "only"},
		{"a\nb\nc\n\n", 2, "c", "b | c"},
		{"  a\nb  ", 5, "b", "a | b"},
	} {
		assert.Equal(t, LastLine(tc.in), tc.one, "%q", tc.in)
		assert.Equal(t, LastLines(tc.in, tc.n), tc.want, "%q", tc.in)
	}
}
