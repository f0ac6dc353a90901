package exchange

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"knooppunt/storage"
)

// countingKV counts the keys and bytes the transactions of a store write (Set and Delete),
// per kind of key: what a message costs the store.
type countingKV struct {
	storage.KV
	mu    sync.Mutex
	on    bool
	keys  map[string]int
	bytes map[string]int
}

type countingTxn struct {
	storage.Txn
	kv *countingKV
}

func (c *countingKV) wrap(fn func(storage.Txn) error) func(storage.Txn) error {
	return func(t storage.Txn) error { return fn(countingTxn{t, c}) }
}
func (c *countingKV) Update(fn func(storage.Txn) error) error { return c.KV.Update(c.wrap(fn)) }
func (c *countingKV) UpdateLazy(fn func(storage.Txn) error) error {
	return c.KV.UpdateLazy(c.wrap(fn))
}

func (c *countingKV) count(k []byte, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.on {
		return
	}
	kind := string(k)
	if i := strings.IndexByte(kind, '/'); i >= 0 {
		if j := strings.IndexByte(kind[i+1:], '/'); strings.HasPrefix(kind, "idx/") && j >= 0 {
			i += j + 1
		}
		kind = kind[:i+1]
	}
	c.keys[kind]++
	c.bytes[kind] += n
}

func (t countingTxn) Set(k, v []byte) error {
	t.kv.count(k, len(k)+len(v))
	return t.Txn.Set(k, v)
}

func (t countingTxn) Delete(k []byte) error {
	t.kv.count(k, len(k))
	return t.Txn.Delete(k)
}

func (t countingTxn) Prefetch(keys [][]byte) error { return storage.Prefetch(t.Txn, keys) }

// TestKeysPerAcceptedMessage processes a ZIP of 1,000 envelopes to 50 aanbieders (the shape
// of BenchmarkThroughput) and counts what the store wrote for it, per accepted message: keys
// and bytes of every Set and Delete, by kind of key (a transaction that is retried counts
// twice). Issue 17 item 2 aims at no more than 6 keys per message for the message and its
// berichtenlog entries; the test fails above that.
func TestKeysPerAcceptedMessage(t *testing.T) {
	dir := t.TempDir()
	kv, files := testStores(t, dir, envBackend())
	if kv == nil {
		b, err := storage.OpenBadger(filepath.Join(dir, "db"), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		kv = b
	}
	ckv := &countingKV{KV: kv, keys: map[string]int{}, bytes: map[string]int{}}
	e := newEngineWith(t, dir, Config{KV: ckv, Files: files})
	var aanbieders []string
	for i := range 50 {
		code := fmt.Sprintf("%08d", 20000000+i)
		if _, err := e.h.CreateOrg(System, code, "Zorg "+code); err != nil {
			t.Fatal(err)
		}
		aanbieders = append(aanbieders, code)
	}
	gem := e.principal("0363")
	const n = 1000
	var fs []file
	for i := range n {
		fs = append(fs, file{name: fmt.Sprintf("b%04d.xml", i), data: envelope("WMO301", "0363", aanbieders[i%50], newRef(), "")})
	}
	data := zipOf(t, fs...)
	ckv.mu.Lock()
	ckv.on = true
	ckv.mu.Unlock()
	u := e.process(gem, IWmo, "bench.zip", data)
	ckv.mu.Lock()
	ckv.on = false
	ckv.mu.Unlock()
	if u.Status != Afgeleverd || u.Counts.Correct != n {
		t.Fatalf("upload %s %+v", u.Status, u.Counts)
	}
	var kinds []string
	all, allBytes, msgKeys, msgBytes := 0, 0, 0, 0
	for k := range ckv.keys {
		kinds = append(kinds, k)
		all += ckv.keys[k]
		allBytes += ckv.bytes[k]
		switch k {
		case kMessage, kRef, kRecvRef, kLogXRef, kLog, kLogV, kLogCount, kLogV1, kLogVV1:
			msgKeys += ckv.keys[k]
			msgBytes += ckv.bytes[k]
		}
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		t.Logf("%-14s %7.3f keys %8.1f bytes per message", k, float64(ckv.keys[k])/n, float64(ckv.bytes[k])/n)
	}
	t.Logf("message and berichtenlog: %.2f keys, %.0f bytes per message; everything: %.2f keys, %.0f bytes",
		float64(msgKeys)/n, float64(msgBytes)/n, float64(all)/n, float64(allBytes)/n)
	if float64(msgKeys)/n > 6 {
		t.Errorf("%.2f keys per accepted message for it and its berichtenlog entries, want at most 6", float64(msgKeys)/n)
	}
}
