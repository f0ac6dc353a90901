package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// A transaction's statements go to the server in as few round trips as its reads allow. Its
// BEGIN is not sent on its own but with the first statement; its pending writes go with the
// statement that needs them (a Scan) or with COMMIT. A read-only View that reads one key is
// two round trips (BEGIN with the SELECT, ROLLBACK) instead of three, an upload's batch with
// its reads ahead and its writes three instead of five. On a busy machine every round trip
// waits for the database's process and then for the hub's to be scheduled: the two-node load
// test spent most of an upload's processing time in them (issue 14).
//
// Statements are prepared once per connection (pgx keeps them by name) and run with binary
// parameters and results: every column the store reads is a bytea.

// pgStmt is one statement of a batch: its SQL and its parameters in binary format.
type pgStmt struct {
	sql    string
	params [][]byte
}

// errReconnect marks a failure of a transaction's first round trip on a connection that
// turned out to be dead (the database restarted or failed over since the pool last used it):
// nothing of the transaction happened, so it is run again on another connection.
var errReconnect = errors.New("verbinding met de database verbroken voor de transactie begon")

// maxReconnects bounds the transactions run again after errReconnect.
const maxReconnects = 8

// acquire takes a connection from the pool for a transaction that begins with begin.
func (p *Postgres) acquire(ctx context.Context, readOnly bool, begin []string) (*pgTxn, error) {
	actx, cancel := p.bound(ctx)
	conn, err := p.pool.Acquire(actx)
	cancel()
	if err != nil {
		return nil, err
	}
	return &pgTxn{ctx: ctx, conn: conn, begin: begin, readOnly: readOnly, timeout: p.timeout, copyMin: p.copyMin, aheads: &p.aheads}, nil
}

// release ends the transaction if it is still open and gives the connection back; a
// connection that cannot be brought back to idle is closed, not pooled (pgxpool destroys a
// connection released in a transaction or closed).
func (t *pgTxn) release() {
	if t.conn == nil {
		return
	}
	t.settle()
	pc := t.conn.Conn().PgConn()
	if t.begin == nil && !pc.IsClosed() && pc.TxStatus() != 'I' {
		ctx, cancel := t.bound()
		if err := pc.Exec(ctx, "ROLLBACK").Close(); err != nil {
			pc.Close(ctx)
		}
		cancel()
	}
	t.conn.Release()
	t.conn = nil
}

// stmtName names a prepared statement after its SQL.
func stmtName(sql string) string {
	h := fnv.New64a()
	h.Write([]byte(sql))
	return fmt.Sprintf("kp_%016x", h.Sum64())
}

// exec sends stmts in one round trip, preceded by the transaction's BEGIN when it has not been
// sent, and returns each statement's result. A serialization failure is kept in t.conflict.
// Writes sent ahead (sendAhead) are finished first: one statement at a time on a connection.
func (t *pgTxn) exec(stmts ...pgStmt) ([]*pgconn.Result, error) {
	if err := t.settle(); err != nil {
		return nil, err
	}
	return t.execNow(stmts...)
}

// Writes sent ahead. A big transaction (an upload's batch: 4,400 keys) builds its writes for
// a while before it commits, and PostgreSQL then spent ~35 ms on them while the hub waited.
// Once the transaction has begun, every sendAheadKeys pending writes go to the server at
// once, in the background, while the transaction goes on building the next: the server's
// work overlaps the hub's, and the commit carries only the rest. One round trip is in flight
// at a time; anything else that needs the connection waits for it (settle), and its error,
// if any, is the transaction's.
const sendAheadKeys = 1024

// sendAhead sends the pending writes in the background when there are enough of them, the
// transaction has begun and nothing else is in flight.
func (t *pgTxn) sendAhead() {
	if t.begin != nil || len(t.pending) < sendAheadKeys {
		return
	}
	if t.inflight != nil {
		select {
		case err := <-t.inflight:
			t.inflight = nil
			if err != nil {
				t.aheadErr = err
			}
		default:
			return
		}
	}
	if t.aheadErr != nil {
		return // the transaction is lost; the next statement reports why
	}
	stmts, err := t.flushBeforeCommit()
	if err != nil {
		t.aheadErr = err
		return
	}
	done := make(chan error, 1)
	t.inflight = done
	t.aheads.Add(1)
	go func() {
		_, err := t.execNow(stmts...)
		done <- err
	}()
}

