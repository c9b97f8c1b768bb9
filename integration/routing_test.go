package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Routing rules (reference §2.5) and client limits (§2.2).
//
// Rules are told apart by where their servers log in: each test rule has
// its own storage_db / storage_user, and the client asks PostgreSQL
// "current_database()/current_user".

// routeRule is one rule of a routing test: database and user selectors
// (empty = default, optionally followed by address and connection type
// selectors in sel) and the backend it logs in to.
type routeRule struct {
	db, user, sel   string
	storageDB       string
	storageUser     string
	storagePassword string
	extra           string
}

func (r routeRule) String() string {
	db, user := r.db, r.user
	if db == "" {
		db = "default"
	}
	if user == "" {
		user = "default"
	}
	return db + "." + user + r.sel
}

// render writes the rule as its own database block.
func (r routeRule) render() string {
	db, user := "default", "default"
	if r.db != "" {
		db = fmt.Sprintf("%q", r.db)
	}
	if r.user != "" {
		user = fmt.Sprintf("%q", r.user)
	}
	if r.sel != "" {
		user += " " + r.sel
	}
	storageUser := r.storageUser
	if storageUser == "" {
		storageUser = plainUser
	}
	var b strings.Builder
	fmt.Fprintf(&b, "database %s {\n\tuser %s {\n", db, user)
	fmt.Fprintf(&b, "\t\tauthentication \"none\"\n\t\tstorage \"pg\"\n\t\tpool \"session\"\n\t\tpool_discard no\n")
	fmt.Fprintf(&b, "\t\tstorage_db %q\n\t\tstorage_user %q\n", r.storageDB, storageUser)
	if r.storagePassword != "" {
		fmt.Fprintf(&b, "\t\tstorage_password %q\n", r.storagePassword)
	}
	if r.extra != "" {
		b.WriteString(r.extra + "\n")
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

// target is what a rule's servers report: "db/user".
func (r routeRule) target() string {
	u := r.storageUser
	if u == "" {
		u = plainUser
	}
	return r.storageDB + "/" + u
}

func routeRenderRules(rules []routeRule) string {
	var b strings.Builder
	for _, r := range rules {
		b.WriteString(r.render())
	}
	return b.String()
}

// routeTarget connects as user to db and returns "current_database/current_user".
func routeTarget(t *testing.T, p *pooler, user, db string) string {
	t.Helper()
	c, err := p.tryConnect(user, db, "", nil)
	if err != nil {
		t.Fatalf("connect %s@%s: %v", user, db, err)
	}
	defer c.Close(context.Background())
	return routeQueryTarget(t, c)
}

func routeQueryTarget(t *testing.T, c *pgx.Conn) string {
	t.Helper()
	var s string
	if err := c.QueryRow(ctxTimeout(t, 10*time.Second), "select current_database() || '/' || current_user").Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// routeOrders are the file orders of routeSpecRules the routing tests
// try: as listed (most specific first), reversed (least specific first),
// and two interleavings where sequential routing picks a less specific
// rule for some clients.
var routeOrders = [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}, {1, 3, 0, 2}, {2, 0, 1, 3}}

// The four rules of the specificity tests and who should reach which.
var (
	routeSpecRules = []routeRule{
		{db: "app", user: "alice", storageDB: "app"},
		{db: "app", storageDB: otherDB},
		{user: "alice", storageDB: "postgres", storageUser: clearUser, storagePassword: clearPass},
		{storageDB: "postgres"},
	}
	routeSpecClients = []struct{ user, db string }{
		{"alice", "app"},
		{"bob", "app"},
		{"alice", "postgres"},
		{"bob", "postgres"},
	}
)

func routeSpecMatches(r routeRule, user, db string) bool {
	return (r.db == "" || r.db == db) && (r.user == "" || r.user == user)
}

// TestRoutingMostSpecificWins: without sequential_routing the most
// specific rule wins (db.user, then db.default, then default.user, then
// default.default), whatever the order of the rules in the file.
func TestRoutingMostSpecificWins(t *testing.T) {
	want := map[string]string{
		"alice@app":      routeSpecRules[0].target(),
		"bob@app":        routeSpecRules[1].target(),
		"alice@postgres": routeSpecRules[2].target(),
		"bob@postgres":   routeSpecRules[3].target(),
	}
	for _, order := range routeOrders {
		rules := make([]routeRule, len(order))
		names := make([]string, len(order))
		for i, j := range order {
			rules[i] = routeSpecRules[j]
			names[i] = rules[i].String()
		}
		t.Run(strings.Join(names, ","), func(t *testing.T) {
			t.Parallel()
			p := startPooler(t, baseConf+routeRenderRules(rules))
			for _, c := range routeSpecClients {
				key := c.user + "@" + c.db
				if got := routeTarget(t, p, c.user, c.db); got != want[key] {
					t.Errorf("%s served by %s, want %s", key, got, want[key])
				}
			}
		})
	}
}

// TestRoutingSequential: with sequential_routing yes the first matching
// rule in file order wins.
func TestRoutingSequential(t *testing.T) {
	for _, order := range routeOrders {
		rules := make([]routeRule, len(order))
		names := make([]string, len(order))
		for i, j := range order {
			rules[i] = routeSpecRules[j]
			names[i] = rules[i].String()
		}
		t.Run(strings.Join(names, ","), func(t *testing.T) {
			t.Parallel()
			p := startPooler(t, baseConf+"sequential_routing yes\n"+routeRenderRules(rules))
			for _, c := range routeSpecClients {
				var want string
				for _, r := range rules {
					if routeSpecMatches(r, c.user, c.db) {
						want = r.target()
						break
					}
				}
				if got := routeTarget(t, p, c.user, c.db); got != want {
					t.Errorf("%s@%s served by %s, want %s (first in file order)", c.user, c.db, got, want)
				}
			}
		})
	}
}

// TestRoutingStorageUser: a client logs in as alice, who is no PostgreSQL
// role; the server logs in as md5user with storage_password.
func TestRoutingStorageUser(t *testing.T) {
	conf := baseConf + `
database "app" {
	user "alice" {
		authentication "clear_text"
		password "alicepw"
		storage "pg"
		storage_user "` + md5User + `"
		storage_password "` + md5Pass + `"
		pool "session"
		pool_discard no
	}
}
`
	p := startPooler(t, conf)
	c := p.connect("alice", "app", "alicepw")
	if got, want := routeQueryTarget(t, c), "app/"+md5User; got != want {
		t.Errorf("served by %s, want %s", got, want)
	}
	var session string
	if err := c.QueryRow(ctxTimeout(t, 10*time.Second), "select session_user").Scan(&session); err != nil || session != md5User {
		t.Errorf("session_user %q (%v), want %s", session, err, md5User)
	}
	// The storage password is not the client's password.
	_, err := p.tryConnect("alice", "app", md5Pass, nil)
	if got := sqlState(err); got != "28P01" {
		t.Errorf("alice with md5user's password: %v (%s), want 28P01", err, got)
	}
}

// TestRoutingAddress: address range selectors match the client's address;
// a rule with an address range beats the same rule without one.
func TestRoutingAddress(t *testing.T) {
	withRange := func(cidr, db string) routeRule {
		return routeRule{db: "app", user: plainUser, sel: fmt.Sprintf("%q", cidr), storageDB: db}
	}
	plain := routeRule{db: "app", user: plainUser, storageDB: "postgres"}
	cases := []struct {
		name  string
		rules []routeRule
		want  string // target, or a SQLSTATE
	}{
		{"loopback/8 matches", []routeRule{withRange("127.0.0.0/8", otherDB), plain}, otherDB + "/app"},
		{"loopback/8 matches, plain rule first", []routeRule{plain, withRange("127.0.0.0/8", otherDB)}, otherDB + "/app"},
		{"loopback/32 matches", []routeRule{plain, withRange("127.0.0.1/32", otherDB)}, otherDB + "/app"},
		{"10/8 does not match", []routeRule{withRange("10.0.0.0/8", otherDB), plain}, "postgres/app"},
		{"10/8 does not match, plain rule first", []routeRule{plain, withRange("10.0.0.0/8", otherDB)}, "postgres/app"},
		{"only 10/8", []routeRule{withRange("10.0.0.0/8", otherDB)}, "3D000"},
		{"all", []routeRule{{db: "app", storageDB: "postgres"}, withRange("all", otherDB)}, otherDB + "/app"},
		{"10/8 then 127/8", []routeRule{withRange("10.0.0.0/8", "postgres"), withRange("127.0.0.0/8", otherDB)}, otherDB + "/app"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := startPooler(t, baseConf+routeRenderRules(tc.rules))
			if !strings.Contains(tc.want, "/") {
				_, err := p.tryConnect(plainUser, "app", "", nil)
				if got := sqlState(err); got != tc.want {
					t.Fatalf("got %v (%s), want %s", err, got, tc.want)
				}
				return
			}
			if got := routeTarget(t, p, plainUser, "app"); got != tc.want {
				t.Errorf("served by %s, want %s", got, tc.want)
			}
		})
	}
}

// TestRoutingConnType: local rules serve unix socket clients, host rules
// TCP clients.
func TestRoutingConnType(t *testing.T) {
	local := func(db string) routeRule {
		return routeRule{db: "app", user: plainUser, sel: "local", storageDB: db}
	}
	host := func(sel, db string) routeRule {
		return routeRule{db: "app", user: plainUser, sel: sel, storageDB: db}
	}
	cases := []struct {
		name         string
		rules        []routeRule
		wantTCP      string
		wantUnix     string
		unixSQLSTATE string
		tcpSQLSTATE  string
	}{
		{name: "local+host", rules: []routeRule{local(otherDB), host("host", "app")},
			wantTCP: "app/app", wantUnix: otherDB + "/app"},
		{name: "host+local", rules: []routeRule{host("host", "app"), local(otherDB)},
			wantTCP: "app/app", wantUnix: otherDB + "/app"},
		{name: "hostnossl+local", rules: []routeRule{host("hostnossl", "app"), local(otherDB)},
			wantTCP: "app/app", wantUnix: otherDB + "/app"},
		{name: "local beats any", rules: []routeRule{host("", "app"), local(otherDB)},
			wantTCP: "app/app", wantUnix: otherDB + "/app"},
		{name: "hostssl needs TLS", rules: []routeRule{host("hostssl", otherDB), host("", "app")},
			wantTCP: "app/app", wantUnix: "app/app"},
		{name: "only host", rules: []routeRule{host("host", "app")},
			wantTCP: "app/app", unixSQLSTATE: "3D000"},
		{name: "only local", rules: []routeRule{local(otherDB)},
			tcpSQLSTATE: "3D000", wantUnix: otherDB + "/app"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conf := baseConf + `
unix_socket_dir "{{DIR}}"
unix_socket_mode "0777"
listen {
	port {{PORT}}
}
` + routeRenderRules(tc.rules)
			p := startPooler(t, conf)
			sock := filepath.Join(p.dir, fmt.Sprintf(".s.PGSQL.%d", p.port))
			if len(sock) > 107 {
				t.Fatalf("socket path too long: %s", sock)
			}
			if tc.tcpSQLSTATE != "" {
				_, err := p.tryConnect(plainUser, "app", "", nil)
				if got := sqlState(err); got != tc.tcpSQLSTATE {
					t.Errorf("tcp: got %v (%s), want %s", err, got, tc.tcpSQLSTATE)
				}
			} else if got := routeTarget(t, p, plainUser, "app"); got != tc.wantTCP {
				t.Errorf("tcp served by %s, want %s", got, tc.wantTCP)
			}

			cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=%s dbname=app sslmode=disable connect_timeout=10", p.dir, p.port, plainUser))
			if err != nil {
				t.Fatal(err)
			}
			cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
			c, err := pgx.ConnectConfig(ctxTimeout(t, 10*time.Second), cfg)
			if tc.unixSQLSTATE != "" {
				if got := sqlState(err); got != tc.unixSQLSTATE {
					t.Errorf("unix: got %v (%s), want %s", err, got, tc.unixSQLSTATE)
				}
				return
			}
			if err != nil {
				t.Fatalf("unix socket: %v", err)
			}
			defer c.Close(context.Background())
			if got := routeQueryTarget(t, c); got != tc.wantUnix {
				t.Errorf("unix socket served by %s, want %s", got, tc.wantUnix)
			}
		})
	}
}

