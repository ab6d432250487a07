package cache

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/vanixiets/vanixiets/tasks/paths"
)

// Remote is the interface a shared backend implements beyond Store: a name
// for messages.
type Remote interface {
	Store
	String() string
}

// NewRemoteFunc builds the remote backend for a URL. It is set by the
// package's remote implementation (remote.go), so Open stays small.
var NewRemoteFunc func(url string) (Remote, error)

// Open returns the store the suite uses: local, plus the remote named by
// VANIXIETS_REMOTE_CACHE when set, signed and verified with the keys the
// environment names (see Signed and SignedFromEnv). A URL or key setting it
// cannot use prints one warning and the run uses the local store.
func Open() Store {
	local := NewLocal(paths.Store())
	url := os.Getenv("VANIXIETS_REMOTE_CACHE")
	if url == "" || NewRemoteFunc == nil {
		return local
	}
	r, err := NewRemoteFunc(url)
	if err != nil {
		fmt.Fprintf(os.Stderr, "warning: remote cache %s unusable (%v); using the local cache only\n", url, err)
		return local
	}
	s, err := SignedFromEnv(r)
	if err != nil {
		fmt.Fprintf(os.Stderr, "warning: remote cache %s unusable (%v); using the local cache only\n", r, err)
		return local
	}
	return &Layered{Local: local, Remote: s}
}

// Layered reads through the local store to the remote and writes back to
// both. The first remote failure prints one warning and turns the remote off
// for the rest of the process: a broken shared cache slows a run down, it
// never fails it. A bad entry (corrupt, unsigned, badly signed) is not a
// remote failure: the remote reports it as a miss with its own warning, the
// step is rebuilt, and this Put overwrites the entry.
//
// A remote hit is written back to the local store as shared (Local's
// PutShared), so that reads under OnlyMadeHere never see it.
type Layered struct {
	Local  *Local
	Remote Remote
	Warn   func(string)

	mu       sync.Mutex
	disabled bool
}

func (l *Layered) remoteOK() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.disabled
}

func (l *Layered) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.disabled {
		return
	}
	l.disabled = true
	msg := fmt.Sprintf("remote cache %s failed (%v); continuing with the local cache only", l.Remote, err)
	if l.Warn != nil {
		l.Warn(msg)
	} else {
		fmt.Fprintln(os.Stderr, "warning:", msg)
	}
}

// Get implements Store.
func (l *Layered) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, _, ok, err := l.GetOrigin(ctx, key)
	return v, ok, err
}

// GetOrigin implements Originer: a local hit, else the remote's.
func (l *Layered) GetOrigin(ctx context.Context, key string) ([]byte, string, bool, error) {
	v, ok, err := l.Local.Get(ctx, key)
	if err != nil || ok || onlyMadeHere(ctx) || !l.remoteOK() {
		if ok {
			return v, OriginLocal, ok, err
		}
		return v, "", ok, err
	}
	v, ok, err = l.Remote.Get(ctx, key)
	if err != nil {
		l.fail(err)
		return nil, "", false, nil
	}
	if !ok {
		return nil, "", false, nil
	}
	if err := l.Local.PutShared(ctx, key, v); err != nil {
		return nil, "", false, err
	}
	return v, l.Remote.String(), true, nil
}

// Put implements Store.
func (l *Layered) Put(ctx context.Context, key string, value []byte) error {
	if err := l.Local.Put(ctx, key, value); err != nil {
		return err
	}
	if l.remoteOK() {
		if err := l.Remote.Put(ctx, key, value); err != nil {
			l.fail(err)
		}
	}
	return nil
}
