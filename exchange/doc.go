// Package exchange is the engine of knooppunt: it takes in uploads of StUF envelopes (a .xml
// or a .zip of them), checks each envelope against the business rules, routes the accepted
// messages to their recipients as delivery ZIPs, keeps the berichtenlog, the verslagen and the
// audit log, and decides who may do what. It is the one facade every door calls (SFTP and the
// SSH commands in sshserver, the portal in tui, Digikoppeling in this package); a door decides
// nothing itself. The store underneath (package storage) knows nothing of the domain.
//
// # Naming
//
// Types and identifiers are English (Upload, Delivery, Message, Hub.Inbox); a file is named by
// the Dutch word the portal shows for what it holds (aanleveren.go, ophalen.go), and everything
// a person reads (errors, verslagen, audit results) is Dutch in the portal's words.
//
// # One upload, in the order its data flows
//
//	SFTP write            sshserver/sftp.go      the client's bytes arrive in /<product>/aanleveren/
//	aanleveren            aanleveren.go          StartUpload, Spool (WriteAt, Close), RenameUpload
//	                                             and HandIn (Digikoppeling) all end in handIn:
//	                                             commit, admission slot, accept (Ontvangen, queued)
//	                      admission.go           how many uploads may be in hand at once
//	                      admission_shared.go    the same limit for all nodes of a shared store
//	                      quota.go               the daily bytes per organisation
//	                      weigering.go           an upload refused at the door, with its verslag
//	verwerking            verwerking_planner.go  the scheduler hands queued uploads to workers;
//	                                             retries back off on the hub's Clock
//	                      verwerking.go          process: read the blob (package zipintake), decide
//	                                             each entry in batches, exactly once across restarts
//	controle              controle.go            the checks of one entry: envelope (package stuf:
//	                                             parser, schema), codes (package codes), IB002–IB007,
//	                      payloadcontrole.go     the payload's header against the envelope,
//	                                             route (routeren.go)
//	aflevering            aflevering.go          deliver: one ZIP per recipient and functie, the
//	                                             delivery records, held or in ophalen/
//	                      verwerking.go          finishUpload: the upload final, its verslag ready
//	ophalen               ophalen.go             Inbox, Delivery, OpenDelivery, SetGelezen,
//	                                             DeleteDeliveries
//	verslag               verslag.go             Uploads, Reports, OpenReport, Report (Verslag)
//
// Every step reads and writes records through the helpers of opslag.go (getJSON, setJSON,
// page, scanCtx, addHistory) under the keys of sleutels.go, the one list of what the store
// holds; errors a person can act on are in errors.go (ErrNoSpace for a full disk or quota).
//
// # Glossary: domain word → file → type
//
//	aanleveren          aanleveren.go, aanleveren_sweep.go   Spool, PendingFile, Upload
//	verwerking          verwerking.go, verwerking_planner.go Upload, UploadStatus, Counts
//	controle            controle.go, payloadcontrole.go      Fout; codes.Code, codes.Rejection
//	aflevering          aflevering.go                        Delivery
//	ophalen             ophalen.go                           Delivery, InboxOptions
//	berichtenlog        berichtenlog.go, historie.go,        Message, MessageFilter, MessageList,
//	                    berichtenlog_groep.go                StatusEvent, MessageStatus
//	telling (totaal)    berichtenlog_telling.go              logCounts (changes, folded periodically)
//	verslag             verslag.go, weigering.go, eta.go     Verslag, ReportFile, ListOptions, Refused
//	routeren            routeren.go                          Route, RouteView, Via, RouteStatus
//	bewaartermijn       bewaartermijn.go                     (Bewaartijd: 60 days; gelezen 168 h)
//	samenwerking        samenwerking.go                      Org.Samenwerking
//	accounts            accounts.go, authz.go                Account, Role, Principal, Action
//	organisaties        organisaties.go, oin.go              Org, OrgKind
//	audit               audit.go, audit_check.go             AuditEntry, AuditCheck, AuditAnchor
//	producten           catalogue.go                         Product, Functie, Exchange, Catalogue
//	Digikoppeling       digikoppeling*.go, verzenden.go,     CPA, Send, EbMSIn (format: package ebms)
//	                    cpa*.go
//	backup, herstel     backup.go, restore.go                BackupManifest, RestoreResult
//	the hub itself      hub.go, health.go, version.go,       Hub, Config, Clock, Event, Observer
//	                    observer.go, integrity.go, demo.go
//
// The format code knows bytes and their grammar, nothing of the store, the hub or a principal,
// and lives in packages of its own: stuf (the StUF envelope: parse, schema check, build),
// zipintake (reading an uploaded ZIP within limits), codes (IB…/KP… and the rejection),
// tekst (which characters may reach a terminal) and ebms (ebMS 2.0 and CPAs).
//
// Times a person reads are in Europe/Amsterdam (package tijdzone).
package exchange
