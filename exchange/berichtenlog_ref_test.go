package exchange

import (
	"context"
	"errors"
	"testing"
	"time"

	"knooppunt/storage"
)

// TestRefSearchKeepsOrgsApart: a referentienummer is chosen by its sender, so two gemeenten
// may use the same one, here each to an aanbieder of its own. The referentienummer index has
// one entry per message for all the logs it is in; every organisation still finds only its
// own message by it, in the berichtenlog (whole and as a prefix) and for herstel, and one
// that has neither message finds nothing.
func TestRefSearchKeepsOrgsApart(t *testing.T) {
	e := newEngine(t, "")
	ctx := context.Background()
	ref := newRef()
	pairs := [][2]string{{"0363", "12345678"}, {"0060", "87654321"}}
	for _, pr := range pairs {
		u := e.process(e.principal(pr[0]), IWmo, "heen-"+pr[0]+".xml", envelope("WMO301", pr[0], pr[1], ref, ""))
		if u.Status != Afgeleverd || u.Counts.Correct != 1 {
			t.Fatalf("upload of %s: %s %+v", pr[0], u.Status, u.Counts)
		}
	}
	if n := countPrefix(t, e.h.kv, []byte(kRecvRef)); n != 2 {
		t.Fatalf("%d referentienummer entries for 2 messages, want 2", n)
	}
	for _, pr := range pairs {
		for _, org := range pr {
			for _, q := range []string{ref, ref[:MinRefPrefix], ref[:len(ref)-1]} {
				l, err := e.h.MessageList(ctx, e.principal(org), IWmo, MessageFilter{Referentie: q, Limit: 50})
				if err != nil {
					t.Fatal(err)
				}
				if l.Total != 1 || len(l.Messages) != 1 || l.Messages[0].Zender != pr[0] || l.Messages[0].Ontvanger != pr[1] {
					t.Fatalf("%s searching %q: total %d, %+v; want only %s → %s", org, q, l.Total, l.Messages, pr[0], pr[1])
				}
			}
		}
	}
	for _, org := range []string{"9999", "CAK"} {
		l, err := e.h.MessageList(ctx, e.principal(org), IWmo, MessageFilter{Referentie: ref, Limit: 50})
		if err != nil || l.Total != 0 || len(l.Messages) != 0 {
			t.Fatalf("%s, which has neither message, found %+v (%v)", org, l, err)
		}
	}

	// Herstel: each aanbieder gets its own file back, and only that one.
	for _, pr := range pairs {
		zorg := e.principal(pr[1])
		if err := e.h.DeleteDeliveries(zorg, IWmo, keys(e.inbox(zorg, IWmo))); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.h.Restore(e.principal("12345678"), IWmo, ref); err != nil {
		t.Fatal(err)
	}
	if n, m := len(e.inbox(e.principal("12345678"), IWmo)), len(e.inbox(e.principal("87654321"), IWmo)); n != 1 || m != 0 {
		t.Fatalf("after herstel by 12345678: %d and %d files in ophalen, want 1 and 0", n, m)
	}
	if err := e.h.Restore(e.principal("9999"), IWmo, ref); !errors.Is(err, ErrNotFound) {
		t.Fatalf("herstel by an organisation without the message: %v, want ErrNotFound", err)
	}
	if err := e.h.Restore(e.principal("87654321"), IWmo, ref); err != nil {
		t.Fatal(err)
	}
	if n := len(e.inbox(e.principal("87654321"), IWmo)); n != 1 {
		t.Fatalf("after herstel by 87654321: %d files in ophalen, want 1", n)
	}

	// Past retention the entries go with their messages.
	e.clk.Add(Bewaartijd + time.Hour)
	if err := e.h.sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countPrefix(t, e.h.kv, []byte(kRecvRef)); n != 0 {
		t.Fatalf("%d referentienummer entries left after purge", n)
	}
}

// TestRefEntryValue: an entry names the organisations given, finds each of them and no
// other (not a code that is a prefix or an extension of one), and an unreadable value names
// nobody.
func TestRefEntryValue(t *testing.T) {
	v := refOrgs([]string{"0363", "12345678"})
	for org, want := range map[string]bool{"0363": true, "12345678": true, "036": false, "03631": false, "1234567": false, "": false, "CAK": false} {
		if got := refHasOrg(v, org); got != want {
			t.Errorf("refHasOrg(%q) = %v, want %v", org, got, want)
		}
	}
	if refHasOrg(v[:len(v)-1], "12345678") || refHasOrg([]byte{200}, "0363") || refHasOrg(nil, "0363") {
		t.Error("a cut or unreadable value names an organisation")
	}
	w := refWithOrg(refWithOrg(refWithOrg(nil, "0363"), "12345678"), "0363")
	if string(w) != string(v) {
		t.Errorf("refWithOrg: %q, want %q", w, v)
	}
}

// refEntries reads the referentienummer index: each key with the organisations of its value.
func refEntries(t *testing.T, kv storage.KV) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := kv.View(func(tx storage.Txn) error {
		return tx.Scan([]byte(kRecvRef), storage.ScanOptions{}, func(k, v []byte) (bool, error) {
			out[string(k)] = refOrgList(v)
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
