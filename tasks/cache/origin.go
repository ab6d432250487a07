package cache

import "context"

// OriginLocal names a hit served by the local store.
const OriginLocal = "local"

// Originer is implemented by stores that can say where a hit came from.
// CI and the step engine use it to tell a user whether a result was made
// on this machine or taken from the shared cache ("SKIP ... (remote
// http://host:9090)"), which matters when deciding whether to trust it.
type Originer interface {
	// GetOrigin is Get, plus the origin of a hit: OriginLocal, or the
	// remote's String().
	GetOrigin(ctx context.Context, key string) (value []byte, origin string, ok bool, err error)
}

// GetOrigin reads key from s and reports where a hit came from. Stores that
// do not implement Originer are local by construction.
func GetOrigin(ctx context.Context, s Store, key string) ([]byte, string, bool, error) {
	if o, ok := s.(Originer); ok {
		return o.GetOrigin(ctx, key)
	}
	v, ok, err := s.Get(ctx, key)
	if !ok {
		return v, "", ok, err
	}
	return v, OriginLocal, ok, err
}

type madeHereKey struct{}

// OnlyMadeHere returns a context under which reads accept only entries this
// machine computed itself: a hit copied from the shared cache, however well
// signed, is a miss, and the remote is not asked.
//
// Use it where a cached value decides security (the fleet's generator
// scripts, owners and modes, health checks, age recipients, the store paths
// to activate). Signing proves who wrote an entry, not that the writer was
// right: a CI key that builds pull requests, or a leaked laptop key, could
// still sign a fleet JSON whose generator runs as root. Re-deriving such
// values locally costs one evaluation per new key on each machine (see
// BenchmarkLoadMadeHere in tasks/fleet) and removes the question. Writes are
// unaffected: what is re-derived is still shared for everyone else's
// ordinary reads.
func OnlyMadeHere(ctx context.Context) context.Context {
	return context.WithValue(ctx, madeHereKey{}, true)
}

func onlyMadeHere(ctx context.Context) bool {
	v, _ := ctx.Value(madeHereKey{}).(bool)
	return v
}
