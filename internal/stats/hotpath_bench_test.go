package stats

import (
	"testing"
	"time"
)

// The benchmarks below measure what the relay pays for statistics on its
// hot path, to compare with the cost of a transaction through the pooler
// (tens of microseconds for pgbench -S). "Parallel" runs every goroutine
// on one route, the worst case: all cores adding to the same counters.

// BenchmarkRouteQuery is one answered request: counter, time total and
// the latency sketch.
func BenchmarkRouteQuery(b *testing.B) {
	var r Route
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Query(time.Duration(i%5000) * time.Microsecond)
	}
}

// BenchmarkRouteTransaction is everything one single-statement
// transaction in transaction mode records: a server assignment from the
// pool without waiting, bytes both ways, the query and the transaction.
func BenchmarkRouteTransaction(b *testing.B) {
	var r Route
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		oneTransaction(&r, i)
	}
}

func BenchmarkRouteTransactionParallel(b *testing.B) {
	var r Route
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			oneTransaction(&r, i)
		}
	})
}

func oneTransaction(r *Route, i int) {
	d := time.Duration(100+i%5000) * time.Microsecond
	r.Wait(0)
	r.BytesIn.Add(14)
	r.Query(d)
	r.BytesOut.Add(66)
	r.Xact(d)
}
