package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres is a KV on PostgreSQL: one table kv(key bytea primary key, value bytea), read-write
// transactions SERIALIZABLE, reads in a REPEATABLE READ snapshot (what Badger's View is). Several
// processes may share one database; there is no lock like Badger's on its directory.
type Postgres struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	seqs sequences
	// timeout bounds each call to the server (a statement, BEGIN, COMMIT), so that a hung
	// database fails the call instead of holding its caller for ever; see SetTimeout.
	timeout time.Duration
	// prefix scopes Notifier channels to the store's schema (notify.go).
	prefix string
	// conflicts counts serialization failures per caller, for the log (postgres_conflicts.go).
	conflicts conflictCounts
	// copyMin is the number of sets from which a flush sends them with COPY into a staging
	// table instead of as arrays (pgTxn.copySets); 0: never.
	copyMin int
	// aheads counts the round trips of writes sent ahead (sendAhead).
	aheads atomic.Int64
}

// defaultCopyMin: below it the arrays' single statement is cheaper than COPY's three and the
// staging table's truncation at commit. BenchmarkPostgresBatch, server CPU per key (6 Dec,
// load 31-34, two runs): 4,250 keys arrays 6.4-6.6 µs, COPY 7.5-8.2; 8,450 keys 7.2-7.4 both;
// 14,000 keys COPY 5-10% less. A batch of the 3,000-message ZIP is ~4,360 keys (4.36 per
// message since the berichtenlog went into groups), so it goes as arrays, and a connection
// never creates the staging table for it (~7 ms of server CPU per new connection here).
const defaultCopyMin = 8192

// schemaLock is the pg_advisory_lock key under which migrations run: a hub that starts while
// another migrates waits for it, and then finds nothing left to do.
const schemaLock = 0x6b6e6f6f70756e74 // "knoopunt"

// migrations bring the schema from version i to i+1. Append, never change one that shipped.
var migrations = []string{
	`CREATE TABLE kv (key bytea PRIMARY KEY, value bytea NOT NULL)`,
}

// OpenPostgres connects to the database at url (postgres://…) and brings its schema up to date.
// Update commits with synchronous_commit on, whatever the server's default, so a commit that
// returned is on disk (and, with a synchronous standby, there too).
func OpenPostgres(ctx context.Context, url string, log *slog.Logger) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database-adres: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		// The engine's workers (4 per CPU), the SFTP sessions and the sweeps each hold one
		// connection for a transaction at a time.
		cfg.MaxConns = 32
	}
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	cfg.ConnConfig.RuntimeParams["application_name"] = "knooppunt"
	// Every statement is prepared once per connection (postgres_pipeline.go). After five runs
	// PostgreSQL may plan a statement for its parameters each time, and for a Prefetch of a
	// few thousand keys (a batch's referentienummers) it then chose a sequential scan, which a
	// SERIALIZABLE transaction locks as the whole table: a conflict with every other writer.
	// The generic plans of the store's statements are index scans (TestPostgresPlansUseIndex).
	cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", redactURL(url), err)
	}
	p := &Postgres{pool: pool, log: log, timeout: DefaultCallTimeout, copyMin: defaultCopyMin}
	if err := p.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database %s: %w", redactURL(url), err)
	}
	if err := p.scopeChannels(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database %s: %w", redactURL(url), err)
	}
	return p, nil
}

// redactURL leaves the password out of a database address for messages.
func redactURL(url string) string {
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		return "(ongeldig adres)"
	}
	return fmt.Sprintf("%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

func (p *Postgres) migrate(ctx context.Context) error {
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(schemaLock)); err != nil {
		return fmt.Errorf("schemaslot: %w", err)
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(schemaLock))
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS knooppunt_schema (version integer NOT NULL)`); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	var version int
	err = conn.QueryRow(ctx, `SELECT version FROM knooppunt_schema`).Scan(&version)
	if errors.Is(err, pgx.ErrNoRows) {
		_, err = conn.Exec(ctx, `INSERT INTO knooppunt_schema (version) VALUES (0)`)
	}
	if err != nil {
		return fmt.Errorf("schemaversie: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("het databaseschema heeft versie %d, deze knooppunt kent ten hoogste versie %d", version, len(migrations))
	}
	for v := version; v < len(migrations); v++ {
		tx, err := conn.Begin(ctx)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, migrations[v]); err != nil {
			tx.Rollback(ctx)
			return fmt.Errorf("schema naar versie %d: %w", v+1, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE knooppunt_schema SET version = $1`, v+1); err != nil {
			tx.Rollback(ctx)
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("schema naar versie %d: %w", v+1, err)
		}
		if p.log != nil {
			p.log.Info("databaseschema bijgewerkt", "versie", v+1)
		}
	}
	return nil
}

