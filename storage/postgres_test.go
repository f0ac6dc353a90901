package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"knooppunt/storage/storagetest"
)

// Hubs that start at once on a new database migrate it once: the others wait on the advisory
// lock and find the schema done.
func TestPostgresMigratesOnceUnderLock(t *testing.T) {
	url := storagetest.DatabaseURL(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			p, err := OpenPostgres(context.Background(), url, slog.New(slog.DiscardHandler))
			if err != nil {
				errs <- err
				return
			}
			p.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	p, err := OpenPostgres(context.Background(), url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var version, rows int
	if err := p.pool.QueryRow(context.Background(), `SELECT max(version), count(*) FROM knooppunt_schema`).Scan(&version, &rows); err != nil {
		t.Fatal(err)
	}
	if version != len(migrations) || rows != 1 {
		t.Fatalf("schema version %d in %d rows, want %d in 1", version, rows, len(migrations))
	}
}

// When PostgreSQL drops every connection (a restart, a failover), the store reconnects: the
// next transactions work, and what was committed before is there.
func TestPostgresReconnects(t *testing.T) {
	url := storagetest.DatabaseURL(t)
	p, err := OpenPostgres(context.Background(), url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	set(t, p, "before", "1")
	admin, err := OpenPostgres(context.Background(), url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// p's connections only: the database is shared with the other packages' tests, running at
	// once (terminating every hub connection in it failed those).
	var pids []int32
	for _, c := range p.pool.AcquireAllIdle(context.Background()) {
		pids = append(pids, int32(c.Conn().PgConn().PID()))
		c.Release()
	}
	var killed int
	err = admin.pool.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM unnest($1::int4[]) AS pid`, pids).Scan(&killed)
	admin.Close()
	if err != nil || killed == 0 {
		t.Fatalf("terminated %d connections: %v", killed, err)
	}
	// The pool's connections are dead; the next transactions get new ones.
	set(t, p, "after", "2")
	for _, k := range []string{"before", "after"} {
		if _, err := get(t, p, k); err != nil {
			t.Fatalf("%s after reconnect: %v", k, err)
		}
	}
}

// A transaction that flushes through the staging table several times (each Scan flushes)
// overwrites and deletes keys of an earlier flush: kv ends with the last write of each key,
// and a rolled-back transaction's staged rows reach neither kv nor the next transaction.
func TestPostgresStagedFlushes(t *testing.T) {
	for _, copyMin := range []int{1, defaultCopyMin} {
		t.Run(fmt.Sprint(copyMin), func(t *testing.T) {
			kv := postgresBackendCopyMin(t, copyMin)(t, "main")
			defer kv.Close()
			want := map[string]string{}
			err := kv.Update(func(txn Txn) error {
				for round := range 3 {
					for i := range 600 {
						k, v := fmt.Sprintf("k/%04d", i), fmt.Sprintf("r%d-%d", round, i)
						if round == 2 && i%3 == 0 {
							if err := txn.Delete([]byte(k)); err != nil {
								return err
							}
							delete(want, k)
							continue
						}
						if err := txn.Set([]byte(k), []byte(v)); err != nil {
							return err
						}
						want[k] = v
					}
					// Scan flushes the pending writes: the next round writes over them.
					n := 0
					if err := txn.Scan([]byte("k/"), ScanOptions{KeysOnly: true}, func(_, _ []byte) (bool, error) { n++; return true, nil }); err != nil {
						return err
					}
					if n != len(want) {
						return fmt.Errorf("round %d: scan saw %d keys, want %d", round, n, len(want))
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			errRollback := errors.New("rollback")
			err = kv.Update(func(txn Txn) error {
				for i := range 700 {
					if err := txn.Set(fmt.Appendf(nil, "k/%04d", i), []byte("rolled back")); err != nil {
						return err
					}
				}
				if err := txn.Scan([]byte("k/"), ScanOptions{}, func(_, _ []byte) (bool, error) { return false, nil }); err != nil {
					return err
				}
				return errRollback
			})
			if !errors.Is(err, errRollback) {
				t.Fatalf("rolled-back transaction: %v", err)
			}
			// A small write on the same store's connections, after the rollback.
			set(t, kv, "k/0001", want["k/0001"])
			got := map[string]string{}
			err = kv.View(func(txn Txn) error {
				return txn.Scan([]byte("k/"), ScanOptions{}, func(k, v []byte) (bool, error) {
					got[string(k)] = string(v)
					return true, nil
				})
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d keys, want %d", len(got), len(want))
			}
			for k, v := range want {
				if got[k] != v {
					t.Fatalf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

// UpdateLazy's transactions commit with synchronous_commit off and serializable (both set in
// its BEGIN), Update's with it on; neither setting outlives its transaction.
func TestPostgresLazyCommitSettings(t *testing.T) {
	kv := postgresBackend(t)(t, "main").(*Postgres)
	defer kv.Close()
	settings := func(update func(func(Txn) error) error) (sync, iso string) {
		t.Helper()
		err := update(func(txn Txn) error {
			rows, err := txn.(*pgTxn).query(false, pgStmt{sql: `SELECT current_setting('synchronous_commit'), current_setting('transaction_isolation')`})
			if err != nil {
				return err
			}
			sync, iso = string(rows[0][0]), string(rows[0][1])
			return txn.Set([]byte("k"), []byte("v"))
		})
		if err != nil {
			t.Fatal(err)
		}
		return sync, iso
	}
	for range 3 { // the pool hands out the same connection again
		if sync, iso := settings(kv.UpdateLazy); sync != "off" || iso != "serializable" {
			t.Fatalf("UpdateLazy: synchronous_commit %s, isolation %s", sync, iso)
		}
		if sync, iso := settings(kv.Update); sync != "on" || iso != "serializable" {
			t.Fatalf("Update: synchronous_commit %s, isolation %s", sync, iso)
		}
	}
}

// The store's statements run with their generic plans, and those read kv through its index:
// a sequential scan in a SERIALIZABLE transaction is a predicate lock on the whole table, a
// conflict with every writer. PostgreSQL planned one for a Prefetch of 3,000 keys in a table
// of 200,000 when it chose a custom plan.
func TestPostgresPlansUseIndex(t *testing.T) {
	p := postgresBackend(t)(t, "main").(*Postgres)
	defer p.Close()
	// Enough rows for the planner to have a choice.
	err := p.Update(func(txn Txn) error {
		for i := range 5000 {
			if err := txn.Set(fmt.Appendf(nil, "k/%06d", i), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := p.pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	var mode string
	if err := conn.QueryRow(context.Background(), `SHOW plan_cache_mode`).Scan(&mode); err != nil || mode != "force_generic_plan" {
		t.Fatalf("plan_cache_mode %q (%v), want force_generic_plan", mode, err)
	}
	if _, err := conn.Exec(context.Background(), `ANALYZE kv`); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`PREPARE plan_get(bytea) AS SELECT value FROM kv WHERE key = $1`,
		`PREPARE plan_any(bytea[]) AS SELECT key, value FROM kv WHERE key = ANY($1)`,
		`PREPARE plan_scan(bytea, bigint, bytea) AS SELECT key, value FROM kv WHERE key >= $1 AND key < $3 ORDER BY key LIMIT $2`,
	} {
		if _, err := conn.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	for i := range 3000 {
		keys = append(keys, fmt.Sprintf(`'k/%06d'::bytea`, i))
	}
	for _, q := range []string{
		`EXPLAIN EXECUTE plan_get('k/000001')`,
		`EXPLAIN EXECUTE plan_any(ARRAY[` + strings.Join(keys, ",") + `])`,
		`EXPLAIN EXECUTE plan_scan('k/', 100000, 'k0')`,
	} {
		rows, err := conn.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		rows.Close()
		if p := strings.Join(plan, "\n"); !strings.Contains(p, "Index") || strings.Contains(p, "Seq Scan") {
			t.Errorf("%s:\n%s\nwant an index scan", q[:40], p)
		}
	}
}

// SetNew's keys go to PostgreSQL as a plain INSERT (no upsert): a key that exists after all
// fails it with a unique violation, and the transaction runs once more with upserts. A
// regression that sent them as upserts would run it once; one that let the violation through
// would fail the Update.
func TestPostgresSetNewInsertsPlainly(t *testing.T) {
	p, err := OpenPostgres(context.Background(), storagetest.DatabaseURL(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Update(func(tx Txn) error { return tx.Set([]byte("msg/1"), []byte("old")) }); err != nil {
		t.Fatal(err)
	}
	runs := 0
	var noFresh []bool
	err = p.UpdateLazy(func(tx Txn) error {
		runs++
		noFresh = append(noFresh, tx.(*pgTxn).noFresh)
		for i := range 3 {
			if err := SetNew(tx, fmt.Appendf(nil, "msg/%d", i), fmt.Appendf(nil, "new %d", i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("SetNew of an existing key: %v", err)
	}
	if runs != 2 || noFresh[0] || !noFresh[1] {
		t.Fatalf("the transaction ran %d times (noFresh %v), want twice: plainly, then with upserts", runs, noFresh)
	}
	for i := range 3 {
		var v []byte
		if err := p.View(func(tx Txn) error { v, err = tx.Get(fmt.Appendf(nil, "msg/%d", i)); return err }); err != nil || string(v) != fmt.Sprintf("new %d", i) {
			t.Errorf("msg/%d = %q, %v", i, v, err)
		}
	}
	// Keys that are new: one run, and no serialization failures or retries counted.
	runs = 0
	if err := p.Update(func(tx Txn) error {
		runs++
		return SetNew(tx, []byte("msg/9"), []byte("9"))
	}); err != nil || runs != 1 {
		t.Fatalf("SetNew of a new key: %d runs, %v", runs, err)
	}
}

// A transaction of thousands of writes sends them ahead in round trips of sendAheadKeys while
// it goes on (the contract test ManyWrites checks what it reads and commits); one of fewer
// writes sends them with its COMMIT only.
func TestPostgresSendsWritesAhead(t *testing.T) {
	p, err := OpenPostgres(context.Background(), storagetest.DatabaseURL(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	write := func(n int) {
		t.Helper()
		if err := p.UpdateLazy(func(tx Txn) error {
			if _, err := tx.Get([]byte("begin")); !errors.Is(err, ErrNotFound) {
				return err
			}
			for i := range n {
				if err := SetNew(tx, fmt.Appendf(nil, "ahead/%d/%05d", n, i), []byte("v")); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	write(sendAheadKeys - 1)
	if got := p.aheads.Load(); got != 0 {
		t.Fatalf("%d writes sent ahead for a transaction of %d", got, sendAheadKeys-1)
	}
	write(4 * sendAheadKeys)
	if got := p.aheads.Load(); got < 1 || got > 4 {
		t.Fatalf("a transaction of %d writes sent %d round trips ahead, want 1 to 4", 4*sendAheadKeys, got)
	}
}

// Warm leaves n connections open in the pool with the store's statements prepared on each
// (what a new connection would otherwise do in the first transactions that use it), and a
// transaction after it runs on one of them.
func TestPostgresWarm(t *testing.T) {
	p, err := OpenPostgres(context.Background(), storagetest.DatabaseURL(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	n, err := p.Warm(context.Background(), 6)
	if err != nil || n != 6 {
		t.Fatalf("Warm: %d connections, %v", n, err)
	}
	if idle := p.pool.Stat().IdleConns(); idle < 6 {
		t.Fatalf("%d idle connections after Warm(6)", idle)
	}
	want := 5 + 12 // the kv statements and scanSQL's variants
	for _, c := range p.pool.AcquireAllIdle(context.Background()) {
		var prepared int
		err := c.Conn().QueryRow(context.Background(), `SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'kp\_%'`).Scan(&prepared)
		c.Release()
		if err != nil || prepared < want {
			t.Fatalf("a warmed connection has %d statements prepared (%v), want %d", prepared, err, want)
		}
	}
	set(t, p, "after", "warm")
	if v, err := get(t, p, "after"); err != nil || v != "warm" {
		t.Fatalf("after Warm: %q %v", v, err)
	}
	if n, err := p.Warm(context.Background(), 1000); err != nil || n != int(p.pool.Config().MaxConns) {
		t.Fatalf("Warm beyond the pool's size: %d, %v; want %d", n, err, p.pool.Config().MaxConns)
	}
}
