// Package stats keeps the counters and latency sketches of each route.
//
// The relay updates them on its hot path with atomic adds only: no lock,
// no allocation. Readers (console, Prometheus, the periodic stats line) take
// snapshots whenever they like; averages over stats_interval are computed by
// the periodic task from two snapshots, never per message.
package stats

import (
	"sync"
	"sync/atomic"
	"time"
)

// Route is one route's counters. The zero value is ready to use.
type Route struct {
	Xacts       atomic.Uint64 // transactions finished
	Queries     atomic.Uint64 // requests answered (Query, extended batch up to Sync, FunctionCall)
	Assignments atomic.Uint64 // servers attached to clients
	BytesIn     atomic.Uint64 // bytes received from clients
	BytesOut    atomic.Uint64 // bytes sent to clients
	XactTimeUs  atomic.Uint64
	QueryTimeUs atomic.Uint64
	WaitTimeUs  atomic.Uint64 // time clients waited for a server
	Cancels     atomic.Uint64 // cancel requests forwarded

	Errors Errors

	QueryTime   Sketch // query latency
	XactTime    Sketch // transaction latency
	WaitTime    Sketch // pool wait
	ConnectTime Sketch // server connect and login

	mu   sync.Mutex
	last Snapshot // at the last Tick
	avg  Averages
}

// Snapshot is a point-in-time copy of the counters.
type Snapshot struct {
	At                                  time.Time
	Xacts, Queries, Assignments         uint64
	BytesIn, BytesOut                   uint64
	XactTimeUs, QueryTimeUs, WaitTimeUs uint64
	Cancels                             uint64
}

// Averages are per-second rates and per-event times over the last interval,
// as PgBouncer's avg_* columns.
type Averages struct {
	XactsPerSec, QueriesPerSec, AssignmentsPerSec float64
	BytesInPerSec, BytesOutPerSec                 float64
	XactTimeUs, QueryTimeUs, WaitTimeUs           float64 // mean per event
}

// Snapshot reads the counters.
func (r *Route) Snapshot() Snapshot {
	return Snapshot{
		At:          time.Now(),
		Xacts:       r.Xacts.Load(),
		Queries:     r.Queries.Load(),
		Assignments: r.Assignments.Load(),
		BytesIn:     r.BytesIn.Load(),
		BytesOut:    r.BytesOut.Load(),
		XactTimeUs:  r.XactTimeUs.Load(),
		QueryTimeUs: r.QueryTimeUs.Load(),
		WaitTimeUs:  r.WaitTimeUs.Load(),
		Cancels:     r.Cancels.Load(),
	}
}

// Busy reports whether the route ever had traffic: a request, a byte, a
// server assigned.
func (r *Route) Busy() bool {
	return r.Queries.Load() != 0 || r.Assignments.Load() != 0 || r.BytesIn.Load() != 0 || r.BytesOut.Load() != 0
}

// Fold adds r's counters (totals and errors, not the sketches) to dst: a
// route that goes away leaves its totals to whoever keeps them.
func (r *Route) Fold(dst *Route) {
	dst.Xacts.Add(r.Xacts.Load())
	dst.Queries.Add(r.Queries.Load())
	dst.Assignments.Add(r.Assignments.Load())
	dst.BytesIn.Add(r.BytesIn.Load())
	dst.BytesOut.Add(r.BytesOut.Load())
	dst.XactTimeUs.Add(r.XactTimeUs.Load())
	dst.QueryTimeUs.Add(r.QueryTimeUs.Load())
	dst.WaitTimeUs.Add(r.WaitTimeUs.Load())
	dst.Cancels.Add(r.Cancels.Load())
	r.Errors.Fold(&dst.Errors)
}

// Tick computes the averages since the previous Tick and returns them.
// The periodic task calls it every stats_interval.
func (r *Route) Tick() Averages {
	now := r.Snapshot()
	r.mu.Lock()
	defer r.mu.Unlock()
	prev := r.last
	r.last = now
	if prev.At.IsZero() {
		return r.avg
	}
	secs := now.At.Sub(prev.At).Seconds()
	if secs <= 0 {
		return r.avg
	}
	per := func(a, b uint64) float64 { return float64(a-b) / secs }
	mean := func(t1, t0, n1, n0 uint64) float64 {
		if n1 == n0 {
			return 0
		}
		return float64(t1-t0) / float64(n1-n0)
	}
	r.avg = Averages{
		XactsPerSec:       per(now.Xacts, prev.Xacts),
		QueriesPerSec:     per(now.Queries, prev.Queries),
		AssignmentsPerSec: per(now.Assignments, prev.Assignments),
		BytesInPerSec:     per(now.BytesIn, prev.BytesIn),
		BytesOutPerSec:    per(now.BytesOut, prev.BytesOut),
		XactTimeUs:        mean(now.XactTimeUs, prev.XactTimeUs, now.Xacts, prev.Xacts),
		QueryTimeUs:       mean(now.QueryTimeUs, prev.QueryTimeUs, now.Queries, prev.Queries),
		WaitTimeUs:        mean(now.WaitTimeUs, prev.WaitTimeUs, now.Assignments, prev.Assignments),
	}
	r.QueryTime.Rotate()
	r.XactTime.Rotate()
	return r.avg
}

// Averages returns the averages of the last complete interval.
func (r *Route) Averages() Averages {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.avg
}

// Query records one answered request that took d.
func (r *Route) Query(d time.Duration) {
	r.Queries.Add(1)
	r.QueryTimeUs.Add(uint64(d / time.Microsecond))
	r.QueryTime.Observe(d)
}

// Xact records one finished transaction that took d.
func (r *Route) Xact(d time.Duration) {
	r.Xacts.Add(1)
	r.XactTimeUs.Add(uint64(d / time.Microsecond))
	r.XactTime.Observe(d)
}

// Wait records one server assignment after waiting d in the pool.
func (r *Route) Wait(d time.Duration) {
	r.Assignments.Add(1)
	if d > 0 {
		r.WaitTimeUs.Add(uint64(d / time.Microsecond))
		r.WaitTime.Observe(d)
	}
}
