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
// when it is not held.
func (m *memo) get(ctx context.Context, d *Definition, args Args, version uint64, run func() (*Result, error)) (*Result, error) {
	key := d.Name + "\x00" + strconv.FormatUint(args.fingerprint(d), 16)
	if res := m.lookup(key, version); res != nil {
		return res, nil
	}
	v, err, _ := m.flight.Do(key+"\x00"+strconv.FormatUint(version, 10), func() (any, error) {
		select {
		case m.heavy <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		defer func() { <-m.heavy }()
		res, err := run()
		if err != nil {
			return nil, err
		}
		m.store(key, version, res)
		return res, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*Result), nil
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