// TestRoutingInternalRuleNotForClients: a `pool_routing "internal"` rule
// serves only the pooler's own clients (auth_query and the like); an
// ordinary client must be routed as if it did not exist
// (rules.c:od_rules_find_first_matching skips it).
func TestRoutingInternalRuleNotForClients(t *testing.T) {
	internal := routeRule{db: "app", user: plainUser, storageDB: otherDB, extra: "\t\tpool_routing \"internal\""}
	cases := []struct {
		name  string
		rules []routeRule
		want  string // target, or a SQLSTATE
	}{
		{"with a default rule", []routeRule{internal, {storageDB: "app"}}, "app/app"},
		{"alone", []routeRule{internal}, "3D000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := startPooler(t, baseConf+routeRenderRules(tc.rules))
			if !strings.Contains(tc.want, "/") {
				_, err := p.tryConnect(plainUser, "app", "", nil)
				if got := sqlState(err); got != tc.want {
					t.Fatalf("got %v (%s), want %s: the internal rule served an ordinary client", err, got, tc.want)
				}
				return
			}
			if got := routeTarget(t, p, plainUser, "app"); got != tc.want {
				t.Errorf("served by %s, want %s (the client_visible default rule)", got, tc.want)
			}
		})
	}
}

// routeClientsHeld counts the clients the router holds on all routes.
func routeClientsHeld(p *pooler) int {
	n := 0
	for _, rt := range p.inst.Router().Routes() {
		n += rt.Clients()
	}
	return n
}

