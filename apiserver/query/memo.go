package query

import (
	"container/list"
	"context"
	"runtime"
	"strconv"
	"sync"

	"golang.org/x/sync/singleflight"
)

// memoEntries bounds the memo: one entry per (query, parameters), each the
// answer at one graph version, least recently used out first. Whole-graph
// answers are at most a few per query (hygiene_shadowed_rules takes a
// hostname), so a few hundred cover every caller.
const memoEntries = 256

// memo keeps the answers of Memo queries for the graph version they were
// computed at, computes each missing one once however many callers ask at
// the same moment (singleflight), and runs at most heavySlots of those
// computations at once, so that callers looping on an expensive query
// cannot take every CPU from the light ones.
type memo struct {
	mu      sync.Mutex
	entries map[string]*list.Element
	order   *list.List // front: most recently used
	flight  singleflight.Group
	heavy   chan struct{}
	// newest is the latest graph version an answer was stored for.
	newest uint64
}

type memoEntry struct {
	key     string
	version uint64
	res     *Result
}

func newMemo() *memo {
	return &memo{entries: map[string]*list.Element{}, order: list.New(),
		heavy: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))}
}

// get returns the answer of d for args at version, computing it with run
// when it is not held. The computation belongs to no one caller: it runs
// on after the caller that started it goes away, and each caller waits
// only as long as its own ctx allows.
func (m *memo) get(ctx context.Context, d *Definition, args Args, version uint64, run func(context.Context) (*Result, error)) (*Result, error) {
	key := d.Name + "\x00" + strconv.FormatUint(args.fingerprint(d), 16)
	if res := m.lookup(key, version); res != nil {
		return res, nil
	}
	detached := context.WithoutCancel(ctx)
	ch := m.flight.DoChan(key+"\x00"+strconv.FormatUint(version, 10), func() (any, error) {
		// A flight that finished between our lookup and this one has
		// stored the answer: take it rather than compute it again.
		if res := m.lookup(key, version); res != nil {
			return res, nil
		}
		m.heavy <- struct{}{}
		defer func() { <-m.heavy }()
		res, err := run(detached)
		if err != nil {
			return nil, err
		}
		m.store(key, version, res)
		return res, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*Result), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (m *memo) lookup(key string, version uint64) *Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.entries[key]
	if !ok {
		return nil
	}
	e := el.Value.(*memoEntry)
	if e.version != version {
		return nil
	}
	m.order.MoveToFront(el)
	return e.res
}

func (m *memo) store(key string, version uint64, res *Result) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if version > m.newest {
		// Answers for older graphs are asked for again only by queries
		// still running on them: drop them all now, rather than keep each
		// until it is asked for or pushed out (a whole-graph answer can be
		// tens of megabytes, and each holds strings of its graph).
		m.newest = version
		for el := m.order.Front(); el != nil; {
			next := el.Next()
			if e := el.Value.(*memoEntry); e.version < version {
				m.order.Remove(el)
				delete(m.entries, e.key)
			}
			el = next
		}
	}
	if el, ok := m.entries[key]; ok {
		e := el.Value.(*memoEntry)
		if version >= e.version {
			e.version, e.res = version, res
		}
		m.order.MoveToFront(el)
		return
	}
	m.entries[key] = m.order.PushFront(&memoEntry{key: key, version: version, res: res})
	for m.order.Len() > memoEntries {
		old := m.order.Back()
		m.order.Remove(old)
		delete(m.entries, old.Value.(*memoEntry).key)
	}
}
