// Package sshserver is the hub's one door: an SSH server that gives each account its SFTP
// mailbox, the commands (ssh beheer@hub org list) and, through a hook, the terminal UI.
// It only authenticates and translates; every rule lives in package exchange.
//
// The commands themselves live in the sub-package opdrachten; the server hands each one the
// session's streams, the principal and the address the connection came in on
// (runCommand, opdracht.go), nothing of its own.
//
// Naming: types and identifiers in English, everything a user reads in Dutch with the words
// of the portal (DOMAIN.md).
//
// # Glossary: domain word → file → type
//
//	inloggen (sleutel, blokkade)       server.go, logins.go, ratelimit.go     Server, Config, connState, authLimiter
//	postbus (de SFTP-boom)             sftp.go                                mailbox, loc
//	aanleveren/, ophalen/, verslagen/  sftp.go (folder…)                      deliveryReader, reportReader
//	opdracht (ssh ACCOUNT@hub …)       opdracht.go → package opdrachten       Server.runCommand
//	portaal (de terminal-UI)           server.go (Config.TUI)                 the hook package tui fills
//	grenzen (verbindingen, handles)    limits.go, handles.go, sftplimits.go   connLimiter, guard, handleLimiter
//	doorsturen (port forwarding)       doorsturen.go                          refused and audited
//	afsluiten (drain)                  drain.go                               Server.drain
//	verzenden (grote SFTP-reads)       cork.go, batch.go                      corkConn, batchWriter
//	waarneming (metrics)               observer.go                            Observer
package sshserver