// TestRoutingClientMaxGlobal: global client_max 2 refuses the third client
// with 53300 and takes it once a client has left.
func TestRoutingClientMaxGlobal(t *testing.T) {
	conf := baseConf + "client_max 2\n" + rule(`authentication "none"
		pool "session"
		pool_discard no`)
	p := startPooler(t, conf)
	a := p.connect(plainUser, plainUser, "")
	p.connect(plainUser, otherDB, "") // another route counts too

	start := time.Now()
	_, err := p.tryConnect(plainUser, plainUser, "", nil)
	if got := sqlState(err); got != "53300" || !strings.Contains(err.Error(), "client_max") {
		t.Fatalf("third client: %v (%s), want 53300 mentioning client_max", err, got)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("refusal took %v", took)
	}
	// A refused client holds no slot: still refused, not more.
	if _, err := p.tryConnect(plainUser, plainUser, "", nil); sqlState(err) != "53300" {
		t.Fatalf("fourth client: %v, want 53300", err)
	}
	if n := routeClientsHeld(p); n != 2 {
		t.Errorf("router holds %d clients, want 2", n)
	}

	a.Close(context.Background())
	waitFor(t, 5*time.Second, "the closed client to leave", func() bool { return routeClientsHeld(p) == 1 })
	c := p.connect(plainUser, plainUser, "")
	if got := authScalar(t, c, "select 'ok'"); got != "ok" {
		t.Errorf("got %q", got)
	}
	// Full again.
	if _, err := p.tryConnect(plainUser, plainUser, "", nil); sqlState(err) != "53300" {
		t.Fatalf("after refill: %v, want 53300", err)
	}
}

