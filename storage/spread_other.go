//go:build !linux

package storage

// spread is a placement hint for Linux's ext4 (see spread_linux.go); elsewhere nothing.
func spread(string) {}

func isSpread(string) (spread, ok bool) { return false, false }
