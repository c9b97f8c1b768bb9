package integration

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// countingConn counts the bytes a client sends and receives.
type countingConn struct {
	net.Conn
	read, written *atomic.Int64
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.read.Add(int64(n))
	return n, err
}

func (c countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.written.Add(int64(n))
	return n, err
}

// countedConn connects through the pooler in simple-protocol mode,
// counting the bytes on the wire.
func (p *pooler) countedConn(read, written *atomic.Int64) *pgx.Conn {
	p.t.Helper()
	cfg, err := pgx.ParseConfig(p.dsn(plainUser, plainUser, ""))
	if err != nil {
		p.t.Fatal(err)
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: conn, read: read, written: written}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// TestConsoleTrueNumbers drives known traffic and checks that SHOW STATS,
// SHOW POOLS, SHOW CLIENTS, SHOW SERVERS, SHOW DATABASES, SHOW LISTS and
// SHOW POOLS_EXTENDED count exactly it.
func TestConsoleTrueNumbers(t *testing.T) {
	p := startPooler(t, consoleConf(appRule))
	con := p.consoleConn("stat", "statpw")
	ctx := ctxTimeout(t, 60*time.Second)
	stats := func() map[string]string {
		t.Helper()
		r := show(t, con, "show stats").row("database", plainUser)
		if r == nil {
			t.Fatalf("SHOW STATS has no row for %s", plainUser)
		}
		return r
	}
	delta := func(before, after map[string]string, col string) int64 {
		return atoi(t, after[col]) - atoi(t, before[col])
	}

	// N transactions of M queries, counted on the wire.
	var read, written atomic.Int64
	a := p.countedConn(&read, &written)
	before := stats()
	read.Store(0)
	written.Store(0)
	const n, m = 5, 3
	for range n {
		mustExec(t, a, "begin")
		for q := range m {
			mustExec(t, a, "select "+strconv.Itoa(q))
		}
		mustExec(t, a, "commit")
	}
	after := stats()
	for col, want := range map[string]int64{
		"total_xact_count":              n,
		"total_query_count":             n * (m + 2),
		"total_server_assignment_count": n, // one attach per transaction
		"total_received":                written.Load(),
		"total_sent":                    read.Load(),
		"total_wait_time":               0, // nobody waited
		"total_cancel_count":            0,
	} {
		if got := delta(before, after, col); got != want {
			t.Errorf("SHOW STATS %s grew by %d, want %d", col, got, want)
		}
	}
	for _, col := range []string{"total_xact_time", "total_query_time"} {
		if delta(before, after, col) <= 0 {
			t.Errorf("SHOW STATS %s did not grow", col)
		}
	}
	// Averages are over the last complete stats_interval (1 s here): keep
	// some traffic going until one has closed with it.
	waitFor(t, 10*time.Second, "SHOW STATS averages of the traffic", func() bool {
		mustExec(t, a, "select 1")
		s := stats()
		return atoi(t, s["avg_query_count"]) > 0 && atoi(t, s["avg_query_time"]) > 0 && atoi(t, s["avg_recv"]) > 0
	})
	// The latency quantiles, in the columns of the console rule's
	// `quantiles` (admin's; stat's rule has none).
	admin := p.consoleConn("admin", "adminpw")
	if s := show(t, con, "show pools_extended"); slices.Contains(s.cols, "query_0.99") {
		t.Errorf("SHOW POOLS_EXTENDED for a rule without quantiles: %v", s.cols)
	}
	waitFor(t, 10*time.Second, "query and transaction quantiles", func() bool {
		r := show(t, admin, "show pools_extended").row("database", plainUser)
		return r != nil && atoi(t, r["query_0.99"]) > 0 && atoi(t, r["transaction_0.99"]) > 0 &&
			atoi(t, r["query_0.5"]) > 0 && atoi(t, r["transaction_0.99"]) >= atoi(t, r["query_0.99"])
	})
	ext := show(t, admin, "show pools_extended").row("database", plainUser)
	st := stats()
	if ext["bytes_received"] != st["total_received"] || ext["bytes_sent"] != st["total_sent"] {
		t.Errorf("POOLS_EXTENDED bytes %s/%s, SHOW STATS %s/%s",
			ext["bytes_received"], ext["bytes_sent"], st["total_received"], st["total_sent"])
	}

	// One client holds the only server in a transaction, another waits.
	var pid int
	mustExec(t, a, "begin")
	if err := a.QueryRow(ctx, "select pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	b := p.connect(plainUser, plainUser, "")
	before = stats()
	waited := make(chan error, 1)
	go func() {
		_, err := b.Exec(ctx, "select 2")
		waited <- err
	}()
	// The waiter is seen, and waits at least 100 ms (a condition, not a sleep).
	var pool map[string]string
	waitFor(t, 10*time.Second, "a waiting client for 100 ms in SHOW POOLS", func() bool {
		pool = show(t, con, "show pools").row("database", plainUser)
		return pool["cl_waiting"] == "1" && atoi(t, pool["maxwait"])*1e6+atoi(t, pool["maxwait_us"]) >= 100_000
	})
	for col, want := range map[string]string{"user": plainUser, "cl_active": "1", "cl_waiting": "1",
		"sv_active": "1", "sv_idle": "0", "sv_used": "0", "sv_tested": "0", "sv_login": "0", "pool_mode": "transaction"} {
		if pool[col] != want {
			t.Errorf("SHOW POOLS %s = %q, want %q (row %v)", col, pool[col], want, pool)
		}
	}
	clients := show(t, con, "show clients")
	aPort := strconv.Itoa(a.PgConn().Conn().LocalAddr().(*net.TCPAddr).Port)
	bPort := strconv.Itoa(b.PgConn().Conn().LocalAddr().(*net.TCPAddr).Port)
	ca, cb := clients.row("port", aPort), clients.row("port", bPort)
	if ca == nil || cb == nil || ca["state"] != "active" || cb["state"] != "waiting" {
		t.Fatalf("SHOW CLIENTS: holder %v, waiter %v", ca, cb)
	}
	if ca["addr"] != "127.0.0.1" || ca["local_port"] != strconv.Itoa(p.port) || ca["user"] != plainUser ||
		ca["database"] != plainUser || !strings.HasPrefix(ca["id"], "c") || ca["tls"] != "" {
		t.Errorf("SHOW CLIENTS holder row %v", ca)
	}
	// The waiter's wait, seen after SHOW POOLS saw 100 ms of it; the holder
	// waits for nothing.
	if w := atoi(t, cb["wait"])*1e6 + atoi(t, cb["wait_us"]); w < 100_000 || w > 60e6 {
		t.Errorf("SHOW CLIENTS waiter wait %s s %s µs, want over 100 ms", cb["wait"], cb["wait_us"])
	}
	if ca["wait"] != "0" || ca["wait_us"] != "0" {
		t.Errorf("SHOW CLIENTS holder wait %s s %s µs, want 0", ca["wait"], ca["wait_us"])
	}
	servers := show(t, con, "show servers")
	if len(servers.rows) != 1 {
		t.Fatalf("SHOW SERVERS: %q", servers.rows)
	}
	srv := servers.row("remote_pid", strconv.Itoa(pid))
	if srv == nil || srv["state"] != "active" || srv["link"] != ca["id"] || srv["offline"] != "f" ||
		srv["port"] != strconv.Itoa(pg.Port) {
		t.Errorf("SHOW SERVERS row %v, want active, linked to %s, PostgreSQL pid %d", srv, ca["id"], pid)
	}
	db := show(t, con, "show databases").row("name", plainUser)
	if db["pool_size"] != "1" || db["current_connections"] != "1" || db["max_connections"] != "1" || db["pool_mode"] != "transaction" ||
		db["host"] != pg.Host || db["port"] != strconv.Itoa(pg.Port) {
		t.Errorf("SHOW DATABASES row %v", db)
	}
	lists := show(t, con, "show lists")
	for name, want := range map[string]string{"pools": "3", "used_clients": "4", "free_servers": "0",
		"used_servers": "1", "login_clients": "0"} {
		if r := lists.row("list", name); r == nil || r["items"] != want {
			t.Errorf("SHOW LISTS %s = %v, want %s (two console routes and the app route; two clients and two console sessions)", name, r, want)
		}
	}

	mustExec(t, a, "commit")
	if err := <-waited; err != nil {
		t.Fatalf("the waiter: %v", err)
	}
	after = stats()
	for col, want := range map[string]int64{
		"total_xact_count":              2, // the holder's, and the waiter's single statement
		"total_query_count":             2, // the holder's commit, the waiter's select
		"total_server_assignment_count": 1, // the waiter's (the holder was attached already)
	} {
		if got := delta(before, after, col); got != want {
			t.Errorf("after the wait: SHOW STATS %s grew by %d, want %d", col, got, want)
		}
	}
	if got := delta(before, after, "total_wait_time"); got < 100_000 {
		t.Errorf("SHOW STATS total_wait_time grew by %d µs, the waiter waited over 100000", got)
	}
	waitFor(t, 10*time.Second, "the server back in the pool", func() bool {
		r := show(t, con, "show pools").row("database", plainUser)
		return r["cl_active"] == "0" && r["cl_waiting"] == "0" && r["sv_active"] == "0" && r["sv_idle"] == "1" &&
			r["maxwait"] == "0" && r["maxwait_us"] == "0"
	})
	if s := show(t, con, "show servers"); len(s.rows) != 1 || s.rows[0][slices.Index(s.cols, "state")] != "idle" {
		t.Errorf("SHOW SERVERS after the transactions: %q", s.rows)
	}
}

// TestConsoleErrors: SHOW ERRORS and SHOW ERRORS_PER_ROUTE count what went
// wrong, by kind.
func TestConsoleErrors(t *testing.T) {
	dead := freePort(t)
	p := startPooler(t, consoleConf(`
storage "dead" {
	type "remote"
	host "127.0.0.1"
	port `+strconv.Itoa(dead)+`
}
database "deaddb" {
	user default {
		authentication "none"
		storage "dead"
		pool "transaction"
	}
}
`+strings.Replace(appRule, "pool_timeout 30000", "pool_timeout 200", 1)))
	ctx := ctxTimeout(t, 30*time.Second)
	con := p.consoleConn("stat", "statpw")
	count := func(kind string) int64 {
		return atoi(t, show(t, con, "show errors").row("error_type", kind)["count"])
	}
	// A server that cannot be reached.
	if _, err := p.tryConnect(plainUser, "deaddb", "", nil); sqlState(err) != "08006" {
		t.Fatalf("login to an unreachable storage: %v", err)
	}
	if got := count("OD_ESERVER_CONNECT"); got != 1 {
		t.Errorf("OD_ESERVER_CONNECT = %d, want 1", got)
	}
	// pool_timeout.
	holder := p.connect(plainUser, plainUser, "")
	mustExec(t, holder, "begin")
	mustExec(t, holder, "select 1") // BEGIN alone takes no server
	late := p.connect(plainUser, plainUser, "")
	if _, err := late.Exec(ctx, "select 1"); sqlState(err) != "53300" {
		t.Fatalf("waiting past pool_timeout: %v", err)
	}
	mustExec(t, holder, "commit")
	if got := count("OD_ROUTER_ERROR_TIMEDOUT"); got != 1 {
		t.Errorf("OD_ROUTER_ERROR_TIMEDOUT = %d, want 1", got)
	}
	perRoute := show(t, con, "show errors_per_route")
	found := false
	for _, r := range perRoute.rows {
		if r[0] == "OD_ROUTER_ERROR_TIMEDOUT" && r[1] == plainUser && r[2] == plainUser && r[3] == "1" {
			found = true
		}
	}
	if !found {
		t.Errorf("SHOW ERRORS_PER_ROUTE has no OD_ROUTER_ERROR_TIMEDOUT 1 for %s: %q", plainUser, perRoute.rows)
	}
	// A client that breaks the protocol.
	bad := p.connect(plainUser, plainUser, "")
	bad.PgConn().Conn().Write([]byte{'?', 0, 0, 0, 4})
	waitFor(t, 10*time.Second, "OD_ECLIENT_READ", func() bool { return count("OD_ECLIENT_READ") == 1 })
	// A wrong password.
	if _, err := p.tryConnect("stat", "console", "wrong", nil); sqlState(err) != "28P01" {
		t.Fatalf("wrong password: %v, want 28P01", err)
	}
	if got := count("OD_EAUTH"); got != 1 {
		t.Errorf("OD_EAUTH = %d, want 1", got)
	}
}
