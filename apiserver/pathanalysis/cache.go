package pathanalysis

import (
	"sync"
	"weak"

	"github.com/meshoptixiq/mesh/apiserver/graph"
)

// Cache keeps the Index of the graph versions being queried, built once
// per version on first use. The most recent version's index is held; the
// previous version's only weakly, so that queries still running on it
// after a swap share one index without the cache keeping that whole
// graph (and its index) alive once they are done: a graph is the largest
// thing the server holds, and holding the previous one doubled it.
type Cache struct {
	mu      sync.Mutex
	entries []*cacheEntry // most recent first, at most two
}

type cacheEntry struct {
	g    weak.Pointer[graph.Graph] // which version; never keeps it alive
	once sync.Once
	// Under Cache.mu: ix is set while the entry is the most recent one,
	// weakIx once the index is built.
	ix     *Index
	weakIx weak.Pointer[Index]
}

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{} }

// Index returns g's index, building it if needed. Concurrent callers for
// the same graph wait for one build.
func (c *Cache) Index(g *graph.Graph) *Index {
	e := c.entry(g)
	var built *Index
	e.once.Do(func() {
		built = NewIndex(g)
		c.mu.Lock()
		e.weakIx = weak.Make(built)
		if c.entries[0] == e {
			e.ix = built
		}
		c.mu.Unlock()
	})
	if built != nil {
		return built
	}
	c.mu.Lock()
	ix := e.weakIx.Value()
	c.mu.Unlock()
	if ix == nil {
		// An old version whose index nobody held any more: build one for
		// this caller alone rather than keep that version alive.
		ix = NewIndex(g)
	}
	return ix
}

// entry finds or adds g's entry. A new graph becomes the most recent one
// and demotes the previous to a weak reference.
func (c *Cache) entry(g *graph.Graph) *cacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		if e.g.Value() == g {
			return e
		}
	}
	e := &cacheEntry{g: weak.Make(g)}
	if len(c.entries) > 0 {
		prev := c.entries[0]
		prev.ix = nil
		c.entries = []*cacheEntry{e, prev}
	} else {
		c.entries = []*cacheEntry{e}
	}
	return e
}
