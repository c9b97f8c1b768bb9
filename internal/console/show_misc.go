package console

// lists is SHOW LISTS: PgBouncer's counts, in Odyssey's rows. databases
// and users are the distinct names with a route, pools the routes,
// used_clients the clients in their main phase (console sessions
// included), login_clients the connections still logging in,
// free_servers the idle servers, used_servers the other open ones.
// Lists PgBouncer keeps and this pooler does not (free client slots,
// routing queue, DNS cache) are 0.
func (v *view) lists() *table {
	t := newTable(textCol("list"), int4Col("items"))
	dbs, users := map[string]bool{}, map[string]bool{}
	freeServers, usedServers := 0, 0
	routes := v.routes()
	for _, rt := range routes {
		dbs[rt.DB], users[rt.User] = true, true
		idle := rt.PoolStats().Idle
		freeServers += idle
		usedServers += max(0, rt.CountServers().Live-idle)
	}
	consoles := len(v.con.sessionList())
	for _, row := range []struct {
		name string
		n    int
	}{
		{"databases", len(dbs)},
		{"users", len(users)},
		{"pools", len(routes)},
		{"free_clients", 0},
		{"used_clients", len(v.clients) + consoles},
		{"login_clients", max(0, v.inst.LoginClients()-consoles)},
		{"routing_clients", 0},
		{"free_servers", freeServers},
		{"used_servers", usedServers},
		{"dns_names", 0},
		{"dns_zones", 0},
		{"dns_queries", 0},
		{"dns_pending", 0},
	} {
		t.add(str(row.name), num(row.n))
	}
	return t
}

// errors is SHOW ERRORS: every error kind with Odyssey's name and its
// count since start, over all routes.
func (v *view) errors() *table {
	t := newTable(textCol("error_type"), int8Col("count"))
	for _, e := range v.rtr.Errors() {
		t.add(str(e.Kind.String()), num(e.Count))
	}
	return t
}

// errorsPerRoute is SHOW ERRORS_PER_ROUTE: the same, per route.
func (v *view) errorsPerRoute() *table {
	t := newTable(textCol("error_type"), textCol("user"), textCol("database"), int8Col("count"))
	for _, rt := range v.routes() {
		for _, e := range rt.Stats().Errors.Counts() {
			t.add(str(e.Kind.String()), str(rt.User), str(rt.DB), num(e.Count))
		}
	}
	return t
}

// version is SHOW VERSION: one row.
func (v *view) version() *table {
	t := newTable(textCol("version"))
	t.add(str(v.inst.Version()))
	return t
}

// isPaused is SHOW IS_PAUSED: one row, true between PAUSE and RESUME.
func (v *view) isPaused() *table {
	t := newTable(boolCol("is_paused"))
	t.add(flag(v.rtr.Paused()))
	return t
}
