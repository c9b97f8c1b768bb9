package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// scenario is one workload.
type scenario struct {
	name       string
	auth       string // client authentication of the poolers: md5 or scram-sha-256
	skipDirect bool
	run        func(ctx context.Context, t target, o options, work string) (result, error)
}

func scenarios(o options) []scenario {
	pgb := func(args ...string) func(context.Context, target, options, string) (result, error) {
		return func(ctx context.Context, t target, o options, work string) (result, error) {
			return runPgbench(ctx, t, o, work, args)
		}
	}
	return []scenario{
		{name: "select-16", auth: "md5", run: pgb("-S", "-c", "16")},
		{name: "select-256", auth: "md5", run: pgb("-S", "-c", "256")},
		{name: "select-1000", auth: "md5", run: pgb("-S", "-c", "1000")},
		{name: "extended-16", auth: "md5", run: pgb("-S", "-M", "extended", "-c", "16")},
		{name: "tpcb-64", auth: "md5", run: pgb("-c", "64")},
		{name: "churn-scram-16", auth: "scram-sha-256", run: pgb("-S", "-C", "-c", "16")},
		{name: "churn-md5-16", auth: "md5", run: pgb("-S", "-C", "-c", "16")},
		{name: fmt.Sprintf("idle-%d", o.idle), auth: "md5", skipDirect: true, run: runIdle},
		{name: "large-40mb", auth: "md5", run: runLarge},
		{name: "large-query-4x60mb", auth: "md5", run: runLargeQueries},
	}
}

// result is one measurement of one scenario on one target.
type result struct {
	scenario, target string
	round            int
	tps              float64
	latencyMs        float64 // mean
	p99Ms            float64
	failed           int64
	transactions     int64
	cpuSeconds       float64 // pooler utime+stime during the run
	cpuPerTxUs       float64 // pooler CPU microseconds per transaction
	peakRSSMB        float64 // pooler VmHWM during the run
	heldRSSMB        float64 // pooler VmRSS holding the idle connections
	seconds          float64 // wall time of the measured work (large result)
}

func (r result) brief() string {
	switch {
	case strings.HasPrefix(r.scenario, "idle"):
		return fmt.Sprintf("held RSS %.1f MB, peak RSS %.1f MB", r.heldRSSMB, r.peakRSSMB)
	case r.scenario == "large-40mb":
		return fmt.Sprintf("%.3f s per 40 MB value, peak RSS %.1f MB", r.seconds, r.peakRSSMB)
	case r.scenario == "large-query-4x60mb":
		return fmt.Sprintf("%.3f s for four 60 MB queries at once, peak RSS %.1f MB", r.seconds, r.peakRSSMB)
	case r.transactions == 0:
		// PostgreSQL alone starts a backend per client, slowly on small
		// machines: 1000 of them can take longer than the run.
		return "no transaction finished: opening the connections took the whole run (try a longer -duration)"
	}
	return fmt.Sprintf("tps %.0f, mean %.2f ms, p99 %.2f ms, failed %d, cpu/tx %.1f µs, peak RSS %.1f MB",
		r.tps, r.latencyMs, r.p99Ms, r.failed, r.cpuPerTxUs, r.peakRSSMB)
}

// probe watches a pooler process: CPU time and peak RSS over a run.
type probe struct {
	pid  int
	cpu0 float64
}

func startProbe(pid int) *probe {
	if pid == 0 {
		return nil
	}
	// Writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS.
	os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	return &probe{pid: pid, cpu0: cpuSeconds(pid)}
}

func (p *probe) finish(r *result) {
	if p == nil {
		return
	}
	r.cpuSeconds = cpuSeconds(p.pid) - p.cpu0
	if r.transactions > 0 {
		r.cpuPerTxUs = r.cpuSeconds / float64(r.transactions) * 1e6
	}
	r.peakRSSMB = peakRSS(p.pid)
}

// cpuSeconds is utime+stime of pid from /proc/pid/stat.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	// Fields after the command name (which may contain spaces) in parentheses.
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+2:])
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ is 100 on Linux
}

// peakRSS is VmHWM of pid in MB.
func peakRSS(pid int) float64 { return procStatusMB(pid, "VmHWM:") }

// procStatusMB reads a kB field of /proc/pid/status, in MB.
func procStatusMB(pid int, field string) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

var (
	// pgbench -C reports tps including reconnection times.
	reTPS     = regexp.MustCompile(`tps = ([0-9.]+) \((?:without initial connection time|including reconnection times)\)`)
	reLatency = regexp.MustCompile(`latency average = ([0-9.]+) ms`)
	reFailed  = regexp.MustCompile(`number of failed transactions: ([0-9]+)`)
	reDone    = regexp.MustCompile(`number of transactions actually processed: ([0-9]+)`)
)

