//go:build bench

package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/odyssey-go/odyssey/internal/testpg"
)

// TestTLSBench compares TLS through the pooler with TLS straight to
// PostgreSQL on this machine: the time to receive a 40 MB value (Odyssey
// users measured it 29x slower than PgBouncer, yandex/odyssey#526) and
// pgbench -S with and without -C (a TLS handshake per transaction). Runs
// are interleaved across targets, three rounds, medians reported.
//
//	go test -tags bench -run TestTLSBench -v -timeout 30m ./integration
//
// BENCH_DURATION sets each pgbench run (default 10s), BENCH_CLIENTS its
// clients (default 8).
func TestTLSBench(t *testing.T) {
	duration := 10 * time.Second
	if v := os.Getenv("BENCH_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		duration = d
	}
	clients := 8
	if v := os.Getenv("BENCH_CLIENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatal(err)
		}
		clients = n
	}
	const rounds = 3

	k := newTLSPKI(t)
	srv := pgTLS(t, k, nil, map[string]string{"max_connections": "200", "shared_buffers": "128MB"})
	init := exec.Command(srv.Bin("pgbench"), "-i", "-s", "10", "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(srv.Port), "-U", testpg.SuperUser, "postgres")
	init.Env = append(os.Environ(), "PGSSLMODE=disable")
	if out, err := init.CombinedOutput(); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}

	listen := fmt.Sprintf("\ttls \"allow\"\n\ttls_cert_file %q\n\ttls_key_file %q", k.certFile, k.keyFile)
	poolerConf := func(storageTLS string) string {
		return fmt.Sprintf(`
log_format "%%p %%t %%l [%%i %%s] (%%c) %%m\n"
log_to_stdout no
log_session no
listen {
	host "127.0.0.1"
	port {{PORT}}
%s
}
storage "pg" {
	type "remote"
	host "127.0.0.1"
	port %d
	%s
}
database default {
	user default {
		authentication "none"
		storage "pg"
		pool "transaction"
		pool_size 20
		pool_discard no
	}
}
`, listen, srv.Port, storageTLS)
	}
	plainServers := startPooler(t, poolerConf(""))
	tlsServers := startPooler(t, poolerConf(`tls "require"`))

	type target struct {
		name    string
		port    int
		sslmode string
	}
	// The plain-text rows show what TLS itself costs.
	targets := []target{
		{"direct PostgreSQL, plain", srv.Port, "disable"},
		{"direct PostgreSQL, TLS", srv.Port, "require"},
		{"odyssey: plain client, plain server", plainServers.port, "disable"},
		{"odyssey: TLS client, plain server", plainServers.port, "require"},
		{"odyssey: TLS client, TLS server", tlsServers.port, "require"},
	}
	dsn := func(tg target) string {
		return fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=postgres sslmode=%s", tg.port, testpg.SuperUser, tg.sslmode)
	}

	// The 40 MB value: time from sending the query to having the whole
	// value, on an open connection.
	large := map[string][]float64{}
	for range rounds {
		for _, tg := range targets {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			c, err := pgconn.Connect(ctx, dsn(tg))
			if err != nil {
				cancel()
				t.Fatalf("%s: %v", tg.name, err)
			}
			for range 3 {
				start := time.Now()
				res := c.ExecParams(ctx, "select repeat('x', 40000000)", nil, nil, nil, nil).Read()
				if res.Err != nil || len(res.Rows) != 1 || len(res.Rows[0][0]) != 40000000 {
					t.Fatalf("%s: %v", tg.name, res.Err)
				}
				large[tg.name] = append(large[tg.name], time.Since(start).Seconds())
				t.Logf("%-40s 40 MB value in %.3f s", tg.name, time.Since(start).Seconds())
			}
			c.Close(ctx)
			cancel()
		}
	}

	// pgbench -S, with and without a new connection per transaction.
	tps := map[string][]float64{}
	for range rounds {
		for _, connect := range []bool{false, true} {
			for _, tg := range targets {
				args := []string{"-S", "-n", "-c", strconv.Itoa(clients), "-j", "2", "-T", strconv.Itoa(int(duration.Seconds())),
					"-h", "127.0.0.1", "-p", strconv.Itoa(tg.port), "-U", testpg.SuperUser}
				key := tg.name
				if connect {
					args = append(args, "-C")
					key += " -C"
				}
				args = append(args, "postgres")
				cmd := exec.Command(srv.Bin("pgbench"), args...)
				cmd.Env = append(os.Environ(), "PGSSLMODE="+tg.sslmode)
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%s: pgbench: %v\n%s", key, err, out)
				}
				tps[key] = append(tps[key], pgbenchTPS(t, string(out)))
				t.Logf("%-43s %8.0f tps", key, tps[key][len(tps[key])-1])
			}
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\nTLS benchmark (%d rounds, medians; pgbench -S -c %d -j 2 -T %v)\n", rounds, clients, duration)
	fmt.Fprintf(&b, "%-40s %14s %14s %14s\n", "target", "40 MB value s", "-S tps", "-S -C tps")
	// (each cell: median of the rounds; the 40 MB value is the median of
	// three queries per round)
	for _, tg := range targets {
		fmt.Fprintf(&b, "%-40s %14.3f %14.0f %14.0f\n", tg.name, median(large[tg.name]), median(tps[tg.name]), median(tps[tg.name+" -C"]))
	}
	t.Log(b.String())
}

var tpsLine = regexp.MustCompile(`tps = ([0-9.]+) \((?:without initial connection time|excluding connections establishing|including reconnection times)\)`)

func pgbenchTPS(t *testing.T, out string) float64 {
	t.Helper()
	m := tpsLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no tps in pgbench output:\n%s", out)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
