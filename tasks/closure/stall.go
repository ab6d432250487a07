package closure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// DefaultStall is the stall limit a deployment gives a copy
// (Options.Stall): a minute in which the host's daemon neither took nor
// sent a byte. A healthy daemon reads a NAR as it arrives (it hashes it
// while reading) and answers each path at once, however slow the link;
// a minute of silence is a host that hangs.
const DefaultStall = time.Minute

// StallError is a copy given up because its session moved no byte, either
// way, for the stall limit: the host's nix-daemon (or the session under
// it) hangs. The other machines of a deployment are not held up by it.
type StallError struct {
	Target string
	Stall  time.Duration
	// Sent and Acked say how far the copy got: paths sent, paths the host
	// confirmed.
	Sent, Acked int64
}

func (e *StallError) Error() string {
	return fmt.Sprintf("copy to %s: no progress for %s (the host's nix-daemon neither took nor sent a byte; %d paths sent, %d confirmed): the host hangs; look at it, then deploy it again",
		e.Target, e.Stall, e.Sent, e.Acked)
}

// watchdog ends a copy whose session moved no byte for its limit: it
// cancels the copy's context (every phase of a copy ends with it) and
// closes the copy's connection, and the copy's error becomes the
// StallError. Closing the session is not enough: the host's sshd answers
// the session's close only once the process under it exits, and a hung
// nix-daemon never does, so a read or a write waiting on that session
// would wait on. The caller dials again if it wants the host again.
type watchdog struct {
	limit  time.Duration
	target string
	last   atomic.Int64 // unix nanoseconds of the last byte either way
	sent   atomic.Int64
	acked  atomic.Int64
	cancel context.CancelCauseFunc
	done   chan struct{}
}

// watch starts the watchdog of one copy to target, whose connection
// closeConn closes (none when limit <= 0: the returned watchdog is nil, and
// its methods pass everything through).
func watch(ctx context.Context, limit time.Duration, target string, closeConn func()) (context.Context, *watchdog) {
	if limit <= 0 {
		return ctx, nil
	}
	w := &watchdog{limit: limit, target: target, done: make(chan struct{})}
	ctx, w.cancel = context.WithCancelCause(ctx)
	w.touch()
	tick := max(limit/8, 5*time.Millisecond)
	go func() {
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-w.done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if time.Since(time.Unix(0, w.last.Load())) >= w.limit {
					w.cancel(&StallError{Target: w.target, Stall: w.limit, Sent: w.sent.Load(), Acked: w.acked.Load()})
					closeConn()
					return
				}
			}
		}
	}()
	return ctx, w
}

func (w *watchdog) touch() { w.last.Store(time.Now().UnixNano()) }

// stop ends the watchdog and, when it gave the copy up, returns its
// StallError in place of what the interrupted phase said.
func (w *watchdog) stop(ctx context.Context, err error) error {
	if w == nil {
		return err
	}
	close(w.done)
	var se *StallError
	if cause := context.Cause(ctx); err != nil && errors.As(cause, &se) {
		err = se
	}
	w.cancel(nil)
	return err
}

// reader and writer count a byte either way as progress.
func (w *watchdog) reader(r io.Reader) io.Reader {
	if w == nil {
		return r
	}
	return readFunc(w.active(r.Read))
}

func (w *watchdog) writer(wr io.Writer) io.Writer {
	if w == nil {
		return wr
	}
	return writeFunc(w.active(wr.Write))
}

// pathSent and pathAcked count the copy's progress for the error.
func (w *watchdog) pathSent() {
	if w != nil {
		w.sent.Add(1)
	}
}

func (w *watchdog) pathAcked() {
	if w != nil {
		w.acked.Add(1)
	}
}

// active wraps one Read or Write so that every byte it moves is progress.
func (w *watchdog) active(f func([]byte) (int, error)) func([]byte) (int, error) {
	return func(p []byte) (int, error) {
		n, err := f(p)
		if n > 0 {
			w.touch()
		}
		return n, err
	}
}

type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }

type writeFunc func([]byte) (int, error)

func (f writeFunc) Write(p []byte) (int, error) { return f(p) }
