package stats

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

func TestBucketsCoverAndOrder(t *testing.T) {
	prev := -1
	for _, us := range []uint64{0, 1, 15, 16, 17, 31, 32, 1000, 1 << 20, 1<<40 - 1, 1 << 40, 1 << 62} {
		b := bucketOf(us)
		if b < prev || b >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d after %d", us, b, prev)
		}
		prev = b
		if b < numBuckets-1 && us >= bucketUpper(b) {
			t.Fatalf("%d µs in bucket %d whose upper bound is %d", us, b, bucketUpper(b))
		}
		if b > 0 && b < numBuckets-1 && us < bucketUpper(b-1) {
			t.Fatalf("%d µs in bucket %d but below the previous bound %d", us, b, bucketUpper(b-1))
		}
	}
}

func TestQuantileError(t *testing.T) {
	var s Sketch
	r := rand.New(rand.NewPCG(1, 2))
	var vals []float64
	for range 100000 {
		us := r.ExpFloat64() * 2000
		vals = append(vals, us)
		s.Observe(time.Duration(us * float64(time.Microsecond)))
	}
	sort.Float64s(vals)
	for _, q := range []float64{0.5, 0.9, 0.95, 0.99} {
		want := vals[int(q*float64(len(vals)-1))]
		got := float64(s.Quantile(q)) / float64(time.Microsecond)
		if rel := (got - want) / want; rel > 0.07 || rel < -0.07 {
			t.Errorf("q%.2f = %.1f µs, want %.1f (error %.1f%%)", q, got, want, rel*100)
		}
	}
}

func TestRotateAndHistogram(t *testing.T) {
	var s Sketch
	s.Observe(500 * time.Microsecond)
	s.Observe(2 * time.Millisecond)
	s.Rotate()
	s.Observe(20 * time.Millisecond)
	count, sum, cum := s.Histogram([]float64{0.001, 0.01, 0.1})
	if count != 3 {
		t.Fatalf("count %d", count)
	}
	if sum < 0.0224 || sum > 0.0226 {
		t.Fatalf("sum %v", sum)
	}
	if cum[0.001] != 1 || cum[0.01] != 2 || cum[0.1] != 3 {
		t.Fatalf("buckets %v", cum)
	}
	// The last complete interval had 500 µs and 2 ms.
	if q := s.Quantile(1); q < 1900*time.Microsecond || q > 2100*time.Microsecond {
		t.Fatalf("max of last interval %v", q)
	}
}

func TestRouteTick(t *testing.T) {
	var r Route
	r.Tick()
	r.Query(time.Millisecond)
	r.Query(3 * time.Millisecond)
	r.Xact(4 * time.Millisecond)
	r.Wait(0)
	r.last.At = r.last.At.Add(-time.Second) // pretend a second passed
	a := r.Tick()
	if a.QueryTimeUs != 2000 || a.XactTimeUs != 4000 {
		t.Fatalf("averages %+v", a)
	}
	if a.QueriesPerSec < 1.9 || a.QueriesPerSec > 2.1 {
		t.Fatalf("queries/s %v", a.QueriesPerSec)
	}
}

func BenchmarkObserve(b *testing.B) {
	var s Sketch
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Observe(time.Duration(i%5000) * time.Microsecond)
	}
}
