// Package testkit holds the small helpers that the tests of several packages
// share: one settable clock, one multiset diff and a real mailpit SMTP server
// (mailpit.go) for the mail tests. It is a leaf: it imports
// nothing from this module (depguard enforces that, see .golangci.yml), so
// any package's tests may use it without bending the layers.
package testkit

import (
	"sync"
	"time"
)

// Clock is a settable clock, safe for concurrent use. Hand its Now method to
// the code under test (a func() time.Time field) and move time with Advance.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock that reads t until advanced.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
