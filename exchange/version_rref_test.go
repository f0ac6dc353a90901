package exchange

import (
	"bytes"
	"context"
	"reflect"
	"slices"
	"testing"

	"knooppunt/storage"
)

// downgradeRref rewrites a store's referentienummer index into the layout of store version
// 2, as a knooppunt before version 3 left it: a key without a value per message and
// organisation, idx/rref/<org>/<product>/<referentienummer>/<id>; meta/version 2.
func downgradeRref(t *testing.T, kv storage.KV) {
	t.Helper()
	type entry struct {
		k    []byte
		orgs []string
	}
	var es []entry
	err := kv.View(func(tx storage.Txn) error {
		return tx.Scan([]byte(kRecvRef), storage.ScanOptions{}, func(k, v []byte) (bool, error) {
			es = append(es, entry{bytes.Clone(k), refOrgList(v)})
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	for {
		n := min(len(es), 200)
		err := kv.Update(func(tx storage.Txn) error {
			for _, e := range es[:n] {
				rest := e.k[len(kRecvRef):]
				for _, org := range e.orgs {
					if err := tx.Set(append([]byte(kRecvRefV2+org+"/"), rest...), nil); err != nil {
						return err
					}
				}
				if err := tx.Delete(e.k); err != nil {
					return err
				}
			}
			return tx.Set([]byte(kVersion), []byte("2"))
		})
		if err != nil {
			t.Fatal(err)
		}
		if es = es[n:]; len(es) == 0 {
			return
		}
	}
}

// TestStoreV2RrefMigrates opens a store with the referentienummer index of version 2 (a key
// per message and organisation) with a knooppunt that writes version 3, cut short after its
// first transaction, and finds the same: the index has the entries it had before the
// downgrade, with the same organisations, every organisation's referentienummer searches
// give what they gave (two gemeenten share a referentienummer), herstel finds a deleted
// file; no version-2 key is left.
func TestStoreV2RrefMigrates(t *testing.T) {
	dir := t.TempDir()
	// Claim the PostgreSQL schema and S3 prefix of dir here, so that the engine reopened
	// after the subtest finds the store the subtest left (see TestStoreV1BerichtenlogMigrates).
	if kv, _ := testStores(t, dir, envBackend()); kv != nil {
		kv.Close()
	}
	ctx := context.Background()
	orgs := []string{"0363", "0060", "12345678", "87654321", "9999"}
	shared := newRef()
	look := func(e *testEngine) map[string][]uint64 {
		t.Helper()
		seen := map[string][]uint64{}
		for _, org := range orgs {
			for _, q := range []string{shared, shared[:MinRefPrefix], "ref-0000300", "ref-00003", "ref-"} {
				for _, off := range []int{0, 20} {
					l, err := e.h.MessageList(ctx, e.principal(org), IWmo, MessageFilter{Referentie: q, Offset: off, Limit: 20})
					if err != nil {
						t.Fatal(err)
					}
					k := org + "/" + q + "/" + string(rune('0'+off/20))
					seen[k] = append(seen[k], uint64(l.Total))
					for _, m := range l.Messages {
						seen[k] = append(seen[k], m.ID)
					}
				}
			}
		}
		return seen
	}
	sorted := func(m map[string][]string) map[string][]string {
		for _, v := range m {
			slices.Sort(v)
		}
		return m
	}

	var before map[string][]uint64
	var entries map[string][]string
	var deletedRef string
	t.Run("v2", func(t *testing.T) {
		e := newEngine(t, dir)
		logFixture(t, e, "0363", 1100, mixed("0363"))
		for _, pr := range [][2]string{{"0363", "12345678"}, {"0060", "87654321"}} {
			e.process(e.principal(pr[0]), IWmo, "gedeeld-"+pr[0]+".xml", envelope("WMO301", pr[0], pr[1], shared, ""))
		}
		var fs []file
		for i := range 30 {
			fs = append(fs, file{name: string(rune('a'+i%26)) + string(rune('a'+i/26)) + ".xml", data: envelope("WMO301", "0363", "12345678", newRef(), "")})
		}
		if u := e.process(e.principal("0363"), IWmo, "heen.zip", zipOf(t, fs...)); u.Counts.Correct != 30 {
			t.Fatalf("upload %+v", u.Counts)
		}
		zorg := e.principal("12345678")
		l, err := e.h.MessageList(ctx, zorg, IWmo, MessageFilter{Limit: 1})
		if err != nil || len(l.Messages) != 1 {
			t.Fatalf("log of 12345678: %+v %v", l, err)
		}
		deletedRef = l.Messages[0].Referentie
		if err := e.h.DeleteDeliveries(zorg, IWmo, keys(e.inbox(zorg, IWmo))); err != nil {
			t.Fatal(err)
		}
		before = look(e)
		if before["0060/"+shared+"/0"][0] != 1 || before["0363/ref-00003/0"][0] == 0 || before["9999/"+shared+"/0"][0] != 0 {
			t.Fatalf("fixture lacks matches: %v", before)
		}
		entries = sorted(refEntries(t, e.h.kv))
		downgradeRref(t, e.h.kv)
		n := countPrefix(t, e.h.kv, []byte(kRecvRefV2))
		if want := 1100 + 2*32; n != want || countPrefix(t, e.h.kv, []byte(kRecvRef)) != 0 {
			t.Fatalf("downgrade: %d version-2 keys, want %d", n, want)
		}
		// A migration cut short (a kill after its first transaction): the next start goes on
		// from there, and some messages have one organisation in the new entry and the other
		// still in an old key.
		if more, err := migrateRrefStep(e.h.kv); err != nil || !more {
			t.Fatalf("first migration step: more %v, %v", more, err)
		}
		if left := countPrefix(t, e.h.kv, []byte(kRecvRefV2)); left != n-migrateChunk {
			t.Fatalf("after one step %d of %d version-2 keys left, want %d", left, n, n-migrateChunk)
		}
	})

	e := newEngine(t, dir)
	var v int
	e.h.kv.View(func(tx storage.Txn) error { v, _, _ = readVersion(tx); return nil })
	if v != StoreVersion {
		t.Fatalf("version %d after opening, want %d", v, StoreVersion)
	}
	if n := countPrefix(t, e.h.kv, []byte(kRecvRefV2)); n != 0 {
		t.Fatalf("%d version-2 keys left", n)
	}
	if after := sorted(refEntries(t, e.h.kv)); !reflect.DeepEqual(after, entries) {
		t.Fatalf("index after migration differs: %d entries, %d before", len(after), len(entries))
	}
	if after := look(e); !reflect.DeepEqual(after, before) {
		t.Fatalf("after migration:\n%v\nbefore:\n%v", after, before)
	}
	zorg := e.principal("12345678")
	if err := e.h.Restore(zorg, IWmo, deletedRef); err != nil {
		t.Fatal(err)
	}
	if got := len(e.inbox(zorg, IWmo)); got != 1 {
		t.Fatalf("after herstel %d files in ophalen, want 1", got)
	}
}
