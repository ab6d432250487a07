package pipeline

import (
	"context"
	"sync"
)

// groupSlots is Pipeline.Groups: at most limit groups of steps in flight.
// A group takes a slot when its first step is about to run and gives it
// back when its last step has ended (succeeded, failed, skipped or
// cancelled). A fleet deployment groups each machine's steps: with the
// step limit alone, 64 machines' copies would all run before the first
// activation, every connection open and no machine finished until the
// end; with groups, N machines deploy start to finish and the next ones
// follow.
//
// A step waits for its group's slot before it takes a step slot, and a
// group holding a slot only ever waits for step slots, which steps give
// back when they end: the two limits cannot deadlock.
type groupSlots struct {
	sem   chan struct{} // nil: no limit
	mu    sync.Mutex
	left  map[string]int // steps of the group that have not ended
	entry map[string]*groupEntry
}

// groupEntry is one group's claim on a slot.
type groupEntry struct {
	ready chan struct{} // closed once the slot is held, or the wait gave up
	err   error         // why the wait gave up (the context's end)
	held  bool
}

func newGroupSlots(limit int, steps []*Step) *groupSlots {
	g := &groupSlots{left: map[string]int{}, entry: map[string]*groupEntry{}}
	if limit <= 0 {
		return g
	}
	g.sem = make(chan struct{}, limit)
	for _, s := range steps {
		if s.Group != "" {
			g.left[s.Group]++
		}
	}
	return g
}

// enter returns once group holds a slot (at once for no group or no
// limit), or with the context's error.
func (g *groupSlots) enter(ctx context.Context, group string) error {
	if g.sem == nil || group == "" {
		return nil
	}
	g.mu.Lock()
	e := g.entry[group]
	if e != nil {
		// Another step of the group claimed (or is claiming) the slot.
		g.mu.Unlock()
		select {
		case <-e.ready:
			return e.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	e = &groupEntry{ready: make(chan struct{})}
	g.entry[group] = e
	g.mu.Unlock()
	select {
	case g.sem <- struct{}{}:
		g.mu.Lock()
		e.held = true
		g.mu.Unlock()
	case <-ctx.Done():
		e.err = ctx.Err()
	}
	close(e.ready)
	return e.err
}

// leave notes that one step of group ended; the group's last frees its slot.
func (g *groupSlots) leave(group string) {
	if g.sem == nil || group == "" {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.left[group]--
	if e := g.entry[group]; g.left[group] == 0 && e != nil && e.held {
		e.held = false
		<-g.sem
	}
}
