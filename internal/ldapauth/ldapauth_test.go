package ldapauth

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/testldap"
)

var srv *testldap.Server

func TestMain(m *testing.M) {
	s, err := testldap.Start()
	if err != nil {
		// Fail, do not skip: see testldap.
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	srv = s
	for _, u := range []testldap.User{
		{UID: "alice", Password: "alice-pw", Mail: "alice@example.org", Groups: []string{"dba"}},
		{UID: "bob", Password: "bob-pw", Mail: "bob@example.org"},
		{UID: "twin1", Password: "pw", Mail: "twin@example.org"},
		{UID: "twin2", Password: "pw", Mail: "twin@example.org"},
	} {
		if err := srv.AddUser(u); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			srv.Stop()
			os.Exit(1)
		}
	}
	code := m.Run()
	srv.Stop()
	os.Exit(code)
}

func endpoint() *config.LDAPEndpoint {
	return &config.LDAPEndpoint{Name: "test", Server: srv.Host, Port: srv.Port}
}

func TestSimpleBind(t *testing.T) {
	ep := endpoint()
	ep.Prefix = "uid="
	ep.Suffix = "," + testldap.PeopleDN
	for _, tc := range []struct {
		user, password string
		ok             bool
	}{
		{"alice", "alice-pw", true},
		{"alice", "wrong", false},
		{"alice", "", false},
		{"nobody", "alice-pw", false},
		{"alice,ou=people", "alice-pw", false},
		{" alice", "alice-pw", false},
	} {
		err := Authenticate(context.Background(), ep, tc.user, tc.password)
		if tc.ok && err != nil {
			t.Errorf("%q/%q: %v", tc.user, tc.password, err)
		}
		if !tc.ok && !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("%q/%q: error %v, want invalid credentials", tc.user, tc.password, err)
		}
	}
}

func TestSearchBind(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		bindDN, bindPW         string
		attr, filter           string
		user, password         string
		ok, invalidCredentials bool
	}{
		{"uid as admin", testldap.AdminDN, testldap.AdminPassword, "", "", "bob", "bob-pw", true, false},
		{"anonymous search", "", "", "", "", "bob", "bob-pw", true, false},
		{"wrong password", "", "", "", "", "bob", "nope", false, true},
		{"unknown user", "", "", "", "", "carol", "x", false, true},
		{"by mail", "", "", "mail", "", "alice@example.org", "alice-pw", true, false},
		{"filter admits", "", "", "uid", "(businessCategory=dba)", "alice", "alice-pw", true, false},
		{"filter refuses", "", "", "uid", "(businessCategory=dba)", "bob", "bob-pw", false, true},
		{"wildcard is escaped", "", "", "uid", "", "*", "pw", false, true},
		{"filter injection is escaped", "", "", "uid", "", "bob)(uid=*", "bob-pw", false, true},
		{"ambiguous", "", "", "mail", "", "twin@example.org", "pw", false, false},
		{"bad bind dn password", testldap.AdminDN, "wrong", "", "", "bob", "bob-pw", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := endpoint()
			ep.BaseDN = testldap.Suffix
			ep.BindDN, ep.BindPassword = tc.bindDN, tc.bindPW
			ep.SearchAttribute, ep.SearchFilter = tc.attr, tc.filter
			err := Authenticate(context.Background(), ep, tc.user, tc.password)
			switch {
			case tc.ok && err != nil:
				t.Fatal(err)
			case !tc.ok && err == nil:
				t.Fatal("accepted")
			case !tc.ok && errors.Is(err, ErrInvalidCredentials) != tc.invalidCredentials:
				t.Fatalf("error %v: invalid credentials should be %v", err, tc.invalidCredentials)
			}
		})
	}
}

func TestServerDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ep := &config.LDAPEndpoint{Server: "127.0.0.1", Port: port, Prefix: "uid="}
	err = Authenticate(context.Background(), ep, "alice", "alice-pw")
	if err == nil || errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("error %v", err)
	}
}

func TestTimeout(t *testing.T) {
	// A server that accepts and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ep := &config.LDAPEndpoint{Server: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, Prefix: "uid="}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := Authenticate(ctx, ep, "alice", "pw"); err == nil {
		t.Fatal("no error")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestURL(t *testing.T) {
	for _, tc := range []struct {
		ep   config.LDAPEndpoint
		want string
	}{
		{config.LDAPEndpoint{Server: "ldap.example"}, "ldap://ldap.example:389"},
		{config.LDAPEndpoint{Server: "ldap.example", Scheme: "ldaps"}, "ldaps://ldap.example:636"},
		{config.LDAPEndpoint{Server: "::1", Port: 3389}, "ldap://[::1]:3389"},
		{config.LDAPEndpoint{Server: "x", URL: "ldap://other:1"}, "ldap://other:1"},
	} {
		if got := URL(&tc.ep); got != tc.want {
			t.Errorf("URL(%+v) = %q, want %q", tc.ep, got, tc.want)
		}
	}
}

func TestFilter(t *testing.T) {
	ep := &config.LDAPEndpoint{}
	if f := Filter(ep, "a*b"); f != `(uid=a\2ab)` {
		t.Errorf("filter %q", f)
	}
	ep.SearchAttribute, ep.SearchFilter = "cn", "(objectClass=person)"
	if f := Filter(ep, "x"); f != "(&(cn=x)(objectClass=person))" {
		t.Errorf("filter %q", f)
	}
}
