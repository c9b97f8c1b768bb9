package config

import (
	"net/netip"
	"reflect"
	"testing"
)

func TestParseHostList(t *testing.T) {
	tests := []struct {
		in   string
		want []Endpoint
	}{
		{"localhost", []Endpoint{{"localhost", 0}}},
		{"h1:5432", []Endpoint{{"h1", 5432}}},
		{"[localhost]:5432,localhost", []Endpoint{{"localhost", 5432}, {"localhost", 0}}},
		{"h1:5432,[h2]:5433:az,tcp://h3,unix:///path/.s.PGSQL.5432", []Endpoint{
			{"h1", 5432}, {"h2", 5433}, {"h3", 0}, {"/path", 5432},
		}},
		{"[klg-hostname.com]:klg", []Endpoint{{"klg-hostname.com", 0}}},
		{"[klg-hostname.com]:klg:1337", []Endpoint{{"klg-hostname.com", 1337}}},
		{"klg-hostname.com:1337:klg", []Endpoint{{"klg-hostname.com", 1337}}},
		{"[::1]:6432", []Endpoint{{"::1", 6432}}},
		{"::1", []Endpoint{{"::1", 0}}},
		{"[192.168.1.1]:5433", []Endpoint{{"192.168.1.1", 5433}}},
		{"tcp://localhost:1337,unix:///var/lib/postgresql/.s.PGSQL.5432", []Endpoint{
			{"localhost", 1337}, {"/var/lib/postgresql", 5432},
		}},
		{"unix:///var/run/postgresql", []Endpoint{{"/var/run/postgresql", 0}}},
		{" h1 , h2 ", []Endpoint{{"h1", 0}, {"h2", 0}}},
	}
	for _, tt := range tests {
		got, err := parseHostList(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseHostList(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseHostListErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "host list is empty"},
		{"h1,,h2", `invalid host list "h1,,h2": empty entry`},
		{"[h1:5432", `invalid host "[h1:5432": missing "]"`},
		{"[h1]5432", `invalid host "[h1]5432": unexpected "5432" after "]"`},
		{"h1:99999", `invalid host "h1:99999": invalid port "99999"`},
		{"h1:0", `invalid host "h1:0": invalid port "0"`},
		{"h1:5432x", `invalid host "h1:5432x": invalid port "5432x"`},
		{"h1:1:2", `invalid host "h1:1:2": port given twice`},
		{"h1:a:b", `invalid host "h1:a:b": availability zone given twice`},
		{"h1:", `invalid host "h1:": empty field after "h1"`},
		{":5432", `invalid host ":5432": host name is empty`},
		{"tcp://", `invalid host "tcp://": host name is empty`},
		{"unix://relative/.s.PGSQL.1", `invalid host "unix://relative/.s.PGSQL.1": unix socket path must be absolute`},
		{"unix:///tmp/.s.PGSQL.x", `invalid host "unix:///tmp/.s.PGSQL.x": socket file name: invalid port "x"`},
	}
	for _, tt := range tests {
		_, err := parseHostList(tt.in)
		if err == nil || err.Error() != tt.want {
			t.Errorf("parseHostList(%q) error = %v, want %q", tt.in, err, tt.want)
		}
	}
}

func TestStorageHostsUseStoragePort(t *testing.T) {
	// The port may come after host; endpoints without one get it.
	src := `log_format "x"
listen { host "*" }
storage "pg" {
	type "remote"
	host "h1,h2:6000,unix:///run/pg,[h3]"
	port 5555
}
database default { user default { authentication "none" storage "pg" pool "session" } }
`
	cfg := mustParse(t, src)
	want := []Endpoint{{"h1", 5555}, {"h2", 6000}, {"/run/pg", 5555}, {"h3", 5555}}
	if got := cfg.Storages[0].Hosts; !reflect.DeepEqual(got, want) {
		t.Errorf("hosts %v, want %v", got, want)
	}
}

func TestStorageHostError(t *testing.T) {
	src := preamble + `storage "bad" { type "remote" host "h1:70000" }` + "\n" +
		`database default { user default { authentication "none" storage "pg" pool "session" } }` + "\n"
	onlyError(t, mustFail(t, src), `test.conf:4:36: invalid host "h1:70000": invalid port "70000"`)
}

func TestParseAddressRange(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" for any address
	}{
		{"all", ""},
		{"ALL", ""},
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.9.8.7/8", "10.0.0.0/8"},
		{"1.2.3.4", "1.2.3.4/32"},
		{"::1", "::1/128"},
		{"fe80::/10", "fe80::/10"},
	}
	for _, tt := range tests {
		got, err := parseAddressRange(tt.in)
		if err != nil {
			t.Errorf("parseAddressRange(%q): %v", tt.in, err)
			continue
		}
		if tt.want == "" {
			if got != nil {
				t.Errorf("parseAddressRange(%q) = %v, want any", tt.in, got)
			}
			continue
		}
		if got == nil || *got != netip.MustParsePrefix(tt.want) {
			t.Errorf("parseAddressRange(%q) = %v, want %s", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{"", "localhost", "10.0.0.0/40", "1.2.3", "fe80::1%eth0", "10.0.0.0/x"} {
		if _, err := parseAddressRange(bad); err == nil {
			t.Errorf("parseAddressRange(%q) succeeded", bad)
		}
	}
}
