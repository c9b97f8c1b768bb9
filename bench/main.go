// Command bench compares this pooler with PgBouncer and with PostgreSQL
// itself, on the same machine, in the same run.
//
// It starts a throwaway PostgreSQL (internal/testpg), loads pgbench data,
// starts PgBouncer and odyssey in transaction pooling with the same pool size
// and authentication, then runs each scenario against each target in turn
// (direct, pgbouncer, odyssey), round after round, so that drift on a shared
// machine hits all three alike. It prints one table of medians with ratios
// and writes every measurement to a CSV file.
//
//	go run ./bench -duration 15s -rounds 3
//
// Needs pgbench, psql and pgbouncer on PATH (make bench installs pgbouncer
// with apt-get when it is missing), and Go's toolchain to build odyssey.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/odyssey-go/odyssey/internal/testpg"
)

// options are the command-line settings.
type options struct {
	duration time.Duration
	rounds   int
	poolSize int
	only     string
	out      string
	idle     int
	odyssey  string
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 15*time.Second, "length of each pgbench run")
	flag.IntVar(&o.rounds, "rounds", 3, "runs of each scenario per target (the table shows medians)")
	flag.IntVar(&o.poolSize, "pool-size", 20, "server pool size of both poolers")
	flag.StringVar(&o.only, "only", "", "comma-separated scenario names to run (default all)")
	flag.StringVar(&o.out, "out", "bench/results", "directory for the CSV file and logs")
	flag.IntVar(&o.idle, "idle", 10000, "connections held open in the idle scenario")
	flag.StringVar(&o.odyssey, "odyssey", "", "odyssey binary to test (default: build ./cmd/odyssey)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if err := checkOnly(o); err != nil {
		return err
	}
	for _, tool := range []string{"pgbench", "pgbouncer"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found on PATH (make bench installs pgbouncer with apt-get)", tool)
		}
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "odyssey-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	os.Chmod(work, 0o755)

	fmt.Println("starting PostgreSQL...")
	pg, err := testpg.Start(testpg.Options{
		HBA: []string{"host all bench 127.0.0.1/32 scram-sha-256"},
		Settings: map[string]string{
			"max_connections":     "1100",
			"shared_buffers":      "256MB",
			"password_encryption": "scram-sha-256",
		},
	})
	if err != nil {
		return err
	}
	defer pg.Stop()
	// SIGINT or SIGTERM stop the run between measurements (pgbench is
	// killed), and the deferred stops clean up: no PostgreSQL, PgBouncer
	// or pooler is left behind.
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	for _, sql := range []string{
		"CREATE ROLE bench LOGIN SUPERUSER PASSWORD '" + benchPassword + "'",
		"CREATE DATABASE bench OWNER bench",
	} {
		if err := pg.Exec(ctx, sql); err != nil {
			return err
		}
	}
	fmt.Println("pgbench -i -s 10...")
	init := exec.Command("pgbench", "-i", "-s", "10", "-q", "-h", pg.Host, "-p", fmt.Sprint(pg.Port), "-U", "bench", "bench")
	init.Env = append(os.Environ(), "PGPASSWORD="+benchPassword)
	if out, err := init.CombinedOutput(); err != nil {
		return fmt.Errorf("pgbench -i: %v\n%s", err, out)
	}

	odyBin := o.odyssey
	if odyBin == "" {
		odyBin = filepath.Join(work, "odyssey")
		build := exec.Command("go", "build", "-o", odyBin, "./cmd/odyssey")
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("build odyssey: %v\n%s", err, out)
		}
	}

	var results []result
	for _, sc := range scenarios(o) {
		if o.only != "" && !slices.Contains(onlyNames(o), sc.name) {
			continue
		}
		fmt.Printf("== %s\n", sc.name)
		targets, stop, err := startTargets(work, pg, odyBin, o.poolSize, sc.auth)
		if err != nil {
			return err
		}
		for round := 1; round <= o.rounds; round++ {
			for _, t := range targets {
				if sc.skipDirect && t.name == "direct" {
					continue
				}
				r, err := sc.run(ctx, t, o, work)
				if err == nil {
					err = ctx.Err()
				}
				if err != nil {
					stop()
					if ctx.Err() != nil {
						return fmt.Errorf("interrupted during %s on %s", sc.name, t.name)
					}
					return fmt.Errorf("%s on %s: %w", sc.name, t.name, err)
				}
				r.scenario, r.target, r.round = sc.name, t.name, round
				fmt.Printf("   round %d %-9s %s\n", round, t.name, r.brief())
				results = append(results, r)
			}
		}
		stop()
	}
	csvPath := filepath.Join(o.out, "bench-"+time.Now().Format("20060102-150405")+".csv")
	if err := writeCSV(csvPath, results); err != nil {
		return err
	}
	printTable(os.Stdout, results)
	fmt.Println("\nall measurements:", csvPath)
	return nil
}

// onlyNames are the scenario names -only lists, spaces around them
// dropped.
func onlyNames(o options) []string {
	names := strings.Split(o.only, ",")
	for i := range names {
		names[i] = strings.TrimSpace(names[i])
	}
	return names
}

// median of a non-empty sample.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// checkOnly refuses a -only name that is no scenario, before anything
// starts: a typo would otherwise run nothing and print an empty table.
func checkOnly(o options) error {
	if o.only == "" {
		return nil
	}
	var names []string
	for _, sc := range scenarios(o) {
		names = append(names, sc.name)
	}
	for _, name := range onlyNames(o) {
		if !slices.Contains(names, name) {
			return fmt.Errorf("-only: no scenario %q (scenarios: %s)", name, strings.Join(names, ", "))
		}
	}
	return nil
}
