package exchange

import (
	"bytes"
	"context"
	"encoding/binary"
	"reflect"
	"testing"
	"time"

	"knooppunt/storage"
)

// v1Summary is the value of a version-1 value-index entry.
func v1Summary(s logSum) []byte {
	b := []byte{1}
	for _, f := range [...]string{s.status, s.functie, s.dir, s.cp} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// downgradeToV1 rewrites a store's berichtenlog into the layout of store version 1, as a
// knooppunt before version 2 left it: per message and log a time-index entry without a
// value and four value-index entries with its summary; no groups; meta/version 1.
func downgradeToV1(t *testing.T, kv storage.KV) {
	t.Helper()
	type group struct {
		org     string
		product Product
		at      time.Time
		ms      []logMember
		k       []byte
	}
	var gs []group
	err := kv.View(func(tx storage.Txn) error {
		return tx.Scan([]byte(kLog), storage.ScanOptions{}, func(k, v []byte) (bool, error) {
			rest := k[len(kLog):]
			i := bytes.IndexByte(rest, '/')
			j := bytes.IndexByte(rest[i+1:], '/')
			org, product := string(rest[:i]), Product(rest[i+1:i+1+j])
			at, gid, ok := groupKeyParts(k, key(kLog, org, product, ""))
			if !ok {
				t.Fatalf("unreadable group key %q", k)
			}
			ms, err := readGroup(tx, org, gid, v)
			gs = append(gs, group{org, product, time.Unix(0, at), ms, bytes.Clone(k)})
			return err == nil, err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	for len(gs) > 0 {
		n := min(len(gs), 50)
		err := kv.Update(func(tx storage.Txn) error {
			for _, g := range gs[:n] {
				for _, m := range g.ms {
					if err := tx.Set(key(kLogV1, g.org, g.product, g.at, m.id), nil); err != nil {
						return err
					}
					for _, v := range m.sum.values() {
						if err := tx.Set(key(kLogVV1, g.org, g.product, v, g.at, m.id), v1Summary(m.sum)); err != nil {
							return err
						}
					}
				}
				if err := tx.Delete(g.k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		gs = gs[n:]
	}
	var vks [][]byte
	kv.View(func(tx storage.Txn) error {
		return tx.Scan([]byte(kLogV), storage.ScanOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
			vks = append(vks, bytes.Clone(k))
			return true, nil
		})
	})
	for len(vks) > 0 {
		n := min(len(vks), 500)
		if err := kv.Update(func(tx storage.Txn) error {
			for _, k := range vks[:n] {
				if err := tx.Delete(k); err != nil {
					return err
				}
			}
			return tx.Set([]byte(kVersion), []byte("1"))
		}); err != nil {
			t.Fatal(err)
		}
		vks = vks[n:]
	}
}

// countPrefix counts the keys under prefix.
func countPrefix(t *testing.T, kv storage.KV, prefix []byte) (n int) {
	t.Helper()
	err := kv.View(func(tx storage.Txn) error {
		return tx.Scan(prefix, storage.ScanOptions{KeysOnly: true}, func(_, _ []byte) (bool, error) {
			n++
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStoreV1BerichtenlogMigrates opens a store in the berichtenlog layout of version 1 (an
// entry per message, value-index entries with summaries) with a knooppunt that writes
// version 2, and finds everything afterwards: every berichtenlog filter gives what it gave
// before, herstel puts a deleted file back, ophalen lists the files, verslagen open; no
// version-1 entry is left. The log holds more entries than one migration transaction
// handles, and groups of the engine with read and deleted members; the migration was cut
// short after its first transaction.
func TestStoreV1BerichtenlogMigrates(t *testing.T) {
	dir := t.TempDir()
	// On PostgreSQL and S3 the database schema and bucket prefix of dir belong to the test
	// that first opens them and go with it: claim them here, so that the engine reopened
	// after the subtest finds the store the subtest left (it failed with "no schema has
	// been selected").
	if kv, _ := testStores(t, dir, envBackend()); kv != nil {
		kv.Close()
	}
	const org = "0363"
	ctx := context.Background()
	filters := map[string]MessageFilter{
		"geen":                     {},
		"functie":                  {Functie: "WMO302"},
		"richting":                 {Direction: "in"},
		"richting_uit_tegenpartij": {Direction: "uit", Counterpart: "CAK"},
		"tegenpartij":              {Counterpart: "CAK"},
		"status":                   {Status: string(MsgWachtRoute)},
		"gelezen":                  {Status: string(MsgGelezen), Functie: "WMO301"},
		"verwijderd":               {Status: string(MsgVerwijderd)},
		"afgekeurd":                {Status: string(MsgAfgekeurd)},
		"ref":                      {Referentie: "ref-0000300"},
	}
	type seen struct {
		lists   map[string][]uint64
		totals  map[string]int
		inbox   []string
		reports []string
	}
	look := func(e *testEngine) seen {
		t.Helper()
		s := seen{lists: map[string][]uint64{}, totals: map[string]int{}}
		for _, who := range []string{org, "12345678", "87654321"} {
			p := e.principal(who)
			for name, f := range filters {
				f.Limit = 50
				l, err := e.h.MessageList(ctx, p, IWmo, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range l.Messages {
					s.lists[who+"/"+name] = append(s.lists[who+"/"+name], m.ID)
				}
				s.totals[who+"/"+name] = l.Total
			}
		}
		for name := range e.inbox(e.principal("12345678"), IWmo) {
			s.inbox = append(s.inbox, name)
		}
		rs, err := e.h.Reports(ctx, e.principal(org), IWmo)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if _, _, err := e.h.OpenReport(ctx, e.principal(org), IWmo, r.Name); err != nil {
				t.Fatal(err)
			}
			s.reports = append(s.reports, r.Name)
		}
		return s
	}

	var before seen
	var deletedRef string
	t.Run("v2", func(t *testing.T) {
		e := newEngine(t, dir)
		gem, zorg := e.principal(org), e.principal("12345678")
		logFixture(t, e, org, 1200, mixed(org))
		// Through the engine: a ZIP to two aanbieders with one refused envelope, then one
		// file read and one deleted.
		var fs []file
		for i := range 40 {
			to := "12345678"
			if i%2 == 1 {
				to = "87654321"
			}
			fs = append(fs, file{name: string(rune('a'+i%26)) + string(rune('a'+i/26)) + ".xml", data: envelope("WMO301", org, to, newRef(), "")})
		}
		// Refused with a message (IB016): the same referentienummer twice.
		dup := newRef()
		fs = append(fs, file{name: "dub1.xml", data: envelope("WMO301", org, "12345678", dup, "")},
			file{name: "dub2.xml", data: envelope("WMO301", org, "12345678", dup, "")},
			file{name: "kapot.xml", data: []byte("<kapot")})
		e.process(gem, IWmo, "heen.zip", zipOf(t, fs...))
		e.process(gem, IWmo, "heen2.xml", envelope("WMO301", org, "12345678", newRef(), ""))
		names := keys(e.inbox(zorg, IWmo))
		if len(names) != 2 {
			t.Fatalf("inbox %v", names)
		}
		if err := e.h.SetGelezen(zorg, IWmo, names[:1], true); err != nil {
			t.Fatal(err)
		}
		if err := e.h.DeleteDeliveries(zorg, IWmo, names[1:]); err != nil {
			t.Fatal(err)
		}
		l, _ := e.h.MessageList(ctx, zorg, IWmo, MessageFilter{Status: string(MsgVerwijderd), Limit: 1})
		if len(l.Messages) != 1 {
			t.Fatalf("deleted: %+v", l)
		}
		deletedRef = l.Messages[0].Referentie
		before = look(e)
		if before.totals[org+"/richting"] == 0 || before.totals["12345678/verwijderd"] == 0 || before.totals[org+"/richting_uit_tegenpartij"] == 0 ||
			before.totals[org+"/afgekeurd"] == 0 || before.totals["12345678/gelezen"] == 0 {
			t.Fatalf("fixture lacks matches: %v", before.totals)
		}
		downgradeToV1(t, e.h.kv)
		n := countPrefix(t, e.h.kv, []byte(kLogV1))
		if n < 1200 {
			t.Fatalf("downgrade: %d version-1 entries", n)
		}
		// A migration cut short (a kill after its first transaction): the next start goes on
		// from there.
		if more, err := migrateLog2Step(e.h.kv); err != nil || !more {
			t.Fatalf("first migration step: more %v, %v", more, err)
		}
		if left := countPrefix(t, e.h.kv, []byte(kLogV1)); left != n-migrateChunk {
			t.Fatalf("after one step %d of %d version-1 entries left, want %d", left, n, n-migrateChunk)
		}
	})

	e := newEngine(t, dir)
	var v int
	e.h.kv.View(func(tx storage.Txn) error { v, _, _ = readVersion(tx); return nil })
	if v != StoreVersion {
		t.Fatalf("version %d after opening, want %d", v, StoreVersion)
	}
	if n, nv := countPrefix(t, e.h.kv, []byte(kLogV1)), countPrefix(t, e.h.kv, []byte(kLogVV1)); n != 0 || nv != 0 {
		t.Fatalf("left of version 1: %d time-index and %d value-index entries", n, nv)
	}
	if n := countPrefix(t, e.h.kv, []byte(kLog)); n == 0 {
		t.Fatal("no groups after migration")
	}
	after := look(e)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("after migration:\n%+v\nbefore:\n%+v", after, before)
	}
	// Herstel finds the deleted file through the migrated indexes.
	zorg := e.principal("12345678")
	if err := e.h.Restore(zorg, IWmo, deletedRef); err != nil {
		t.Fatal(err)
	}
	if got := len(e.inbox(zorg, IWmo)); got != 2 {
		t.Fatalf("after herstel %d files in ophalen, want 2", got)
	}
	l, err := e.h.MessageList(ctx, zorg, IWmo, MessageFilter{Status: string(MsgHersteld), Direction: "in", Limit: 50})
	if err != nil || l.Total == 0 || l.Messages[0].Status != MsgHersteld {
		t.Fatalf("hersteld: %+v %v", l, err)
	}
}
