// Package metrics exports the pooler's state to Prometheus, with the
// metric names of Odyssey's Go exporter (see descs.go).
//
// Nothing here runs per message: the relay keeps its counters and latency
// sketches in package stats with atomic adds, and the Collector reads
// them, the pools and the router when Prometheus scrapes, building
// constant metrics from what it finds. A scrape costs time in the number
// of routes and clients, never the hot path.
package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/odyssey-go/odyssey/internal/router"
	"github.com/odyssey-go/odyssey/internal/stats"
)

// Source is where the collector reads the pooler's state.
type Source struct {
	// Router returns the router; it is the same object across reloads.
	Router func() *router.Router
	// Logins returns how many clients are still logging in; nil reports 0.
	Logins func() int
	// Version is the pooler's version, for odyssey_version_info.
	Version string
}

// Collector is a prometheus.Collector reading a Source at scrape time.
type Collector struct {
	src Source
	d   *descs
}

// NewCollector returns a collector of src.
func NewCollector(src Source) *Collector {
	return &Collector{src: src, d: newDescs()}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.d.all() {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	rtr := c.src.Router()
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	gauge(d.version, 1, c.src.Version)
	gauge(d.up, 1)
	gauge(d.paused, boolValue(rtr.Paused()))

	routes := rtr.Routes()
	clients := rtr.Clients()
	samples := sampleRoutes(routes, router.CountClients(clients))

	c.collectLists(ch, samples, len(routes), len(clients))
	for _, e := range rtr.Errors() {
		ch <- prometheus.MustNewConstMetric(d.errors, prometheus.CounterValue, float64(e.Count), e.Kind.String())
	}
	for db, a := range averagesByDatabase(routes) {
		gauge(d.avgTx, a.xacts, db)
		gauge(d.avgQuery, a.queries, db)
		gauge(d.avgRecv, a.recv, db)
		gauge(d.avgSent, a.sent, db)
		gauge(d.avgXactTime, a.xactTimeUs/1e6, db)
		gauge(d.avgQueryTime, a.queryTimeUs/1e6, db)
		gauge(d.avgWaitTime, a.waitTimeUs/1e6, db)
	}
	for p, s := range samples {
		c.collectRoute(ch, p, s)
	}
}

// collectLists reports SHOW LISTS.
func (c *Collector) collectLists(ch chan<- prometheus.Metric, samples map[pair]*routeSample, routes, clients int) {
	d := c.d
	dbs, users := map[string]bool{}, map[string]bool{}
	var idle, used int
	for p, s := range samples {
		dbs[p.db], users[p.user] = true, true
		idle += s.svIdle
		used += s.svActive + s.svTested + s.svLogin
	}
	logins := 0
	if c.src.Logins != nil {
		logins = c.src.Logins()
	}
	for _, l := range []struct {
		desc *prometheus.Desc
		n    int
	}{
		{d.listDatabases, len(dbs)},
		{d.listUsers, len(users)},
		{d.listPools, routes},
		{d.listFreeClients, 0},
		{d.listUsedClients, clients},
		{d.listLoginClients, logins},
		{d.listFreeServers, idle},
		{d.listUsedServers, used},
		{d.listDNSNames, 0},
		{d.listDNSZones, 0},
		{d.listDNSQueries, 0},
	} {
		ch <- prometheus.MustNewConstMetric(l.desc, prometheus.GaugeValue, float64(l.n))
	}
}

// collectRoute reports one (database, user) pair.
func (c *Collector) collectRoute(ch chan<- prometheus.Metric, p pair, s *routeSample) {
	d := c.d
	lv := []string{p.user, p.db}
	gauge := func(desc *prometheus.Desc, v float64, extra ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, append(lv, extra...)...)
	}
	counter := func(desc *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), lv...)
	}

	gauge(d.clActive, float64(s.clActive))
	gauge(d.clWaiting, float64(s.clWaiting))
	gauge(d.maxWait, s.maxWait.Seconds())
	gauge(d.capacity, float64(s.capacity))
	for _, st := range []struct {
		name string
		n    int
	}{{"active", s.svActive}, {"idle", s.svIdle}, {"used", 0}, {"tested", s.svTested}, {"login", s.svLogin}} {
		gauge(d.serverState, float64(st.n), st.name)
	}
	for _, m := range s.modes {
		gauge(d.poolMode, 1, m.String())
	}

	t := s.totals
	counter(d.bytesReceived, t.BytesIn)
	counter(d.bytesSent, t.BytesOut)
	counter(d.tcpConnections, s.hists[histConnect].count)
	counter(d.xacts, t.Xacts)
	counter(d.queries, t.Queries)
	counter(d.assignments, t.Assignments)
	counter(d.cancels, t.Cancels)

	for i, desc := range [numHists]*prometheus.Desc{d.queryTime, d.xactTime, d.waitTime, d.connectTime} {
		h := s.hists[i]
		ch <- prometheus.MustNewConstHistogram(desc, h.count, h.sum, h.cum, lv...)
	}

	if s.quantRoute == nil {
		return
	}
	seen := make(map[string]bool)
	for _, q := range s.quantRoute.Rule().Quantiles {
		label := strconv.FormatFloat(q, 'f', -1, 64)
		if seen[label] {
			continue // "0.5,0.5" would repeat a series
		}
		seen[label] = true
		gauge(d.queryQuantile, stats.MergedQuantile(q, s.querySketches...).Seconds(), label)
		gauge(d.xactQuantile, stats.MergedQuantile(q, s.xactSketches...).Seconds(), label)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