// TestRoutingClientMaxPerRule: a rule's client_max 1 refuses the second
// client of that rule while another rule's clients are served.
func TestRoutingClientMaxPerRule(t *testing.T) {
	rules := []routeRule{
		{db: "app", user: "alice", storageDB: "app", extra: "\t\tclient_max 1"},
		{db: "app", user: "bob", storageDB: "app"},
	}
	p := startPooler(t, baseConf+routeRenderRules(rules))
	a := p.connect("alice", "app", "")

	_, err := p.tryConnect("alice", "app", "", nil)
	if got := sqlState(err); got != "53300" || !strings.Contains(err.Error(), "client_max") {
		t.Fatalf("second alice: %v (%s), want 53300 mentioning client_max", err, got)
	}
	for range 2 {
		b := p.connect("bob", "app", "")
		if got := routeQueryTarget(t, b); got != "app/app" {
			t.Errorf("bob served by %s", got)
		}
	}

	a.Close(context.Background())
	waitFor(t, 5*time.Second, "alice to leave", func() bool { return routeClientsHeld(p) == 2 })
	a2 := p.connect("alice", "app", "")
	if got := routeQueryTarget(t, a2); got != "app/app" {
		t.Errorf("alice served by %s", got)
	}
	if _, err := p.tryConnect("alice", "app", "", nil); sqlState(err) != "53300" {
		t.Fatalf("alice over the limit again: %v, want 53300", err)
	}
}

