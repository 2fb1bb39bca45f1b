package lifecycle

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Drain holds the work that must outlive a daemon's serving group so that
// nothing accepted is lost at shutdown: the sidecar's audit writer, the
// shipper's senders. Its context is not cancelled with the parent's; Stop
// gives the work a grace period to finish on its own, then cancels it, and
// waits for every goroutine.
type Drain struct {
	g      *errgroup.Group
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
	done   chan struct{}
	err    error
}

// NewDrain starts a Drain whose context carries parent's values but not
// its cancellation.
func NewDrain(parent context.Context) *Drain {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	return &Drain{g: &errgroup.Group{}, ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// Go runs f with the Drain's context. Call it before Done or Stop.
func (d *Drain) Go(f func(ctx context.Context) error) { d.g.Go(func() error { return f(d.ctx) }) }

// Done is closed once every goroutine has returned.
func (d *Drain) Done() <-chan struct{} {
	d.once.Do(func() {
		go func() { // owned by the Drain: it ends with the last goroutine
			d.err = d.g.Wait()
			d.cancel()
			close(d.done)
		}()
	})
	return d.done
}

// Stop waits up to grace for the work to end on its own (0: not at all),
// then cancels its context and waits for it. It reports whether the grace
// ran out and the first error of the work.
func (d *Drain) Stop(grace time.Duration) (cutShort bool, err error) {
	done := d.Done()
	if grace > 0 {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-done:
			return false, d.err
		case <-t.C:
		}
	}
	select {
	case <-done:
		return false, d.err
	default:
	}
	d.cancel()
	<-done
	return grace > 0, d.err
}
