package metrics

import (
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/router"
	"github.com/odyssey-go/odyssey/internal/stats"
)

// testConf has two rules for the pair db.u (any address, and 10.0.0.0/8),
// one for db.v and the console's. The storage is never dialed.
const testConf = `log_format "%p %t %l [%i %s] (%c) %m\n"
listen { host "127.0.0.1" }
storage "pg" { type "remote" host "127.0.0.1" port 1 }
storage "local" { type "local" }
database "console" {
	user "admin" { authentication "none" storage "local" pool "session" }
}
database "db" {
	user "u" { authentication "none" storage "pg" pool "transaction" pool_size 5 quantiles "0.5,0.99,0.5" }
	user "u" "10.0.0.0/8" { authentication "none" storage "pg" pool "session" }
	user "v" { authentication "none" storage "pg" pool "session" }
}
`

func newTestRouter(t *testing.T) (*router.Router, []*config.Rule) {
	t.Helper()
	cfg, err := config.Parse("test.conf", []byte(testConf))
	if err != nil {
		t.Fatal(err)
	}
	rtr := router.New(cfg, slog.New(slog.DiscardHandler))
	t.Cleanup(rtr.Close)
	return rtr, cfg.Rules
}

func attach(t *testing.T, rtr *router.Router, rule *config.Rule, db, user string) *router.Route {
	t.Helper()
	rt, err := rtr.Attach(rule, db, user)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rtr.Detach(rt) })
	return rt
}

func TestCollector(t *testing.T) {
	rtr, rules := newTestRouter(t)
	attach(t, rtr, rules[0], "console", "admin")
	u1 := attach(t, rtr, rules[1], "db", "u")
	u2 := attach(t, rtr, rules[2], "db", "u")
	attach(t, rtr, rules[3], "db", "v")
	for _, rt := range rtr.Routes() {
		rt.Stats().Tick() // the averages' starting point
	}

	s := u1.Stats()
	for i := 1; i <= 100; i++ {
		s.Query(time.Duration(i) * time.Millisecond)
	}
	s.Xact(42 * time.Millisecond)
	s.Wait(0)
	s.Wait(3 * time.Millisecond)
	s.BytesIn.Add(100)
	s.BytesOut.Add(1000)
	s.Cancels.Add(1)
	s.ConnectTime.Observe(5 * time.Millisecond)
	s.Errors.Add(stats.ErrPoolTimeout)
	for range 100 {
		u2.Stats().Query(200 * time.Millisecond)
	}
	u2.Stats().BytesIn.Add(10)
	rtr.CountError(stats.ErrRouteNotFound)
	for _, rt := range rtr.Routes() {
		rt.Stats().Tick() // averages and quantiles of the traffic above
	}
	rtr.Pause()
	defer rtr.Resume()

	got := scrape(t, NewCollector(Source{
		Router:  func() *router.Router { return rtr },
		Logins:  func() int { return 3 },
		Version: "1.2.3",
	}))

	u := `database="db",user="u"`
	v := `database="db",user="v"`
	type sample struct {
		series string
		want   float64
	}
	exact := []sample{
		{`odyssey_version_info{version="1.2.3"}`, 1},
		{`odyssey_exporter_up`, 1},
		{`odyssey_is_paused`, 1},
		{`odyssey_lists_databases`, 2},
		{`odyssey_lists_users`, 3},
		{`odyssey_lists_pools`, 4},
		{`odyssey_lists_login_clients`, 3},
		{`odyssey_lists_used_clients`, 0},
		{`odyssey_lists_free_servers`, 0},
		{`odyssey_errors_total{type="OD_ROUTER_ERROR_TIMEDOUT"}`, 1},
		{`odyssey_errors_total{type="OD_ROUTER_ERROR_NOT_FOUND"}`, 1},
		{`odyssey_errors_total{type="OD_ESERVER_CONNECT"}`, 0},

		// Both routes of db.u add up.
		{`odyssey_route_queries_total{` + u + `}`, 200},
		{`odyssey_route_transactions_total{` + u + `}`, 1},
		{`odyssey_route_server_assignments_total{` + u + `}`, 2},
		{`odyssey_route_cancels_total{` + u + `}`, 1},
		{`odyssey_route_bytes_received_total{` + u + `}`, 110},
		{`odyssey_route_bytes_sent_total{` + u + `}`, 1000},
		{`odyssey_route_tcp_connections_total{` + u + `}`, 1},
		{`odyssey_route_queries_total{` + v + `}`, 0},
		{`odyssey_server_pool_capacity_configured_route{` + u + `}`, 5},
		{`odyssey_route_pool_mode_info{` + u + `,mode="transaction"}`, 1},
		{`odyssey_route_pool_mode_info{` + u + `,mode="session"}`, 1},
		{`odyssey_route_pool_mode_info{` + v + `,mode="session"}`, 1},
		{`odyssey_client_pool_active_route{` + u + `}`, 0},
		// A console session counts as an active client of its route.
		{`odyssey_client_pool_active_route{database="console",user="admin"}`, 1},
		{`odyssey_client_pool_waiting_route{` + u + `}`, 0},
		{`odyssey_server_pool_state_route{` + u + `,state="idle"}`, 0},
		{`odyssey_server_pool_state_route{` + u + `,state="login"}`, 0},

		// Histograms: 1..100 ms on one route, 100 × 200 ms on the other.
		{`odyssey_route_query_time_seconds_count{` + u + `}`, 200},
		{`odyssey_route_query_time_seconds_sum{` + u + `}`, 25.05},
		{`odyssey_route_query_time_seconds_bucket{` + u + `,le="0.01"}`, 10},
		{`odyssey_route_query_time_seconds_bucket{` + u + `,le="0.25"}`, 200},
		{`odyssey_route_query_time_seconds_bucket{` + u + `,le="+Inf"}`, 200},
		{`odyssey_route_transaction_time_seconds_count{` + u + `}`, 1},
		{`odyssey_route_transaction_time_seconds_bucket{` + u + `,le="0.025"}`, 0},
		{`odyssey_route_transaction_time_seconds_bucket{` + u + `,le="0.05"}`, 1},
		// A wait of zero is not in the sketch but is in the histogram.
		{`odyssey_route_pool_wait_time_seconds_count{` + u + `}`, 2},
		{`odyssey_route_pool_wait_time_seconds_bucket{` + u + `,le="0.0001"}`, 1},
		{`odyssey_route_pool_wait_time_seconds_bucket{` + u + `,le="0.005"}`, 2},
		{`odyssey_route_pool_wait_time_seconds_sum{` + u + `}`, 0.003},
		{`odyssey_route_server_connect_time_seconds_count{` + u + `}`, 1},
		{`odyssey_route_server_connect_time_seconds_count{` + v + `}`, 0},
	}
	// From sketch buckets, or from rates over slightly different intervals.
	approx := []sample{
		// Quantiles of the last interval of both routes together, within
		// the sketch's error.
		{`odyssey_route_query_duration_seconds{` + u + `,quantile="0.5"}`, 0.100},
		{`odyssey_route_query_duration_seconds{` + u + `,quantile="0.99"}`, 0.200},
		{`odyssey_route_transaction_duration_seconds{` + u + `,quantile="0.5"}`, 0.042},

		// Per database: mean query time weighted by each route's rate
		// (the routes' intervals differ a little, so not 25.05 / 200).
		{`odyssey_database_avg_query_time_seconds{database="db"}`, weightedQueryTime(u1, u2)},
		{`odyssey_database_avg_xact_time_seconds{database="db"}`, 0.042},
		{`odyssey_database_avg_wait_time_seconds{database="db"}`, 0.0015},
	}
	check := func(tests []sample, match func(got, want float64) bool) {
		t.Helper()
		for _, tt := range tests {
			val, ok := got[tt.series]
			if !ok {
				t.Errorf("%s: missing", tt.series)
			} else if !match(val, tt.want) {
				t.Errorf("%s = %v, want %v", tt.series, val, tt.want)
			}
		}
	}
	check(exact, func(got, want float64) bool { return math.Abs(got-want) < 1e-9 })
	check(approx, near)

	// Absent: quantiles of a rule without `quantiles`, and a repeated one.
	for series := range got {
		if hasPrefix(series, `odyssey_route_query_duration_seconds{`+v) {
			t.Errorf("unexpected %s", series)
		}
	}
	if n := count(got, `odyssey_route_query_duration_seconds{`+u); n != 2 {
		t.Errorf("%d query quantile series for db.u, want 2", n)
	}
	if got[`odyssey_database_avg_query_per_second{database="db"}`] <= 0 {
		t.Errorf("avg_query_per_second not positive")
	}
}

