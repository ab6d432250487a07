// Package cache is the suite's content-addressed store: step results keyed by
// the digest of everything that could change them.
//
// A Store maps a key (a hex SHA-256 made by tasks/pipeline or tasks/ci) to
// the bytes a step recorded. Every backend verifies what it returns against a
// digest recorded beside it, so a truncated or corrupted entry is reported,
// discarded and treated as a miss: it is rebuilt, never returned.
//
// Open gives the store every target uses: the local directory (paths.Store,
// moved by VANIXIETS_CACHE_DIR), read-through and write-back to a bazel-remote
// server when VANIXIETS_REMOTE_CACHE names one.
package cache

import (
	"context"
	"encoding/hex"
	"fmt"
)

// Store is a content-addressed key/value store.
type Store interface {
	// Get returns the value recorded under key. ok is false on a miss,
	// including an entry found corrupt (which is removed). err is only for
	// failures that make the store unusable, never for a miss.
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
	// Put records value under key, atomically: a reader sees the old entry,
	// no entry, or the whole new one.
	Put(ctx context.Context, key string, value []byte) error
}

// ValidKey reports whether key is a lower-case hex SHA-256, the only key
// shape the stores accept: it keeps keys path-safe and protocol-compatible.
func ValidKey(key string) error {
	if len(key) != 64 {
		return fmt.Errorf("cache key %q: want 64 hex characters (a SHA-256), got %d", key, len(key))
	}
	if _, err := hex.DecodeString(key); err != nil || key != lower(key) {
		return fmt.Errorf("cache key %q: want lower-case hex", key)
	}
	return nil
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'F' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
