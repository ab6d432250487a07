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
