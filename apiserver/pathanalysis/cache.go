package pathanalysis

import (
	"sync"

	"github.com/meshoptixiq/mesh/apiserver/graph"
)

// Cache keeps the Index of the graph versions being queried, built once
// per version on first use. It holds the two most recent versions so that
// queries still running on the previous version after a swap do not make
// the two rebuild each other's index.
type Cache struct {
	mu      sync.Mutex
	entries []*cacheEntry // most recent first
}

type cacheEntry struct {
	g    *graph.Graph
	once sync.Once
	ix   *Index
}

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{} }

// Index returns g's index, building it if needed. Concurrent callers for
// the same graph wait for one build.
func (c *Cache) Index(g *graph.Graph) *Index {
	c.mu.Lock()
	var e *cacheEntry
	for _, x := range c.entries {
		if x.g == g {
			e = x
			break
		}
	}
	if e == nil {
		e = &cacheEntry{g: g}
		c.entries = append([]*cacheEntry{e}, c.entries...)
		if len(c.entries) > 2 {
			c.entries = c.entries[:2]
		}
	}
	c.mu.Unlock()
	e.once.Do(func() { e.ix = NewIndex(g) })
	return e.ix
}
