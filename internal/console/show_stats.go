package console

import (
	"maps"
	"slices"

	"github.com/odyssey-go/odyssey/internal/stats"
)

// dbStats sums the routes of one database, as PgBouncer's SHOW STATS does.
type dbStats struct {
	total stats.Snapshot
	avg   stats.Averages // rates summed; times weighted by their event rates
	// weights of the mean times so far, to combine them
	xactW, queryW, waitW float64
}

func (d *dbStats) add(r *stats.Route) {
	d.addTotals(r)
	a := r.Averages()
	d.avg.XactsPerSec += a.XactsPerSec
	d.avg.QueriesPerSec += a.QueriesPerSec
	d.avg.AssignmentsPerSec += a.AssignmentsPerSec
	d.avg.BytesInPerSec += a.BytesInPerSec
	d.avg.BytesOutPerSec += a.BytesOutPerSec
	d.avg.XactTimeUs, d.xactW = weighted(d.avg.XactTimeUs, d.xactW, a.XactTimeUs, a.XactsPerSec)
	d.avg.QueryTimeUs, d.queryW = weighted(d.avg.QueryTimeUs, d.queryW, a.QueryTimeUs, a.QueriesPerSec)
	d.avg.WaitTimeUs, d.waitW = weighted(d.avg.WaitTimeUs, d.waitW, a.WaitTimeUs, a.AssignmentsPerSec)
}

// addTotals adds r's totals since start.
func (d *dbStats) addTotals(r *stats.Route) {
	s := r.Snapshot()
	d.total.Xacts += s.Xacts
	d.total.Queries += s.Queries
	d.total.Assignments += s.Assignments
	d.total.BytesIn += s.BytesIn
	d.total.BytesOut += s.BytesOut
	d.total.XactTimeUs += s.XactTimeUs
	d.total.QueryTimeUs += s.QueryTimeUs
	d.total.WaitTimeUs += s.WaitTimeUs
	d.total.Cancels += s.Cancels
}

// weighted folds mean m (over w events) into the running mean acc (over
// accW events).
func weighted(acc, accW, m, w float64) (float64, float64) {
	if accW+w == 0 {
		return 0, 0
	}
	return (acc*accW + m*w) / (accW + w), accW + w
}

// stats is SHOW STATS: one row per database, totals since start and
// averages over the last stats_interval (per second for counts and
// bytes, microseconds per event for times).
func (v *view) stats() *table {
	t := newTable(textCol("database"),
		int8Col("total_xact_count"), int8Col("total_query_count"), int8Col("total_server_assignment_count"),
		int8Col("total_received"), int8Col("total_sent"),
		int8Col("total_xact_time"), int8Col("total_query_time"), int8Col("total_wait_time"),
		int8Col("avg_xact_count"), int8Col("avg_query_count"), int8Col("avg_server_assignment_count"),
		int8Col("avg_recv"), int8Col("avg_sent"),
		int8Col("avg_xact_time"), int8Col("avg_query_time"), int8Col("avg_wait_time"),
		int8Col("total_parse_count"), int8Col("total_parse_count_reuse"), int8Col("total_cancel_count"))
	var order []string
	byDB := map[string]*dbStats{}
	for _, rt := range v.routes() {
		d := byDB[rt.DB]
		if d == nil {
			d = &dbStats{}
			byDB[rt.DB] = d
			order = append(order, rt.DB)
		}
		d.add(rt.Stats())
	}
	// Routes that went away keep their totals (their averages are over).
	retired := v.rtr.Retired()
	for _, db := range slices.Sorted(maps.Keys(retired)) {
		d := byDB[db]
		if d == nil {
			d = &dbStats{}
			byDB[db] = d
			order = append(order, db)
		}
		d.addTotals(retired[db])
	}
	for _, db := range order {
		d := byDB[db]
		tot, avg := d.total, d.avg
		t.add(str(db),
			num(tot.Xacts), num(tot.Queries), num(tot.Assignments),
			num(tot.BytesIn), num(tot.BytesOut),
			num(tot.XactTimeUs), num(tot.QueryTimeUs), num(tot.WaitTimeUs),
			num(int64(avg.XactsPerSec)), num(int64(avg.QueriesPerSec)), num(int64(avg.AssignmentsPerSec)),
			num(int64(avg.BytesInPerSec)), num(int64(avg.BytesOutPerSec)),
			num(int64(avg.XactTimeUs)), num(int64(avg.QueryTimeUs)), num(int64(avg.WaitTimeUs)),
			// Prepared statements are passed through, not managed: no
			// parses of our own to count yet.
			num(0), num(0), num(tot.Cancels))
	}
	return t
}