// TestRoutesOfDefaultRulesGoAway: a route a default rule makes for
// whatever a client asks goes when it has no clients and no servers: failed
// logins with made-up user names and logins to databases that do not exist
// leave no route, no stats line and no metric series behind; a route whose
// idle servers expired goes at the next maintenance, and SHOW STATS keeps
// its totals.
func TestRoutesOfDefaultRulesGoAway(t *testing.T) {
	mport := freePort(t)
	p := startPooler(t, baseConf+consoleRules+fmt.Sprintf("promhttp_server_port %d\nauth_failure_delay_ms 0\n", mport)+
		clearTextRules(`authentication "clear_text"
		password "`+clearPass+`"
		storage_user "`+plainUser+`"
		pool "transaction"
		pool_ttl 1`))
	for i := range 20 {
		if _, err := p.tryConnect(fmt.Sprintf("nobody%d", i), plainUser, "wrong", nil); sqlState(err) != "28P01" {
			t.Fatalf("made-up user %d: %v", i, err)
		}
		if _, err := p.tryConnect(clearUser, fmt.Sprintf("nosuchdb%d", i), clearPass, nil); sqlState(err) != "3D000" {
			t.Fatalf("made-up database %d: %v", i, err)
		}
	}
	routes := func() []string {
		var names []string
		for _, rt := range p.inst.Router().Routes() {
			if !rt.Local() {
				names = append(names, rt.Name())
			}
		}
		return names
	}
	if names := routes(); len(names) != 0 {
		t.Fatalf("routes left by failed logins: %v", names)
	}
	if m := fetchMetrics(t, mport); strings.Contains(m, "nobody") || strings.Contains(m, "nosuchdb") {
		t.Error("metric series of routes that are gone")
	}

	// A route with traffic: it goes once pool_ttl closed its server, and
	// its totals stay.
	c := p.connect("somebody", plainUser, clearPass)
	mustExec(t, c, "select 1")
	c.Close(ctxTimeout(t, 5*time.Second))
	waitFor(t, 15*time.Second, "the route's idle server to expire and the route to go", func() bool {
		return len(routes()) == 0
	})
	con := p.consoleConn("admin", "adminpw")
	row := show(t, con, "show stats").row("database", plainUser)
	if row == nil || atoi(t, row["total_query_count"]) < 1 {
		t.Errorf("SHOW STATS after the route went: %v", row)
	}
	if n := atoi(t, show(t, con, "show errors").row("error_type", "OD_EAUTH")["count"]); n < 20 {
		t.Errorf("SHOW ERRORS OD_EAUTH %d, want the 20 failed logins", n)
	}
}
