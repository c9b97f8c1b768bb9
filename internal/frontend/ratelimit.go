package frontend

import (
	"net/netip"
	"sync"
	"time"
)

// failureLimiter slows down password guessing from one address: each
// address has a bucket of failedBurst failed logins that refills at one
// per failedRefill; with the bucket empty, logins from the address are
// refused before any password exchange until a token comes back.
// Successful logins cost nothing, so busy applications are never slowed.
// Unix-socket clients (no address) are not limited.
type failureLimiter struct {
	burst  float64
	refill time.Duration
	now    func() time.Time

	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

const (
	failedBurst  = 30
	failedRefill = time.Second
	// maxBuckets bounds the map; full buckets are dropped first.
	maxBuckets = 10_000
)

func newFailureLimiter() *failureLimiter {
	return &failureLimiter{burst: failedBurst, refill: failedRefill, now: time.Now, buckets: make(map[netip.Addr]*bucket)}
}

// allow reports whether addr may try to log in now.
func (l *failureLimiter) allow(addr netip.Addr) bool {
	if !addr.IsValid() {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[addr]
	return b == nil || l.level(b) >= 1
}

// fail takes a token from addr's bucket.
func (l *failureLimiter) fail(addr netip.Addr) {
	if !addr.IsValid() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[addr]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.prune()
		}
		b = &bucket{tokens: l.burst, last: l.now()}
		l.buckets[addr] = b
	}
	b.tokens = max(l.level(b)-1, 0)
	b.last = l.now()
}

// level refills b up to now and returns its tokens. Called with l.mu held.
func (l *failureLimiter) level(b *bucket) float64 {
	now := l.now()
	b.tokens = min(l.burst, b.tokens+float64(now.Sub(b.last))/float64(l.refill))
	b.last = now
	return b.tokens
}

// prune drops refilled buckets, and if that frees nothing, all of them:
// an attacker spraying addresses must not grow the map without bound.
// Called with l.mu held.
func (l *failureLimiter) prune() {
	for a, b := range l.buckets {
		if l.level(b) >= l.burst {
			delete(l.buckets, a)
		}
	}
	if len(l.buckets) >= maxBuckets {
		clear(l.buckets)
	}
}
