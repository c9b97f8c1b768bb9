package config

import (
	"fmt"
	"net/netip"
	"path"
	"strconv"
	"strings"
)

// parseHostList parses a storage's host string, a comma-separated list of
// endpoints in Odyssey's syntax:
//
//	host
//	host:port
//	[host]:port
//	host:port:availability_zone   (the zone may come before the port)
//	tcp://host:port
//	unix:///run/postgresql/.s.PGSQL.5432
//
// A port of 0 in the result means "not given": the storage's port applies.
// Availability zones are accepted and dropped, as nothing uses them yet.
func parseHostList(s string) ([]Endpoint, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("host list is empty")
	}
	var eps []Endpoint
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("invalid host list %q: empty entry", truncate(s, 80))
		}
		ep, err := parseEndpoint(part)
		if err != nil {
			return nil, fmt.Errorf("invalid host %q: %v", truncate(part, 80), err)
		}
		eps = append(eps, ep)
	}
	return eps, nil
}

// parseEndpoint parses one entry of a host list.
func parseEndpoint(e string) (Endpoint, error) {
	if rest, ok := strings.CutPrefix(e, "unix://"); ok {
		return parseUnixEndpoint(rest)
	}
	e = strings.TrimPrefix(e, "tcp://")
	host, fields, err := splitHost(e)
	if err != nil {
		return Endpoint{}, err
	}
	ep := Endpoint{Host: host}
	zone := false
	for _, f := range fields {
		switch {
		case f == "":
			return Endpoint{}, fmt.Errorf("empty field after %q", host)
		case isDigit(f[0]):
			if ep.Port != 0 {
				return Endpoint{}, fmt.Errorf("port given twice")
			}
			port, err := parsePort(f)
			if err != nil {
				return Endpoint{}, err
			}
			ep.Port = port
		default:
			if zone {
				return Endpoint{}, fmt.Errorf("availability zone given twice")
			}
			zone = true
		}
	}
	return ep, nil
}

// splitHost separates the host from the ":port:zone" fields after it. A
// bracketed host may contain colons; so may a bare IPv6 address, which is
// recognised as a whole.
func splitHost(e string) (host string, fields []string, err error) {
	var rest string
	hasRest := false
	switch {
	case strings.HasPrefix(e, "["):
		end := strings.IndexByte(e, ']')
		if end < 0 {
			return "", nil, fmt.Errorf(`missing "]"`)
		}
		host, rest = e[1:end], e[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return "", nil, fmt.Errorf(`unexpected %q after "]"`, rest)
			}
			rest, hasRest = rest[1:], true
		}
	case isIPv6(e):
		host = e
	default:
		host, rest, hasRest = strings.Cut(e, ":")
	}
	if host == "" {
		return "", nil, fmt.Errorf("host name is empty")
	}
	if hasRest {
		fields = strings.Split(rest, ":")
	}
	return host, fields, nil
}

func isIPv6(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6()
}

func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("invalid port %q", truncate(s, 20))
	}
	return n, nil
}

// parseUnixEndpoint turns the path of a unix:// entry into a socket
// directory and port, the way libpq names sockets: a path ending in
// ".s.PGSQL.<port>" is a socket file; any other path is a directory whose
// socket uses the storage's port.
func parseUnixEndpoint(p string) (Endpoint, error) {
	if !strings.HasPrefix(p, "/") {
		return Endpoint{}, fmt.Errorf("unix socket path must be absolute")
	}
	p = path.Clean(p)
	suffix, ok := strings.CutPrefix(path.Base(p), ".s.PGSQL.")
	if !ok {
		return Endpoint{Host: p}, nil
	}
	port, err := parsePort(suffix)
	if err != nil {
		return Endpoint{}, fmt.Errorf("socket file name: %v", err)
	}
	return Endpoint{Host: path.Dir(p), Port: port}, nil
}

// parseAddressRange parses the address selector of a user rule: "all" (or
// nothing) matches any address, "a.b.c.d/n" and IPv6 CIDR ranges match a
// network, and a bare IP address matches just that address. Odyssey also
// accepts host names, matched by reverse DNS; those are refused here rather
// than silently matching every client.
func parseAddressRange(s string) (*netip.Prefix, error) {
	if strings.EqualFold(s, "all") {
		return nil, nil
	}
	if strings.Contains(s, "/") {
		prefix, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("invalid address range %q: expected an IP address, a CIDR range or \"all\"", truncate(s, 80))
		}
		prefix = prefix.Masked()
		return &prefix, nil
	}
	addr, err := netip.ParseAddr(s)
	if err == nil && addr.Zone() == "" {
		prefix := netip.PrefixFrom(addr, addr.BitLen())
		return &prefix, nil
	}
	if looksLikeHostName(s) {
		return nil, fmt.Errorf("address %q is a host name; host-name address ranges are not supported, use an IP address, a CIDR range or \"all\"", truncate(s, 80))
	}
	return nil, fmt.Errorf("invalid address %q: expected an IP address, a CIDR range or \"all\"", truncate(s, 80))
}

// looksLikeHostName is a loose RFC 952 check, only used to word errors.
func looksLikeHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(isIdentPart(c) && c != '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
