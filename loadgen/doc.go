// Package loadgen drives a real knooppunt server from outside, as organisations' clients do:
// it seeds a data directory with organisations and accounts, builds ZIPs of envelopes, and
// talks SFTP with x/crypto/ssh and pkg/sftp. The load generator (cmd/loadgen) and the fault
// tests (kill -9, full disk, damaged files) share it.
//
// Where each word lives:
//
//	word                                     file        types and functions
//	organisations and accounts (seeded)      loadgen.go  Setup, Seed, LoadSetup, Account
//	envelopes and their ZIPs                 loadgen.go  Envelope, Payload, BuildZip, EntryName, NewRef,
//	                                                     RefsInZip
//	an SFTP client of an organisation        loadgen.go  Client
//	the real binary, started and stopped     server.go   Build, Server, Start, LoadAverage, Usage
package loadgen