// flushBeforeCommit is flushStmts for writes sent before the commit (ahead, or with a Scan):
// their keys exist from then on, so a SetNew of one later in the transaction is an upsert.
// The commit's own flush needs no such record.
func (t *pgTxn) flushBeforeCommit() ([]pgStmt, error) {
	for k, w := range t.pending {
		if !w.del {
			t.known(k)
		}
	}
	return t.flushStmts()
}

// settle waits for the writes in flight and returns their error, or an earlier one.
func (t *pgTxn) settle() error {
	if t.inflight != nil {
		if err := <-t.inflight; err != nil && t.aheadErr == nil {
			t.aheadErr = err
		}
		t.inflight = nil
	}
	return t.aheadErr
}

// execNow is exec without waiting for writes sent ahead (it is what sends them).
func (t *pgTxn) execNow(stmts ...pgStmt) ([]*pgconn.Result, error) {
	ctx, cancel := t.bound()
	defer cancel()
	conn := t.conn.Conn()
	var b pgconn.Batch
	for _, sql := range t.begin {
		b.ExecParams(sql, nil, nil, nil, nil)
	}
	commits := false
	for _, s := range stmts {
		if s.sql == "COMMIT" {
			b.ExecParams(s.sql, nil, nil, nil, nil)
			commits = true
			continue
		}
		sd, err := conn.Prepare(ctx, stmtName(s.sql), s.sql)
		if err != nil {
			return nil, t.failFirst(err, len(t.begin) > 0, false)
		}
		formats := make([]int16, len(s.params))
		for i := range formats {
			formats[i] = 1
		}
		b.ExecStatement(sd, s.params, formats, []int16{1})
	}
	first := len(t.begin) > 0
	nBegin := len(t.begin)
	if first {
		t.begin = nil
	}
	results, err := conn.PgConn().ExecBatch(ctx, &b).ReadAll()
	if err != nil {
		ran := len(results) > 0 && results[0].Err == nil
		return nil, t.failFirst(err, first && !ran, commits)
	}
	return results[nBegin:], nil
}

// failFirst is fail for an error of exec. unbegun: the round trip carried the transaction's
// BEGIN and not even that ran. Then, if the connection is what failed, the transaction never
// began and is marked to be run again on another connection: the server said so (it ended the
// connection before the batch: a restart, a failover, an administrator), or the round trip did
// not carry COMMIT (nothing can have been committed), or nothing of it reached the server.
func (t *pgTxn) failFirst(err error, unbegun, commits bool) error {
	var pe *pgconn.PgError
	connGone := false
	if errors.As(err, &pe) {
		connGone = connectionLost(pe)
	} else if !pgconn.Timeout(err) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		// A time-out is a slow server (a lock, a full machine), not a dead connection.
		connGone = !commits || pgconn.SafeToRetry(err)
	}
	if unbegun && connGone && t.ctx.Err() == nil {
		t.reconnect = fmt.Errorf("%w: %w", errReconnect, err)
		ctx, cancel := t.bound()
		t.conn.Conn().PgConn().Close(ctx) // bounded: the connection is already broken
		cancel()
		return t.reconnect
	}
	return t.fail(err)
}

// query runs one statement (after the pending writes, when flushFirst) and returns its rows.
func (t *pgTxn) query(flushFirst bool, s pgStmt) ([][][]byte, error) {
	var stmts []pgStmt
	if flushFirst {
		var err error
		if stmts, err = t.flushBeforeCommit(); err != nil {
			return nil, err
		}
	}
	res, err := t.exec(append(stmts, s)...)
	if err != nil {
		return nil, err
	}
	return res[len(res)-1].Rows, nil
}

// int8Param is n as a binary bigint parameter.
func int8Param(n int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

// retryReconnect runs attempt again, with a short pause, while it fails with errReconnect.
func retryReconnect(attempt func() error) error {
	var err error
	for i := range maxReconnects {
		if err = attempt(); !errors.Is(err, errReconnect) {
			return err
		}
		time.Sleep(time.Duration(i*25) * time.Millisecond)
	}
	return dbErr(err)
}
