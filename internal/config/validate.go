package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// validate runs the checks that need the whole file: Odyssey's
// od_config_validate, od_rules_validate and od_pool_validate. It also
// resolves references (rule -> storage) and applies the settings Odyssey
// derives from others. Problems are reported with the position of the
// block or keyword concerned.
func (p *parser) validate() {
	p.validateGlobal()
	p.validateHBA()
	p.validateListens()
	storages := p.validateStorages()
	p.validateTLS()
	p.validateNamed(blockLDAPEndpoint, "ldap_endpoint")
	p.validateLDAP()
	p.validateNamed(blockSharedPool, "shared_pool")
	p.validateRules(storages)
	p.resolveAuthQueries()
}

// valid returns the value of keyword name in o when it was given and
// correct; checks that depend on a value skip it otherwise, since a wrong
// value has been reported already.
func valid(o *object, name string) (value, bool) {
	v, ok := o.seen[name]
	return v, ok && !v.bad
}

// fileLevel is the position used for problems of the file as a whole.
func (p *parser) fileLevel() Position { return Position{File: p.name} }

func (p *parser) validateGlobal() {
	g := p.global.seen
	if _, ok := g["log_format"]; !ok {
		p.errorf(p.fileLevel(), "log_format is not set (Odyssey requires it; for example %q)", `%p %t %l [%i %s] (%c) %m\n`)
	}
	for _, name := range []string{"coroutine_stack_size", "system_coroutine_stack_size"} {
		if v, ok := g[name]; ok && v.n < 4 {
			p.errorf(v.pos, "%q must be at least 4 (pages), found %d", name, v.n)
		}
	}
	if dir, ok := g["unix_socket_dir"]; ok {
		if _, ok := g["unix_socket_mode"]; !ok {
			p.errorf(dir.kwPos, "unix_socket_mode must be set when unix_socket_dir is set")
		}
	}
	p.validatePromhttp()
	restart, reuse := true, true // Odyssey's defaults
	if v, ok := g["enable_online_restart"]; ok {
		restart = v.b
	}
	if v, ok := g["bindwith_reuseport"]; ok {
		reuse = v.b
	}
	if restart && !reuse {
		p.errorf(g["bindwith_reuseport"].kwPos,
			"online restart needs bindwith_reuseport yes; set bindwith_reuseport yes or enable_online_restart no")
	}
}

// validatePromhttp checks promhttp_server_address (our keyword): a host
// without a port, since the port has its own keyword, and only useful
// together with promhttp_server_port.
func (p *parser) validatePromhttp() {
	g := p.global.seen
	v, ok := valid(p.global, "promhttp_server_address")
	if !ok {
		return
	}
	if strings.Contains(v.s, ":") {
		if _, err := netip.ParseAddr(v.s); err != nil {
			p.errorf(v.pos, "promhttp_server_address %q must be a host name or IP address without a port (the port is promhttp_server_port)", v.s)
		}
	}
	if _, ok := g["promhttp_server_port"]; !ok {
		p.diags.warnOnce("promhttp_server_address", v.kwPos, "promhttp_server_address has no effect without promhttp_server_port")
	}
}

func (p *parser) validateListens() {
	if len(p.listens) == 0 {
		p.errorf(p.fileLevel(), "no listen block defined")
	}
	for _, o := range p.listens {
		if o.listen.Host == "" && p.cfg.UnixSocketDir == "" {
			p.errorf(o.listen.Pos, "listen block has no host and unix_socket_dir is not set")
		}
	}
}

// validateStorages checks every storage, fills in default endpoint ports
// and returns the storages by name.
func (p *parser) validateStorages() map[string]*Storage {
	byName := map[string]*Storage{}
	if len(p.storages) == 0 {
		p.errorf(p.fileLevel(), "no storage defined")
	}
	for _, o := range p.storages {
		s := o.storage
		if first, dup := byName[s.Name]; dup {
			p.errorf(s.Pos, "storage %q is already defined at %s", s.Name, first.Pos)
			continue
		}
		byName[s.Name] = s
		if _, ok := o.seen["type"]; !ok {
			p.errorf(s.Pos, `storage %q: type is not set (expected "remote" or "local")`, s.Name)
		}
		_, hostSet := o.seen["host"]
		_, typeOK := valid(o, "type")
		if typeOK && s.Type == StorageRemote && !hostSet && p.cfg.UnixSocketDir == "" {
			p.errorf(s.Pos, "storage %q: no host is set and unix_socket_dir is not set", s.Name)
		}
		for i := range s.Hosts {
			if s.Hosts[i].Port == 0 {
				s.Hosts[i].Port = s.Port
			}
		}
	}
	return byName
}

