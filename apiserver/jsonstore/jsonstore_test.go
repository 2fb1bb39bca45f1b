package jsonstore

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/meshoptixiq/mesh/common/testenv"
)

type rec struct {
	ID    string `json:"id"`
	Count int    `json:"count"`
}

// The same records, the same answers, in memory and in a real Redis; both
// forget a record once its time to live has passed.
func TestMemoryAndRedisAnswerAlike(t *testing.T) {
	srv := testenv.StartRedis(t)
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	for name, s := range map[string]*Store[rec]{"memory": New[rec](nil, "test:", time.Second), "redis": New[rec](rdb, "test:", time.Second)} {
		if err := s.Put(ctx, "a", &rec{ID: "a", Count: 3}); err != nil {
			t.Fatal(err)
		}
		got, ok, err := s.Get(ctx, "a")
		if err != nil || !ok || got.Count != 3 {
			t.Errorf("%s: Get(a) = %+v %v %v, want count 3", name, got, ok, err)
		}
		if _, ok, _ := s.Get(ctx, "nope"); ok {
			t.Errorf("%s: Get of an unknown id found something", name)
		}
	}
	mem := New[rec](nil, "test:", time.Millisecond)
	mem.Put(ctx, "old", &rec{ID: "old"})
	time.Sleep(5 * time.Millisecond)
	if _, ok, _ := mem.Get(ctx, "old"); ok {
		t.Error("memory: a record past its time to live is still there")
	}
	mem.Put(ctx, "new", &rec{ID: "new"})
	if len(mem.mem) != 1 {
		t.Errorf("memory holds %d records after a Put past the other's expiry, want 1", len(mem.mem))
	}
}
