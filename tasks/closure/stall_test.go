package closure

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// TestWatchdog: a session that moves bytes (either way) is left alone; one
// that moves none for the limit is given up with a StallError naming the
// host, its connection closed; no limit, no watchdog.
func TestWatchdog(t *testing.T) {
	for _, tc := range []struct {
		name    string
		limit   time.Duration
		traffic func(r io.Reader, w io.Writer) // for 300 ms
		stalled bool
	}{
		{name: "writes flow", limit: 80 * time.Millisecond, traffic: func(_ io.Reader, w io.Writer) {
			for i := 0; i < 30; i++ {
				w.Write([]byte("x"))
				time.Sleep(10 * time.Millisecond)
			}
		}},
		{name: "answers flow", limit: 80 * time.Millisecond, traffic: func(r io.Reader, _ io.Writer) {
			b := make([]byte, 1)
			for i := 0; i < 30; i++ {
				r.Read(b)
				time.Sleep(10 * time.Millisecond)
			}
		}},
		{name: "silent", limit: 80 * time.Millisecond, traffic: func(io.Reader, io.Writer) { time.Sleep(300 * time.Millisecond) }, stalled: true},
		{name: "busy, then silent", limit: 80 * time.Millisecond, traffic: func(_ io.Reader, w io.Writer) {
			w.Write([]byte("x"))
			time.Sleep(300 * time.Millisecond)
		}, stalled: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var closed atomic.Bool
			ctx, wd := watch(context.Background(), tc.limit, "root@web-07", func() { closed.Store(true) })
			wd.pathSent()
			tc.traffic(wd.reader(strings.NewReader(strings.Repeat("a", 100))), wd.writer(&bytes.Buffer{}))
			err := wd.stop(ctx, errors.New("the phase's own error"))
			var se *StallError
			assert.Equal(t, errors.As(err, &se), tc.stalled, "%v", err)
			assert.Equal(t, closed.Load(), tc.stalled)
			if tc.stalled {
				assert.Check(t, is.Error(err, "copy to root@web-07: no progress for 80ms (the host's nix-daemon neither took nor sent a byte; 1 paths sent, 0 confirmed): the host hangs; look at it, then deploy it again"))
			}
		})
	}
	// No limit: the context and the streams are the caller's own.
	ctx := context.Background()
	c2, wd := watch(ctx, 0, "root@web-07", func() { t.Error("closed without a limit") })
	assert.Check(t, wd == nil && c2 == ctx)
	r := strings.NewReader("a")
	assert.Check(t, wd.reader(r) == io.Reader(r))
	assert.Check(t, is.Nil(wd.stop(ctx, nil)))
	// A copy that ended well keeps its nil error.
	ctx, wd = watch(ctx, time.Minute, "root@web-07", func() {})
	assert.Check(t, is.Nil(wd.stop(ctx, nil)))
}