func (p *Postgres) View(fn func(Txn) error) error {
	return retryReconnect(func() error {
		t, err := p.acquire(context.Background(), true, []string{"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"})
		if err != nil {
			return dbErr(err)
		}
		defer t.release()
		err = fn(t)
		if t.reconnect != nil {
			return t.reconnect
		}
		return err
	})
}

func (p *Postgres) Update(fn func(Txn) error) error { return p.commit(fn, true) }

// UpdateLazy commits with synchronous_commit off: visible at once, on disk with the WAL
// writer's next flush (wal_writer_delay, 200 ms by default) or the next Update.
func (p *Postgres) UpdateLazy(fn func(Txn) error) error { return p.commit(fn, false) }

// Sync makes every commit so far durable: a durable commit flushes the WAL up to its own
// record, and with it every earlier (lazy) commit. A transaction writes a commit record only
// when it has a transaction id, hence txid_current.
func (p *Postgres) Sync() error {
	ctx, cancel := p.bound(context.Background())
	defer cancel()
	_, err := p.pool.Exec(ctx, `SELECT txid_current()`)
	if err != nil {
		return fmt.Errorf("database synchroniseren: %w", err)
	}
	return nil
}

func (p *Postgres) Sequence(name string) (uint64, error) { return p.seqs.next(name, p.Update) }

func (p *Postgres) Close() error {
	p.logConflicts()
	p.pool.Close()
	return nil
}

// commit runs fn in a SERIALIZABLE transaction and retries it, like Badger's commit, when
// PostgreSQL reports a serialization failure (40001) or a deadlock (40P01), at any statement
// or at COMMIT.
func (p *Postgres) commit(fn func(Txn) error, durable bool) error {
	ctx := context.Background()
	var err error
	noFresh := false
	for attempt := 0; attempt < 50; attempt++ {
		var conflict error
		var dup bool
		err = retryReconnect(func() error {
			var err error
			conflict, dup, err = p.try(ctx, fn, durable, noFresh)
			return err
		})
		if dup && !noFresh {
			// A key written with SetNew existed: once more, with every write an upsert.
			noFresh = true
			continue
		}
		if conflict == nil {
			return err
		}
		p.conflicts.add(conflict)
		time.Sleep(time.Duration(attempt+1) * time.Millisecond)
	}
	return fmt.Errorf("transaction kept conflicting: %w: %w", ErrConflict, err)
}

// serializable and lazy begin a read-write transaction; lazy commits with synchronous_commit
// off (a batch of an upload).
var (
	serializable = []string{"BEGIN ISOLATION LEVEL SERIALIZABLE"}
	lazy         = []string{"BEGIN ISOLATION LEVEL SERIALIZABLE", "SET LOCAL synchronous_commit = off"}
)

// try runs fn once; conflict is the server's error when the transaction lost to another. An
// error wrapping errReconnect: nothing happened, run it again on another connection.
// dup: a plain INSERT of SetNew found its key taken; run it again with noFresh.
func (p *Postgres) try(ctx context.Context, fn func(Txn) error, durable, noFresh bool) (conflict error, dup bool, err error) {
	begin := serializable
	if !durable {
		begin = lazy
	}
	t, err := p.acquire(ctx, false, begin)
	if err != nil {
		return nil, false, dbErr(err)
	}
	defer t.release()
	t.noFresh = noFresh
	err = fn(t)
	if err == nil {
		err = t.commit()
	}
	// What fn left in flight settles before the outcome is read: its failure is the
	// transaction's too.
	if serr := t.settle(); err == nil {
		err = serr
	}
	if t.reconnect != nil {
		return nil, false, t.reconnect
	}
	if t.conflict != nil {
		// fn may have wrapped or dropped the error; the transaction is lost either way.
		return t.conflict, false, err
	}
	return nil, t.dup, err
}

