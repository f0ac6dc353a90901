package exchange

import (
	"fmt"
	"time"

	"knooppunt/storage"
)

// SeedBerichtenlog writes n berichtenlog entries of product into org's log, heen messages
// from org to counterpart a millisecond apart from start, straight into the indexes (as
// putNewMessage writes them) in large batches. It exists for benchmarks outside this package
// (the TUI's screens) that need a log of a million entries without running a million
// envelopes through the engine; it is compiled into this package's tests only.
func SeedBerichtenlog(h *Hub, org, counterpart string, product Product, functie string, n int, start time.Time) error {
	const batch = 1000
	for i := 0; i < n; i += batch {
		end := min(i+batch, n)
		err := h.kv.Update(func(t storage.Txn) error {
			for j := i; j < end; j++ {
				m := Message{ID: msgID(1_000_000+uint64(j/100_000), j%100_000), Product: product, Functie: functie,
					Referentie: fmt.Sprintf("seed-%07d", j), Zender: org, Ontvanger: counterpart, Mailbox: counterpart,
					Uploader: org, ReceivedAt: start.Add(time.Duration(j) * time.Millisecond), Status: MsgAfgeleverd}
				if err := setJSON(t, key(kMessage, m.ID), m); err != nil {
					return err
				}
				if err := putLogEntries(t, m, []string{org}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("berichtenlog vullen (%d van %d): %w", i, n, err)
		}
	}
	return nil
}
