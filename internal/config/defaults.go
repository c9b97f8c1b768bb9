package config

// The constructors below hold Odyssey's defaults (config.c od_config_init,
// od_config_listen_add, rules.c od_rules_add, pool.c od_rule_pool_alloc).
// Keywords only override what they name, so every object starts here.

func newConfig(path string) *Config {
	return &Config{
		Path:                      path,
		LogToStdout:               true,
		LogSession:                true,
		LogStats:                  true,
		StatsInterval:             3,
		Workers:                   1,
		Nodelay:                   true,
		Keepalive:                 15,
		KeepaliveKeepInterval:     5,
		KeepaliveProbes:           3,
		ClientMax:                 -1,
		BackendConnectTimeoutMs:   30000,
		CancelTimeoutMs:           1000,
		GracefulShutdownTimeoutMs: 30000,
		VirtualTransaction:        true,
		AuthFailureDelayMs:        1000,
	}
}

func newListen(pos Position) *Listen {
	return &Listen{
		Pos:                pos,
		Port:               6432,
		Backlog:            128,
		ClientLoginTimeout: 15000,
	}
}

func newStorage(name string, pos Position) *Storage {
	return &Storage{Pos: pos, Name: name, Type: StorageRemote, Port: 5432}
}

func newRule(pos Position) *Rule {
	return &Rule{
		Pos:                  pos,
		PoolDiscard:          true,
		PoolCancel:           true,
		PoolRollback:         true,
		PoolResetTimeoutMs:   1000,
		PoolAttachCheck:      true,
		PoolReservePrepared:  true,
		ServerLifetime:       3600,
		ClientMax:            -1,
		MaintainParams:       true,
		ReserveSessionServer: true,
		// Odyssey's default is no, and there a LISTEN in a transaction
		// pool silently stops receiving once its transaction ends. A client
		// that LISTENs keeps its server here instead, unless the rule says
		// no, which refuses LISTEN (0A000).
		PoolPinOnListen: true,
	}
}

// Default returns the global settings of a config that sets nothing:
// Odyssey's defaults (the console's SHOW CONFIG shows them).
func Default() *Config { return newConfig("") }
