package broadcast_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/apiserver/broadcast"
	"github.com/meshoptixiq/mesh/apiserver/engine"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/graph/graphtest"
	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/common/lifecycle"
	"github.com/meshoptixiq/mesh/common/testenv"
)

// Two replicas over one store: a change on one reaches the other through
// Redis and a reload, and a replica ignores its own messages.
func TestReplicasConverge(t *testing.T) {
	rd := testenv.StartRedis(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := graphtest.NewMemStore()
	ctx, cancel := context.WithCancel(context.Background())
	g := lifecycle.NewGroup(ctx)
	defer func() {
		cancel()
		if err := g.Wait(); err != nil {
			t.Errorf("broadcast goroutines: %v", err)
		}
	}()
	type replica struct {
		eng     *engine.Engine
		bc      *broadcast.Broadcaster
		reloads chan uint64
	}
	var reps [2]replica
	for i := range reps {
		bc, err := broadcast.New(rd.URL(), log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { bc.Close() })
		r := replica{eng: engine.New(st, graph.Options{}, log), bc: bc, reloads: make(chan uint64, 10)}
		r.eng.OnChange(bc.Notify)
		g.Go(func() error { return bc.RunPublisher(g.Ctx) })
		g.Go(func() error {
			return bc.RunSubscriber(g.Ctx, func(ctx context.Context, v uint64) {
				if _, err := r.eng.Reload(ctx, v); err != nil {
					t.Errorf("Reload: %v", err)
				}
				r.reloads <- v
			})
		})
		reps[i] = r
	}
	// Wait until both subscriptions are live: publish until someone hears.
	deadline := time.After(10 * time.Second)
	for subscribed := false; !subscribed; {
		n, err := pubsubCount(ctx, reps[0].bc)
		if err != nil {
			t.Fatal(err)
		}
		subscribed = n >= 2
		select {
		case <-deadline:
			t.Fatal("subscriptions never became active")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if _, err := reps[0].eng.Ingest(ctx, engine.ModeMerge, []facts.Device{{Hostname: "a"}, {Hostname: "b"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-reps[1].reloads:
		if v != 1 || reps[1].eng.Graph().Version != 1 || reps[1].eng.Graph().Stats().Devices != 2 {
			t.Errorf("replica 1 heard version %d and holds version %d with %d devices, want 1 with 2", v, reps[1].eng.Graph().Version, reps[1].eng.Graph().Stats().Devices)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("replica 1 never heard of the change")
	}
	select {
	case v := <-reps[0].reloads:
		t.Errorf("replica 0 heard its own change (version %d)", v)
	case <-time.After(100 * time.Millisecond):
	}
}

func pubsubCount(ctx context.Context, bc *broadcast.Broadcaster) (int64, error) {
	return bc.Subscribers(ctx)
}
