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

// hitKind is what the cache says of a step's key.
type hitKind int

const (
	miss     hitKind = iota // no record
	unproven                // a record, but the step is an Effect its Verify did not confirm
	good                    // a record the step may be skipped on
)

// get is the get of the engine's one get-else-run-put (Run and Plan both
// ask it): the outputs recorded under in.Key and where they came from
// (cache.OriginLocal or the remote's address). A record is good when the
// step's Verify confirms it, or, for a step with no Verify, when the step
// is no Effect (an Effect without Verify always runs). ctx carries the
// caller's trust (cache.OnlyMadeHere) to the store.
func get(ctx context.Context, store cache.Store, s *Step, in Input) (Outputs, string, hitKind, error) {
	b, origin, ok, err := cache.GetOrigin(ctx, store, in.Key)
	if err != nil || !ok {
		return nil, "", miss, err
	}
	outs, _, ok := DecodeRecord(b)
	if !ok {
		return nil, "", miss, nil
	}
	if s.Verify != nil {
		if fine, err := s.Verify(ctx, in, outs); err == nil && fine {
			return outs, origin, good, nil
		}
		return outs, origin, unproven, nil
	}
	if !s.Effect {
		return outs, origin, good, nil
	}
	return outs, origin, unproven, nil
}
