package pipeline

import (
	"context"
	"encoding/json"
	"time"

	"github.com/vanixiets/vanixiets/tasks/cache"
)

// record is what the cache holds for a step: the one format of a step's
// result, whichever front door ran it.
type record struct {
	Outputs  Outputs `json:"outputs"`
	Duration int64   `json:"durationNs"`
	At       string  `json:"at"`
}

// EncodeRecord is the bytes the cache holds for a step that succeeded with
// outs after d: what Run puts under the step's key. Exported so tests can
// plant (or forge) an entry exactly as a run would have written it.
func EncodeRecord(outs Outputs, d time.Duration) []byte {
	if outs == nil {
		outs = Outputs{}
	}
	b, _ := json.Marshal(record{Outputs: outs, Duration: int64(d), At: time.Now().UTC().Format(time.RFC3339)})
	return b
}

// DecodeRecord reads what EncodeRecord wrote; ok is false for bytes that
// are not a step's record (which Run treats as a miss).
func DecodeRecord(b []byte) (outs Outputs, d time.Duration, ok bool) {
	var rec record
	if json.Unmarshal(b, &rec) != nil {
		return nil, 0, false
	}
	return rec.Outputs, time.Duration(rec.Duration), true
}

// lookup is the get of the engine's one get-else-run-put: the outputs a
// step recorded under key, if the store holds a record there. ctx carries
// the caller's trust (cache.OnlyMadeHere) to the store.
func lookup(ctx context.Context, store cache.Store, key string) (Outputs, bool, error) {
	b, ok, err := store.Get(ctx, key)
	if err != nil || !ok {
		return nil, false, err
	}
	outs, _, ok := DecodeRecord(b)
	return outs, ok, nil
}
