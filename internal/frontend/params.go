package frontend

import (
	"net"
	"slices"
	"strings"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/pgwire"
	"github.com/odyssey-go/odyssey/internal/relay"
)

// startupSet is what a client's startup packet asks of its session.
type startupSet struct {
	// params are the settings in effect once PostgreSQL has applied the
	// packet, by name (canonical spelling for the parameters the pooler
	// tracks, lower case for the others), in PostgreSQL's order of
	// precedence (last wins): the switches of `options` (-c name=value),
	// then the explicit parameters, then the rule's `options { }`; with
	// application_name_add_host, the client's address is appended to
	// application_name, as Odyssey does.
	params []pgwire.Param
	// server is the startup packet (less user and database) a session
	// server opened for this client gets, so that the server's reset
	// values (RESET, RESET ALL, DISCARD ALL, pg_settings.reset_val) are
	// the client's own: the client's parameters as it sent them, then the
	// rule's options (the route puts backend_startup_options first).
	// application_name is left out: it is the parameter that differs most
	// between clients that otherwise ask for the same (one per process or
	// host, and always with application_name_add_host), and servers are
	// shared only by clients with the same packet; the relay sets it after
	// login instead (relay.ClientConfig.AppName).
	server []pgwire.Param
	// appName is the application_name the relay sets on the client's
	// session server ("" for none).
	appName string
}

// clientStartup reads the session settings of a startup packet.
func clientStartup(st *pgwire.Startup, rule *config.Rule, addr net.Addr) startupSet {
	var out startupSet
	set := func(name, value string) {
		if name == "" {
			return // the wire cannot carry one; be safe
		}
		name = relay.StartupParamName(name)
		for i := range out.params {
			if out.params[i].Name == name {
				out.params[i].Value = value
				return
			}
		}
		out.params = append(out.params, pgwire.Param{Name: name, Value: value})
	}
	if opts, ok := st.Param("options"); ok {
		for _, kv := range parseOptions(opts) {
			set(kv.Name, kv.Value)
		}
	}
	for _, p := range st.Params {
		switch p.Name {
		case "user", "database", "replication":
			continue
		case "options":
			out.server = append(out.server, p)
			continue
		}
		set(p.Name, p.Value)
		out.server = append(out.server, p)
	}
	for _, kv := range rule.Options {
		set(kv.Key, kv.Value)
		out.server = append(out.server, pgwire.Param{Name: kv.Key, Value: kv.Value})
	}
	if rule.ApplicationNameAddHost {
		app, _ := findParam(out.params, "application_name")
		set("application_name", app+" - "+addr.String())
	}
	out.appName, _ = findParam(out.params, "application_name")
	out.server = slices.DeleteFunc(out.server, func(p pgwire.Param) bool {
		return strings.EqualFold(p.Name, "application_name")
	})
	return out
}

// parseOptions reads the `options` startup parameter the way PostgreSQL
// does (pg_split_opts): words split on white space, a backslash makes the
// next character literal; "-c name=value", "-cname=value" and
// "--name=value" set parameters (dashes in names become underscores).
// Other switches are ignored.
func parseOptions(s string) []pgwire.Param {
	words := splitOptions(s)
	var out []pgwire.Param
	add := func(kv string) {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return
		}
		out = append(out, pgwire.Param{Name: strings.ReplaceAll(name, "-", "_"), Value: value})
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "-c" && i+1 < len(words):
			i++
			add(words[i])
		case strings.HasPrefix(w, "-c") && len(w) > 2:
			add(w[2:])
		case strings.HasPrefix(w, "--"):
			add(w[2:])
		}
	}
	return out
}

func splitOptions(s string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
