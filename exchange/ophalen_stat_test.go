package exchange

import (
	"context"
	"errors"
	"testing"
)

// A stat or a name resolution reads the delivery's record, not its bytes: with the file's
// blob gone, Delivery still answers from the record while OpenDelivery, which reads (and
// checksums) the bytes, fails.
func TestDeliveryLookupReadsTheRecordNotTheFile(t *testing.T) {
	e := newEngine(t, "")
	gem, zorg := e.principal("0363"), e.principal("12345678")
	e.process(gem, IWmo, "los.xml", envelope("WMO301", "0363", "12345678", newRef(), ""))
	ds, _, err := e.h.Inbox(context.Background(), zorg, IWmo, InboxOptions{})
	if err != nil || len(ds) != 1 {
		t.Fatalf("ophalen/: %v %+v", err, ds)
	}
	want := ds[0]
	if err := e.h.files.Remove(want.Blob); err != nil {
		t.Fatal(err)
	}
	d, err := e.h.Delivery(zorg, IWmo, want.Name)
	if err != nil || d.ID != want.ID || d.Size != want.Size || d.Size == 0 {
		t.Fatalf("Delivery: %v %+v, want %+v", err, d, want)
	}
	if r, _, err := e.h.OpenDelivery(zorg, IWmo, want.Name); err == nil {
		r.Close()
		t.Fatal("OpenDelivery of a removed blob succeeded: the test does not tell record from bytes")
	}
	// The lookup keeps the rules of ophalen/: another organisation and an unknown name.
	if _, err := e.h.Delivery(gem, IWmo, want.Name); !errors.Is(err, ErrNotFound) {
		t.Fatalf("sender's ophalen/: %v", err)
	}
	if _, err := e.h.Delivery(zorg, IWmo, "geen.ZIP"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown name: %v", err)
	}
}
