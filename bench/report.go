package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
)

// summary is the median of the rounds of one scenario on one target.
type summary struct {
	tps, latencyMs, p99Ms, cpuPerTxUs, peakRSSMB, heldRSSMB, seconds float64
	failed                                                           int64
	rounds                                                           int
}

func summarize(results []result) (order []string, targets []string, sums map[string]map[string]summary) {
	sums = make(map[string]map[string]summary)
	samples := make(map[[2]string][]result)
	for _, r := range results {
		key := [2]string{r.scenario, r.target}
		if _, ok := sums[r.scenario]; !ok {
			sums[r.scenario] = make(map[string]summary)
			order = append(order, r.scenario)
		}
		samples[key] = append(samples[key], r)
	}
	targets = []string{"direct", "pgbouncer", "odyssey"}
	for key, rs := range samples {
		var s summary
		pick := func(f func(result) float64) float64 {
			xs := make([]float64, len(rs))
			for i, r := range rs {
				xs[i] = f(r)
			}
			return median(xs)
		}
		s.tps = pick(func(r result) float64 { return r.tps })
		s.latencyMs = pick(func(r result) float64 { return r.latencyMs })
		s.p99Ms = pick(func(r result) float64 { return r.p99Ms })
		s.cpuPerTxUs = pick(func(r result) float64 { return r.cpuPerTxUs })
		s.peakRSSMB = pick(func(r result) float64 { return r.peakRSSMB })
		s.heldRSSMB = pick(func(r result) float64 { return r.heldRSSMB })
		s.seconds = pick(func(r result) float64 { return r.seconds })
		for _, r := range rs {
			s.failed += r.failed
		}
		s.rounds = len(rs)
		sums[key[0]][key[1]] = s
	}
	return order, targets, sums
}

// printTable prints one line per scenario and target with the medians and
// odyssey's ratios to direct and to PgBouncer.
func printTable(w io.Writer, results []result) {
	order, targets, sums := summarize(results)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "scenario\ttarget\ttps\tmean ms\tp99 ms\tfailed\tcpu µs/tx\tpeak RSS MB\theld RSS MB\ts/value\tvs direct\tvs pgbouncer\t")
	for _, sc := range order {
		for _, t := range targets {
			s, ok := sums[sc][t]
			if !ok {
				continue
			}
			vsDirect, vsBouncer := "", ""
			if t == "odyssey" {
				vsDirect = ratio(sc, s, sums[sc]["direct"])
				vsBouncer = ratio(sc, s, sums[sc]["pgbouncer"])
			} else if t == "pgbouncer" {
				vsDirect = ratio(sc, s, sums[sc]["direct"])
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", sc, t,
				num(s.tps, 0), num(s.latencyMs, 2), num(s.p99Ms, 2), s.failed,
				num(s.cpuPerTxUs, 1), num(s.peakRSSMB, 1), num(s.heldRSSMB, 1), num(s.seconds, 3), vsDirect, vsBouncer)
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "\nvs columns: tps ratio (and cpu/tx ratio against pgbouncer); for large-40mb the time ratio; for large-query-4x60mb the time and peak RSS ratios; for idle the held RSS ratio.")
}

// ratio compares s with base the way the scenario is judged.
func ratio(scenario string, s, base summary) string {
	switch {
	case base.rounds == 0:
		return ""
	case strings.HasPrefix(scenario, "idle"):
		return frac(s.heldRSSMB, base.heldRSSMB) + " rss"
	case scenario == "large-40mb":
		return frac(s.seconds, base.seconds) + " time"
	case scenario == "large-query-4x60mb":
		out := frac(s.seconds, base.seconds) + " time"
		if base.peakRSSMB > 0 {
			out += ", " + frac(s.peakRSSMB, base.peakRSSMB) + " rss"
		}
		return out
	}
	out := frac(s.tps, base.tps) + " tps"
	if base.cpuPerTxUs > 0 {
		out += ", " + frac(s.cpuPerTxUs, base.cpuPerTxUs) + " cpu"
	}
	return out
}

func frac(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64) + "x"
}

func num(v float64, prec int) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

// writeCSV saves every measurement.
func writeCSV(path string, results []result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := csv.NewWriter(f)
	w.Write([]string{"scenario", "target", "round", "tps", "latency_ms", "p99_ms", "failed", "transactions", "cpu_seconds", "cpu_us_per_tx", "peak_rss_mb", "held_rss_mb", "seconds"})
	for _, r := range results {
		w.Write([]string{r.scenario, r.target, strconv.Itoa(r.round),
			fmtF(r.tps), fmtF(r.latencyMs), fmtF(r.p99Ms), strconv.FormatInt(r.failed, 10),
			strconv.FormatInt(r.transactions, 10), fmtF(r.cpuSeconds), fmtF(r.cpuPerTxUs),
			fmtF(r.peakRSSMB), fmtF(r.heldRSSMB), fmtF(r.seconds)})
	}
	w.Flush()
	return w.Error()
}

func fmtF(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }
