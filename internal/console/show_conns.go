package console

import (
	"cmp"
	"slices"
	"time"

	"github.com/odyssey-go/odyssey/internal/relay"
	"github.com/odyssey-go/odyssey/internal/router"
)

// showClients is SHOW CLIENTS: every client in its main phase, pooled
// ones first (oldest first), then console sessions. state is idle (no
// server, nothing asked), waiting (for a server) or active (has one);
// ptr and coro are the client id, since a goroutine serves each client.
// wait/wait_us are how long a waiting client has been waiting, in whole
// seconds and the microseconds beyond (0 when it is not waiting).
func (v *view) showClients() *table {
	t := newTable(textCol("type"), textCol("user"), textCol("database"), textCol("state"),
		textCol("storage_user"), textCol("addr"), int4Col("port"), textCol("local_addr"), int4Col("local_port"),
		textCol("connect_time"), textCol("request_time"), int4Col("wait"), int4Col("wait_us"),
		textCol("id"), textCol("ptr"), textCol("coro"), int4Col("remote_pid"), textCol("tls"))
	clients := slices.Clone(v.clients)
	slices.SortFunc(clients, func(a, b *router.Client) int {
		return cmp.Or(a.Connected.Compare(b.Connected), cmp.Compare(a.ID, b.ID))
	})
	now := time.Now()
	for _, c := range clients {
		var wait time.Duration
		if since := c.WaitingSince(); !since.IsZero() {
			wait = max(0, now.Sub(since))
		}
		addr, port := splitAddr(c.RemoteAddr())
		laddr, lport := splitAddr(c.LocalAddr())
		if addr == "unix" {
			port = lport
		}
		t.add(str("C"), str(c.Route.User), str(c.Route.DB), str(c.State().String()),
			str(c.Route.BackendUser), str(addr), num(port), str(laddr), num(lport),
			str(formatTime(c.Connected)), str(formatTime(latest(c.LastRequest(), c.Connected))), num(int64(wait/time.Second)), num(int64(wait%time.Second/time.Microsecond)),
			str(c.ID), str(c.ID), str(c.ID), num(0), str(tlsInfo(c.TLSState())))
	}
	for _, s := range v.con.sessionList() {
		addr, port := splitAddr(s.conn.RemoteAddr())
		laddr, lport := splitAddr(s.conn.LocalAddr())
		if addr == "unix" {
			port = lport
		}
		last := time.Unix(0, s.lastRequest.Load())
		t.add(str("C"), str(s.client.User), str(s.client.DB), str("active"),
			str(""), str(addr), num(port), str(laddr), num(lport),
			str(formatTime(s.connected)), str(formatTime(latest(last, s.connected))), num(0), num(0),
			str(s.client.ID), str(s.client.ID), str(s.client.ID), num(0), str(tlsInfo(connTLS(s.conn))))
	}
	return t
}

// latest is t, or since when t is earlier (never set).
func latest(t, since time.Time) time.Time {
	if t.Before(since) {
		return since
	}
	return t
}

// servers is SHOW SERVERS: every open server, by route in SHOW POOLS
// order and oldest first. state uses PgBouncer's names (active, idle,
// tested while being reset); remote_pid is PostgreSQL's backend pid; link
// is the attached client's id; offline says DROP SERVERS (or RECONNECT)
// marked it to be closed at its next release.
func (v *view) servers() *table {
	t := newTable(textCol("type"), textCol("user"), textCol("database"), textCol("state"),
		textCol("addr"), int4Col("port"), textCol("local_addr"), int4Col("local_port"),
		textCol("connect_time"), textCol("request_time"), int4Col("wait"), int4Col("wait_us"),
		textCol("ptr"), textCol("link"), int4Col("remote_pid"), textCol("tls"), boolCol("offline"))
	for _, rt := range v.routes() {
		servers := rt.Servers()
		slices.SortFunc(servers, func(a, b *relay.Server) int {
			return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
		})
		for _, s := range servers {
			state := serverState(s)
			if state == "closed" {
				continue
			}
			addr, port := splitAddr(s.Conn.RemoteAddr())
			laddr, lport := splitAddr(s.Conn.LocalAddr())
			link := ""
			if c := s.Client(); c != nil {
				link = c.ID
			}
			t.add(str("S"), str(rt.User), str(rt.DB), str(state),
				str(addr), num(port), str(laddr), num(lport),
				str(formatTime(s.Created)), str(formatTime(latest(s.AttachedAt(), s.Created))), num(0), num(0),
				str(s.ID), str(link), num(s.Conn.PID), str(tlsInfo(serverTLS(s))), flag(s.Offline()))
		}
	}
	return t
}

// serverPrepStmts is SHOW SERVER_PREP_STMTS: the statements the pooler
// prepared on each server of transaction and statement pools, most
// recently used first. Odyssey's refcount column counts here how many
// times clients used the statement on that server.
func (v *view) serverPrepStmts() *table {
	t := newTable(textCol("type"), textCol("user"), textCol("database"), textCol("sid"),
		textCol("name"), textCol("definition"), int8Col("refcount"))
	for _, rt := range v.routes() {
		servers := rt.Servers()
		slices.SortFunc(servers, func(a, b *relay.Server) int {
			return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
		})
		for _, s := range servers {
			for _, st := range s.PreparedStatements() {
				t.add(str("S"), str(rt.User), str(rt.DB), str(s.ID), str(st.Name), str(st.Query), num(st.Uses))
			}
		}
	}
	return t
}
