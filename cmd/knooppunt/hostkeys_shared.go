package main

import (
	"knooppunt/exchange"
	"knooppunt/hostkeys"
)

// loadHostKeys loads the SSH host keys: from the database when the hub keeps its records
// there (every node of the hub then presents the same fingerprints), else from DIR/hostkeys.
func loadHostKeys(data string, cfg exchange.Config) ([]hostkeys.Key, error) {
	if cfg.KV != nil {
		return hostkeys.LoadShared(cfg.KV, cfg.StoreName)
	}
	return hostkeys.Load(data)
}
