//go:build engine

package tui

import "knooppunt/exchange"

type (
	MessageFilter = exchange.MessageFilter
	RouteView     = exchange.RouteView
)

var _ Hub = (*exchange.Hub)(nil)
