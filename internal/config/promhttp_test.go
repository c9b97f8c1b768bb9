package config

import (
	"strings"
	"testing"
)

// TestPromhttpKeywords covers the Prometheus endpoint settings: Odyssey's
// promhttp_server_port and our promhttp_server_address.
func TestPromhttpKeywords(t *testing.T) {
	tests := []struct {
		name     string
		items    string
		port     int
		addr     string
		err      string // the only error, when the config must fail
		warnings []string
	}{
		{name: "off by default"},
		{name: "port only", items: "promhttp_server_port 7777", port: 7777},
		{name: "port and IPv4", items: "promhttp_server_port 7777\npromhttp_server_address \"127.0.0.1\"", port: 7777, addr: "127.0.0.1"},
		{name: "port and IPv6", items: "promhttp_server_port 7777\npromhttp_server_address \"::1\"", port: 7777, addr: "::1"},
		{name: "every address", items: "promhttp_server_port 7777\npromhttp_server_address \"*\"", port: 7777, addr: "*"},
		{name: "host name", items: "promhttp_server_port 7777\npromhttp_server_address \"localhost\"", port: 7777, addr: "localhost"},
		{
			name:     "address without port",
			items:    `promhttp_server_address "127.0.0.1"`,
			addr:     "127.0.0.1",
			warnings: []string{"promhttp_server_address has no effect without promhttp_server_port"},
		},
		{
			name:  "address with a port",
			items: "promhttp_server_port 7777\npromhttp_server_address \"0.0.0.0:9127\"",
			err:   `test.conf:12:25: promhttp_server_address "0.0.0.0:9127" must be a host name or IP address without a port (the port is promhttp_server_port)`,
		},
		{
			name:  "port out of range",
			items: "promhttp_server_port 70000",
			err:   `test.conf:11:22: "promhttp_server_port" must be between 1 and 65535, found 70000`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := ruleConfig(validRule) + tt.items + "\n"
			if tt.err != "" {
				onlyError(t, mustFail(t, src), tt.err)
				return
			}
			cfg := mustParse(t, src)
			if cfg.PromhttpServerPort != tt.port || cfg.PromhttpServerAddress != tt.addr {
				t.Errorf("port %d address %q, want %d %q", cfg.PromhttpServerPort, cfg.PromhttpServerAddress, tt.port, tt.addr)
			}
			var got []string
			for _, w := range cfg.Warnings {
				got = append(got, w.Message)
			}
			if strings.Join(got, "\n") != strings.Join(tt.warnings, "\n") {
				t.Errorf("warnings %q, want %q", got, tt.warnings)
			}
		})
	}
}
