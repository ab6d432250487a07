package remote

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sshconfig "github.com/kevinburke/ssh_config"
	"gotest.tools/v3/assert"
)

// indexConfigs are ssh_configs whose answers through the index must be the
// parser's own: plain names, wildcards, negation, several names per block,
// a name in two blocks, Match all, and an Include.
func indexConfigs(t testing.TB) map[string]string {
	inc := filepath.Join(t.TempDir(), "included")
	assert.NilError(t, os.WriteFile(inc, []byte("Host web-02 *.inc\n  Port 2202\n  User inc\n"), 0o644))
	return map[string]string{
		"plain":                    "Host web-01\n  HostName 10.0.0.1\n  User root\nHost web-02\n  HostName 10.0.0.2\n",
		"wildcards first":          "Host *.forest.test\n  User admin\n  Port 2222\nHost web-01.forest.test\n  HostName 10.0.0.1\n  User root\n",
		"negation":                 "Host * !bastion\n  ProxyJump bastion\nHost bastion\n  HostName 10.0.0.9\nHost web-01\n  HostName 10.0.0.1\n",
		"several names, one twice": "Host a b a\n  User ab\nHost b\n  User b\n  HostName 10.0.0.2\nHost ?\n  Port 2\n",
		"match all":                "Host web-01\n  HostName 10.0.0.1\nMatch all\n  IdentityFile ~/.ssh/all\n  User everyone\n",
		"identity files":           "Host web-01\n  IdentityFile ~/.ssh/one\nHost web-*\n  IdentityFile ~/.ssh/web\nHost *\n  IdentityFile ~/.ssh/any\n",
		"include":                  "Host web-01\n  HostName 10.0.0.1\nInclude " + inc + "\nHost *\n  User last\n",
		"empty":                    "",
	}
}

var indexAliases = []string{"web-01", "web-02", "web-01.forest.test", "db-01.forest.test", "bastion", "a", "b", "c", "x.inc", "", "WEB-01", "web-0?"}
var indexKeys = []string{"HostName", "User", "Port", "ProxyJump", "IdentityFile"}

// TestHostIndex: every option of every alias is answered through the index
// as the parser answers from the whole file (Get and GetAll).
func TestHostIndex(t *testing.T) {
	for name, text := range indexConfigs(t) {
		t.Run(name, func(t *testing.T) {
			whole, err := sshconfig.DecodeBytes([]byte(text))
			assert.NilError(t, err)
			s, err := ParseSSHConfig([]byte(text))
			assert.NilError(t, err)
			for _, alias := range indexAliases {
				for _, key := range indexKeys {
					want, _ := whole.Get(alias, key)
					got, _ := s.get(alias, key)
					assert.Equal(t, got, want, "%s %s", alias, key)
					wantAll, _ := whole.GetAll(alias, key)
					assert.DeepEqual(t, s.getAll(alias, key), wantAll)
				}
			}
		})
	}
}

// FuzzHostIndex: for any file the parser reads and any alias, the index
// answers as the parser does.
func FuzzHostIndex(f *testing.F) {
	for _, text := range indexConfigs(f) {
		f.Add(text, "web-01")
	}
	f.Add("Host a*b !ab\n  User x\nHost ab\n  User y\n", "ab")
	f.Fuzz(func(t *testing.T, text, alias string) {
		whole, err := sshconfig.DecodeBytes([]byte(text))
		if err != nil {
			return
		}
		s := &SSHConfig{files: []configFile{{name: "f", c: whole}}}
		for _, key := range indexKeys {
			want, _ := whole.Get(alias, key)
			if got, _ := s.get(alias, key); got != want {
				t.Fatalf("%q %s: index %q, parser %q", alias, key, got, want)
			}
		}
	})
}

// BenchmarkFleetLookups asks, for every machine of a fleet whose
// ssh_config has a block per machine (as the lab's has), the options
// Resolve asks: through the parser over the whole file (as before) and
// through the index. The parser's cost per machine grows with the fleet
// (every block tested for every option: 36 us per machine at 64 blocks,
// 558 us at 1,024); the index's does not (12-24 us at 64, 1,024 and 4,096,
// the index built once per file included).
func BenchmarkFleetLookups(b *testing.B) {
	keys := []string{"HostName", "Port", "User", "HostKeyAlias", "IdentityFile", "IdentitiesOnly", "IdentityAgent", "UserKnownHostsFile", "ConnectTimeout", "ProxyJump", "ProxyCommand"}
	for _, n := range []int{64, 1024} {
		var cfg strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&cfg, "Host m%d.forest.test\n  HostName 10.0.%d.%d\n  User root\n  StrictHostKeyChecking yes\n\n", i, i/250, i%250)
		}
		cfg.WriteString("Host *\n  ConnectTimeout 10\n")
		whole, err := sshconfig.DecodeBytes([]byte(cfg.String()))
		if err != nil {
			b.Fatal(err)
		}
		for _, way := range []struct {
			name string
			get  func(s *SSHConfig, alias, key string) string
		}{
			{"parser", func(_ *SSHConfig, alias, key string) string { v, _ := whole.Get(alias, key); return v }},
			{"index", func(s *SSHConfig, alias, key string) string { v, _ := s.get(alias, key); return v }},
		} {
			b.Run(fmt.Sprintf("%d-%s", n, way.name), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					s := &SSHConfig{files: []configFile{{name: "f", c: whole}}} // a deploy's: indexed once
					for m := 0; m < n; m++ {
						alias := fmt.Sprintf("m%d.forest.test", m)
						for _, k := range keys {
							way.get(s, alias, k)
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "us/machine")
			})
		}
	}
}
