package rbac

import (
	"strings"
	"sync"
)

// maxCachedPerms bounds the per-policy decision cache: permission names come
// from request paths, so a client could otherwise grow it without limit.
// Past the bound, unseen names are evaluated on every request.
const maxCachedPerms = 8192

type hit struct{ role, pattern int32 }

type permEntry struct {
	allowed RoleSet
	hits    []hit
}

// permCache remembers, per permission name, which roles grant it. It lives
// inside one compiled Policy, so a reload starts with a fresh one.
type permCache struct {
	mu  sync.RWMutex
	m   map[string]*permEntry
	max int
}

func newPermCache(max int) *permCache {
	return &permCache{m: make(map[string]*permEntry, 256), max: max}
}

func (c *permCache) get(name string) *permEntry {
	c.mu.RLock()
	e := c.m[name]
	c.mu.RUnlock()
	return e
}

func (c *permCache) put(name string, e *permEntry) {
	c.mu.Lock()
	if len(c.m) < c.max {
		c.m[strings.Clone(name)] = e // name may alias a request buffer
	}
	c.mu.Unlock()
}
