package console

import (
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// showColumns are Odyssey's (and PgBouncer's) columns, in order.
var showColumns = map[string][]string{
	"stats": {"database", "total_xact_count", "total_query_count", "total_server_assignment_count",
		"total_received", "total_sent", "total_xact_time", "total_query_time", "total_wait_time",
		"avg_xact_count", "avg_query_count", "avg_server_assignment_count", "avg_recv", "avg_sent",
		"avg_xact_time", "avg_query_time", "avg_wait_time", "total_parse_count", "total_parse_count_reuse",
		"total_cancel_count"},
	"pools": {"database", "user", "cl_active", "cl_waiting", "sv_active", "sv_idle", "sv_used", "sv_tested",
		"sv_login", "maxwait", "maxwait_us", "pool_mode"},
	"pools_extended": {"database", "user", "cl_active", "cl_waiting", "sv_active", "sv_idle", "sv_used",
		"sv_tested", "sv_login", "maxwait", "maxwait_us", "pool_mode", "bytes_received", "bytes_sent",
		"tcp_conn_count", "query_0.99", "transaction_0.99", "query_0.5", "transaction_0.5"},
	"databases": {"name", "host", "port", "database", "force_user", "pool_size", "reserve_pool", "pool_mode",
		"max_connections", "current_connections", "paused", "disabled"},
	"clients": {"type", "user", "database", "state", "storage_user", "addr", "port", "local_addr", "local_port",
		"connect_time", "request_time", "wait", "wait_us", "id", "ptr", "coro", "remote_pid", "tls"},
	"servers": {"type", "user", "database", "state", "addr", "port", "local_addr", "local_port", "connect_time",
		"request_time", "wait", "wait_us", "ptr", "link", "remote_pid", "tls", "offline"},
	"lists":             {"list", "items"},
	"errors":            {"error_type", "count"},
	"errors_per_route":  {"error_type", "user", "database", "count"},
	"version":           {"version"},
	"listen":            {"host", "port", "tls", "tls_cert_file", "tls_key_file", "tls_ca_file", "tls_protocols"},
	"storages":          {"type", "host", "port", "tls", "tls_cert_file", "tls_key_file", "tls_ca_file", "tls_protocols"},
	"rules":             {"database", "user", "address", "connection_type", "obsolete"},
	"is_paused":         {"is_paused"},
	"config":            {"key", "value", "default", "changeable"},
	"users":             {"name", "pool_mode"},
	"server_prep_stmts": {"type", "user", "database", "sid", "name", "definition", "refcount"},
}

func TestShowColumns(t *testing.T) {
	inst, con := newConsole(t)
	c := serve(t, inst, con, "admin")
	c.receive()
	for item := range showItems {
		if item == "help" {
			continue
		}
		want, ok := showColumns[item]
		if !ok {
			t.Errorf("no expected columns for SHOW %s", item)
			continue
		}
		r := decode(c.query("SHOW " + item))
		if r.err != nil {
			t.Errorf("SHOW %s: %s", item, r.err.Message)
			continue
		}
		if !slices.Equal(r.cols, want) {
			t.Errorf("SHOW %s columns:\n got %v\nwant %v", item, r.cols, want)
		}
		if r.tag != "SHOW" {
			t.Errorf("SHOW %s tag %q, want SHOW", item, r.tag)
		}
	}
}

func TestShowRows(t *testing.T) {
	inst, con := newConsole(t)
	c := serve(t, inst, con, "admin")
	c.receive()

	r := decode(c.query("show version"))
	if len(r.rows) != 1 || r.rows[0][0] != "1.2.3-test" {
		t.Errorf("SHOW VERSION rows %q", r.rows)
	}
	r = decode(c.query("show is_paused"))
	if len(r.rows) != 1 || r.rows[0][0] != "f" || r.oids[0] != 16 {
		t.Errorf("SHOW IS_PAUSED rows %q oid %d", r.rows, r.oids[0])
	}
	inst.rtr.Pause()
	if r = decode(c.query("show is_paused")); r.rows[0][0] != "t" {
		t.Errorf("paused: SHOW IS_PAUSED rows %q", r.rows)
	}
	inst.rtr.Resume()

	// Counters are declared as integers, as exporters expect.
	r = decode(c.query("show pools"))
	if r.oids[0] != 25 || r.oids[2] != 20 || r.oids[11] != 25 {
		t.Errorf("SHOW POOLS types %v", r.oids)
	}

	r = decode(c.query("show lists"))
	var names []string
	for _, row := range r.rows {
		names = append(names, row[0])
	}
	wantLists := []string{"databases", "users", "pools", "free_clients", "used_clients", "login_clients",
		"routing_clients", "free_servers", "used_servers", "dns_names", "dns_zones", "dns_queries", "dns_pending"}
	if !slices.Equal(names, wantLists) {
		t.Errorf("SHOW LISTS rows %v", names)
	}

	r = decode(c.query("show rules"))
	if len(r.rows) != 4 || !slices.Equal(r.rows[3], []string{"default", "default", "", "default", "f"}) {
		t.Errorf("SHOW RULES rows %q", r.rows)
	}

	r = decode(c.query("show config stats_interval"))
	if len(r.rows) != 1 || !slices.Equal(r.rows[0], []string{"stats_interval", "3", "3", "yes"}) {
		t.Errorf("SHOW CONFIG stats_interval rows %q", r.rows)
	}
	if r = decode(c.query("show config no_such_key")); r.err == nil || r.err.Code != "42704" {
		t.Errorf("SHOW CONFIG of an unknown key: %+v", r.err)
	}

	r = decode(c.query("show users"))
	if !slices.ContainsFunc(r.rows, func(row []string) bool { return slices.Equal(row, []string{"admin", "session"}) }) {
		t.Errorf("SHOW USERS rows %q", r.rows)
	}

	// The console's own session is a client of the console route.
	r = decode(c.query("show clients"))
	if len(r.rows) != 1 || r.rows[0][13] != c.id || r.rows[0][3] != "active" {
		t.Errorf("SHOW CLIENTS rows %q", r.rows)
	}

	// POOLS_EXTENDED ends with Odyssey's aggregated row: NULLs, then the
	// quantiles of every route together.
	r = decode(c.query("show pools_extended"))
	last := r.rows[len(r.rows)-1]
	if last[0] != "aggregated" || last[1] != "aggregated" || last[2] != "<null>" || last[14] != "<null>" || last[15] != "0" {
		t.Errorf("SHOW POOLS_EXTENDED aggregated row %q", last)
	}
}

func TestHelp(t *testing.T) {
	inst, con := newConsole(t)
	c := serve(t, inst, con, "stat")
	c.receive()
	msgs := c.query("SHOW HELP")
	var notice *pgproto3.NoticeResponse
	for _, m := range msgs {
		if n, ok := m.(*pgproto3.NoticeResponse); ok {
			notice = n
		}
		if _, ok := m.(*pgproto3.RowDescription); ok {
			t.Error("SHOW HELP sends no rows")
		}
	}
	if notice == nil || !strings.Contains(notice.Detail, "KILL_CLIENT") {
		t.Fatalf("SHOW HELP notice %+v", notice)
	}
}
