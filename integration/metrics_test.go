package integration

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/instance"
	"github.com/odyssey-go/odyssey/internal/metrics/promtext"
)

// metricsConf has two transaction pools of one server each: app.app
// (waits for a server as long as it takes, reports quantiles) and
// otherdb.app (gives up after 100 ms).
func metricsConf(metricsPort int) string {
	return baseConf + fmt.Sprintf(`
promhttp_server_port %d
promhttp_server_address "127.0.0.1"
database "%s" {
	user "%s" {
		authentication "none"
		storage "pg"
		pool "transaction"
		pool_size 1
		pool_discard no
		quantiles "0.5,0.95,0.99"
	}
}
database "%s" {
	user "%s" {
		authentication "none"
		storage "pg"
		pool "transaction"
		pool_size 1
		pool_discard no
		pool_timeout 100
	}
}
`, metricsPort, plainUser, plainUser, otherDB, plainUser)
}

// TestPrometheusEndpoint runs known traffic and checks that /metrics
// parses and that its counters, histograms and pool gauges moved by
// exactly what the traffic did, then moves the endpoint with a reload.
func TestPrometheusEndpoint(t *testing.T) {
	mport := freePort(t)
	p := startPooler(t, metricsConf(mport))
	a := p.connect(plainUser, plainUser, "")
	b := p.connect(plainUser, plainUser, "")
	x := p.connect(plainUser, otherDB, "")
	y := p.connect(plainUser, otherDB, "")
	simple(t, a, "SELECT 1") // the route has its server

	app := `database="app",user="app"`
	other := `database="otherdb",user="app"`
	before := scrapeMetrics(t, mport)

	// Ten one-statement transactions and one of three statements.
	for range 10 {
		simple(t, a, "SELECT 1")
	}
	simple(t, a, "BEGIN")
	simple(t, a, "SELECT 1")
	simple(t, a, "COMMIT")
	after := scrapeMetrics(t, mport)

	// Bytes on the wire: a Query is 'Q', its length, the text and a NUL
	// (14 bytes for SELECT 1); the answer to SELECT 1 is RowDescription
	// (34), DataRow (12), CommandComplete (14) and ReadyForQuery (6); BEGIN
	// and COMMIT are answered with CommandComplete and ReadyForQuery.
	const selectIn, beginIn, commitIn = 14, 11, 12
	const selectOut, beginOut, commitOut = 34 + 12 + 14 + 6, 11 + 6, 12 + 6
	for _, tt := range []struct {
		series string
		delta  float64
	}{
		{"odyssey_route_queries_total{" + app + "}", 13},
		{"odyssey_route_transactions_total{" + app + "}", 11},
		{"odyssey_route_server_assignments_total{" + app + "}", 11},
		{"odyssey_route_bytes_received_total{" + app + "}", 11*selectIn + beginIn + commitIn},
		{"odyssey_route_bytes_sent_total{" + app + "}", 11*selectOut + beginOut + commitOut},
		{"odyssey_route_query_time_seconds_count{" + app + "}", 13},
		{"odyssey_route_transaction_time_seconds_count{" + app + "}", 11},
		{"odyssey_route_pool_wait_time_seconds_count{" + app + "}", 11},
		{"odyssey_route_tcp_connections_total{" + app + "}", 0},
		{"odyssey_route_queries_total{" + other + "}", 0},
	} {
		got, ok := after[tt.series]
		if !ok {
			t.Errorf("%s: missing", tt.series)
			continue
		}
		if d := got - before[tt.series]; d != tt.delta {
			t.Errorf("%s moved by %v, want %v", tt.series, d, tt.delta)
		}
	}
	checkHistograms(t, after)
	if n, c := after["odyssey_route_tcp_connections_total{"+app+"}"], after["odyssey_route_server_connect_time_seconds_count{"+app+"}"]; n < 1 || n != c {
		t.Errorf("tcp_connections_total %v, connect time count %v", n, c)
	}
	for _, q := range []string{"0.5", "0.95", "0.99"} {
		if v := after[`odyssey_route_query_duration_seconds{`+app+`,quantile="`+q+`"}`]; v <= 0 || v > 1 {
			t.Errorf("query quantile %s = %v", q, v)
		}
	}
	if _, ok := after[`odyssey_route_query_duration_seconds{`+other+`,quantile="0.5"}`]; ok {
		t.Error("quantiles for a rule without `quantiles`")
	}

	// A holds the route's only server in a transaction: B waits.
	simple(t, a, "BEGIN")
	simple(t, a, "SELECT 1")
	waited := make(chan error, 1)
	go func() {
		_, err := b.PgConn().Exec(context.Background(), "SELECT 1").ReadAll()
		waited <- err
	}()
	var busy map[string]float64
	waitFor(t, 10*time.Second, "a waiting client in /metrics", func() bool {
		busy = scrapeMetrics(t, mport)
		return busy["odyssey_client_pool_waiting_route{"+app+"}"] == 1
	})
	for _, tt := range []struct {
		series string
		want   float64
	}{
		{"odyssey_client_pool_active_route{" + app + "}", 1},
		{`odyssey_server_pool_state_route{` + app + `,state="active"}`, 1},
		{`odyssey_server_pool_state_route{` + app + `,state="idle"}`, 0},
		{"odyssey_server_pool_capacity_configured_route{" + app + "}", 1},
		{`odyssey_route_pool_mode_info{` + app + `,mode="transaction"}`, 1},
		{"odyssey_lists_used_clients", 4},
		{"odyssey_lists_login_clients", 0},
		{"odyssey_lists_pools", 2},
		{"odyssey_is_paused", 0},
		{"odyssey_exporter_up", 1},
	} {
		if got, ok := busy[tt.series]; !ok || got != tt.want {
			t.Errorf("%s = %v (present %v), want %v", tt.series, got, ok, tt.want)
		}
	}
	if w := busy["odyssey_client_pool_maxwait_seconds_route{"+app+"}"]; w <= 0 {
		t.Errorf("maxwait %v with a client waiting", w)
	}
	simple(t, a, "COMMIT")
	if err := <-waited; err != nil {
		t.Fatalf("the waiting client failed: %v", err)
	}

	// X holds otherdb's only server: Y gives up after pool_timeout.
	simple(t, x, "BEGIN")
	simple(t, x, "SELECT 1")
	_, err := y.PgConn().Exec(context.Background(), "SELECT 1").ReadAll()
	if sqlState(err) != "53300" {
		t.Fatalf("want 53300 after pool_timeout, got %v", err)
	}
	simple(t, x, "COMMIT")
	timedOut := `odyssey_errors_total{type="OD_ROUTER_ERROR_TIMEDOUT"}`
	final := scrapeMetrics(t, mport)
	if d := final[timedOut] - before[timedOut]; d != 1 {
		t.Errorf("%s moved by %v, want 1", timedOut, d)
	}
	t.Logf("/metrics excerpt:\n%s", excerpt(t, mport, plainUser, plainUser))

	// A reload moves the endpoint; the counters carry on.
	mport2 := freePort(t)
	p.rewrite(metricsConf(mport2))
	if err := p.inst.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	moved := scrapeMetrics(t, mport2)
	queries := "odyssey_route_queries_total{" + app + "}"
	if moved[queries] != final[queries] {
		t.Errorf("after the reload %s = %v, before %v", queries, moved[queries], final[queries])
	}
	if _, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)); err == nil {
		t.Errorf("the old endpoint still answers after the reload")
	}
}

