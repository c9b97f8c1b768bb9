package metrics

import "github.com/prometheus/client_golang/prometheus"

// Names follow Odyssey's Go exporter (prometheus/exporter/exporter.go in
// yandex/odyssey), which scrapes the console; where a metric means the
// same here it has the same name, type and labels, so dashboards and
// alerts written for Odyssey keep working. Route metrics are labelled
// {user, database} with the names clients connect with, as Odyssey's
// SHOW POOLS_EXTENDED reports them.
//
// Ours, not Odyssey's (Odyssey has no equivalent series):
//   - odyssey_route_transactions_total, odyssey_route_queries_total,
//     odyssey_route_server_assignments_total, odyssey_route_cancels_total
//     (SHOW STATS total_* columns, per route instead of per database);
//   - the histograms odyssey_route_query_time_seconds,
//     odyssey_route_transaction_time_seconds,
//     odyssey_route_pool_wait_time_seconds and
//     odyssey_route_server_connect_time_seconds; their _sum series are the
//     total query, transaction and wait times of SHOW STATS.
//
// Odyssey's that we cannot provide: none of the exporter's families is
// missing, but some series are constant because we lack the state behind
// them: odyssey_lists_free_clients (no client cache), the
// odyssey_lists_*dns* families (no DNS cache; Go resolves per dial), and
// odyssey_server_pool_state_route{state="used"} (no server_check_delay;
// Odyssey reports 0 too). odyssey_errors_total has only the kinds we count
// (stats.ErrorKind), which include OD_EAUTH, an addition.
//
// One differs in meaning: Odyssey's odyssey_route_tcp_connections_total
// (SHOW POOLS_EXTENDED tcp_conn_count) counts client connections routed to
// the route; the router keeps no such counter, so ours counts the server
// connections opened for it.
//
// odyssey_exporter_up is always 1: the exporter is built in, so when
// /metrics answers, the pooler is up.

// histBounds are the upper bounds, in seconds, of the latency histograms:
// 100µs to 10s, about three per decade.
var histBounds = []float64{
	0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05,
	0.1, 0.25, 0.5,
	1, 2.5, 5, 10,
}

// routeLabels are the labels of every route metric, in the order of
// Odyssey's exporter.
var routeLabels = []string{"user", "database"}

// descs are the descriptions of every family the collector exports. They
// are built per collector, so nothing is shared between instances.
type descs struct {
	version, up, paused *prometheus.Desc

	// SHOW LISTS
	listDatabases, listUsers, listPools                 *prometheus.Desc
	listFreeClients, listUsedClients, listLoginClients  *prometheus.Desc
	listFreeServers, listUsedServers                    *prometheus.Desc
	listDNSNames, listDNSZones, listDNSQueries          *prometheus.Desc
	errors                                              *prometheus.Desc
	avgTx, avgQuery, avgRecv, avgSent                   *prometheus.Desc
	avgXactTime, avgQueryTime, avgWaitTime              *prometheus.Desc
	clActive, clWaiting, maxWait, capacity, serverState *prometheus.Desc
	poolMode                                            *prometheus.Desc
	bytesReceived, bytesSent, tcpConnections            *prometheus.Desc
	queryQuantile, xactQuantile                         *prometheus.Desc

	// ours
	xacts, queries, assignments, cancels *prometheus.Desc
	queryTime, xactTime, waitTime        *prometheus.Desc
	connectTime                          *prometheus.Desc
}

