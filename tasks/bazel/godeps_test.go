package bazel

import (
	"strings"
	"testing"

	"gotest.tools/v3/assert"
)

func TestRepoName(t *testing.T) {
	for in, want := range map[string]string{
		"filippo.io/age":                       "io_filippo_age",
		"github.com/BurntSushi/toml":           "com_github_burntsushi_toml",
		"github.com/vbauerster/mpb/v8":         "com_github_vbauerster_mpb_v8",
		"gotest.tools/v3":                      "tools_gotest_v3",
		"golang.org/x/crypto":                  "org_golang_x_crypto",
		"github.com/hetznercloud/hcloud-go/v2": "com_github_hetznercloud_hcloud_go_v2",
	} {
		assert.Equal(t, RepoName(in), want, in)
	}
}

func TestRenderGoDepsDirectives(t *testing.T) {
	out := string(RenderGoDeps([]Module{
		{Path: "github.com/rivo/uniseg", Version: "v0.4.7", Sum: "h1:x"},
		{Path: "gotest.tools/v3", Version: "v3.5.2", Sum: "h1:y"},
	}))
	assert.Assert(t, strings.HasPrefix(out, MacroHeader))
	assert.Assert(t, strings.Contains(out, `name = "com_github_rivo_uniseg",
        build_directives = ["gazelle:exclude gen_breaktest.go", "gazelle:exclude gen_properties.go"],
        build_file_generation = "clean",`), out)
	assert.Assert(t, strings.Contains(out, `name = "tools_gotest_v3",
        build_file_generation = "clean",`), out)
	assert.Equal(t, strings.Count(out, "build_directives"), 1)
}
