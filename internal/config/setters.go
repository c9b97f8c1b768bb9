package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Setters of the implemented table that do more than copy a value. The
// parser has already checked the value's type, range and, for enumerated
// keywords, that it is one of the allowed strings.

// setUnixSocketMode parses the octal permission string, e.g. "0644".
func setUnixSocketMode(c *Config, v value) error {
	m, err := strconv.ParseUint(v.s, 8, 32)
	if err != nil || m > 0o777 {
		return fmt.Errorf("invalid unix_socket_mode %q: expected octal permission bits such as \"0644\"", v.s)
	}
	c.UnixSocketMode = os.FileMode(m)
	return nil
}

// setGlobalClientMax stores the global client limit; Odyssey documents 0
// as "no limit", which the model spells -1.
func setGlobalClientMax(c *Config, v value) error {
	c.ClientMax = v.int()
	if v.n == 0 {
		c.ClientMax = -1
	}
	return nil
}

func setStorageType(s *Storage, v value) error {
	s.Type = StorageRemote
	if v.s == "local" {
		s.Type = StorageLocal
	}
	return nil
}

// setStorageHosts parses the host list; endpoints without a port get the
// storage's port once the whole block has been read.
func setStorageHosts(s *Storage, v value) error {
	eps, err := parseHostList(v.s)
	if err != nil {
		return err
	}
	s.Hosts = eps
	return nil
}

func setBackendStartupOptions(r *Rule, v value) error {
	r.BackendStartupOptions = append(r.BackendStartupOptions, v.pairs...)
	return nil
}

var authByName = map[string]AuthMethod{
	"none":          AuthNone,
	"block":         AuthBlock,
	"clear_text":    AuthClearText,
	"md5":           AuthMD5,
	"scram-sha-256": AuthSCRAM,
	"cert":          AuthCert,
	"external":      AuthExternal,
}

func setAuthentication(r *Rule, v value) error {
	r.Authentication = authByName[v.s]
	return nil
}

// setAuthCommonName appends one accepted certificate CN; the bare word
// default stands for "the user name" and is kept as "default".
func setAuthCommonName(r *Rule, v value) error {
	name := v.s
	if v.isDefault {
		name = "default"
	}
	r.AuthCommonName = append(r.AuthCommonName, name)
	return nil
}

var roleByName = map[string]Role{"admin": RoleAdmin, "stat": RoleStat, "notallow": RoleNotAllow}

func setRole(r *Rule, v value) error {
	r.Role = roleByName[v.s]
	return nil
}

var poolByName = map[string]PoolMode{
	"session":     PoolSession,
	"transaction": PoolTransaction,
	"statement":   PoolStatement,
}

func setPoolMode(r *Rule, v value) error {
	r.Pool = poolByName[v.s]
	return nil
}

// setQuantiles parses "0.99,0.95,0.5"; each quantile must lie in [0, 1].
func setQuantiles(r *Rule, v value) error {
	r.Quantiles = nil
	if strings.TrimSpace(v.s) == "" {
		return nil
	}
	for _, part := range strings.Split(v.s, ",") {
		q, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
		if err != nil || !(q >= 0 && q <= 1) {
			return fmt.Errorf("invalid quantile %q in %q: expected numbers between 0 and 1", truncate(part, 40), truncate(v.s, 64))
		}
		r.Quantiles = append(r.Quantiles, q)
	}
	return nil
}
