package lifecycle

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDrainOutlivesItsParent(t *testing.T) {
	parent, cancelParent := context.WithCancel(context.Background())
	d := NewDrain(parent)
	finish := make(chan struct{})
	d.Go(func(ctx context.Context) error {
		select {
		case <-finish:
			return nil
		case <-ctx.Done():
			return errors.New("cancelled before the work was done")
		}
	})
	cancelParent()
	select {
	case <-d.Done():
		t.Fatal("the parent's cancellation stopped the drain")
	case <-time.After(50 * time.Millisecond):
	}
	close(finish)
	if cut, err := d.Stop(time.Hour); err != nil || cut {
		t.Errorf("Stop after the work ended = %v, %v; want nil, false", err, cut)
	}
}

func TestDrainStopCancelsAfterGrace(t *testing.T) {
	d := NewDrain(context.Background())
	drained := false
	d.Go(func(ctx context.Context) error {
		<-ctx.Done() // works until told to stop, then drains
		drained = true
		return nil
	})
	cut, err := d.Stop(20 * time.Millisecond)
	if err != nil || !cut || !drained {
		t.Errorf("Stop = %v, cut short %v, drained %v; want nil, true, true", err, cut, drained)
	}
	d2 := NewDrain(context.Background())
	d2.Go(func(ctx context.Context) error { <-ctx.Done(); return errors.New("boom") })
	if cut, err := d2.Stop(0); err == nil || err.Error() != "boom" || cut {
		t.Errorf("Stop(0) = %v, %v; want boom, not cut short (no grace was given)", err, cut)
	}
}
