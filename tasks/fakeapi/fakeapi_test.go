package fakeapi

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
)

type world struct {
	NextID  int            `json:"next_id"`
	Servers map[string]int `json:"servers"`
}

// TestState: a state file round-trips, whole, owner-only; no file is a
// fresh start; a broken one is an error naming it and the fix.
func TestState(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "fake.json")

	w := world{NextID: 1}
	found, err := LoadState("fakex", file, &w)
	assert.NilError(t, err)
	assert.Check(t, !found)
	assert.DeepEqual(t, w, world{NextID: 1})

	assert.NilError(t, SaveState(file, world{NextID: 3, Servers: map[string]int{"a": 1}}))
	st, err := os.Stat(file)
	assert.NilError(t, err)
	assert.Equal(t, st.Mode().Perm(), os.FileMode(0o600))
	var got world
	found, err = LoadState("fakex", file, &got)
	assert.NilError(t, err)
	assert.Check(t, found)
	assert.DeepEqual(t, got, world{NextID: 3, Servers: map[string]int{"a": 1}})

	assert.NilError(t, os.WriteFile(file, []byte("{half"), 0o600))
	_, err = LoadState("fakex", file, &got)
	assert.ErrorContains(t, err, "fakex state "+file+" is not valid JSON")
	assert.ErrorContains(t, err, "remove it to start empty")

	_, err = LoadState("fakex", dir, &got)
	assert.ErrorContains(t, err, "fakex state "+dir)
}

// TestCheckLoopback: a fake listens on loopback only.
func TestCheckLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:0", true},
		{"127.0.0.1:8089", true},
		{"[::1]:8089", true},
		{"0.0.0.0:8089", false},
		{"10.0.0.1:8089", false},
		{"localhost:8089", false}, // a name could resolve anywhere
		{"127.0.0.1", false},
		{"", false},
	} {
		err := CheckLoopback(tc.addr)
		assert.Check(t, (err == nil) == tc.ok, "%q: %v", tc.addr, err)
	}
}

// TestServe: the handler answers under the URL given; Close stops it and
// then drains.
func TestServe(t *testing.T) {
	drained := false
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusTeapot, "application/json", map[string]string{"path": r.URL.Path})
	})
	s, err := Serve("fakex", "", "/v1", h, func() { drained = true })
	assert.NilError(t, err)
	resp, err := http.Get(s.URL + "/servers")
	assert.NilError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, resp.StatusCode, http.StatusTeapot)
	assert.Equal(t, resp.Header.Get("Content-Type"), "application/json")
	assert.Equal(t, string(b), "{\n  \"path\": \"/v1/servers\"\n}\n")
	assert.NilError(t, s.Close())
	assert.Check(t, drained)
	_, err = http.Get(s.URL + "/servers")
	assert.Check(t, err != nil, "still serving after Close")

	_, err = Serve("fakex", "127.0.0.1:-1", "/v1", h, nil)
	assert.ErrorContains(t, err, "fakex listen on 127.0.0.1:-1")
}
