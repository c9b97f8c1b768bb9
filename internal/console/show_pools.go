package console

import (
	"strconv"
	"time"

	"github.com/odyssey-go/odyssey/internal/router"
	"github.com/odyssey-go/odyssey/internal/stats"
)

// pools is SHOW POOLS, one row per route, and with extended SHOW
// POOLS_EXTENDED: bytes, connections and, per quantile of the console
// rule's `quantiles`, the query and transaction times in microseconds,
// plus Odyssey's "aggregated" row with the quantiles of all routes.
//
// The columns mean what PgBouncer's do, counted from live state:
// cl_active clients with a server, cl_waiting clients waiting for one,
// sv_active servers attached (or running the pooler's own query),
// sv_idle servers in the pool, sv_tested servers being reset, sv_login
// servers being dialed, maxwait/maxwait_us how long the oldest waiter has
// waited (seconds, and the microseconds beyond them). sv_used is always 0:
// there is no server_check_delay. A console route counts its console
// sessions as active clients.
func (v *view) pools(extended bool) *table {
	t := newTable(textCol("database"), textCol("user"),
		int8Col("cl_active"), int8Col("cl_waiting"),
		int8Col("sv_active"), int8Col("sv_idle"), int8Col("sv_used"), int8Col("sv_tested"), int8Col("sv_login"),
		int8Col("maxwait"), int8Col("maxwait_us"), textCol("pool_mode"))
	var quantiles []float64
	if extended {
		t.cols = append(t.cols, int8Col("bytes_received"), int8Col("bytes_sent"), int8Col("tcp_conn_count"))
		quantiles = v.quantiles()
		for _, q := range quantiles {
			name := strconv.FormatFloat(q, 'g', 6, 64) // Odyssey's "%.6g"
			t.cols = append(t.cols, int8Col("query_"+name), int8Col("transaction_"+name))
		}
	}
	counts := router.CountClients(v.clients)
	var querySketches, xactSketches []*stats.Sketch
	for _, rt := range v.routes() {
		cc := counts.Of(rt)
		sc := rt.CountServers()
		ps := rt.PoolStats()
		row := []cell{str(rt.DB), str(rt.User),
			num(cc.Active), num(cc.Waiting),
			num(sc.Active), num(ps.Idle), num(0), num(sc.Tested), num(max(0, ps.Total-sc.Live)),
			num(int64(ps.MaxWait / time.Second)), num(int64(ps.MaxWait % time.Second / time.Microsecond)),
			str(rt.Rule().Pool.String())}
		if extended {
			st := rt.Stats()
			row = append(row, num(st.BytesIn.Load()), num(st.BytesOut.Load()), num(rt.Clients()))
			for _, q := range quantiles {
				row = append(row, micros(st.QueryTime.Quantile(q)), micros(st.XactTime.Quantile(q)))
			}
			querySketches = append(querySketches, &st.QueryTime)
			xactSketches = append(xactSketches, &st.XactTime)
		}
		t.add(row...)
	}
	if extended {
		row := []cell{str("aggregated"), str("aggregated")}
		for len(row) < len(t.cols)-2*len(quantiles) {
			row = append(row, null)
		}
		for _, q := range quantiles {
			row = append(row, micros(stats.MergedQuantile(q, querySketches...)),
				micros(stats.MergedQuantile(q, xactSketches...)))
		}
		t.add(row...)
	}
	return t
}

// quantiles are the console rule's `quantiles`, which choose the columns
// of SHOW POOLS_EXTENDED as in Odyssey. Latency sketches are kept for
// every route whatever its rule says.
func (v *view) quantiles() []float64 {
	if v.rule == nil {
		return nil
	}
	return v.rule.Quantiles
}

func micros(d time.Duration) cell { return num(int64(d / time.Microsecond)) }

// databases is SHOW DATABASES, one row per route in SHOW POOLS order:
// where its servers go, its pool size and, as PgBouncer counts them, the
// server connections it may have (max_connections, its pool_size; 0 for
// no limit) and has (current_connections).
func (v *view) databases() *table {
	t := newTable(textCol("name"), textCol("host"), int4Col("port"), textCol("database"),
		textCol("force_user"), int4Col("pool_size"), int4Col("reserve_pool"), textCol("pool_mode"),
		int4Col("max_connections"), int4Col("current_connections"), int4Col("paused"), int4Col("disabled"))
	paused := 0
	if v.rtr.Paused() {
		paused = 1
	}
	for _, rt := range v.routes() {
		rule := rt.Rule()
		t.add(str(rt.DB), str(storageHost(rule.Storage)), num(storagePort(rule.Storage)), str(rt.BackendDB),
			str(rule.StorageUser), num(rule.PoolSize), num(0), str(rule.Pool.String()),
			num(rule.PoolSize), num(rt.CountServers().Live), num(paused), num(0))
	}
	return t
}
