// Package opdrachten holds the commands of `ssh ACCOUNT@knooppunt OPDRACHT …`: the portal's
// pages as commands for people and cron jobs, and the beheerder's management. The SSH server
// calls one entry point, Run, with an Env: the hub, the principal and the session's streams;
// the package knows nothing else of the server.
//
// Every command is one entry in a table (type command) that one parser serves; the table is
// put together in opdrachten.go from each area's part, in the order 'help' shows them. A
// command's help text and the type of its --json output live in the file of that command.
// Commands read and change only through exchange, which decides every action for the
// principal (exchange/authz.go); no command decides a permission itself. 'help' asks the
// same policy (Hub.Can) only to leave out what the account may not use.
//
// Naming: types and identifiers in English, everything a user reads in Dutch with the words
// of the portal (DOMAIN.md). The --json types are exported (…JSON) because scripts read them.
//
// # Glossary: domain word → file → command (type)
//
//	opdracht, parser, exitcode     opdrachten.go     Run, Env, command, input, Exit…
//	help                           help.go           help, help OPDRACHT (HelpJSON)
//	uitvoer (tabel, --json, tijd)  uitvoer.go        emit, done (DoneJSON), ts, short
//	account, whoami, producten     accounts.go       whoami (WhoamiJSON), producten (ProductJSON),
//	                                                 gebruiker add|list|disable|enable|key|grant|revoke|rol|verwijder
//	                                                 (AccountJSON, KeyJSON)
//	aanleveren, verslag            aanleveren.go     aanleveringen (UploadJSON), verslag (exchange.Verslag)
//	ophalen                        ophalen.go        ophalen (DeliveryJSON), gelezen, ongelezen (MarkJSON),
//	                                                 verwijder (RemovedJSON)
//	berichtenlog                   berichtenlog.go   berichtenlog (MessageJSON), herstel (RestoredJSON)
//	routeren                       routeren.go       routes, route zet (RouteJSON)
//	organisaties, samenwerking     organisaties.go   org add|list|naam|verwijder (OrgJSON),
//	                                                 org samenwerking (SamenwerkingJSON)
//	digikoppeling, OIN, CPA        digikoppeling.go  org oin, cpa import|list|show|delete (CPAJSON), opnieuw
//	audit                          audit.go          audit verify (exchange.AuditCheck), audit export
//	backup                         backup.go         backup [--sinds -]
//	knooppunt (de server zelf)     knooppunt.go      hostkeys (HostkeyJSON), versie (VersieJSON)
package opdrachten