func newDescs() *descs {
	route := func(name, help string, extra ...string) *prometheus.Desc {
		return prometheus.NewDesc("odyssey_"+name, help, append(append([]string(nil), routeLabels...), extra...), nil)
	}
	plain := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("odyssey_"+name, help, labels, nil)
	}
	perDB := func(name, help string) *prometheus.Desc {
		return plain("database_"+name, help, "database")
	}
	return &descs{
		version: plain("version_info", "Version of the pooler, as SHOW VERSION reports it; the value is always 1.", "version"),
		up:      plain("exporter_up", "Whether the pooler could be read; always 1 for the built-in endpoint."),
		paused:  plain("is_paused", "1 while the pooler is paused by the console's PAUSE, else 0."),

		listDatabases:    plain("lists_databases", "Distinct databases among the live routes."),
		listUsers:        plain("lists_users", "Distinct users among the live routes."),
		listPools:        plain("lists_pools", "Live routes, each with its own server pool."),
		listFreeClients:  plain("lists_free_clients", "Cached client slots; always 0, clients are not cached."),
		listUsedClients:  plain("lists_used_clients", "Clients past login, in their main phase."),
		listLoginClients: plain("lists_login_clients", "Clients still in their login phase."),
		listFreeServers:  plain("lists_free_servers", "Idle server connections in the pools."),
		listUsedServers:  plain("lists_used_servers", "Server connections not idle in a pool: attached, being reset or being opened."),
		listDNSNames:     plain("lists_cached_dns_names", "Names in the DNS cache; always 0, there is no cache."),
		listDNSZones:     plain("lists_cached_dns_zones", "Zones in the DNS cache; always 0, there is no cache."),
		listDNSQueries:   plain("lists_in_flight_dns_queries", "DNS queries in flight; always 0, not tracked."),

		errors: plain("errors_total", "Errors since start, by Odyssey's error kind (SHOW ERRORS).", "type"),

		avgTx:        perDB("avg_tx_per_second", "Transactions per second over the last stats_interval."),
		avgQuery:     perDB("avg_query_per_second", "Queries per second over the last stats_interval."),
		avgRecv:      perDB("avg_recv_bytes_per_second", "Bytes per second received from clients over the last stats_interval."),
		avgSent:      perDB("avg_sent_bytes_per_second", "Bytes per second sent to clients over the last stats_interval."),
		avgXactTime:  perDB("avg_xact_time_seconds", "Mean transaction time over the last stats_interval."),
		avgQueryTime: perDB("avg_query_time_seconds", "Mean query time over the last stats_interval."),
		avgWaitTime:  perDB("avg_wait_time_seconds", "Mean time clients waited for a server over the last stats_interval."),

		clActive:    route("client_pool_active_route", "Clients of the route with a server attached."),
		clWaiting:   route("client_pool_waiting_route", "Clients of the route waiting for a server."),
		maxWait:     route("client_pool_maxwait_seconds_route", "How long the route's oldest waiting client has waited."),
		capacity:    route("server_pool_capacity_configured_route", "The route's pool_size; open servers when the pool is unlimited."),
		serverState: route("server_pool_state_route", "Server connections of the route by state.", "state"),
		poolMode:    route("route_pool_mode_info", "The route's pool mode; the value is always 1.", "mode"),

		bytesReceived:  route("route_bytes_received_total", "Bytes received from the route's clients."),
		bytesSent:      route("route_bytes_sent_total", "Bytes sent to the route's clients (what its servers answered)."),
		tcpConnections: route("route_tcp_connections_total", "Server connections opened for the route."),
		queryQuantile:  route("route_query_duration_seconds", "Query time quantiles over the last stats_interval (the rule's quantiles).", "quantile"),
		xactQuantile:   route("route_transaction_duration_seconds", "Transaction time quantiles over the last stats_interval (the rule's quantiles).", "quantile"),

		xacts:       route("route_transactions_total", "Transactions finished on the route."),
		queries:     route("route_queries_total", "Requests answered on the route."),
		assignments: route("route_server_assignments_total", "Servers attached to the route's clients."),
		cancels:     route("route_cancels_total", "Cancel requests forwarded for the route's clients."),
		queryTime:   route("route_query_time_seconds", "Time from a request to its answer."),
		xactTime:    route("route_transaction_time_seconds", "Time from a transaction's first request to its end."),
		waitTime:    route("route_pool_wait_time_seconds", "Time clients waited for a server from the pool."),
		connectTime: route("route_server_connect_time_seconds", "Time to open and log in a server connection."),
	}
}

// all lists every description, for Describe.
func (d *descs) all() []*prometheus.Desc {
	return []*prometheus.Desc{
		d.version, d.up, d.paused,
		d.listDatabases, d.listUsers, d.listPools, d.listFreeClients, d.listUsedClients,
		d.listLoginClients, d.listFreeServers, d.listUsedServers, d.listDNSNames, d.listDNSZones,
		d.listDNSQueries, d.errors,
		d.avgTx, d.avgQuery, d.avgRecv, d.avgSent, d.avgXactTime, d.avgQueryTime, d.avgWaitTime,
		d.clActive, d.clWaiting, d.maxWait, d.capacity, d.serverState, d.poolMode,
		d.bytesReceived, d.bytesSent, d.tcpConnections, d.queryQuantile, d.xactQuantile,
		d.xacts, d.queries, d.assignments, d.cancels,
		d.queryTime, d.xactTime, d.waitTime, d.connectTime,
	}
}
