package exchange

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// A long read a door calls ends with the door's context: a client that leaves does not keep
// a listing of thousands of entries running. Under one check interval the read finishes (the
// check costs nothing per key); past it, a cancelled context stops it with its error.
func TestLongReadsStopWithTheirContext(t *testing.T) {
	e := idleEngine(t, t.TempDir(), nil)
	gem := e.principal("0363")
	data := envelope("WMO301", "0363", "12345678", newRef(), "")
	for i := range scanCheckEvery + 10 {
		e.put(gem, IWmo, fmt.Sprintf("a%d.xml", i), data)
	}
	if us, total, err := e.h.Uploads(context.Background(), gem, IWmo, ListOptions{Limit: 5}); err != nil || total != scanCheckEvery+10 || len(us) != 5 {
		t.Fatalf("Uploads: %v, %d of %d", err, len(us), total)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := e.h.Uploads(cancelled, gem, IWmo, ListOptions{Limit: 5}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Uploads with a cancelled context: %v", err)
	}
	if _, _, err := e.h.Messages(cancelled, gem, IWmo, MessageFilter{}); err != nil {
		t.Fatalf("an empty berichtenlog with a cancelled context: %v (fewer keys than one check interval finish)", err)
	}
	if _, err := e.h.Reports(cancelled, gem, IWmo); !errors.Is(err, context.Canceled) {
		t.Fatalf("Reports with a cancelled context: %v", err)
	}
}
