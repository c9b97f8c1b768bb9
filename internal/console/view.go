package console

import (
	"cmp"
	"crypto/tls"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/relay"
	"github.com/odyssey-go/odyssey/internal/router"
)

// view is what one SHOW looks at: the router and config of the moment.
// Counters are read without a global lock, so a row is consistent with
// itself only as far as each counter is; that is what Odyssey and
// PgBouncer give too.
type view struct {
	inst Instance
	con  *Console
	rtr  *router.Router
	cfg  *config.Config
	rule *config.Rule // the console client's rule (its quantiles)
	now  time.Time

	clients []*router.Client // registered pooled clients, read once
}

func (s *session) view() *view {
	rtr := s.con.inst.Router()
	return &view{inst: s.con.inst, con: s.con, rtr: rtr, cfg: rtr.Config(), rule: s.client.Rule,
		now: time.Now(), clients: rtr.Clients()}
}

// show builds the table of a SHOW command (not HELP, which has none).
func (v *view) show(cmd Command) (*table, error) {
	switch cmd.Item {
	case "stats":
		return v.stats(), nil
	case "pools":
		return v.pools(false), nil
	case "pools_extended":
		return v.pools(true), nil
	case "databases":
		return v.databases(), nil
	case "clients":
		return v.showClients(), nil
	case "servers":
		return v.servers(), nil
	case "server_prep_stmts":
		return v.serverPrepStmts(), nil
	case "lists":
		return v.lists(), nil
	case "errors":
		return v.errors(), nil
	case "errors_per_route":
		return v.errorsPerRoute(), nil
	case "version":
		return v.version(), nil
	case "is_paused":
		return v.isPaused(), nil
	case "listen":
		return v.listen(), nil
	case "storages":
		return v.storages(), nil
	case "rules":
		return v.rules(), nil
	case "config":
		return v.config(cmd.Arg)
	case "users":
		return v.users(), nil
	}
	return nil, parseErrorf("unknown SHOW item %q", cmd.Item)
}

// routes returns the live routes in a stable order: database, user, then
// current before obsolete. SHOW POOLS and SHOW DATABASES list them in the
// same order (Odyssey's exporter pairs their rows by position).
func (v *view) routes() []*router.Route {
	rs := v.rtr.Routes()
	slices.SortStableFunc(rs, func(a, b *router.Route) int {
		return cmp.Or(cmp.Compare(a.DB, b.DB), cmp.Compare(a.User, b.User),
			boolCmp(a.Obsolete(), b.Obsolete()), cmp.Compare(a.Rule().Pos.Line, b.Rule().Pos.Line))
	})
	return rs
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// serverState maps a server's state to PgBouncer's names, matching the
// sv_* columns of SHOW POOLS.
func serverState(s *relay.Server) string {
	switch st := s.State(); st {
	case "query":
		return "active"
	case "reset":
		return "tested"
	default:
		return st
	}
}

// splitAddr returns the address and port of a connection end. A unix
// socket shows as "unix" with the port its name carries (.s.PGSQL.6432),
// as PgBouncer shows it.
func splitAddr(a net.Addr) (string, int) {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP.String(), a.Port
	case *net.UnixAddr:
		return "unix", socketPort(a.Name)
	}
	return "", 0
}

func socketPort(path string) int {
	_, port, ok := strings.Cut(filepath.Base(path), ".s.PGSQL.")
	if !ok {
		return 0
	}
	n, _ := strconv.Atoi(port)
	return n
}

// timeFormat is how PgBouncer prints connect_time and request_time.
const timeFormat = "2006-01-02 15:04:05 MST"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// tlsInfo describes an encrypted connection as PgBouncer does
// ("TLSv1.3/TLS_AES_128_GCM_SHA256"), or "" for plain text.
func tlsInfo(st *tls.ConnectionState) string {
	if st == nil {
		return ""
	}
	return strings.Replace(tls.VersionName(st.Version), " ", "v", 1) + "/" + tls.CipherSuiteName(st.CipherSuite)
}

func serverTLS(s *relay.Server) *tls.ConnectionState { return connTLS(s.Conn.Conn) }

// connTLS is the TLS state of a connection, nil for plain text.
func connTLS(c net.Conn) *tls.ConnectionState {
	if tc, ok := c.(*tls.Conn); ok {
		st := tc.ConnectionState()
		return &st
	}
	return nil
}

// storageHost is a storage's hosts as the config lists them, "" for a
// local storage or a unix socket.
func storageHost(st *config.Storage) string {
	if st == nil {
		return ""
	}
	hosts := make([]string, 0, len(st.Hosts))
	for _, h := range st.Hosts {
		hosts = append(hosts, h.Host)
	}
	return strings.Join(hosts, ",")
}

func storagePort(st *config.Storage) int {
	if st == nil || st.Type == config.StorageLocal {
		return 0
	}
	return st.Port
}
