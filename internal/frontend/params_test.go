package frontend

import (
	"fmt"
	"net"
	"testing"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/pgwire"
)

func TestClientStartup(t *testing.T) {
	addr := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 5555}
	tests := []struct {
		name       string
		params     []pgwire.Param
		rule       config.Rule
		wantParams string
		wantServer string
		wantApp    string
	}{
		{
			name: "options first, explicit parameters win",
			params: []pgwire.Param{{Name: "user", Value: "u"}, {Name: "database", Value: "d"},
				{Name: "datestyle", Value: "German"}, {Name: "options", Value: "-c DateStyle=SQL -c work_mem=3MB"}},
			wantParams: "[{DateStyle German} {work_mem 3MB}]",
			wantServer: "[{datestyle German} {options -c DateStyle=SQL -c work_mem=3MB}]",
		},
		{
			name:       "names PostgreSQL does not track are kept, in lower case",
			params:     []pgwire.Param{{Name: "Enable_SeqScan", Value: "off"}, {Name: "myapp.Tenant", Value: "4"}},
			wantParams: "[{enable_seqscan off} {myapp.tenant 4}]",
			wantServer: "[{Enable_SeqScan off} {myapp.Tenant 4}]",
		},
		{
			name:       "the rule's options override the client",
			params:     []pgwire.Param{{Name: "search_path", Value: "mine"}},
			rule:       config.Rule{Options: []config.KV{{Key: "search_path", Value: "app"}}},
			wantParams: "[{search_path app}]",
			wantServer: "[{search_path mine} {search_path app}]",
		},
		{
			name:       "application_name is set after login, not sent at startup",
			params:     []pgwire.Param{{Name: "application_name", Value: "psql"}, {Name: "TimeZone", Value: "UTC"}},
			wantParams: "[{application_name psql} {TimeZone UTC}]",
			wantServer: "[{TimeZone UTC}]",
			wantApp:    "psql",
		},
		{
			name:       "application_name_add_host",
			params:     []pgwire.Param{{Name: "application_name", Value: "app"}},
			rule:       config.Rule{ApplicationNameAddHost: true},
			wantParams: "[{application_name app - 10.0.0.7:5555}]",
			wantServer: "[]",
			wantApp:    "app - 10.0.0.7:5555",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := clientStartup(&pgwire.Startup{Params: tt.params}, &tt.rule, addr)
			if s := fmt.Sprint(got.params); s != tt.wantParams {
				t.Errorf("params %s, want %s", s, tt.wantParams)
			}
			if s := fmt.Sprint(got.server); s != tt.wantServer {
				t.Errorf("server %s, want %s", s, tt.wantServer)
			}
			if got.appName != tt.wantApp {
				t.Errorf("appName %q, want %q", got.appName, tt.wantApp)
			}
		})
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct{ in, want string }{
		{"-c work_mem=3MB", "[{work_mem 3MB}]"},
		{"-cwork_mem=3MB --search-path=a,b", "[{work_mem 3MB} {search_path a,b}]"},
		{`-c search_path=a\ b -c x`, "[{search_path a b}]"},
		{"-B 100 -c", "[]"},
		{"  ", "[]"},
	}
	for _, tt := range tests {
		if got := fmt.Sprint(parseOptions(tt.in)); got != tt.want && !(got == "[]" && tt.want == "[]") {
			t.Errorf("parseOptions(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// FuzzClientStartup: whatever a startup packet holds, reading its session
// settings never panics, and every name it keeps is non-empty.
func FuzzClientStartup(f *testing.F) {
	for _, seed := range []string{
		"options\x00-c work_mem=3MB\x00", "options\x00-c\x00", "options\x00\\\x00",
		"DateStyle\x00ISO\x00options\x00--datestyle=SQL -cfoo=bar\x00",
		"application_name\x00x\x00user\x00u\x00",
	} {
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, kv []byte, addHost bool) {
		var params []pgwire.Param
		for i := 0; ; {
			name, rest, ok := cut0(kv[i:])
			if !ok {
				break
			}
			value, rest2, ok := cut0(rest)
			if !ok {
				break
			}
			params = append(params, pgwire.Param{Name: name, Value: value})
			i = len(kv) - len(rest2)
		}
		rule := &config.Rule{ApplicationNameAddHost: addHost}
		got := clientStartup(&pgwire.Startup{Params: params}, rule, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		for _, p := range got.params {
			if p.Name == "" {
				t.Fatalf("empty name in %v", got.params)
			}
		}
	})
}

func cut0(b []byte) (string, []byte, bool) {
	for i, c := range b {
		if c == 0 {
			return string(b[:i]), b[i+1:], true
		}
	}
	return "", nil, false
}
