package exchange

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"knooppunt/storage"
)

// gelezenState is what the store says about delivery d: its record, the idx/gel/ entries for
// it, and the gelezen and ongelezen events in its messages' history.
type gelezenState struct {
	d                    Delivery
	gelIndex             int
	gelezen, ongelezen   int
	auditMarks, auditDel int
}

func readGelezenState(t *testing.T, e *testEngine, id uint64, path string) gelezenState {
	t.Helper()
	var s gelezenState
	err := e.h.kv.View(func(tx storage.Txn) error {
		if err := getJSON(tx, key(kDelivery, id), &s.d); err != nil {
			return err
		}
		err := tx.Scan([]byte(kGelezen), storage.ScanOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
			if did, err := idFromKey(k); err == nil && did == id {
				s.gelIndex++
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		for _, mid := range s.d.Messages {
			m, _, err := txMessage(tx, mid)
			if err != nil {
				return err
			}
			for _, ev := range m.History {
				switch ev.Status {
				case MsgGelezen:
					s.gelezen++
				case MsgOngelezen:
					s.ongelezen++
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = e.h.AuditLog(1, func(a AuditEntry) bool {
		if a.Path == path {
			switch a.Action {
			case "gelezen", "ongelezen":
				s.auditMarks++
			case "verwijder":
				s.auditDel++
			}
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Several sessions mark the same file at once (the SetGelezen's read of the name now comes
// from a snapshot before its transaction): each round changes the file once, with one event
// per message, one idx/gel/ entry while gelezen, and one audit entry.
func TestConcurrentMarksOfOneFile(t *testing.T) {
	e := newEngine(t, "")
	gem, zorg := e.principal("0363"), e.principal("12345678")
	e.process(gem, IWmo, "een.xml", envelope("WMO301", "0363", "12345678", newRef(), ""))
	ds, _, err := e.h.Inbox(context.Background(), zorg, IWmo, InboxOptions{})
	if err != nil || len(ds) != 1 {
		t.Fatalf("inbox: %+v %v", ds, err)
	}
	name, id := ds[0].Name, ds[0].ID
	path := string(IWmo) + "/ophalen/" + name
	const sessions, rounds = 6, 4
	for r := range rounds {
		gelezen := r%2 == 0
		e.clk.Add(time.Minute)
		var wg sync.WaitGroup
		errs := make(chan error, sessions)
		for range sessions {
			wg.Go(func() { errs <- e.h.SetGelezen(zorg, IWmo, []string{name}, gelezen) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", r, err)
			}
		}
		s := readGelezenState(t, e, id, path)
		wantIndex := 0
		if gelezen {
			wantIndex = 1
		}
		if s.d.GelezenAt.IsZero() == gelezen || s.gelIndex != wantIndex {
			t.Fatalf("round %d (gelezen %t): record gelezen op %v, %d idx/gel entries", r, gelezen, s.d.GelezenAt, s.gelIndex)
		}
		n := len(s.d.Messages)
		if s.gelezen != (r/2+1)*n || s.ongelezen != (r+1)/2*n || s.auditMarks != r+1 {
			t.Fatalf("round %d: %d gelezen and %d ongelezen events for %d messages, %d audit entries: a mark counted twice or lost",
				r, s.gelezen, s.ongelezen, n, s.auditMarks)
		}
	}
}

// A mark racing a delete of the same file: the file ends deleted, with no idx/gel/ entry left
// behind (retention would otherwise hide it a second time) and a mark either made before the
// delete or refused as not in ophalen/.
func TestMarkRacingDeleteOfOneFile(t *testing.T) {
	e := newEngine(t, "")
	gem, zorg := e.principal("0363"), e.principal("12345678")
	const files = 6
	for i := range files {
		e.clk.Add(time.Second)
		e.process(gem, IWmo, fmt.Sprintf("f%d.xml", i), envelope("WMO301", "0363", "12345678", newRef(), ""))
	}
	ds, _, err := e.h.Inbox(context.Background(), zorg, IWmo, InboxOptions{})
	if err != nil || len(ds) != files {
		t.Fatalf("inbox: %d files, %v", len(ds), err)
	}
	for _, d := range ds {
		var wg sync.WaitGroup
		var markErr, delErr error
		wg.Go(func() { markErr = e.h.SetGelezen(zorg, IWmo, []string{d.Name}, true) })
		wg.Go(func() { delErr = e.h.DeleteDeliveries(zorg, IWmo, []string{d.Name}) })
		wg.Wait()
		if delErr != nil {
			t.Fatalf("%s: delete: %v", d.Name, delErr)
		}
		if markErr != nil && !errors.Is(markErr, ErrNotFound) {
			t.Fatalf("%s: mark: %v", d.Name, markErr)
		}
		s := readGelezenState(t, e, d.ID, string(IWmo)+"/ophalen/"+d.Name)
		if s.d.DeletedAt.IsZero() || s.gelIndex != 0 || s.auditDel != 1 {
			t.Fatalf("%s: deleted at %v, %d idx/gel entries, %d delete audit entries", d.Name, s.d.DeletedAt, s.gelIndex, s.auditDel)
		}
		if markErr == nil && (s.gelezen != len(s.d.Messages) || s.auditMarks != 1) {
			t.Fatalf("%s: the mark succeeded but left %d events and %d audit entries", d.Name, s.gelezen, s.auditMarks)
		}
		if markErr != nil && (s.gelezen != 0 || s.auditMarks != 0) {
			t.Fatalf("%s: the mark was refused (%v) but left %d events and %d audit entries", d.Name, markErr, s.gelezen, s.auditMarks)
		}
	}
}

// The id SetGelezen read for a name in an earlier snapshot no longer names the file once it
// was deleted, and names it again when it is restored under that name: the record decides.
func TestMarkOfAnIdWhoseFileWasDeletedSince(t *testing.T) {
	e := newEngine(t, "")
	gem, zorg := e.principal("0363"), e.principal("12345678")
	ref := newRef()
	e.process(gem, IWmo, "een.xml", envelope("WMO301", "0363", "12345678", ref, ""))
	ds, _, _ := e.h.Inbox(context.Background(), zorg, IWmo, InboxOptions{})
	name := ds[0].Name
	fp, id, err := e.h.deliveryID(zorg, IWmo, name)
	if err != nil || fp == nil || id != ds[0].ID {
		t.Fatalf("deliveryID: %d %v, want %d", id, err, ds[0].ID)
	}
	visible := func() error {
		return e.h.kv.View(func(tx storage.Txn) error {
			_, err := visibleDelivery(tx, id, zorg.Org.Code, IWmo, name)
			return err
		})
	}
	if err := e.h.DeleteDeliveries(zorg, IWmo, []string{name}); err != nil {
		t.Fatal(err)
	}
	if err := visible(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted file: %v, want ErrNotFound", err)
	}
	if err := e.h.SetGelezen(zorg, IWmo, []string{name}, true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("mark of a deleted file: %v, want ErrNotFound", err)
	}
	if err := e.h.Restore(zorg, IWmo, ref); err != nil {
		t.Fatal(err)
	}
	if err := visible(); err != nil {
		t.Fatalf("restored under its name: %v", err)
	}
	// Another organisation's principal with the same id: not its file.
	if err := e.h.kv.View(func(tx storage.Txn) error {
		_, err := visibleDelivery(tx, id, "0363", IWmo, name)
		return err
	}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the id under another organisation: %v, want ErrNotFound", err)
	}
}

// SetGelezen's read-write transaction does not read idx/dname/: on PostgreSQL that read
// locked the index pages where every upload to the organisation inserts its new files' names,
// and marks conflicted with them. The name is resolved in a snapshot; the mark still happens.
func TestMarkTransactionLeavesNamesUnread(t *testing.T) {
	e, rkv := newReadsEngine(t)
	gem, zorg := e.principal("0363"), e.principal("12345678")
	e.process(gem, IWmo, "een.xml", envelope("WMO301", "0363", "12345678", newRef(), ""))
	ds, _, _ := e.h.Inbox(context.Background(), zorg, IWmo, InboxOptions{})
	rkv.take()
	if err := e.h.SetGelezen(zorg, IWmo, []string{ds[0].Name}, true); err != nil {
		t.Fatal(err)
	}
	reads := rkv.take()
	for _, r := range reads {
		if strings.HasPrefix(r, "get "+kDlvName) || strings.HasPrefix(r, "scan "+kDlvName) {
			t.Errorf("the mark's read-write transaction read %q", r)
		}
	}
	if !slices.Contains(reads, "get "+string(key(kDelivery, ds[0].ID))) {
		t.Errorf("the mark's transaction did not read the delivery's record: %q", reads)
	}
	if s := readGelezenState(t, e, ds[0].ID, string(IWmo)+"/ophalen/"+ds[0].Name); s.d.GelezenAt.IsZero() || s.gelezen != len(s.d.Messages) {
		t.Fatalf("not marked: %+v", s)
	}
}