// runPgbench runs pgbench with args against t and parses its report and
// its sampled per-transaction log (for p99).
func runPgbench(ctx context.Context, t target, o options, work string, args []string) (result, error) {
	logDir, err := os.MkdirTemp(work, "pgbench-log-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(logDir)
	full := append([]string{
		"-h", t.host, "-p", strconv.Itoa(t.port), "-U", "bench",
		"-j", "2", "-T", strconv.Itoa(int(o.duration.Seconds())),
		"-l", "--sampling-rate", "0.05", "--log-prefix", filepath.Join(logDir, "tx"),
		"-n", // no vacuum before the run
	}, args...)
	full = append(full, "bench")
	cmd := exec.CommandContext(ctx, "pgbench", full...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+benchPassword)
	p := startProbe(t.pid)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("pgbench %v: %v\n%s", full, err, out)
	}
	var r result
	text := string(out)
	r.tps = matchFloat(reTPS, text)
	r.latencyMs = matchFloat(reLatency, text)
	r.failed = int64(matchFloat(reFailed, text))
	r.transactions = int64(matchFloat(reDone, text))
	p.finish(&r)
	r.p99Ms, err = p99FromLogs(logDir)
	return r, err
}

func matchFloat(re *regexp.Regexp, s string) float64 {
	m := re.FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// p99FromLogs reads pgbench's per-transaction logs: the third field is the
// latency in microseconds.
func p99FromLogs(dir string) (float64, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "tx*"))
	var lat []float64
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return 0, err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 3 {
				continue
			}
			if us, err := strconv.ParseFloat(fields[2], 64); err == nil {
				lat = append(lat, us)
			}
		}
		f.Close()
	}
	if len(lat) == 0 {
		return 0, nil
	}
	sort.Float64s(lat)
	return lat[int(float64(len(lat)-1)*0.99)] / 1000, nil
}

// runIdle opens o.idle connections (logged in, idle) and reports the
// pooler's peak RSS while they are held.
func runIdle(ctx context.Context, t target, o options, work string) (result, error) {
	p := startProbe(t.pid)
	conns := make([]*pgconn.PgConn, o.idle)
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	sem := make(chan struct{}, 64)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			c, err := pgconn.Connect(cctx, t.dsn())
			if err != nil {
				select {
				case errs <- fmt.Errorf("connection %d: %w", i, err):
				default:
				}
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close(ctx)
			}
		}
	}()
	select {
	case err := <-errs:
		return result{}, err
	default:
	}
	// Held, not peak: logging in 10,000 clients costs more than keeping
	// them, and idle clients hibernate after a second (relay.Sleeper).
	// Time passing is what is measured here, hence the sleep.
	time.Sleep(3 * time.Second)
	var r result
	p.finish(&r)
	r.heldRSSMB = procStatusMB(t.pid, "VmRSS:")
	return r, nil
}

// runLarge measures the time to receive select repeat('x', 40000000), the
// median of five queries on one connection.
// runLargeQueries sends four 60 MB queries at once (a 60 MB literal each),
// three times: what the pooler holds for clients' large messages shows in
// its peak RSS.
func runLargeQueries(ctx context.Context, t target, o options, work string) (result, error) {
	const size = 60_000_000
	sql := "select length('" + strings.Repeat("x", size) + "')"
	conns := make([]*pgconn.PgConn, 4)
	for i := range conns {
		c, err := pgconn.Connect(ctx, t.dsn())
		if err != nil {
			return result{}, err
		}
		defer c.Close(ctx)
		conns[i] = c
	}
	p := startProbe(t.pid)
	var times []float64
	for range 3 {
		start := time.Now()
		errs := make(chan error, len(conns))
		for _, c := range conns {
			go func() {
				res, err := c.Exec(ctx, sql).ReadAll()
				switch {
				case err != nil:
				case len(res) != 1 || len(res[0].Rows) != 1 || string(res[0].Rows[0][0]) != strconv.Itoa(size):
					err = fmt.Errorf("unexpected result")
				}
				errs <- err
			}()
		}
		for range conns {
			if err := <-errs; err != nil {
				return result{}, err
			}
		}
		times = append(times, time.Since(start).Seconds())
	}
	r := result{seconds: median(times), transactions: int64(3 * len(conns))}
	p.finish(&r)
	return r, nil
}

func runLarge(ctx context.Context, t target, o options, work string) (result, error) {
	p := startProbe(t.pid)
	c, err := pgconn.Connect(ctx, t.dsn())
	if err != nil {
		return result{}, err
	}
	defer c.Close(ctx)
	var times []float64
	for range 5 {
		start := time.Now()
		res := c.ExecParams(ctx, "select repeat('x', 40000000)", nil, nil, nil, nil).Read()
		if res.Err != nil {
			return result{}, res.Err
		}
		if len(res.Rows) != 1 || len(res.Rows[0][0]) != 40000000 {
			return result{}, fmt.Errorf("unexpected result shape")
		}
		times = append(times, time.Since(start).Seconds())
	}
	r := result{seconds: median(times), transactions: 5}
	p.finish(&r)
	return r, nil
}
