package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	var killed int
	err = admin.pool.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'knooppunt' AND pid <> pg_backend_pid() AND datname = current_database()`).Scan(&killed)
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
			tx := txn.(*pgTxn).tx
			if err := tx.QueryRow(context.Background(), `SELECT current_setting('synchronous_commit'), current_setting('transaction_isolation')`).Scan(&sync, &iso); err != nil {
				return err
			}
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

// Writes sent ahead while the transaction goes on (aheadMin) keep the transaction's meaning:
// Get reads the transaction's own writes whether sent or not, later writes of a key (a set
// over a sent set, a delete of a sent key) win at commit, and a transaction that fails with
// flushes sent ahead (one possibly still in flight) leaves nothing behind.
func TestPostgresWritesSentAhead(t *testing.T) {
	for _, copyMin := range []int{0, 1, defaultCopyMin} {
		t.Run(fmt.Sprint(copyMin), func(t *testing.T) {
			kv := postgresBackendWith(t, copyMin, 64)(t, "main")
			defer kv.Close()
			const n = 3000
			want := map[string]string{}
			write := func(txn Txn, wantToo bool) error {
				sentAhead := false
				for i := range n {
					k, v := fmt.Sprintf("k/%05d", i), fmt.Sprintf("v%d", i)
					if err := txn.Set([]byte(k), []byte(v)); err != nil {
						return err
					}
					if wantToo {
						want[k] = v
					}
					if i%100 == 99 {
						// Keys written long ago (sent by now) and just now (pending).
						for _, j := range []int{i - 99, i - 50, i} {
							k := fmt.Sprintf("k/%05d", j)
							got, err := txn.Get([]byte(k))
							if wantToo && (err != nil || string(got) != want[k]) {
								return fmt.Errorf("Get %s in the transaction: %q %v, want %q", k, got, err, want[k])
							}
						}
						sentAhead = sentAhead || len(txn.(*pgTxn).sent) > 0
					}
					if i >= 500 && i%7 == 0 {
						// Over a write sent ahead: a set, or a delete.
						old := fmt.Sprintf("k/%05d", i-500)
						if i%2 == 0 {
							if err := txn.Delete([]byte(old)); err != nil {
								return err
							}
							if wantToo {
								delete(want, old)
							}
						} else {
							if err := txn.Set([]byte(old), []byte("over")); err != nil {
								return err
							}
							if wantToo {
								want[old] = "over"
							}
						}
					}
				}
				if !sentAhead {
					return errors.New("nothing was sent ahead")
				}
				return nil
			}
			errRollback := errors.New("rollback")
			err := kv.UpdateLazy(func(txn Txn) error {
				if err := write(txn, false); err != nil {
					return err
				}
				return errRollback
			})
			if !errors.Is(err, errRollback) {
				t.Fatalf("failed transaction: %v", err)
			}
			if got := scanAll(t, kv, "k/"); len(got) != 0 {
				t.Fatalf("a failed transaction left %d keys", len(got))
			}
			if err := kv.Update(func(txn Txn) error { return write(txn, true) }); err != nil {
				t.Fatal(err)
			}
			got := scanAll(t, kv, "k/")
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

// A serialization failure that a flush sent ahead runs into is the transaction's conflict,
// retried as any other: the second attempt commits, and the concurrent update is not lost.
func TestPostgresConflictInFlushSentAhead(t *testing.T) {
	kv := postgresBackendWith(t, defaultCopyMin, 16)(t, "main")
	defer kv.Close()
	set(t, kv, "n", "0")
	attempts := 0
	err := kv.Update(func(txn Txn) error {
		attempts++
		v, err := txn.Get([]byte("n"))
		if err != nil {
			return err
		}
		if attempts == 1 {
			// Another transaction changes n and commits after this one read it.
			if err := kv.Update(func(other Txn) error { return other.Set([]byte("n"), []byte("10")) }); err != nil {
				return err
			}
		}
		// n goes out with the first flush sent ahead, which the server refuses.
		if err := txn.Set([]byte("n"), append(v, '+')); err != nil {
			return err
		}
		for i := range 200 {
			if err := txn.Set(fmt.Appendf(nil, "x/%03d", i), []byte("x")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 2 {
		t.Fatalf("%d attempts, want 2 (the conflict retried once)", attempts)
	}
	if v, _ := get(t, kv, "n"); v != "10+" {
		t.Fatalf("n = %q, want 10+ (the other transaction's update kept)", v)
	}
	if got := scanAll(t, kv, "x/"); len(got) != 200 {
		t.Fatalf("%d x/ keys, want 200", len(got))
	}
}

func scanAll(t *testing.T, kv KV, prefix string) map[string]string {
	t.Helper()
	got := map[string]string{}
	if err := kv.View(func(txn Txn) error {
		return txn.Scan([]byte(prefix), ScanOptions{}, func(k, v []byte) (bool, error) {
			got[string(k)] = string(v)
			return true, nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return got
}