// weightedQueryTime is the mean query time of routes together, in
// seconds, from their own averages.
func weightedQueryTime(routes ...*router.Route) float64 {
	var sum, n float64
	for _, rt := range routes {
		a := rt.Stats().Averages()
		sum += a.QueryTimeUs * a.QueriesPerSec
		n += a.QueriesPerSec
	}
	return sum / n / 1e6
}

// near compares within 7%: quantiles and histogram sums come from
// sketch buckets, which are within about 6% of the values.
func near(got, want float64) bool {
	if want == 0 {
		return got == 0
	}
	return math.Abs(got-want)/math.Abs(want) <= 0.07
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

func count(m map[string]float64, prefix string) int {
	n := 0
	for k := range m {
		if hasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

func TestHandlerPaths(t *testing.T) {
	rtr, _ := newTestRouter(t)
	reg := NewRegistry(Source{Router: func() *router.Router { return rtr }, Version: "x"})
	h := Handler(reg, slog.New(slog.DiscardHandler))
	for _, tt := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/metrics", http.StatusOK},
		{"HEAD", "/metrics", http.StatusOK},
		{"GET", "/", http.StatusNotFound},
		{"GET", "/debug/pprof/", http.StatusNotFound},
		{"POST", "/metrics", http.StatusMethodNotAllowed},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.code {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, rec.Code, tt.code)
		}
	}
}

func TestServerListenAndClose(t *testing.T) {
	rtr, _ := newTestRouter(t)
	log := slog.New(slog.DiscardHandler)
	h := Handler(NewRegistry(Source{Router: func() *router.Router { return rtr }, Version: "x"}), log)
	srv, err := Listen(t.Context(), "127.0.0.1", 0, h, log)
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + srv.Addr().String() + "/metrics"
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if fams := parseText(t, string(body)); fams["odyssey_exporter_up"] != 1 || fams["go_goroutines"] == 0 {
		t.Errorf("scrape lacks the pooler's or the runtime's metrics:\n%s", body)
	}
	if err := srv.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(url); err == nil {
		t.Error("endpoint still answers after Close")
	}
	if _, err := Listen(t.Context(), "127.0.0.1", -1, h, log); err == nil {
		t.Error("Listen accepted port -1")
	}
}

// scrape collects c through a pedantic registry (which checks Collect
// against Describe) and the HTTP handler, and parses the text format.
func scrape(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("gather: %v", err)
	}
	rec := httptest.NewRecorder()
	Handler(reg, slog.New(slog.DiscardHandler)).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	return parseText(t, rec.Body.String())
}