// validateNamed reports duplicate names among ldap_endpoint or shared_pool
// sections.
func (p *parser) validateNamed(b blockID, what string) {
	seen := map[string]Position{}
	for _, d := range p.named[b] {
		if first, dup := seen[d.name]; dup {
			p.errorf(d.pos, "%s %q is already defined at %s", what, d.name, first)
			continue
		}
		seen[d.name] = d.pos
	}
}

func (p *parser) validateRules(storages map[string]*Storage) {
	if len(p.rules) == 0 {
		p.errorf(p.fileLevel(), "no rules defined (add a database block with a user block)")
	}
	defined := map[string]*Rule{}
	for _, o := range p.rules {
		p.checkDuplicate(o, defined)
		p.resolveStorage(o, storages)
		p.checkPool(o)
		p.checkRole(o)
		p.checkAuth(o)
		p.checkReferences(o)
		p.resolveAuthSources(o)
	}
}

// checkDuplicate reports a second rule for the same database, user,
// address range, connection type and routing, as Odyssey does.
func (p *parser) checkDuplicate(o *object, defined map[string]*Rule) {
	r := o.rule
	addr := "all"
	if r.Address != nil {
		addr = r.Address.String()
	}
	key := fmt.Sprintf("%t\x00%s\x00%t\x00%s\x00%s\x00%d\x00%t",
		r.DBDefault, r.DB, r.UserDefault, r.User, addr, r.ConnType, r.Internal)
	if first, dup := defined[key]; dup {
		p.errorf(r.Pos, "%s: rule is already defined at %s", o.path, first.Pos)
		return
	}
	defined[key] = r
}

func (p *parser) resolveStorage(o *object, storages map[string]*Storage) {
	r := o.rule
	if _, ok := o.seen["storage"]; !ok {
		p.errorf(r.Pos, "%s: storage is not set", o.path)
		return
	}
	v, ok := valid(o, "storage")
	if !ok {
		return
	}
	s := storages[r.StorageName]
	if s == nil {
		names := make([]string, 0, len(p.cfg.Storages))
		for _, st := range p.cfg.Storages {
			names = append(names, st.Name)
		}
		p.errorf(v.pos, "%s: storage %q is not defined%s", o.path, truncate(r.StorageName, 64), didYouMean(r.StorageName, names))
		return
	}
	r.Storage = s
}

// checkPool follows od_pool_validate, plus the prepared-statement rules of
// current Odyssey: the reserve is forced off for session pools, and with
// the reserve on, pool_discard means the smart discard (DISCARD ALL would
// drop the statements the pooler tracks).
func (p *parser) checkPool(o *object) {
	r, seen := o.rule, o.seen
	if _, ok := seen["pool"]; !ok {
		p.errorf(r.Pos, `%s: pool is not set (expected "session", "transaction" or "statement")`, o.path)
	}
	if r.Internal && r.Address != nil {
		p.errorf(seen["pool_routing"].kwPos, "%s: an internal rule cannot have an address range", o.path)
	}
	if r.PoolSmartDiscard && !r.PoolReservePrepared {
		p.errorf(seen["pool_smart_discard"].kwPos,
			"%s: pool_smart_discard requires pool_reserve_prepared_statement yes", o.path)
	}
	if _, ok := valid(o, "pool"); ok && r.Pool == PoolSession {
		if _, set := seen["pool_pin_on_listen"]; set && r.PoolPinOnListen {
			p.errorf(seen["pool_pin_on_listen"].kwPos, "%s: pool_pin_on_listen cannot be used with a session pool", o.path)
		}
		r.PoolPinOnListen = false // a session client keeps its server anyway
		r.PoolReservePrepared = false
	}
	if r.PoolReservePrepared && strings.Contains(strings.ToUpper(r.PoolDiscardQuery), "DEALLOCATE ALL") {
		p.errorf(seen["pool_discard_query"].kwPos,
			"%s: pool_discard_query must not contain DEALLOCATE ALL while pool_reserve_prepared_statement is on", o.path)
	}
	if r.PoolReservePrepared && r.PoolDiscard {
		r.PoolSmartDiscard = true
	}
}