// TestPrometheusEndpointPortTaken: like a listen port, a metrics port
// that cannot be bound fails the start, and leaves nothing bound.
func TestPrometheusEndpointPortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port, dir := freePort(t), t.TempDir()
	path := filepath.Join(dir, "odyssey.conf")
	text := expand(metricsConf(taken.Addr().(*net.TCPAddr).Port), port, dir)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	in := instance.New(cfg, slog.New(slog.DiscardHandler))
	err = in.Start(context.Background())
	if err == nil {
		in.Shutdown(context.Background())
		t.Fatal("started with the metrics port taken")
	}
	if !strings.Contains(err.Error(), "prometheus endpoint") {
		t.Errorf("error %q does not name the endpoint", err)
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("the listen port stayed bound after the failed start: %v", err)
	}
	ln.Close()
}

// simple runs sql with the simple protocol and reads the whole answer.
func simple(t *testing.T, c *pgx.Conn, sql string) {
	t.Helper()
	if _, err := c.PgConn().Exec(ctxTimeout(t, 10*time.Second), sql).ReadAll(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// checkHistograms checks every histogram of the scrape: cumulative
// buckets never decrease and end at the count.
func checkHistograms(t *testing.T, m map[string]float64) {
	t.Helper()
	for series, count := range m {
		name, labels, ok := strings.Cut(series, "_count{")
		if !ok || !strings.HasPrefix(name, "odyssey_") {
			continue
		}
		prev := 0.0
		for _, le := range []string{"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"} {
			v, ok := m[name+"_bucket{"+labels[:len(labels)-1]+`,le="`+le+`"}`]
			if !ok || v < prev {
				t.Errorf("%s bucket le=%s = %v (present %v) after %v", name, le, v, ok, prev)
			}
			prev = v
		}
		if prev != count {
			t.Errorf("%s: +Inf bucket %v, count %v", name, prev, count)
		}
	}
}

// scrapeMetrics fetches /metrics and parses it strictly, flattened to one
// value per series (promtext.Flatten).
func scrapeMetrics(t *testing.T, port int) map[string]float64 {
	t.Helper()
	text := fetchMetrics(t, port)
	out, err := promtext.Flatten(text)
	if err != nil {
		t.Fatalf("/metrics: %v\n%s", err, text)
	}
	return out
}

func fetchMetrics(t *testing.T, port int) string {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: status %d, %v", resp.StatusCode, err)
	}
	return string(body)
}

// excerpt is the part of /metrics about database db and user, and the
// families without route labels, for the log.
func excerpt(t *testing.T, port int, db, user string) string {
	var out []string
	for line := range strings.Lines(fetchMetrics(t, port)) {
		ours := strings.Contains(line, `database="`+db+`"`) &&
			(!strings.Contains(line, "user=") || strings.Contains(line, `user="`+user+`"`))
		switch {
		case strings.HasPrefix(line, "# "):
			if strings.Contains(line, " odyssey_") {
				out = append(out, line)
			}
		case strings.HasPrefix(line, "odyssey_") && (ours || !strings.Contains(line, "database=")):
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}
