package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"knooppunt/storage/storagetest"
)

// A kvBackend opens the store named name; the same name opens the same store again (after
// Close), so tests can check what survives a restart.
type kvBackend func(t *testing.T, name string) KV

func badgerBackend(t *testing.T) kvBackend {
	dir := t.TempDir()
	return func(t *testing.T, name string) KV {
		b, err := OpenBadger(filepath.Join(dir, name), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

func postgresBackend(t *testing.T) kvBackend { return postgresBackendCopyMin(t, defaultCopyMin) }

// postgresBackendCopyMin opens Postgres stores that send copyMin sets or more through COPY.
func postgresBackendCopyMin(t *testing.T, copyMin int) kvBackend {
	urls := map[string]string{}
	return func(t *testing.T, name string) KV {
		u, ok := urls[name]
		if !ok {
			u = storagetest.DatabaseURL(t)
			urls[name] = u
		}
		p, err := OpenPostgres(context.Background(), u, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		p.copyMin = copyMin
		return p
	}
}

// Every KV keeps the same contract: the engine does not change its rules for a backend.
func TestKVContractBadger(t *testing.T)   { testKVContract(t, badgerBackend) }
func TestKVContractPostgres(t *testing.T) { testKVContract(t, postgresBackend) }

// The contract again with every set going through the COPY staging table (copyMin 1), and with
// none (0): both paths keep it.
func TestKVContractPostgresCopy(t *testing.T) {
	testKVContract(t, func(t *testing.T) kvBackend { return postgresBackendCopyMin(t, 1) })
}
func TestKVContractPostgresArrays(t *testing.T) {
	testKVContract(t, func(t *testing.T) kvBackend { return postgresBackendCopyMin(t, 0) })
}

func testKVContract(t *testing.T, backend func(*testing.T) kvBackend) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, kvBackend)
	}{
		{"GetSetDelete", kvGetSetDelete},
		{"Rollback", kvRollback},
		{"ScanEdges", kvScanEdges},
		{"ScanBatches", kvScanBatches},
		{"ConflictsRetried", kvConflictsRetried},
		{"ConflictSurfaces", kvConflictSurfaces},
		{"Sequence", kvSequence},
		{"LargeValues", kvLargeValues},
		{"TxnTooBig", kvTxnTooBig},
		{"LazyThenSync", kvLazyThenSync},
		{"Prefetch", kvPrefetch},
		{"SetNew", kvSetNew},
		{"ManyWrites", kvManyWrites},
	} {
		t.Run(c.name, func(t *testing.T) {
			open := backend(t)
			c.fn(t, open)
		})
	}
}

func mustOpen(t *testing.T, open kvBackend) KV {
	kv := open(t, "main")
	t.Cleanup(func() { kv.Close() })
	return kv
}

func get(t *testing.T, kv KV, key string) (string, error) {
	t.Helper()
	var v []byte
	err := kv.View(func(tx Txn) error {
		var err error
		v, err = tx.Get([]byte(key))
		return err
	})
	return string(v), err
}

func set(t *testing.T, kv KV, kvs ...string) {
	t.Helper()
	if err := kv.Update(func(tx Txn) error {
		for i := 0; i < len(kvs); i += 2 {
			if err := tx.Set([]byte(kvs[i]), []byte(kvs[i+1])); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func kvGetSetDelete(t *testing.T, open kvBackend) {
	kv := mustOpen(t, open)
	if _, err := get(t, kv, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing key: %v, want ErrNotFound", err)
	}
	set(t, kv, "a", "1", "b", "")
	if v, err := get(t, kv, "a"); err != nil || v != "1" {
		t.Fatalf("a = %q, %v", v, err)
	}
	if v, err := get(t, kv, "b"); err != nil || v != "" {
		t.Fatalf("empty value: %q, %v", v, err)
	}
	set(t, kv, "a", "2")
	if v, _ := get(t, kv, "a"); v != "2" {
		t.Fatalf("overwritten a = %q", v)
	}
	// A transaction reads its own writes and deletes.
	if err := kv.Update(func(tx Txn) error {
		if err := tx.Delete([]byte("a")); err != nil {
			return err
		}
		if _, err := tx.Get([]byte("a")); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("deleted in txn: %v", err)
		}
		if err := tx.Set([]byte("c"), []byte("3")); err != nil {
			return err
		}
		v, err := tx.Get([]byte("c"))
		if err != nil || string(v) != "3" {
			return fmt.Errorf("own write: %q %v", v, err)
		}
		return tx.Delete([]byte("never-there"))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, kv, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted key: %v", err)
	}
	if err := kv.View(func(tx Txn) error { return tx.Set([]byte("x"), []byte("y")) }); err == nil {
		t.Fatal("Set in View succeeded")
	}
	// Binary keys and values, 0x00 and 0xff included.
	k, v := "\x00\xff\x00", "\xff\x00\xff"
	set(t, kv, k, v)
	if got, err := get(t, kv, k); err != nil || got != v {
		t.Fatalf("binary: %q %v", got, err)
	}
	// Survives a restart.
	kv.Close()
	kv = open(t, "main")
	defer kv.Close()
	if got, err := get(t, kv, k); err != nil || got != v {
		t.Fatalf("after reopen: %q %v", got, err)
	}
}

func kvRollback(t *testing.T, open kvBackend) {
	kv := mustOpen(t, open)
	boom := errors.New("boom")
	err := kv.Update(func(tx Txn) error {
		tx.Set([]byte("a"), []byte("1"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v, want fn's error", err)
	}
	if _, err := get(t, kv, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("write of a failed txn visible: %v", err)
	}
}

func scanKeys(t *testing.T, kv KV, prefix string, opts ScanOptions) []string {
	t.Helper()
	var got []string
	if err := kv.View(func(tx Txn) error {
		return tx.Scan([]byte(prefix), opts, func(k, v []byte) (bool, error) {
			if opts.KeysOnly && v != nil {
				return false, fmt.Errorf("KeysOnly gave value %q", v)
			}
			if !opts.KeysOnly && string(v) != "v"+string(k) {
				return false, fmt.Errorf("value of %q is %q", k, v)
			}
			got = append(got, string(k))
			return true, nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func kvScanEdges(t *testing.T, open kvBackend) {
	kv := mustOpen(t, open)
	keys := []string{"a", "ab", "ab\x00", "ab\x01", "ab\xff", "ab\xff\xff", "ab\xff\xff\xff\xff\x00", "ac",
		"\xff", "\xff\xff", "\xff\xff\x01"}
	var kvs []string
	for _, k := range keys {
		kvs = append(kvs, k, "v"+k)
	}
	set(t, kv, kvs...)
	fwd, rev := ScanOptions{}, ScanOptions{Reverse: true}
	for _, c := range []struct {
		name, prefix string
		opts         ScanOptions
		want         []string
	}{
		{"forward", "ab", fwd, []string{"ab", "ab\x00", "ab\x01", "ab\xff", "ab\xff\xff", "ab\xff\xff\xff\xff\x00"}},
		{"keys only", "ab", ScanOptions{KeysOnly: true}, []string{"ab", "ab\x00", "ab\x01", "ab\xff", "ab\xff\xff", "ab\xff\xff\xff\xff\x00"}},
		// Reverse without Start begins at prefix + ff ff ff ff (Badger's seek): a key with more
		// 0xff bytes right after the prefix is not seen. The exchange's keys never have one
		// (ids and times are big-endian, far below 0xff…); both backends agree on it.
		{"reverse", "ab", rev, []string{"ab\xff\xff", "ab\xff", "ab\x01", "ab\x00", "ab"}},
		{"forward from start", "ab", ScanOptions{Start: []byte("ab\x01")}, []string{"ab\x01", "ab\xff", "ab\xff\xff", "ab\xff\xff\xff\xff\x00"}},
		{"forward from missing start", "ab", ScanOptions{Start: []byte("ab\x02")}, []string{"ab\xff", "ab\xff\xff", "ab\xff\xff\xff\xff\x00"}},
		{"reverse from start", "ab", ScanOptions{Reverse: true, Start: []byte("ab\x01")}, []string{"ab\x01", "ab\x00", "ab"}},
		{"reverse from missing start", "ab", ScanOptions{Reverse: true, Start: []byte("ab\x02")}, []string{"ab\x01", "ab\x00", "ab"}},
		{"reverse from high start", "ab", ScanOptions{Reverse: true, Start: []byte("ab\xff\xff\xff\xff\xff")}, []string{"ab\xff\xff\xff\xff\x00", "ab\xff\xff", "ab\xff", "ab\x01", "ab\x00", "ab"}},
		// A Start outside the prefix: Badger seeks it and stops at the first key without the
		// prefix.
		{"forward start below prefix, key between", "ab", ScanOptions{Start: []byte("a")}, nil},
		{"forward start past prefix", "ab", ScanOptions{Start: []byte("ac")}, nil},
		{"reverse start past prefix, key between", "ab", ScanOptions{Reverse: true, Start: []byte("ad")}, nil},
		{"reverse start below prefix", "ab", ScanOptions{Reverse: true, Start: []byte("aa")}, nil},
		{"prefix ff forward", "\xff", fwd, []string{"\xff", "\xff\xff", "\xff\xff\x01"}},
		{"prefix ff reverse", "\xff", rev, []string{"\xff\xff\x01", "\xff\xff", "\xff"}},
		{"prefix ffff forward", "\xff\xff", fwd, []string{"\xff\xff", "\xff\xff\x01"}},
		{"no match", "b", fwd, nil},
		{"no match reverse", "b", rev, nil},
		{"everything", "", fwd, keys},
		{"everything reverse", "", rev, reversed(keys)},
	} {
		got := scanKeys(t, kv, c.prefix, c.opts)
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	// A nil prefix is every key, as an empty one (the backup scans so).
	for _, opts := range []ScanOptions{fwd, rev} {
		var got []string
		kv.View(func(tx Txn) error {
			return tx.Scan(nil, opts, func(k, _ []byte) (bool, error) { got = append(got, string(k)); return true, nil })
		})
		if len(got) != len(keys) {
			t.Errorf("nil prefix %+v: %d keys, want %d", opts, len(got), len(keys))
		}
	}
	// fn stops the scan.
	var n int
	kv.View(func(tx Txn) error {
		return tx.Scan([]byte("ab"), fwd, func(_, _ []byte) (bool, error) { n++; return n < 2, nil })
	})
	if n != 2 {
		t.Errorf("scan went on after fn said stop: %d calls", n)
	}
	// fn's error ends the scan and is returned.
	boom := errors.New("boom")
	if err := kv.View(func(tx Txn) error {
		return tx.Scan([]byte("ab"), fwd, func(_, _ []byte) (bool, error) { return true, boom })
	}); !errors.Is(err, boom) {
		t.Errorf("scan returned %v, want fn's error", err)
	}
}

func reversed(s []string) []string {
	r := append([]string(nil), s...)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return r
}

// Scans longer than one batch, with writes and reads inside the scan (the engine deletes
// what it scans in retention).
func kvScanBatches(t *testing.T, open kvBackend) {
	kv := mustOpen(t, open)
	const n = 1500
	if err := kv.Update(func(tx Txn) error {
		for i := range n {
			k := fmt.Sprintf("p/%05d", i)
			if err := tx.Set([]byte(k), []byte("v"+k)); err != nil {
				return err
			}
		}
		return tx.Set([]byte("q"), []byte("vq"))
	}); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []ScanOptions{{}, {Reverse: true}, {KeysOnly: true}, {Reverse: true, KeysOnly: true}} {
		got := scanKeys(t, kv, "p/", opts)
		if len(got) != n {
			t.Fatalf("%+v: %d keys, want %d", opts, len(got), n)
		}
		for i, k := range got {
			j := i
			if opts.Reverse {
				j = n - 1 - i
			}
			if k != fmt.Sprintf("p/%05d", j) {
				t.Fatalf("%+v: key %d is %q", opts, i, k)
			}
		}
	}
	// Delete every other key while scanning, and read the next one.
	if err := kv.Update(func(tx Txn) error {
		return tx.Scan([]byte("p/"), ScanOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
			var i int
			fmt.Sscanf(string(k), "p/%05d", &i)
			if i%2 == 1 {
				return true, tx.Delete(bytes.Clone(k))
			}
			if _, err := tx.Get([]byte("q")); err != nil {
				return false, err
			}
			return true, nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if got := scanKeys(t, kv, "p/", ScanOptions{}); len(got) != n/2 {
		t.Fatalf("after deleting half: %d keys", len(got))
	}
}

// Concurrent read-modify-writes of one key all land: conflicts are retried by Update.
func kvConflictsRetried(t *testing.T, open kvBackend) {
	kv := mustOpen(t, open)
	set(t, kv, "n", "0")
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range each {
				err := kv.Update(func(tx Txn) error {
					v, err := tx.Get([]byte("n"))
					if err != nil {
						return err
					}
					var i int
					fmt.Sscan(string(v), &i)
					return tx.Set([]byte("n"), []byte(fmt.Sprint(i+1)))
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if v, _ := get(t, kv, "n"); v != fmt.Sprint(workers*each) {
		t.Fatalf("counter %s, want %d: an update was lost", v, workers*each)
	}
}

// A transaction that conflicts on every attempt ends in ErrConflict, and writes nothing.
func kvConflictSurfaces(t *testing.T, open kvBackend) {
	kv := mustOpen(t, open)
	set(t, kv, "k", "0")
	attempts := 0
	err := kv.Update(func(tx Txn) error {
		attempts++
		if _, err := tx.Get([]byte("k")); err != nil {
			return err
		}
		// Another transaction changes what this one read, and commits first.
		if err := kv.Update(func(other Txn) error {
			return other.Set([]byte("k"), []byte(fmt.Sprint(attempts)))
		}); err != nil {
			return err
		}
		if err := tx.Set([]byte("k"), []byte("mine")); err != nil {
			return err
		}
		return tx.Set([]byte("side"), []byte("x"))
	})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("Update returned %v after %d attempts, want ErrConflict", err, attempts)
	}
	if attempts < 2 {
		t.Fatalf("%d attempts: not retried", attempts)
	}
	if _, err := get(t, kv, "side"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a conflicting transaction left a write: %v", err)
	}
}

func kvSequence(t *testing.T, open kvBackend) {
	var last uint64
	for round := range 2 {
		kv := open(t, "seq")
		for i := range 100 {
			n, err := kv.Sequence("upload")
			if err != nil {
				t.Fatal(err)
			}
			if round == 0 && i == 0 && n != 1 {
				t.Fatalf("first value %d, want 1", n)
			}
			if n <= last {
				t.Fatalf("sequence gave %d after %d", n, last)
			}
			last = n
		}
		if n, _ := kv.Sequence("other"); n == 0 {
			t.Fatal("second counter starts at 0")
		}
		kv.Close()
	}
}

func kvLargeValues(t *testing.T, open kvBackend) {
	kv := mustOpen(t, open)
	big := bytes.Repeat([]byte("0123456789abcdef"), 10<<20/16) // 10 MB
	big[0], big[len(big)-1] = 0, 0xff
	if err := kv.Update(func(tx Txn) error {
		if err := tx.Set([]byte("big1"), big); err != nil {
			return err
		}
		return tx.Set([]byte("big2"), big[:1<<20])
	}); err != nil {
		t.Fatal(err)
	}
	if err := kv.View(func(tx Txn) error {
		v, err := tx.Get([]byte("big1"))
		if err != nil || !bytes.Equal(v, big) {
			return fmt.Errorf("big1: %d bytes, %v", len(v), err)
		}
		n := 0
		return tx.Scan([]byte("big"), ScanOptions{}, func(k, v []byte) (bool, error) {
			n++
			if want := map[string]int{"big1": len(big), "big2": 1 << 20}[string(k)]; len(v) != want {
				return false, fmt.Errorf("%s: %d bytes in scan, want %d", k, len(v), want)
			}
			return true, nil
		})
	}); err != nil {
		t.Fatal(err)
	}
}

// A transaction too big for Badger is too big on every backend, with the same error, so that
// code that works on one works on the other.
func kvTxnTooBig(t *testing.T, open kvBackend) {
	kv := mustOpen(t, open)
	val := bytes.Repeat([]byte("x"), 512) // below the value threshold: counted in full
	written := 0
	err := kv.Update(func(tx Txn) error {
		written = 0
		for i := 0; ; i++ {
			if err := tx.Set(fmt.Appendf(nil, "k/%08d", i), val); err != nil {
				return err
			}
			written += len(val)
		}
	})
	if !errors.Is(err, ErrTooBig) {
		t.Fatalf("Update returned %v, want ErrTooBig", err)
	}
	if written < MaxTxnBytes*8/10 || written > MaxTxnBytes {
		t.Fatalf("too big after %d bytes of values, limit %d", written, MaxTxnBytes)
	}
	if got := scanKeys(t, kv, "k/", ScanOptions{KeysOnly: true}); len(got) != 0 {
		t.Fatalf("a transaction that was too big left %d keys", len(got))
	}
	err = kv.Update(func(tx Txn) error { return tx.Set(bytes.Repeat([]byte("k"), MaxKeySize+1), nil) })
	if !errors.Is(err, ErrTooBig) {
		t.Fatalf("key of %d bytes: %v, want ErrTooBig", MaxKeySize+1, err)
	}
}

func kvLazyThenSync(t *testing.T, open kvBackend) {
	kv := mustOpen(t, open)
	if err := kv.UpdateLazy(func(tx Txn) error { return tx.Set([]byte("lazy"), []byte("1")) }); err != nil {
		t.Fatal(err)
	}
	if v, err := get(t, kv, "lazy"); err != nil || v != "1" {
		t.Fatalf("lazy write not visible at once: %q %v", v, err)
	}
	if err := kv.Sync(); err != nil {
		t.Fatal(err)
	}
}

// Prefetch changes no answer: Gets after it see the store, and the transaction's own writes.
func kvPrefetch(t *testing.T, open kvBackend) {
	kv := mustOpen(t, open)
	set(t, kv, "a", "1", "b", "2")
	if err := kv.Update(func(tx Txn) error {
		if err := tx.Set([]byte("c"), []byte("3")); err != nil {
			return err
		}
		if err := Prefetch(tx, [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("none")}); err != nil {
			return err
		}
		for k, want := range map[string]string{"a": "1", "b": "2", "c": "3"} {
			if v, err := tx.Get([]byte(k)); err != nil || string(v) != want {
				return fmt.Errorf("%s after prefetch: %q %v", k, v, err)
			}
		}
		if _, err := tx.Get([]byte("none")); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("missing key after prefetch: %v", err)
		}
		tx.Set([]byte("a"), []byte("new"))
		tx.Delete([]byte("b"))
		tx.Set([]byte("none"), []byte("now"))
		// A scan sends the writes; the Gets after it must not answer from what was prefetched.
		tx.Scan([]byte("x"), ScanOptions{}, func(_, _ []byte) (bool, error) { return true, nil })
		for k, want := range map[string]string{"a": "new", "none": "now"} {
			if v, err := tx.Get([]byte(k)); err != nil || string(v) != want {
				return fmt.Errorf("%s after write: %q %v", k, v, err)
			}
		}
		if _, err := tx.Get([]byte("b")); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("deleted key after prefetch: %v", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// SetNew ends as Set whatever the key's state: new keys, keys that exist (a redo), keys the
// transaction read or deleted first, keys a scan sent before, in lazy and durable commits.
func kvSetNew(t *testing.T, open kvBackend) {
	kv := mustOpen(t, open)
	set(t, kv, "old/1", "a", "old/2", "b", "old/3", "c")
	runs := 0
	if err := kv.UpdateLazy(func(tx Txn) error {
		runs++
		for _, k := range []string{"new/1", "new/2"} {
			if err := SetNew(tx, []byte(k), []byte("n")); err != nil {
				return err
			}
		}
		// Read first and found: an upsert from the start.
		if _, err := tx.Get([]byte("old/2")); err != nil {
			return err
		}
		if err := SetNew(tx, []byte("old/2"), []byte("B")); err != nil {
			return err
		}
		// Deleted first, then written anew.
		if err := tx.Delete([]byte("old/3")); err != nil {
			return err
		}
		if err := SetNew(tx, []byte("old/3"), []byte("C")); err != nil {
			return err
		}
		// Sent by a scan, then written again in the same transaction.
		if err := SetNew(tx, []byte("new/3"), []byte("first")); err != nil {
			return err
		}
		if err := tx.Scan([]byte("new/"), ScanOptions{}, func(_, _ []byte) (bool, error) { return true, nil }); err != nil {
			return err
		}
		return SetNew(tx, []byte("new/3"), []byte("second"))
	}); err != nil {
		t.Fatal(err)
	}
	// Exists, never read: the write ends as Set's all the same (PostgreSQL runs the
	// transaction a second time, with upserts).
	if err := kv.Update(func(tx Txn) error {
		if err := SetNew(tx, []byte("new/4"), []byte("4")); err != nil {
			return err
		}
		return SetNew(tx, []byte("old/1"), []byte("A"))
	}); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"new/1": "n", "new/2": "n", "new/3": "second", "new/4": "4", "old/1": "A", "old/2": "B", "old/3": "C"} {
		if v, err := get(t, kv, k); err != nil || v != want {
			t.Errorf("%s = %q, %v; want %q", k, v, err, want)
		}
	}
	if runs != 1 {
		t.Errorf("the first transaction ran %d times; its SetNews of found, deleted and sent keys must not need a second run", runs)
	}
}

// A transaction of thousands of writes (PostgreSQL sends them ahead while the transaction goes
// on: sendAhead) reads its own writes, deletes and rewrites what it sent, scans them, and
// commits all or, when its function fails, nothing; the store is usable after either.
func kvManyWrites(t *testing.T, open kvBackend) {
	kv := mustOpen(t, open)
	set(t, kv, "many/00001", "old")
	const n = 5000
	k := func(i int) []byte { return fmt.Appendf(nil, "many/%05d", i) }
	for _, failing := range []bool{true, false} {
		err := kv.UpdateLazy(func(tx Txn) error {
			for i := range n {
				w := tx.Set
				if i%2 == 0 {
					w = func(key, value []byte) error { return SetNew(tx, key, value) }
				}
				if err := w(k(i), fmt.Appendf(nil, "v%d", i)); err != nil {
					return err
				}
				if i == 3000 {
					for _, j := range []int{1, 10, 2999} {
						if v, err := tx.Get(k(j)); err != nil || string(v) != fmt.Sprintf("v%d", j) {
							return fmt.Errorf("own write %d: %q %v", j, v, err)
						}
					}
					if err := tx.Delete(k(10)); err != nil {
						return err
					}
					if err := SetNew(tx, k(20), []byte("again")); err != nil {
						return err
					}
					seen := 0
					if err := tx.Scan([]byte("many/"), ScanOptions{KeysOnly: true}, func(_, _ []byte) (bool, error) { seen++; return true, nil }); err != nil {
						return err
					}
					if seen != 3000 { // 0..3000, less the deleted 10
						return fmt.Errorf("scan in the transaction saw %d keys, want 3000", seen)
					}
				}
			}
			if failing {
				return errors.New("afgebroken")
			}
			return nil
		})
		if failing {
			if err == nil || err.Error() != "afgebroken" {
				t.Fatalf("failing transaction: %v", err)
			}
			if v, err := get(t, kv, "many/00001"); err != nil || v != "old" {
				t.Fatalf("after the failed transaction: %q %v, want the old value", v, err)
			}
			if _, err := get(t, kv, "many/04999"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("a write of the failed transaction is there: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	count := 0
	if err := kv.View(func(tx Txn) error {
		return tx.Scan([]byte("many/"), ScanOptions{}, func(key, v []byte) (bool, error) {
			count++
			var i int
			fmt.Sscanf(string(key), "many/%05d", &i)
			want := fmt.Sprintf("v%d", i)
			if i == 20 {
				want = "again"
			}
			if string(v) != want {
				return false, fmt.Errorf("%s = %q, want %q", key, v, want)
			}
			return true, nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if count != n-1 {
		t.Fatalf("%d keys after the commit, want %d", count, n-1)
	}
}
