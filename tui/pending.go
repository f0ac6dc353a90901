//go:build !engine

package tui

import (
	"time"

	"knooppunt/exchange"
)

// The berichtenlog and routing types, as the team contract fixes them, while package exchange
// builds them only with the engine tag; pending_engine.go aliases them there.

type MessageFilter struct {
	From, To                                            time.Time
	Functie, Direction, Counterpart, Status, Referentie string
	Limit, Offset                                       int
}

type RouteView struct {
	exchange.Route
	Exchange      exchange.Exchange
	Locked        bool
	LockedReason  string
	StUF, Payload string
}
