package frontend

import (
	"net"
	"strings"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/pgwire"
	"github.com/odyssey-go/odyssey/internal/relay"
)

// clientParams returns the session parameters a client asked for, with
// canonical names, in this order of precedence (last wins): startup
// packet, its `options` (-c name=value), the rule's `options { }`. With
// application_name_add_host the client's address is appended to
// application_name, as Odyssey does. Parameters the pooler does not carry
// between servers are dropped.
func clientParams(st *pgwire.Startup, rule *config.Rule, addr net.Addr) []pgwire.Param {
	var out []pgwire.Param
	set := func(name, value string) {
		name, ok := relay.CanonicalParam(name)
		if !ok {
			return
		}
		for i := range out {
			if out[i].Name == name {
				out[i].Value = value
				return
			}
		}
		out = append(out, pgwire.Param{Name: name, Value: value})
	}
	for _, p := range st.Params {
		switch p.Name {
		case "user", "database", "options", "replication":
			continue
		}
		set(p.Name, p.Value)
	}
	if opts, ok := st.Param("options"); ok {
		for _, kv := range parseOptions(opts) {
			set(kv.Name, kv.Value)
		}
	}
	for _, kv := range rule.Options {
		set(kv.Key, kv.Value)
	}
	if rule.ApplicationNameAddHost {
		app, _ := findParam(out, "application_name")
		set("application_name", app+" - "+addr.String())
	}
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
