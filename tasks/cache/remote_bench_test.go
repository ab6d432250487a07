//go:build e2e

package cache

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"gotest.tools/v3/assert"
)

// BenchmarkRemoteHit measures one step's result restored from a real
// bazel-remote over loopback: a local miss, GET /ac, GET /cas, digest check,
// and the write-back into the local cache, i.e. what a second checkout pays
// for a step the first one built. Target: at most 20 ms per hit.
//
//	go test -tags e2e -run '^$' -bench RemoteHit ./tasks/cache/
func BenchmarkRemoteHit(b *testing.B) {
	srv := startBazelRemote(b)
	signer, err := GenerateSigningKey("bench")
	assert.NilError(b, err)
	for _, signed := range []bool{false, true} {
		for _, size := range []int{4 << 10, 1 << 20} {
			name := fmt.Sprintf("%dKiB", size>>10)
			if signed {
				name += "-signed" // what Open builds: the ed25519 check on top
			}
			b.Run(name, func(b *testing.B) {
				ctx := context.Background()
				hr, err := NewHTTPRemote(srv.URL)
				assert.NilError(b, err)
				defer hr.Close()
				var r Remote = hr
				if signed {
					r = &Signed{Remote: hr, Signer: signer, Trusted: Keyring{"bench": signer.Public()}, Warn: func(s string) { b.Fatal(s) }}
				}
				k := key(fmt.Sprint("bench", size, signed))
				assert.NilError(b, r.Put(ctx, k, randomBytes(b, size)))
				local := NewLocal(b.TempDir())
				l := &Layered{Local: local, Remote: r, Warn: func(s string) { b.Fatal(s) }}
				b.SetBytes(int64(size))
				b.ResetTimer()
				var spent time.Duration
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					assert.NilError(b, os.RemoveAll(local.Dir)) // every Get is a local miss
					b.StartTimer()
					t0 := time.Now()
					v, ok, err := l.Get(ctx, k)
					spent += time.Since(t0)
					if err != nil || !ok || len(v) != size {
						b.Fatalf("remote hit failed: ok=%v err=%v len=%d", ok, err, len(v))
					}
				}
				b.ReportMetric(float64(spent.Microseconds())/1000/float64(b.N), "ms/hit")
			})
		}
	}
	// The network part alone (two GETs and the digest check, no local
	// write-back), to tell a slow server from a slow disk.
	b.Run("4KiB-remote-only", func(b *testing.B) {
		ctx := context.Background()
		r, err := NewHTTPRemote(srv.URL)
		assert.NilError(b, err)
		defer r.Close()
		k := key("bench remote only")
		assert.NilError(b, r.Put(ctx, k, randomBytes(b, 4<<10)))
		b.ResetTimer()
		t0 := time.Now()
		for i := 0; i < b.N; i++ {
			if _, ok, err := r.Get(ctx, k); err != nil || !ok {
				b.Fatalf("remote hit failed: ok=%v err=%v", ok, err)
			}
		}
		b.ReportMetric(float64(time.Since(t0).Microseconds())/1000/float64(b.N), "ms/hit")
	})
}
