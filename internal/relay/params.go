package relay

import (
	"sort"
	"strings"

	"github.com/odyssey-go/odyssey/internal/pgwire"
)

// trackedParams are the session parameters the pooler carries from a client
// to whatever server it is attached to: Odyssey's list (kiwi vars) plus the
// ones common drivers set at startup (pgjdbc sends extra_float_digits, some
// ORMs IntervalStyle). Keys are lower case; values are PostgreSQL's
// canonical spelling, used in deploy queries and ParameterStatus.
var trackedParams = func() map[string]string {
	names := []string{
		"client_encoding", "DateStyle", "TimeZone", "standard_conforming_strings",
		"application_name", "search_path", "statement_timeout", "work_mem",
		"lock_timeout", "log_statement", "log_min_messages",
		"log_min_error_statement", "log_min_duration_statement",
		"idle_in_transaction_session_timeout", "default_table_access_method",
		"default_toast_compression", "check_function_bodies",
		"default_transaction_isolation", "default_transaction_read_only",
		"default_transaction_deferrable", "idle_session_timeout", "role",
		"extra_float_digits", "IntervalStyle", "client_min_messages",
		"bytea_output", "lc_messages", "lc_monetary", "lc_numeric", "lc_time",
		"default_text_search_config", "timezone_abbreviations", "jit",
	}
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[strings.ToLower(n)] = n
	}
	return m
}()

// CanonicalParam returns the canonical name of a tracked parameter and
// whether it is tracked at all. Parameter names are case-insensitive in
// PostgreSQL ("datestyle" and "DateStyle" are the same setting).
func CanonicalParam(name string) (string, bool) {
	if c, ok := trackedParams[name]; ok { // fast path: already lower case
		return c, true
	}
	c, ok := trackedParams[strings.ToLower(name)]
	return c, ok
}

// StartupParamName is the name the pooler keeps a startup parameter under:
// the canonical spelling of a tracked parameter, else the name in lower
// case, which is how PostgreSQL lists it (its own mixed-case names are all
// tracked).
func StartupParamName(name string) string {
	if c, ok := CanonicalParam(name); ok {
		return c
	}
	return strings.ToLower(name)
}

// Params is a small set of session parameters, sorted by name, holding only
// values that differ from the route's defaults (what a fresh server reports
// at login). Most clients set none, so the common comparison is of two
// empty slices.
type Params []pgwire.Param

// Get returns the value of name.
func (p Params) Get(name string) (string, bool) {
	i := p.index(name)
	if i < len(p) && p[i].Name == name {
		return p[i].Value, true
	}
	return "", false
}

func (p Params) index(name string) int {
	return sort.Search(len(p), func(i int) bool { return p[i].Name >= name })
}

// Set stores name=value, or removes name when value equals its default.
func (p *Params) Set(name, value string, defaults Params) {
	if d, ok := defaults.Get(name); ok && d == value {
		p.Delete(name)
		return
	}
	s := *p
	i := s.index(name)
	if i < len(s) && s[i].Name == name {
		s[i].Value = value
		return
	}
	s = append(s, pgwire.Param{})
	copy(s[i+1:], s[i:])
	s[i] = pgwire.Param{Name: name, Value: value}
	*p = s
}

// Delete removes name.
func (p *Params) Delete(name string) {
	s := *p
	i := s.index(name)
	if i < len(s) && s[i].Name == name {
		*p = append(s[:i], s[i+1:]...)
	}
}

// Equal reports whether p and q hold the same values.
func (p Params) Equal(q Params) bool {
	if len(p) != len(q) {
		return false
	}
	for i := range p {
		if p[i] != q[i] {
			return false
		}
	}
	return true
}

// Clone returns a copy that does not share storage.
func (p Params) Clone() Params {
	if len(p) == 0 {
		return nil
	}
	return append(Params(nil), p...)
}

// deployQuery returns a simple-query text that turns a server whose session
// has values have into one with values want, or "" when they already match.
//
// set_config() is used rather than SET because it takes the value as one
// string, exactly as a startup packet or ParameterStatus carries it: SET
// search_path TO '"$user", public' would create a single schema name with a
// comma in it (Odyssey #809). Parameters the server has and the client does
// not are RESET to the server's default, so one client's settings never leak
// to the next.
func deployQuery(have, want Params) string {
	var sets, resets []string
	for _, w := range want {
		if v, ok := have.Get(w.Name); !ok || v != w.Value {
			sets = append(sets, "pg_catalog.set_config("+QuoteLiteral(w.Name)+", "+QuoteLiteral(w.Value)+", false)")
		}
	}
	for _, h := range have {
		if _, ok := want.Get(h.Name); !ok {
			resets = append(resets, "RESET "+quoteIdent(h.Name))
		}
	}
	if len(sets) == 0 && len(resets) == 0 {
		return ""
	}
	var b strings.Builder
	if len(sets) > 0 {
		b.WriteString("SELECT ")
		b.WriteString(strings.Join(sets, ", "))
		b.WriteString(";")
	}
	for _, r := range resets {
		b.WriteString(r)
		b.WriteString(";")
	}
	return b.String()
}

// QuoteLiteral renders s as an escape-string literal, which means the same
// whatever standard_conforming_strings is.
func QuoteLiteral(s string) string {
	var b strings.Builder
	b.WriteString("E'")
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'':
			b.WriteString("''")
		case '\\':
			b.WriteString(`\\`)
		default:
			b.WriteByte(s[i])
		}
	}
	b.WriteByte('\'')
	return b.String()
}

func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
