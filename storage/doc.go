// Package storage keeps bytes and records for the hub behind two small interfaces: a
// transactional key-value store with prefix scans, and a file store with atomic puts. It knows
// nothing of messages, organisations or SSH, so another backend can replace it.
//
// Where each word lives:
//
//	word                                      file            types and functions
//	the record store: keys, transactions,     storage.go      KV, Txn, ScanOptions, Prefetcher, Prefetch,
//	scans, durability (Update/UpdateLazy)                     ErrNotFound
//	the file store: atomic puts, checksums    storage.go      Files, Writer, Reader
//	Badger, the default record store          badger.go       Badger, OpenBadger
//	restore into a new Badger                 badger_load.go  LoadBadger
//	PostgreSQL, the second record store       postgres.go     Postgres, OpenPostgres
//	keys expected new (a plain INSERT)        storage.go      Inserter, SetNew; (*pgTxn).SetNew
//	writes sent ahead in a big transaction    postgres_       (*pgTxn).sendAhead, settle
//	                                          pipeline.go
//	connections opened before the node works  postgres.go     (*Postgres).Warm
//	counters (numbers handed out in leases)   sequence.go     (Sequence of Badger and Postgres)
//	files on disk in the data directory       files.go        Disk, OpenDisk
//	directory fsyncs shared by commits        dirsync.go      (dirSyncs).syncAfter
//	a file kept readable for a backup         pin.go          (*Disk).Pin, (*Disk).OpenPinned
//	unfinished writes (reput, the sweep)      uncommitted.go  (*Disk).WalkUncommitted
//	files in S3-compatible storage            s3.go           S3, S3Config, OpenS3
//	a small blob spooled in memory            files.go, s3.go spool.mem, memSpool
//	blobs an S3 store just committed, kept    s3_recent.go    S3Config.RecentCache, DefaultRecentCache
//	locally for its own next Open
//	a small file written whole or not at all  writefile.go    WriteFile
//
// The tests of both backends run one contract per interface (kv_contract_test.go,
// files_contract_test.go); backendtest picks the backend a test of the hub runs on.
package storage
