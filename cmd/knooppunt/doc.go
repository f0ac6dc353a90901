// Command knooppunt is the message hub: one binary that serves every organisation's SFTP
// mailbox, the admin commands and the terminal UI over SSH, and the Digikoppeling endpoint.
//
// Where each subcommand and option lives:
//
//	word                                     file          what
//	serve, its options, usage                main.go       parseServe, runServer, usage
//	the demo (printed commands)              main.go       printDemo
//	status (gereed, the main numbers)        status.go
//	hostkeys                                 main.go       showHostKeys
//	audit verify, audit export               audit.go
//	backup, restore                          backup.go
//	/metrics and /readyz                     metrics.go    (--metrics-listen, --min-free-disk)
//	PostgreSQL and S3 (--database, --files)  backend.go
//	Digikoppeling (--oin, --ebms-*)          ebms.go
//	limits (--quota, --max-conns, …)         limits.go     parseLimits
//	the memory limit (--memory-limit)        memlimit.go
//	stopping (SIGTERM, --shutdown-grace)     shutdown.go
//	the options of the offline subcommands   flags.go      newSubFlags
package main
