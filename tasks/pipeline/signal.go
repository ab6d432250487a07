package pipeline

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// InterruptContext returns a context cancelled by the first SIGINT or
// SIGTERM, so running steps can stop cleanly within their grace period. A
// second signal exits at once with status 130, for a user who does not want
// to wait.
func InterruptContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case s := <-ch:
			fmt.Fprintf(os.Stderr, "\n%s: stopping running steps (again to exit at once)\n", s)
			cancel()
		case <-ctx.Done():
			signal.Stop(ch)
			return
		}
		select {
		case <-ch:
			os.Exit(130)
		case <-parent.Done():
		}
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}
