package relay

import (
	"context"
	"time"
)

// A Client is the context of its own waits (a pool acquire, a pause): it
// is done once the client is killed or has left. The channel is made only
// when something waits on it, so the many clients that never wait pay for
// no context object (measured: 200 bytes per client, 2 MB for 10,000).

var _ context.Context = (*Client)(nil)

// Deadline implements context.Context: none.
func (c *Client) Deadline() (time.Time, bool) { return time.Time{}, false }

// Value implements context.Context: none.
func (c *Client) Value(any) any { return nil }

// Done implements context.Context.
func (c *Client) Done() <-chan struct{} {
	c.doneMu.Lock()
	defer c.doneMu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.ended {
			close(c.done)
		}
	}
	return c.done
}

// Err implements context.Context.
func (c *Client) Err() error {
	c.doneMu.Lock()
	defer c.doneMu.Unlock()
	if c.ended {
		return context.Canceled
	}
	return nil
}

// end makes the client's context done (Kill, or the client left).
func (c *Client) end() {
	c.doneMu.Lock()
	defer c.doneMu.Unlock()
	if !c.ended {
		c.ended = true
		if c.done != nil {
			close(c.done)
		}
	}
}
