// Package ldapauth checks a user's cleartext password against an LDAP
// directory, for `authentication "clear_text"` rules with
// `ldap_endpoint_name`, the two ways PostgreSQL and Odyssey do:
//
//   - search+bind (ldapbasedn set): bind as ldapbinddn (anonymously when it
//     is empty), search the subtree of ldapbasedn for exactly one entry
//     whose ldapsearchattribute (default uid) is the user name, ANDed with
//     ldapsearchfilter when given, then bind as that entry with the
//     password;
//   - simple bind: bind as ldapprefix + user + ldapsuffix with the password.
//
// Every check opens its own connection and closes it: logins through LDAP
// are rare next to queries, and a fresh connection never carries a
// previous user's bind. The user name is escaped for the filter, and a
// user name that would change the structure of a DN is refused.
package ldapauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/odyssey-go/odyssey/internal/config"
)

// ErrInvalidCredentials means the directory does not know the user or the
// password is wrong; callers answer both the same way.
var ErrInvalidCredentials = errors.New("ldap: invalid credentials")

// DefaultTimeout bounds one check when the context has no deadline.
const DefaultTimeout = 10 * time.Second

// URL returns the address of an endpoint: ldapurl, or
// ldapscheme://ldapserver:ldapport with the scheme's default port.
func URL(ep *config.LDAPEndpoint) string {
	if ep.URL != "" {
		return ep.URL
	}
	scheme := ep.Scheme
	if scheme == "" {
		scheme = "ldap"
	}
	port := ep.Port
	if port == 0 {
		port = 389
		if scheme == "ldaps" {
			port = 636
		}
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(ep.Server, strconv.Itoa(port))}
	return u.String()
}

// Authenticate checks user and password against ep. It returns nil on
// success, an error wrapping ErrInvalidCredentials for an unknown user or
// a wrong password, and any other error when the directory could not give
// an answer (down, misconfigured, the search found several entries).
func Authenticate(ctx context.Context, ep *config.LDAPEndpoint, user, password string) error {
	if password == "" {
		// An LDAP bind with a DN and no password is an "unauthenticated
		// bind" that many servers accept: never let it through.
		return fmt.Errorf("%w: empty password", ErrInvalidCredentials)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	d := &net.Dialer{Deadline: deadline}
	conn, err := ldap.DialURL(URL(ep), ldap.DialWithDialer(d))
	if err != nil {
		return fmt.Errorf("ldap: connect to %s: %w", URL(ep), err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	conn.SetTimeout(time.Until(deadline))

	dn, err := userDN(conn, ep, user)
	if err != nil {
		return err
	}
	if err := conn.Bind(dn, password); err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return fmt.Errorf("%w: bind as %q refused", ErrInvalidCredentials, dn)
		}
		return fmt.Errorf("ldap: bind as %q: %w", dn, err)
	}
	return nil
}

// userDN finds the DN to bind as: by search with ldapbasedn, by prefix
// and suffix otherwise.
func userDN(conn *ldap.Conn, ep *config.LDAPEndpoint, user string) (string, error) {
	if ep.BaseDN == "" {
		if strings.ContainsAny(user, `,+"\<>;=#`) || strings.TrimSpace(user) != user {
			return "", fmt.Errorf("%w: user name %q cannot be put into a DN", ErrInvalidCredentials, user)
		}
		return ep.Prefix + user + ep.Suffix, nil
	}
	if ep.BindDN != "" || ep.BindPassword != "" {
		if err := conn.Bind(ep.BindDN, ep.BindPassword); err != nil {
			return "", fmt.Errorf("ldap: bind as ldapbinddn %q: %w", ep.BindDN, err)
		}
	}
	res, err := conn.Search(ldap.NewSearchRequest(
		ep.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, 0, false, Filter(ep, user), []string{"1.1"}, nil))
	if res == nil || (err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded)) {
		return "", fmt.Errorf("ldap: search %q: %w", ep.BaseDN, err)
	}
	switch n := len(res.Entries); {
	case n == 0:
		return "", fmt.Errorf("%w: no entry for user %q", ErrInvalidCredentials, user)
	case n > 1:
		return "", fmt.Errorf("ldap: search for user %q found several entries", user)
	}
	return res.Entries[0].DN, nil
}

// Filter returns the search filter for user: (attr=user), ANDed with
// ldapsearchfilter as Odyssey does.
func Filter(ep *config.LDAPEndpoint, user string) string {
	attr := ep.SearchAttribute
	if attr == "" {
		attr = "uid"
	}
	f := "(" + attr + "=" + ldap.EscapeFilter(user) + ")"
	if ep.SearchFilter != "" {
		f = "(&" + f + ep.SearchFilter + ")"
	}
	return f
}
