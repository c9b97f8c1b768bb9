package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/odyssey-go/odyssey/internal/hba"
)

// Validation of the TLS, HBA, LDAP and auth_query settings: what the
// client-facing security features need from the whole file.

// validateHBA reads and parses hba_file, so that a broken file stops a
// start or a reload (which keeps the old config) instead of letting every
// client in or out. A relative path is taken from the directory of the
// main config file.
func (p *parser) validateHBA() {
	v, ok := valid(p.global, "hba_file")
	if !ok {
		return
	}
	path := v.s
	if path == "" {
		p.errorf(v.pos, "hba_file is empty")
		return
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(p.name), path)
	}
	src, err := p.readFile(path)
	if err != nil {
		p.errorf(v.pos, "cannot read hba_file %q: %v", v.s, err)
		return
	}
	tab, err := hba.Parse(src)
	if err != nil {
		var he *hba.Error
		if errors.As(err, &he) {
			p.errorf(Position{File: path, Line: he.Line, Column: 1}, "hba_file: %s", he.Msg)
			return
		}
		p.errorf(v.pos, "hba_file %q: %v", v.s, err)
		return
	}
	p.cfg.HBA = tab
}

// tlsOn reports whether a tls value turns TLS on.
func tlsOn(mode string) bool { return mode != "" && mode != "disable" }

// validateTLS checks that every listen block with TLS names its
// certificate and key, and a CA when it verifies clients, and that storage
// client certificates come with their keys. Whether the files load is
// checked when the pooler starts or reloads (tlsconf.Store.Check).
func (p *parser) validateTLS() {
	for _, o := range p.listens {
		t := o.listen.TLS
		if !tlsOn(t.Mode) {
			continue
		}
		mode := o.seen["tls"]
		if t.CertFile == "" || t.KeyFile == "" {
			p.errorf(mode.pos, "tls %q needs tls_cert_file and tls_key_file", t.Mode)
		}
		if (t.Mode == "verify_ca" || t.Mode == "verify_full") && t.CAFile == "" {
			p.errorf(mode.pos, "tls %q needs tls_ca_file to check client certificates", t.Mode)
		}
	}
	for _, o := range p.storages {
		t := o.storage.TLS
		if tlsOn(t.Mode) && (t.CertFile == "") != (t.KeyFile == "") {
			p.errorf(o.storage.Pos, "storage %q: a client certificate needs both tls_cert_file and tls_key_file", o.storage.Name)
		}
	}
}

// validateLDAP checks each ldap_endpoint block.
func (p *parser) validateLDAP() {
	for _, o := range p.ldaps {
		l := o.ldap
		if l.Server == "" && l.URL == "" {
			p.errorf(l.Pos, "%s: ldapserver (or ldapurl) is not set", o.path)
		}
		if v, ok := valid(o, "ldapscheme"); ok && l.Scheme != "ldap" && l.Scheme != "ldaps" {
			p.errorf(v.pos, `%s: ldapscheme must be "ldap" or "ldaps", found %q`, o.path, truncate(l.Scheme, 32))
		}
		if l.BaseDN != "" && (l.Prefix != "" || l.Suffix != "") {
			p.diags.warnOnce("ldap mixed "+l.Name, l.Pos, fmt.Sprintf(
				"%s: ldapbasedn is set, so ldapprefix and ldapsuffix are ignored (search+bind)", o.path))
		}
	}
}

// resolveAuthSources points a rule at its ldap_endpoint block. The name
// was checked by checkReferences.
func (p *parser) resolveAuthSources(o *object) {
	r := o.rule
	if r.LDAPEndpointName == "" {
		return
	}
	for _, l := range p.cfg.LDAPEndpoints {
		if l.Name == r.LDAPEndpointName {
			r.LDAPEndpoint = l
		}
	}
	if v, ok := valid(o, "ldap_endpoint_name"); ok && r.Authentication != AuthClearText {
		p.diags.warnOnce("ldap method "+o.path, v.kwPos, fmt.Sprintf(
			"%s: ldap_endpoint_name applies only to authentication \"clear_text\"; it is ignored here", o.path))
	}
}

// resolveAuthQueries gives every rule with auth_query the internal rule
// its query runs on: the most specific internal rule for (auth_query_db,
// auth_query_user), or else a generated one, as Odyssey's
// od_rules_autogenerate_defaults does. The generated rule uses the storage
// and storage_password of a `database default { user default }` rule that
// has a storage_password (Odyssey's choice), or else the storage of the
// rule itself with no password (for PostgreSQL trusting that user, or
// peer authentication on a unix socket). Rules sharing a storage and
// password share the generated rule, and so its pool.
func (p *parser) resolveAuthQueries() {
	var template *Rule
	for _, r := range p.cfg.Rules {
		if r.DBDefault && r.UserDefault && !r.Internal && r.StoragePassword != "" && r.Storage != nil {
			template = r
			break
		}
	}
	type genKey struct {
		storage  *Storage
		password string
	}
	generated := map[genKey]*Rule{}
	for _, r := range p.cfg.Rules {
		if r.AuthQuery == "" || r.AuthQueryDB == "" || r.AuthQueryUser == "" || r.Storage == nil {
			continue
		}
		if in := p.internalRule(r.AuthQueryDB, r.AuthQueryUser); in != nil {
			r.AuthQueryRule = in
			continue
		}
		key := genKey{storage: r.Storage}
		if template != nil {
			key = genKey{storage: template.Storage, password: template.StoragePassword}
		}
		g := generated[key]
		if g == nil {
			g = newRule(r.Pos)
			g.DBDefault, g.UserDefault, g.Internal = true, true, true
			g.Authentication = AuthNone
			g.Storage, g.StorageName = key.storage, key.storage.Name
			g.StoragePassword = key.password
			g.Pool = PoolTransaction
			// Odyssey leaves this pool unbounded; a burst of first logins
			// of many users would then open as many connections. A few
			// servers answer thousands of these one-row queries a second,
			// and waiters are bounded by the client's login timeout.
			g.PoolSize = generatedAuthPoolSize
			// Only read-only SELECTs run here: nothing to reset.
			g.PoolDiscard = false
			g.PoolReservePrepared = false
			generated[key] = g
		}
		r.AuthQueryRule = g
	}
}

// generatedAuthPoolSize bounds the pool of a generated auth_query rule.
const generatedAuthPoolSize = 8

// internalRule returns the most specific internal rule for (db, user),
// ties going to the first in the file.
func (p *parser) internalRule(db, user string) *Rule {
	var best *Rule
	bestScore := -1
	for _, r := range p.cfg.Rules {
		if !r.Internal || r.Storage == nil || r.Storage.Type != StorageRemote {
			continue
		}
		if (!r.DBDefault && r.DB != db) || (!r.UserDefault && r.User != user) {
			continue
		}
		score := 0
		if !r.DBDefault {
			score += 2
		}
		if !r.UserDefault {
			score++
		}
		if score > bestScore {
			best, bestScore = r, score
		}
	}
	return best
}

// authQueryPlaceholders reports whether q names the user ($1 or %u); a
// query that does not would return the same secret for everybody.
func authQueryPlaceholders(q string) bool {
	return strings.Contains(q, "$1") || strings.Contains(q, "%u")
}
