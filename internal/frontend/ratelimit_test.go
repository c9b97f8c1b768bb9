package frontend

import (
	"net/netip"
	"testing"
	"time"
)

func TestFailureLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newFailureLimiter()
	l.now = func() time.Time { return now }
	a := netip.MustParseAddr("10.0.0.1")
	b := netip.MustParseAddr("10.0.0.2")

	for i := range failedBurst {
		if !l.allow(a) {
			t.Fatalf("refused after %d failures", i)
		}
		l.fail(a)
	}
	if l.allow(a) {
		t.Fatal("allowed after the burst")
	}
	if !l.allow(b) {
		t.Fatal("another address is limited")
	}
	if !l.allow(netip.Addr{}) {
		t.Fatal("unix socket clients are limited")
	}
	now = now.Add(failedRefill / 2)
	if l.allow(a) {
		t.Fatal("allowed before a token came back")
	}
	now = now.Add(failedRefill / 2)
	if !l.allow(a) {
		t.Fatal("refused after a refill interval")
	}
	l.fail(a)
	if l.allow(a) {
		t.Fatal("one refill allowed two attempts")
	}
	now = now.Add(time.Hour)
	for range failedBurst {
		if !l.allow(a) {
			t.Fatal("the bucket did not refill to the burst")
		}
		l.fail(a)
	}
}

func TestFailureLimiterBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newFailureLimiter()
	l.now = func() time.Time { return now }
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}) }
	for i := range maxBuckets + 10 {
		l.fail(addr(i))
	}
	if n := len(l.buckets); n > maxBuckets {
		t.Fatalf("%d buckets", n)
	}
	// When full, refilled buckets are the first to go.
	clear(l.buckets)
	for i := range maxBuckets {
		l.buckets[addr(i)] = &bucket{last: now}
	}
	now = now.Add(time.Hour)
	l.fail(netip.MustParseAddr("192.168.0.1"))
	if n := len(l.buckets); n != 1 {
		t.Fatalf("%d buckets after everyone refilled", n)
	}
}
