package exchange

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"knooppunt/storage"
)

// readsKV records what the read-write transactions of a store read (Get, Prefetch, the
// prefix of a Scan). On PostgreSQL every such read is a predicate lock, and a read of a key
// or range that other uploads write nearby makes concurrent transactions conflict and retry
// (issue 14); the tests below keep the hot ones out of the upload's transactions.
type readsKV struct {
	storage.KV
	mu    sync.Mutex
	reads []string
}

type readsTxn struct {
	storage.Txn
	kv *readsKV
}

func (r *readsKV) wrap(fn func(storage.Txn) error) func(storage.Txn) error {
	return func(t storage.Txn) error { return fn(readsTxn{t, r}) }
}
func (r *readsKV) Update(fn func(storage.Txn) error) error { return r.KV.Update(r.wrap(fn)) }
func (r *readsKV) UpdateLazy(fn func(storage.Txn) error) error {
	return r.KV.UpdateLazy(r.wrap(fn))
}

func (r *readsKV) read(what string, k []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads = append(r.reads, what+" "+string(k))
}

// take returns the reads so far and forgets them.
func (r *readsKV) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reads
	r.reads = nil
	return out
}

func (t readsTxn) Get(k []byte) ([]byte, error) {
	t.kv.read("get", k)
	return t.Txn.Get(k)
}

func (t readsTxn) Scan(prefix []byte, opts storage.ScanOptions, fn func(k, v []byte) (bool, error)) error {
	t.kv.read("scan", prefix)
	return t.Txn.Scan(prefix, opts, fn)
}

func (t readsTxn) Prefetch(keys [][]byte) error {
	for _, k := range keys {
		t.kv.read("get", k)
	}
	return storage.Prefetch(t.Txn, keys)
}

// TestUploadTransactionsLeaveHotKeysUnread: processing a correct upload reads neither the
// processing-speed model (eta/, written by every finished upload) nor the fouten range
// (fout/<upload>/, empty) in its read-write transactions; an upload with a rejected file still
// gets its fouten on its record.
func TestUploadTransactionsLeaveHotKeysUnread(t *testing.T) {
	dir := t.TempDir()
	kv, files := testStores(t, dir, envBackend())
	if kv == nil {
		var err error
		if kv, err = storage.OpenBadger(dir+"/db", slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
	}
	rkv := &readsKV{KV: kv}
	e := newEngineWith(t, dir, Config{KV: rkv, Files: files})
	gem := e.principal("0363")
	// Twice: the second start has an eta/ record to read.
	for i := range 2 {
		rkv.take()
		u := e.process(gem, IWmo, fmt.Sprintf("goed%d.zip", i), zipOf(t,
			file{name: "a.xml", data: envelope("WMO301", "0363", "12345678", newRef(), "")},
			file{name: "b.xml", data: envelope("WMO301", "0363", "87654321", newRef(), "")}))
		if u.Status != Afgeleverd || u.Counts.Correct != 2 || len(u.Fouten) != 0 {
			t.Fatalf("upload %d: %s %+v %+v", i, u.Status, u.Counts, u.Fouten)
		}
		for _, r := range rkv.take() {
			if strings.HasPrefix(r, "get "+kETA) || strings.HasPrefix(r, "scan "+kETA) || strings.HasPrefix(r, "scan "+kFout) {
				t.Errorf("upload %d: a read-write transaction read %q", i, r)
			}
		}
	}
	u := e.process(gem, IWmo, "fout.zip", zipOf(t,
		file{name: "goed.xml", data: envelope("WMO301", "0363", "12345678", newRef(), "")},
		file{name: "kapot.xml", data: []byte("<a><b></a>")}))
	if u.Status != Afgekeurd || u.Counts.Incorrect != 1 || !slices.ContainsFunc(u.Fouten, func(f Fout) bool { return f.Bestand == "kapot.xml" }) {
		t.Fatalf("upload with a rejected file: %s %+v %+v", u.Status, u.Counts, u.Fouten)
	}
}
