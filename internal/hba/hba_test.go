package hba

import (
	"net/netip"
	"strings"
	"testing"
)

const sample = `
# Odyssey-style hba_file
local   all         all                     trust
host    "db one",db2 alice,bob 10.0.0.0/8   allow   # comment after
hostssl all         all      192.168.1.0 255.255.255.0  allow
hostnossl sameuser  all      127.0.0.1/32   allow
host    all         mallory  all            reject
host    all         all      ::1/128        allow
host    all         all      0.0.0.0/0      deny
`

func TestParse(t *testing.T) {
	tab, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Rules) != 7 {
		t.Fatalf("%d rules", len(tab.Rules))
	}
	r := tab.Rules[1]
	if r.Line != 4 || r.Type != Host || r.Database.All || len(r.Database.List) != 2 || r.Database.List[0] != "db one" ||
		r.User.List[1] != "bob" || r.Address != netip.MustParsePrefix("10.0.0.0/8") || !r.Allow {
		t.Errorf("rule 2: %+v", r)
	}
	if p := tab.Rules[2].Address; p != netip.MustParsePrefix("192.168.1.0/24") {
		t.Errorf("netmask form parsed as %v", p)
	}
	if !tab.Rules[3].Database.SameUser {
		t.Errorf("sameuser not read: %+v", tab.Rules[3])
	}
	if tab.Rules[4].Address.IsValid() || tab.Rules[4].Allow {
		t.Errorf("all/reject: %+v", tab.Rules[4])
	}
}

func TestAllowed(t *testing.T) {
	tab, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr
	for _, tc := range []struct {
		name string
		c    Conn
		want bool
		line int
	}{
		{"unix socket", Conn{Database: "x", User: "y"}, true, 3},
		{"listed db and user", Conn{Addr: ip("10.1.2.3"), Database: "db one", User: "bob"}, true, 4},
		{"unlisted user falls through to deny", Conn{Addr: ip("10.1.2.3"), Database: "db2", User: "carol"}, false, 9},
		{"hostssl needs tls", Conn{Addr: ip("192.168.1.7"), TLS: false, Database: "x", User: "y"}, false, 9},
		{"hostssl with tls", Conn{Addr: ip("192.168.1.7"), TLS: true, Database: "x", User: "y"}, true, 5},
		{"hostnossl sameuser", Conn{Addr: ip("127.0.0.1"), Database: "al", User: "al"}, true, 6},
		{"hostnossl sameuser other db", Conn{Addr: ip("127.0.0.1"), Database: "x", User: "al"}, false, 9},
		{"hostnossl skips tls", Conn{Addr: ip("127.0.0.1"), TLS: true, Database: "al", User: "al"}, false, 9},
		{"reject before allow", Conn{Addr: ip("10.0.0.1"), Database: "db2", User: "mallory"}, false, 7},
		{"ipv6", Conn{Addr: ip("::1"), Database: "x", User: "y"}, true, 8},
		{"ipv4-mapped ipv6", Conn{Addr: ip("::ffff:10.0.0.9"), Database: "db2", User: "alice"}, true, 4},
	} {
		got, line := tab.Allowed(tc.c)
		if got != tc.want || line != tc.line {
			t.Errorf("%s: allowed %v by line %d, want %v by line %d", tc.name, got, line, tc.want, tc.line)
		}
	}
	if ok, line := (&Table{}).Allowed(Conn{Database: "d", User: "u"}); ok || line != 0 {
		t.Errorf("empty table allowed a client (line %d)", line)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		line, err string
	}{
		{"hots all all 1.2.3.4/32 allow", "invalid connection type"},
		{"host all all 1.2.3.4/32 md5", `unsupported method "md5"`},
		{"host all all 1.2.3.4/32", "missing method"},
		{"host all all allow", "invalid address"},
		{"host all all db.example.com allow", "host names are not supported"},
		{"host all all 1.2.3.4/33 allow", "invalid address range"},
		{"host all all 1.2.3.4 255.0.255.0 allow", "invalid netmask"},
		{"host all all 1.2.3.4 ffff:: allow", "same family"},
		{"host all +admins 1.2.3.4/32 allow", "group (+) and file (@)"},
		{"host @dbs all 1.2.3.4/32 allow", "group (+) and file (@)"},
		{"host samerole all 1.2.3.4/32 allow", "not supported"},
		{"host db,", "missing database name"},
		{"host all", "missing user name"},
		{`host "db all 1.2.3.4/32 allow`, "unterminated"},
		{"local all all trust clientcert=1", "options are not supported"},
		{"host", "missing database name"},
	} {
		_, err := Parse([]byte("# first\n" + tc.line + "\n"))
		if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "line 2: ") {
			t.Errorf("%q: error %v, want line 2 and %q", tc.line, err, tc.err)
		}
	}
}

func TestQuotedKeywordIsAName(t *testing.T) {
	tab, err := Parse([]byte(`host "all" "all" all allow`))
	if err != nil {
		t.Fatal(err)
	}
	c := Conn{Addr: netip.MustParseAddr("1.2.3.4"), Database: "x", User: "y"}
	if ok, _ := tab.Allowed(c); ok {
		t.Error(`"all" in quotes matched every database`)
	}
	c.Database, c.User = "all", "all"
	if ok, _ := tab.Allowed(c); !ok {
		t.Error(`"all" in quotes did not match the database named all`)
	}
}

func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, src []byte, db, user string, addr []byte, tls bool) {
		tab, err := Parse(src)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T is not *Error", err)
			}
			return
		}
		for _, r := range tab.Rules {
			if r.Line < 1 || r.Type > HostNoSSL {
				t.Fatalf("bad rule %+v", r)
			}
			if r.Type == Local && r.Address.IsValid() {
				t.Fatalf("local rule with an address: %+v", r)
			}
		}
		a, _ := netip.AddrFromSlice(addr)
		ok, line := tab.Allowed(Conn{Addr: a, TLS: tls, Database: db, User: user})
		if ok && line == 0 {
			t.Fatal("allowed without a rule")
		}
	})
}
