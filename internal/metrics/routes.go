package metrics

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/router"
	"github.com/odyssey-go/odyssey/internal/stats"
)

// pair is what route metrics are labelled by: the database and user
// clients asked for.
type pair struct{ db, user string }

// routeSample is the state of every live route of one (database, user)
// pair, read at scrape time. Usually a pair has one route; it has several
// when rules for different addresses or connection types match it, or for
// a while after a reload retired its rule (the old route serves its last
// clients). Their counts are added up, so a pair's counters drop when a
// retired route closes: Prometheus treats that as a counter reset.
//
// Clients and servers are counted as the console's SHOW POOLS counts them
// (Odyssey's exporter reads SHOW POOLS_EXTENDED), in PgBouncer's terms.
type routeSample struct {
	clActive  int // clients with a server
	clWaiting int // clients waiting for one
	maxWait   time.Duration
	svActive  int // servers attached to a client or running our own query
	svIdle    int // servers in the pool
	svTested  int // servers being reset
	svLogin   int // servers being opened
	capacity  int
	modes     []config.PoolMode

	totals stats.Snapshot
	hists  [numHists]hist

	// The quantiles are of every route's sketches taken together, at the
	// points the rule of quantRoute asks for: the current route with the
	// most queries, when the routes' rules ask for different ones.
	querySketches, xactSketches []*stats.Sketch
	quantRoute                  *router.Route
}

// Latency histograms, in the order of routeSample.hists.
const (
	histQuery = iota
	histXact
	histWait
	histConnect
	numHists
)

// hist is a histogram in Prometheus's shape: cumulative counts per bound.
type hist struct {
	count uint64
	sum   float64
	cum   map[float64]uint64
}

func (h *hist) add(count uint64, sum float64, cum map[float64]uint64) {
	if h.cum == nil {
		h.cum = make(map[float64]uint64, len(histBounds))
	}
	h.count += count
	h.sum += sum
	for b, n := range cum {
		h.cum[b] += n
	}
}

// sampleRoutes reads every live route once, grouped by pair.
func sampleRoutes(routes []*router.Route, clients router.RouteClients) map[pair]*routeSample {
	out := make(map[pair]*routeSample, len(routes))
	for _, rt := range routes {
		k := pair{db: rt.DB, user: rt.User}
		s := out[k]
		if s == nil {
			s = &routeSample{}
			out[k] = s
		}
		s.addRoute(rt, clients.Of(rt))
	}
	return out
}

func (s *routeSample) addRoute(rt *router.Route, cc router.ClientCounts) {
	rule := rt.Rule()
	s.clActive += cc.Active
	s.clWaiting += cc.Waiting

	ps := rt.PoolStats()
	sc := rt.CountServers()
	live := sc.Live
	s.svActive += sc.Active
	s.svTested += sc.Tested
	s.svIdle += ps.Idle
	s.svLogin += max(ps.Total-live, 0)
	s.maxWait = max(s.maxWait, ps.MaxWait)
	if ps.Size > 0 {
		s.capacity += ps.Size
	} else {
		// Unlimited: Odyssey's exporter reports the servers open now.
		s.capacity += max(live, ps.Total)
	}
	if !slices.Contains(s.modes, rule.Pool) {
		s.modes = append(s.modes, rule.Pool)
	}

	st := rt.Stats()
	s.addHistograms(st)
	snap := st.Snapshot()
	t := &s.totals
	t.Xacts += snap.Xacts
	t.Queries += snap.Queries
	t.Assignments += snap.Assignments
	t.BytesIn += snap.BytesIn
	t.BytesOut += snap.BytesOut
	t.XactTimeUs += snap.XactTimeUs
	t.QueryTimeUs += snap.QueryTimeUs
	t.WaitTimeUs += snap.WaitTimeUs
	t.Cancels += snap.Cancels

	s.querySketches = append(s.querySketches, &st.QueryTime)
	s.xactSketches = append(s.xactSketches, &st.XactTime)
	if betterQuantiles(rt, s.quantRoute) {
		s.quantRoute = rt
	}
}

// betterQuantiles reports whether a's rule should say which quantiles its
// pair reports rather than b's: a current route before a retired one,
// then the busier, then (equally busy) a rule that asks for quantiles,
// then the rule written first. The ties matter: routes come in map order,
// and the choice must not change from one scrape to the next.
func betterQuantiles(a, b *router.Route) bool {
	if b == nil {
		return true
	}
	if a.Obsolete() != b.Obsolete() {
		return !a.Obsolete()
	}
	if qa, qb := a.Stats().Queries.Load(), b.Stats().Queries.Load(); qa != qb {
		return qa > qb
	}
	ra, rb := a.Rule(), b.Rule()
	if asks := len(ra.Quantiles) > 0; asks != (len(rb.Quantiles) > 0) {
		return asks
	}
	return cmp.Or(strings.Compare(ra.Pos.File, rb.Pos.File), cmp.Compare(ra.Pos.Line, rb.Pos.Line),
		cmp.Compare(ra.Pos.Column, rb.Pos.Column)) < 0
}

// addHistograms reads the route's latency sketches. Waits are different:
// the relay records only waits longer than zero in the sketch (a server
// straight from the pool costs no sketch update), so the assignments the
// sketch lacks are added as zero waits. The sketch is read before the
// assignment counter, which is incremented first, so the difference is
// never negative except for assignments in flight, counted as zero waits
// until their wait lands in its bucket.
func (s *routeSample) addHistograms(st *stats.Route) {
	s.hists[histQuery].add(st.QueryTime.Histogram(histBounds))
	s.hists[histXact].add(st.XactTime.Histogram(histBounds))
	s.hists[histConnect].add(st.ConnectTime.Histogram(histBounds))

	n, sum, cum := st.WaitTime.Histogram(histBounds)
	if assigned := st.Assignments.Load(); assigned > n {
		zeros := assigned - n
		for b := range cum {
			cum[b] += zeros
		}
		n = assigned
	}
	s.hists[histWait].add(n, sum, cum)
}

// dbAverages are the averages of every route of one database, as SHOW
// STATS has them: rates add up, mean times are weighted by their rates.
type dbAverages struct {
	xacts, queries, assignments, recv, sent float64
	xactTimeUs, queryTimeUs, waitTimeUs     float64 // sums of mean × rate until done
}

func averagesByDatabase(routes []*router.Route) map[string]*dbAverages {
	out := make(map[string]*dbAverages)
	for _, rt := range routes {
		a := rt.Stats().Averages()
		d := out[rt.DB]
		if d == nil {
			d = &dbAverages{}
			out[rt.DB] = d
		}
		d.xacts += a.XactsPerSec
		d.queries += a.QueriesPerSec
		d.assignments += a.AssignmentsPerSec
		d.recv += a.BytesInPerSec
		d.sent += a.BytesOutPerSec
		d.xactTimeUs += a.XactTimeUs * a.XactsPerSec
		d.queryTimeUs += a.QueryTimeUs * a.QueriesPerSec
		d.waitTimeUs += a.WaitTimeUs * a.AssignmentsPerSec
	}
	for _, d := range out {
		d.xactTimeUs = weighted(d.xactTimeUs, d.xacts)
		d.queryTimeUs = weighted(d.queryTimeUs, d.queries)
		d.waitTimeUs = weighted(d.waitTimeUs, d.assignments)
	}
	return out
}

func weighted(sum, weight float64) float64 {
	if weight == 0 {
		return 0
	}
	return sum / weight
}
