package sshserver

import (
	"log/slog"
	"time"

	"knooppunt/exchange"
)

// failLimiter counts failed logins per key and tells when a key is refused: in this
// process's memory (authLimiter) or, when several nodes share the hub's store, in the store,
// so that an address or account is limited by what it did at every node together.
type failLimiter interface {
	blocked(key string) bool
	fail(key string) bool
}

// sharedLimiter is a failLimiter whose counts live in the hub's shared store (table names
// the count: address, account or pair).
type sharedLimiter struct {
	hub    *exchange.Hub
	log    *slog.Logger
	table  string
	max    int
	window time.Duration
}

// newFailLimiter is the limiter for table: in the store when the hub shares it with other
// nodes, else in memory.
func newFailLimiter(hub *exchange.Hub, log *slog.Logger, table string, max int, window time.Duration) failLimiter {
	if hub.SharedStore() {
		return &sharedLimiter{hub: hub, log: log, table: table, max: max, window: window}
	}
	return newAuthLimiter(max, window, hub.Now)
}

// blocked errs on the side of letting the login go on when the store cannot answer: the
// login itself needs the store and fails anyway.
func (l *sharedLimiter) blocked(key string) bool {
	b, err := l.hub.FailuresBlocked(l.table, key, l.max, l.window)
	if err != nil {
		l.log.Warn("telling van mislukte aanmeldingen lezen", "soort", l.table, "err", err)
	}
	return b
}

func (l *sharedLimiter) fail(key string) bool {
	reached, err := l.hub.CountFailure(l.table, key, l.max, l.window)
	if err != nil {
		l.log.Warn("mislukte aanmelding tellen", "soort", l.table, "err", err)
	}
	return reached
}
