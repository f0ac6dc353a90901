// Package tui is the portal in a terminal: the screens of the web portal (Aanleveren,
// Berichtenlog, Ophalen, Routeren, and the administration of accounts and organisations),
// served over SSH with Bubble Tea. It only translates key presses into calls on the exchange
// and shows their answers: every rule and every permission check lives there.
//
// The words are the portal's: a tab per screen, and the file is named by the tab.
//
//	word (what the person sees)            file             types and functions
//	the frame: header, products, tabs,     app.go           App, New, screen, tabKind; the tabs and
//	status line, confirmation                               products follow the account as stored
//	                                                        (Hub.Refresh at every key outside a
//	                                                        form and at every event)
//	what every screen shares               common.go        Common, Options, Styles, KeyMap
//	the part of the engine the screens use hub.go           Hub (declared here, at the consumer)
//	Aanleveren                             aanleveren.go    aanleveren
//	Berichtenlog (and its filter)          berichtenlog.go  berichtenlog, filterWords
//	Ophalen (download selectie)            ophalen.go       ophalen
//	Routeren                               routeren.go      routeren
//	Gebruikers (accounts)                  gebruikers.go    gebruikers
//	Organisaties (and samenwerking)        organisaties.go  organisaties
//	CPA's (Digikoppeling)                  cpas.go          cpas
//	a form, a page of a list, a selection  form.go, pager.go, selection.go
//	a table screen's rows, its open form   list.go          list[T], formHost
//	the SSH session around the portal      ssh.go           Session
package tui
