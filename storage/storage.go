package storage

import (
	"errors"
	"io"
)

// ErrNotFound is returned when a key or file does not exist.
var ErrNotFound = errors.New("niet gevonden")

// ErrDamaged is returned for a blob whose bytes no longer match the checksum taken when it was
// committed (bit rot, a truncated or half-written file, a hand edit). Such a blob is moved
// aside and never served again.
var ErrDamaged = errors.New("het bestand is beschadigd en wordt niet uitgeleverd; meld dit bij de beheerder van het knooppunt")

// ErrConflict is returned by Update and UpdateLazy when the transaction kept conflicting with
// others after every retry (Badger's conflict, PostgreSQL's serialization failure or deadlock).
var ErrConflict = errors.New("de transactie botste steeds met andere; probeer het opnieuw")

// ErrTooBig is returned when one transaction writes more than the store takes at once (Badger:
// about 15 % of its memtable, see MaxTxnBytes), or a key or value is larger than the store takes
// (MaxKeySize, MaxValueSize). Every KV counts the same way. The caller must cut the change into
// smaller transactions.
var ErrTooBig = errors.New("de wijziging is te groot voor één transactie van de opslag")

// Limits every KV keeps to, so that what works on one backend works on the other: Badger's,
// with the options of OpenBadger (a value must fit a 64 MB value-log file; a transaction's
// batch is 15% of a 16 MB memtable, counting keys, small values and 12-byte pointers to large
// ones).
const (
	MaxKeySize   = 65000
	MaxValueSize = 64 << 20
	MaxTxnBytes  = 15 * (16 << 20) / 100
)

// ErrLocked is returned when another process holds the data directory.
var ErrLocked = errors.New("de gegevensmap is in gebruik door een andere knooppunt-server")

// KV is a transactional key-value store.
type KV interface {
	// View runs fn in a read-only transaction.
	View(fn func(Txn) error) error
	// Update runs fn in a read-write transaction and commits it durably. It retries fn when
	// the transaction conflicts with another, so fn must not have side effects outside txn.
	Update(fn func(Txn) error) error
	// UpdateLazy is Update without waiting for the disk: the commit is visible at once, and
	// durable with the next Update or Sync (at most a fraction of a second later). A kill of
	// the process loses nothing; a power cut may lose it. Only for writes whose loss is
	// harmless because recovery redoes them or they only show progress.
	UpdateLazy(fn func(Txn) error) error
	// Sync makes every commit so far durable.
	Sync() error
	// Sequence returns the next value of a named, persistent counter (starting at 1). Values
	// only grow, also across restarts, but a restart may skip some.
	Sequence(name string) (uint64, error)
	Close() error
}

// Txn is one transaction.
type Txn interface {
	// Get returns a copy of the value, or ErrNotFound.
	Get(key []byte) ([]byte, error)
	Set(key, value []byte) error
	Delete(key []byte) error
	// Scan calls fn for each key with prefix, in key order (reverse order when
	// opts.Reverse), starting at opts.Start when set. fn returns false to stop. key and value
	// are only valid during the call.
	Scan(prefix []byte, opts ScanOptions, fn func(key, value []byte) (bool, error)) error
}

// Prefetcher is a Txn that reads many keys in one go: PostgreSQL answers them in one query
// instead of a round trip per Get. Prefetch only warms the transaction's later Gets of those
// keys (found or not); Get stays the way to read.
type Prefetcher interface {
	Prefetch(keys [][]byte) error
}

// Prefetch warms t's Gets of keys when t can (a Prefetcher), and does nothing otherwise
// (Badger reads from memory and its own caches).
func Prefetch(t Txn, keys [][]byte) error {
	if p, ok := t.(Prefetcher); ok && len(keys) > 0 {
		return p.Prefetch(keys)
	}
	return nil
}

// Inserter is a Txn that writes a key its caller expects to be new more cheaply than Set:
// PostgreSQL then inserts it without an upsert's extra index search and speculative
// insertion, a fifth of its CPU per key (BENCHMARKS.md, "6 Dec 2026, 11:22–12:46 UTC"). The outcome
// is Set's whatever the key's state: a key that turns out to exist is overwritten all the
// same, at the price of running the transaction again (the caller's function runs twice).
// Use it for keys made of a new id (a new message's record and index entries), never for a
// key that is often rewritten.
type Inserter interface {
	SetNew(key, value []byte) error
}

// SetNew writes key as t's SetNew when t has one (an Inserter), and as Set otherwise.
func SetNew(t Txn, key, value []byte) error {
	if i, ok := t.(Inserter); ok {
		return i.SetNew(key, value)
	}
	return t.Set(key, value)
}

// ScanOptions narrow a Scan.
type ScanOptions struct {
	Reverse  bool
	Start    []byte // first key to visit (inclusive); in reverse, the highest key to visit
	KeysOnly bool   // value passed to fn is nil
}

// Files stores immutable blobs by name. Names are slash-separated relative paths made by the
// caller (never user input); the store rejects anything else.
type Files interface {
	// Create starts a new blob. Nothing is visible under name until Commit returns.
	Create(name string) (Writer, error)
	// Append reopens an uncommitted blob (see Writer.Keep) to continue writing at its end.
	Append(name string) (Writer, error)
	// Open checks the blob before handing it out: always its length against the one recorded
	// at Commit, and for blobs up to VerifyOnOpen bytes its checksum too. A failed check
	// returns ErrDamaged.
	Open(name string) (Reader, error)
	// Verify reads the whole blob and compares it with its checksum: nil, ErrNotFound or
	// ErrDamaged (the blob is then moved aside, so later Opens refuse it too).
	Verify(name string) error
	Stat(name string) (size int64, err error)
	Remove(name string) error
	// Walk calls fn for every committed blob whose name starts with prefix.
	Walk(prefix string, fn func(name string, size int64) error) error
	// WalkUncommitted calls fn for every uncommitted blob whose name starts with prefix.
	WalkUncommitted(prefix string, fn func(name string) error) error
	// Free returns the bytes available to the store's file system.
	Free() (uint64, error)
	// Pin keeps every blob committed now readable by OpenPinned, even if removed, until
	// release is called: what a backup needs to copy the blobs of one moment.
	Pin() (release func())
	// OpenPinned opens a committed (or, under a Pin, removed) blob for a copy and returns
	// the SHA-256 recorded at Commit, for the caller to compare with what it read.
	OpenPinned(name string) (Reader, []byte, error)
}

// Writer receives a blob's bytes, possibly concurrently and out of order.
type Writer interface {
	io.WriterAt
	io.Writer
	// Size is the highest offset written so far.
	Size() int64
	// Commit records the blob's SHA-256 and length with it, fsyncs, and makes it visible
	// under its name, atomically.
	Commit() error
	// Keep fsyncs what was written and leaves it as an uncommitted blob that Append can
	// continue (an interrupted upload that a client may resume).
	Keep() error
	// Abort discards the blob.
	Abort() error
}

// Reader reads a committed blob.
type Reader interface {
	io.ReaderAt
	io.Reader
	io.Closer
	Size() int64
}