// commit sends the pending writes and COMMIT in one round trip (with BEGIN when nothing was
// sent before). A transaction that read and wrote nothing sends nothing.
func (t *pgTxn) commit() error {
	stmts, err := t.flushStmts()
	if err != nil {
		return err
	}
	if t.begin != nil && len(stmts) == 0 {
		t.begin = nil // never begun: nothing to commit
		return nil
	}
	if _, err := t.exec(append(stmts, pgStmt{sql: "COMMIT"})...); err != nil {
		return err
	}
	return nil
}

func isConflict(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

type pgTxn struct {
	ctx     context.Context
	timeout time.Duration // bounds each statement
	conn    *pgxpool.Conn
	// begin is the transaction's BEGIN (and SET LOCAL), not sent yet: it goes with the first
	// statement (postgres_pipeline.go). nil once sent.
	begin     []string
	reconnect error // the first round trip found the connection dead: run again (errReconnect)
	readOnly  bool
	conflict  error // the serialization failure that broke the transaction, if one did
	copyMin   int
	// copies counts the flushes that went through the staging table: each tags its rows
	// with its number, as the rows of an earlier flush stay there until the commit.
	copies int32
	// What Badger would count against its batch, so that a transaction too big for Badger
	// is too big here as well.
	count, size int64
	// Writes not sent yet, the last one per key: sent in two statements before the next
	// Scan and at commit, instead of a round trip each (a delivery writes thousands of
	// keys). Get reads them first.
	pending map[string]pgWrite
	// Values read ahead by Prefetch (nil: not found); a write of the key drops it.
	cache map[string][]byte
	// noFresh: SetNew is Set. The transaction runs again so after a plain INSERT of SetNew
	// found its key taken (unique violation): the key existed after all (a redo).
	noFresh bool
	// dup: a plain INSERT of SetNew found its key taken.
	dup bool
	// inflight: the writes sent ahead (sendAhead), until settled; aheadErr: their error.
	inflight chan error
	aheadErr error
	aheads   *atomic.Int64 // the store's count
	// exists: keys this transaction found with Get or wrote before a Scan (which sends the
	// pending writes): a SetNew of one is an upsert.
	exists map[string]bool
}

func (t *pgTxn) known(key string) {
	if t.exists == nil {
		t.exists = map[string]bool{}
	}
	t.exists[key] = true
}

type pgWrite struct {
	value []byte
	del   bool
	// fresh: written with SetNew, expected not to exist; sent as a plain INSERT.
	fresh bool
}

// flush sends the pending writes: one INSERT of the sets expected new (SetNew), one INSERT …
// ON CONFLICT of every other set, one DELETE of every delete. The arrays go in PostgreSQL's
// binary format, built here in one buffer each: a batch of an upload is some 4,400 keys and
// 0.8 MB, and pgx's generic encoding of [][]byte grew its buffer and copied it several times,
// on the goroutine every commit waits for. The arrays are unnested in the select list (a
// ProjectSet), not in FROM, which first copies every row into a tuplestore: 5 % of the
// server's CPU per key.
func (t *pgTxn) flushStmts() ([]pgStmt, error) {
	if len(t.pending) == 0 {
		return nil, nil
	}
	pending := t.pending
	t.pending = nil
	// In key order: the index's pages are then touched once each, in order (a delivery's
	// keys cluster under a few prefixes).
	keys := make([]string, 0, len(pending))
	for k := range pending {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var fresh, sets, dels byteaArray
	for _, k := range keys {
		switch w := pending[k]; {
		case w.del:
			dels.add(len(k))
		case w.fresh:
			fresh.add(len(k))
			fresh.valueBytes += len(w.value)
		default:
			sets.add(len(k))
			sets.valueBytes += len(w.value)
		}
	}
	// arrays builds the key and value arrays of the writes that pick selects.
	arrays := func(a byteaArray, pick func(pgWrite) bool) (ks, vs []byte) {
		ks, vs = a.buffer(a.keyBytes), a.buffer(a.valueBytes)
		for _, k := range keys {
			if w := pending[k]; pick(w) {
				ks = appendElem(ks, []byte(k))
				vs = appendElem(vs, w.value)
			}
		}
		return ks, vs
	}
	var stmts []pgStmt
	if fresh.n > 0 {
		ks, vs := arrays(fresh, func(w pgWrite) bool { return w.fresh && !w.del })
		stmts = append(stmts, pgStmt{sql: sqlInsert, params: [][]byte{ks, vs}})
	}
	if sets.n > 0 && t.copyMin > 0 && sets.n >= t.copyMin {
		s, err := t.copySets(keys, pending, sets)
		if err != nil {
			return nil, err
		}
		stmts = append(stmts, s)
	} else if sets.n > 0 {
		ks, vs := arrays(sets, func(w pgWrite) bool { return !w.fresh && !w.del })
		stmts = append(stmts, pgStmt{sql: sqlUpsert, params: [][]byte{ks, vs}})
	}
	if dels.n > 0 {
		ks := dels.buffer(dels.keyBytes)
		for _, k := range keys {
			if pending[k].del {
				ks = appendElem(ks, []byte(k))
			}
		}
		stmts = append(stmts, pgStmt{sql: sqlDelete, params: [][]byte{ks}})
	}
	return stmts, nil
}

// stagingTable receives a big flush's sets by COPY, to be merged into kv in one statement. A
// temporary table lives in the session (the pooled connection); created in the first
// transaction that needs it and emptied at every commit of one that wrote to it. Its rows
// have no WAL and no index, and COPY fills its pages a batch at a time.
const stagingTable = `CREATE TEMPORARY TABLE IF NOT EXISTS kv_stage (flush integer NOT NULL, key bytea NOT NULL, value bytea NOT NULL) ON COMMIT DELETE ROWS`

// copySets writes the pending sets (keys in order, every set among them) with binary COPY
// into the staging table and returns the statement that upserts them into kv, as the arrays'
// statement does.
func (t *pgTxn) copySets(keys []string, pending map[string]pgWrite, sets byteaArray) (pgStmt, error) {
	t.copies++
	flush := t.copies
	// Binary COPY: signature, flags, header extension length; per row the field count and
	// each field's length and bytes; -1 at the end.
	b := make([]byte, 0, 19+sets.n*(2+8+4+4)+sets.keyBytes+sets.valueBytes+2)
	b = append(b, "PGCOPY\n\xff\r\n\x00"...)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, 0)
	for _, k := range keys {
		w := pending[k]
		if w.del || w.fresh {
			continue
		}
		b = binary.BigEndian.AppendUint16(b, 3)
		b = binary.BigEndian.AppendUint32(b, 4)
		b = binary.BigEndian.AppendUint32(b, uint32(flush))
		b = appendElem(b, []byte(k))
		b = appendElem(b, w.value)
	}
	b = binary.BigEndian.AppendUint16(b, 0xffff)

	// COPY needs the connection to itself, and the transaction begun.
	if err := t.settle(); err != nil {
		return pgStmt{}, err
	}
	if t.begin != nil {
		if _, err := t.exec(); err != nil {
			return pgStmt{}, err
		}
	}
	ctx, cancel := t.bound()
	defer cancel()
	conn := t.conn.Conn().PgConn()
	if err := conn.Exec(ctx, stagingTable).Close(); err != nil {
		return pgStmt{}, t.fail(err)
	}
	if _, err := conn.CopyFrom(ctx, bytes.NewReader(b), `COPY pg_temp.kv_stage (flush, key, value) FROM STDIN (FORMAT binary)`); err != nil {
		return pgStmt{}, t.fail(err)
	}
	// In the order COPY wrote them: key order, as the arrays'.
	return pgStmt{sql: `INSERT INTO kv (key, value) SELECT key, value FROM pg_temp.kv_stage WHERE flush = $1::integer
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, params: [][]byte{binary.BigEndian.AppendUint32(nil, uint32(flush))}}, nil
}

// byteaOID and byteaArrayOID are PostgreSQL's type ids of bytea and bytea[].
const (
	byteaOID      = 17
	int4OID       = 23
	byteaArrayOID = 1001
)

// byteaArray sizes a one-dimensional bytea[] in binary format before it is built.
type byteaArray struct {
	n                    int
	keyBytes, valueBytes int
}

func (a *byteaArray) add(keyLen int) {
	a.n++
	a.keyBytes += keyLen
}

// buffer returns an empty buffer of the array's exact size with its header written: 1
// dimension, no NULLs, element type bytea, n elements from index 1; then per element its
// length (4 bytes) and its bytes (appendElem).
func (a *byteaArray) buffer(elemBytes int) []byte {
	b := make([]byte, 0, 20+4*a.n+elemBytes)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, byteaOID)
	b = binary.BigEndian.AppendUint32(b, uint32(a.n))
	return binary.BigEndian.AppendUint32(b, 1)
}

func appendElem(b, elem []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(elem)))
	return append(b, elem...)
}

func (t *pgTxn) write(key []byte, w pgWrite) {
	if t.pending == nil {
		t.pending = map[string]pgWrite{}
	}
	t.pending[string(key)] = w
	delete(t.cache, string(key))
	if !w.del {
		t.sendAhead()
	}
}

// Prefetch reads the keys not read ahead yet in one query, for the Gets that follow.
func (t *pgTxn) Prefetch(keys [][]byte) error {
	if t.cache == nil {
		t.cache = make(map[string][]byte, len(keys))
	}
	var want [][]byte
	for _, k := range keys {
		if _, ok := t.pending[string(k)]; ok {
			continue
		}
		if _, ok := t.cache[string(k)]; ok {
			continue
		}
		t.cache[string(k)] = nil
		want = append(want, k)
	}
	if len(want) == 0 {
		return nil
	}
	arr := byteaArray{}
	for _, k := range want {
		arr.add(len(k))
	}
	ks := arr.buffer(arr.keyBytes)
	for _, k := range want {
		ks = appendElem(ks, k)
	}
	rows, err := t.query(false, pgStmt{sql: sqlPrefetch, params: [][]byte{ks}})
	if err != nil {
		return err
	}
	for _, r := range rows {
		v := r[1]
		if v == nil {
			v = []byte{}
		}
		t.cache[string(r[0])] = v
	}
	return nil
}

func (t *pgTxn) fail(err error) error {
	if isConflict(err) {
		t.conflict = err
	}
	// Only SetNew's writes are plain INSERTs into kv; every other write there is an upsert.
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && pe.TableName == "kv" {
		t.dup = true
	}
	return dbErr(err)
}

func (t *pgTxn) Get(key []byte) ([]byte, error) {
	if w, ok := t.pending[string(key)]; ok {
		if w.del {
			return nil, ErrNotFound
		}
		return bytes.Clone(w.value), nil
	}
	if v, ok := t.cache[string(key)]; ok {
		if v == nil {
			return nil, ErrNotFound
		}
		return bytes.Clone(v), nil
	}
	rows, err := t.query(false, pgStmt{sql: sqlGet, params: [][]byte{key}})
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, ErrNotFound
	}
	t.known(string(key))
	if rows[0][0] == nil {
		return []byte{}, nil
	}
	return rows[0][0], nil
}

// maxTxnCount is Badger's cap on a batch's entries: MaxTxnBytes over the size of a skiplist
// node (96 bytes in badger v4).
const maxTxnCount = MaxTxnBytes / 96

// budget counts one write the way Badger's Txn.checkSize does.
func (t *pgTxn) budget(key, value []byte) error {
	if len(key) == 0 {
		return errors.New("lege sleutel")
	}
	if len(key) > MaxKeySize {
		return fmt.Errorf("%w: sleutel van %d bytes, ten hoogste %d", ErrTooBig, len(key), MaxKeySize)
	}
	if len(value) > MaxValueSize {
		return fmt.Errorf("%w: waarde van %d bytes, ten hoogste %d", ErrTooBig, len(value), MaxValueSize)
	}
	est := int64(len(key)) + 2 + 10
	if len(value) < 1<<10 { // Badger's ValueThreshold: larger values are a 12-byte pointer
		est += int64(len(value))
	} else {
		est += 12
	}
	if t.count+1 >= maxTxnCount || t.size+est >= MaxTxnBytes {
		return fmt.Errorf("%w: meer dan %d schrijfacties of %d bytes in één transactie", ErrTooBig, maxTxnCount, MaxTxnBytes)
	}
	t.count++
	t.size += est
	return nil
}

func (t *pgTxn) Set(key, value []byte) error { return t.set(key, value, false) }

func (t *pgTxn) set(key, value []byte, fresh bool) error {
	if t.readOnly {
		return errors.New("schrijven in een alleen-lezen transactie")
	}
	if err := t.budget(key, value); err != nil {
		return err
	}
	// A copy, NOT NULL: Badger stores an empty value for nil.
	t.write(key, pgWrite{value: append(make([]byte, 0, len(value)), value...), fresh: fresh})
	return nil
}

// SetNew is Set for a key expected not to exist (Inserter): sent with a plain INSERT, unless
// the transaction found the key (a Get or Prefetch), deletes it first or sent it already.
// Redos, which find their keys written, run the transaction a second time.
func (t *pgTxn) SetNew(key, value []byte) error {
	prev, wrote := t.pending[string(key)]
	v, read := t.cache[string(key)]
	fresh := !t.noFresh && !(read && v != nil) && !(wrote && prev.del) && !t.exists[string(key)]
	return t.set(key, value, fresh)
}

func (t *pgTxn) Delete(key []byte) error {
	if t.readOnly {
		return errors.New("schrijven in een alleen-lezen transactie")
	}
	if err := t.budget(key, nil); err != nil {
		return err
	}
	t.write(key, pgWrite{del: true})
	return nil
}

// prefixEnd is the smallest key greater than every key that starts with prefix, or nil when
// there is none (an empty prefix, or one of only 0xff bytes).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// scanSQL is Scan's statement: descending (reverse) or ascending from $1 (the key itself when
// inclusive), with at most $2 rows, up to $3 (the prefix's end when bounded; the prefix itself
// in reverse); keysOnly leaves the values out.
func scanSQL(reverse, bounded, keysOnly, inclusive bool) string {
	cols := "key, value"
	if keysOnly {
		cols = "key, NULL::bytea"
	}
	from, to := ">", "<"
	if inclusive {
		from, to = ">=", "<="
	}
	switch {
	case reverse:
		return `SELECT ` + cols + ` FROM kv WHERE key ` + to + ` $1 AND key >= $3 ORDER BY key DESC LIMIT $2`
	case bounded:
		return `SELECT ` + cols + ` FROM kv WHERE key ` + from + ` $1 AND key < $3 ORDER BY key LIMIT $2`
	default:
		return `SELECT ` + cols + ` FROM kv WHERE key ` + from + ` $1 ORDER BY key LIMIT $2`
	}
}

// The store's statements on kv (Scan's are scanSQL's).
const (
	sqlGet      = `SELECT value FROM kv WHERE key = $1`
	sqlPrefetch = `SELECT key, value FROM kv WHERE key = ANY($1::bytea[])`
	sqlInsert   = `INSERT INTO kv (key, value) SELECT unnest($1::bytea[]), unnest($2::bytea[])`
	sqlUpsert   = `INSERT INTO kv (key, value) SELECT unnest($1::bytea[]), unnest($2::bytea[])
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`
	sqlDelete = `DELETE FROM kv WHERE key = ANY($1::bytea[])`
)

// Scan mirrors badgerTxn.Scan exactly, as range queries fetched a batch at a time (fn may call
// Get or Set between rows, which one connection cannot do while a query streams):
//   - forward: from Start (default: prefix), ascending, while keys have the prefix. A Start
//     below the prefix finds nothing when a key without the prefix lies between the two, as
//     Badger's Seek does.
//   - reverse: from Start (default: prefix + ff ff ff ff, so a key with more than four 0xff
//     bytes right after the prefix is not seen, as in Badger), descending, while keys have
//     the prefix.
func (t *pgTxn) Scan(prefix []byte, opts ScanOptions, fn func(key, value []byte) (bool, error)) error {
	if prefix == nil {
		prefix = []byte{} // a nil []byte is NULL to pgx, and nothing compares to NULL
	}
	start := opts.Start
	if start == nil {
		start = prefix
		if opts.Reverse {
			start = append(append([]byte{}, prefix...), 0xff, 0xff, 0xff, 0xff)
		}
	} else if len(start) == 0 {
		start = prefix // Badger's Seek of an empty key seeks the prefix
	}
	// $1 is the key to continue from, $2 the limit, $3 the other end of the range.
	end := prefixEnd(prefix)
	bound := [][]byte{prefix}
	switch {
	case opts.Reverse:
	case end != nil:
		bound = [][]byte{end}
	default:
		bound = nil
	}
	type row struct{ k, v []byte }
	// Small first batch: many scans stop after a row or two (is there any, the newest one).
	limit := 16
	inclusive := true
	for {
		q := scanSQL(opts.Reverse, end != nil, opts.KeysOnly, inclusive)
		// Writes made so far (also by fn between pages) go with the query.
		rows, err := t.query(true, pgStmt{sql: q, params: append([][]byte{start, int8Param(limit)}, bound...)})
		if err != nil {
			return err
		}
		batch := make([]row, 0, len(rows))
		for _, r := range rows {
			batch = append(batch, row{k: r[0], v: r[1]})
		}
		for _, r := range batch {
			if !bytes.HasPrefix(r.k, prefix) {
				return nil
			}
			v := r.v
			if opts.KeysOnly {
				v = nil
			} else if v == nil {
				v = []byte{}
			}
			more, err := fn(r.k, v)
			if err != nil || !more {
				return err
			}
		}
		if len(batch) < limit {
			return nil
		}
		start = batch[len(batch)-1].k
		inclusive = false
		if opts.KeysOnly {
			limit = 1024
		} else {
			limit = 256
		}
	}
}

// Warm opens n of the pool's connections at once (at most its size) and prepares the store's
// statements on each, before a node takes work. A new PostgreSQL connection costs the server
// 30-40 ms of CPU (a process, its catalog caches, each statement parsed and planned the
// first time): a node that opened its 32 while 250 SSH sessions logged in at the start of the
// two-node load test left PostgreSQL with half the machine's CPU in the first six seconds
// (perf), and the first uploads' transactions waiting for it (issue 14). The connections
// stay in the pool, idle, until they have been idle for its MaxConnIdleTime.
func (p *Postgres) Warm(ctx context.Context, n int) (int, error) {
	n = min(n, int(p.pool.Config().MaxConns))
	var stmts []string
	stmts = append(stmts, sqlGet, sqlPrefetch, sqlInsert, sqlUpsert, sqlDelete)
	for _, reverse := range []bool{false, true} {
		for _, bounded := range []bool{false, true} {
			for _, keysOnly := range []bool{false, true} {
				for _, inclusive := range []bool{false, true} {
					if reverse && !bounded {
						continue // a reverse scan always has its lower end
					}
					stmts = append(stmts, scanSQL(reverse, bounded, keysOnly, inclusive))
				}
			}
		}
	}
	var (
		mu    sync.Mutex
		held  []*pgxpool.Conn
		first error
		wg    sync.WaitGroup
	)
	for range n {
		wg.Go(func() {
			ctx, cancel := p.bound(ctx)
			defer cancel()
			c, err := p.pool.Acquire(ctx)
			if err == nil {
				for _, sql := range stmts {
					if _, err = c.Conn().Prepare(ctx, stmtName(sql), sql); err != nil {
						break
					}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if c != nil {
				// Held until all are open: released at once, one would be acquired again.
				held = append(held, c)
			}
			if err != nil && first == nil {
				first = err
			}
		})
	}
	wg.Wait()
	for _, c := range held {
		c.Release()
	}
	if first != nil {
		return len(held), fmt.Errorf("database: verbindingen openen: %w", dbErr(first))
	}
	return len(held), nil
}
