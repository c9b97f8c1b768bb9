package stats

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// Sketch is a streaming latency histogram with bounded memory: log-linear
// buckets of microseconds (16 per power of two, so a quantile is within
// about 6% of the true value), counted with atomic adds. It keeps the
// running totals (for Prometheus) and the last complete interval (for
// quantiles in the console), rotated by Route.Tick.
//
// Why not a t-digest as Odyssey uses: a t-digest needs a lock or a
// per-thread buffer on every insert; fixed buckets need one atomic add, and
// their error bound is enough for p50/p95/p99.
type Sketch struct {
	cur   atomic.Pointer[window]
	mu    sync.Mutex
	prev  *window            // the last complete interval
	base  [numBuckets]uint64 // counts of all rotated windows
	baseN uint64
	baseS uint64
}

const (
	subBits    = 4
	sub        = 1 << subBits
	maxExp     = 40 // 2^40 µs is 12 days: longer values go to the last bucket
	numBuckets = (maxExp-subBits+1)*sub + sub
)

type window struct {
	counts [numBuckets]atomic.Uint64
	n      atomic.Uint64
	sumUs  atomic.Uint64
}

// Observe records one value.
func (s *Sketch) Observe(d time.Duration) {
	w := s.cur.Load()
	if w == nil {
		w = s.init()
	}
	us := uint64(0)
	if d > 0 {
		us = uint64(d / time.Microsecond)
	}
	w.counts[bucketOf(us)].Add(1)
	w.n.Add(1)
	w.sumUs.Add(us)
}

func (s *Sketch) init() *window {
	w := new(window)
	if s.cur.CompareAndSwap(nil, w) {
		return w
	}
	return s.cur.Load()
}

// bucketOf maps microseconds to a bucket: exact below 16, then 16 buckets
// per power of two.
func bucketOf(us uint64) int {
	if us < sub {
		return int(us)
	}
	e := bits.Len64(us) - 1
	if e > maxExp {
		return numBuckets - 1
	}
	m := (us >> (e - subBits)) & (sub - 1)
	return (e-subBits+1)*sub + int(m)
}

// bucketUpper is the smallest value above bucket i, in microseconds.
func bucketUpper(i int) uint64 {
	if i < sub {
		return uint64(i) + 1
	}
	e := i/sub + subBits - 1
	m := uint64(i % sub)
	return (1 << e) + ((m + 1) << (e - subBits))
}

// Rotate closes the current interval.
func (s *Sketch) Rotate() {
	old := s.cur.Swap(new(window))
	s.mu.Lock()
	defer s.mu.Unlock()
	if old == nil {
		return
	}
	for i := range old.counts {
		s.base[i] += old.counts[i].Load()
	}
	s.baseN += old.n.Load()
	s.baseS += old.sumUs.Load()
	s.prev = old
}

// Quantile returns the q-quantile (0..1) of the last complete interval,
// or of the current one if there was none, as a duration; 0 without data.
func (s *Sketch) Quantile(q float64) time.Duration {
	s.mu.Lock()
	w := s.prev
	s.mu.Unlock()
	if w == nil || w.n.Load() == 0 {
		w = s.cur.Load()
	}
	if w == nil {
		return 0
	}
	var counts [numBuckets]uint64
	var n uint64
	for i := range counts {
		counts[i] = w.counts[i].Load()
		n += counts[i]
	}
	return quantile(counts[:], n, q)
}

func quantile(counts []uint64, n uint64, q float64) time.Duration {
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n-1)) + 1
	var seen uint64
	for i, c := range counts {
		seen += c
		if seen >= rank {
			// The middle of the bucket estimates the value.
			lo := uint64(0)
			if i > 0 {
				lo = bucketUpper(i - 1)
			}
			return time.Duration((lo+bucketUpper(i))/2) * time.Microsecond
		}
	}
	return 0
}

// Histogram returns the running totals in the shape of a Prometheus
// histogram: the count, the sum in seconds, and for each upper bound (in
// seconds) the cumulative count of values at or below it. Bounds fall
// inside sketch buckets, so counts near a bound are approximate (a bucket
// counts for a bound when its middle is below it).
func (s *Sketch) Histogram(bounds []float64) (count uint64, sumSeconds float64, cum map[float64]uint64) {
	s.mu.Lock()
	counts := s.base
	count, sumUs := s.baseN, s.baseS
	s.mu.Unlock()
	if w := s.cur.Load(); w != nil {
		for i := range counts {
			counts[i] += w.counts[i].Load()
		}
		count += w.n.Load()
		sumUs += w.sumUs.Load()
	}
	cum = make(map[float64]uint64, len(bounds))
	var run uint64
	b := 0
	for i, c := range counts {
		lo := uint64(0)
		if i > 0 {
			lo = bucketUpper(i - 1)
		}
		mid := float64(lo+bucketUpper(i)) / 2 / 1e6
		for b < len(bounds) && mid > bounds[b] {
			cum[bounds[b]] = run
			b++
		}
		run += c
	}
	for ; b < len(bounds); b++ {
		cum[bounds[b]] = run
	}
	return count, float64(sumUs) / 1e6, cum
}