// checkRole: a role makes sense only on the console (a local storage),
// where a rule without one gets the read-only "stat" role.
func (p *parser) checkRole(o *object) {
	r := o.rule
	if r.Storage == nil {
		return
	}
	if r.Storage.Type == StorageLocal {
		if r.Role == RoleUndefined {
			r.Role = RoleStat
		}
		return
	}
	if v, ok := valid(o, "role"); ok {
		p.errorf(v.kwPos, "%s: role can only be set for a rule whose storage is local (the console)", o.path)
	}
}

// checkAuth requires an authentication method and, for the password
// methods, a source of passwords. auth_query, PAM, LDAP, auth modules and
// the IAM proxy count as sources even though they are not implemented yet.
func (p *parser) checkAuth(o *object) {
	r, seen := o.rule, o.seen
	has := func(name string) bool { _, ok := seen[name]; return ok }
	if _, ok := seen["authentication"]; !ok {
		p.errorf(r.Pos, "%s: authentication is not set", o.path)
		return
	}
	auth, ok := valid(o, "authentication")
	if !ok {
		return
	}
	switch r.Authentication {
	case AuthClearText:
		if has("auth_query") && has("auth_pam_service") {
			p.errorf(seen["auth_pam_service"].kwPos, "%s: auth_query and auth_pam_service cannot be used together", o.path)
		}
		iam := has("enable_mdb_iamproxy_auth") && seen["enable_mdb_iamproxy_auth"].b
		if !has("password") && !has("auth_query") && !has("auth_pam_service") &&
			!has("auth_module") && !has("ldap_endpoint_name") && !iam {
			p.errorf(auth.kwPos, "%s: authentication %q needs a password (or auth_query, auth_pam_service, auth_module, ldap_endpoint_name)", o.path, auth.s)
		}
	case AuthMD5, AuthSCRAM:
		if !has("password") && !has("auth_query") {
			p.errorf(auth.kwPos, "%s: authentication %q needs a password or auth_query", o.path, auth.s)
		}
	case AuthExternal:
		p.diags.warnOnce("authentication external", auth.pos,
			`authentication "external" is accepted but not implemented yet; clients of such rules cannot log in`)
	}
	if q, ok := seen["auth_query"]; ok {
		for _, need := range []string{"auth_query_user", "auth_query_db"} {
			if !has(need) {
				p.errorf(q.kwPos, "%s: auth_query needs %s", o.path, need)
			}
		}
		if !authQueryPlaceholders(r.AuthQuery) {
			p.diags.warnOnce("auth_query user "+o.path, q.pos, fmt.Sprintf(
				"%s: auth_query does not mention the user name ($1 or %%u): every user gets the same secret", o.path))
		}
	}
}

// checkReferences checks names that refer to ldap_endpoint and shared_pool
// sections.
func (p *parser) checkReferences(o *object) {
	seen := o.seen
	if v, ok := seen["ldap_endpoint_name"]; ok {
		p.checkNamedRef(o, v, blockLDAPEndpoint, "ldap_endpoint")
	} else if v, ok := seen["ldap_storage_credentials_attr"]; ok {
		p.errorf(v.kwPos, "%s: ldap_storage_credentials_attr needs ldap_endpoint_name", o.path)
	}
	if v, ok := seen["shared_pool"]; ok {
		p.checkNamedRef(o, v, blockSharedPool, "shared_pool")
	}
}

func (p *parser) checkNamedRef(o *object, v value, b blockID, what string) {
	var names []string
	for _, d := range p.named[b] {
		if d.name == v.s {
			return
		}
		names = append(names, d.name)
	}
	p.errorf(v.pos, "%s: %s %q is not defined%s", o.path, what, truncate(v.s, 64), didYouMean(v.s, names))
}
