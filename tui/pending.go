package tui

import (
	"time"

	"knooppunt/exchange"
)

// The engine's list types, as the team contract fixes them, until package exchange exports
// them; then these become aliases.

type ListOptions struct {
	Limit, Offset int
	Status        exchange.UploadStatus
}

type InboxOptions struct {
	Limit, Offset int
	OnlyNew       bool
}

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
