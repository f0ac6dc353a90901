package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"knooppunt/storage"
)

// Retention periods of the portal (seed, 4.2).
const (
	GelezenBewaartijd = 168 * time.Hour     // a gelezen file leaves ophalen/ this long after it was read
	Bewaartijd        = 60 * 24 * time.Hour // every message and file is purged this long after it arrived
)

// retentionLoop applies retention every interval until ctx ends.
func (h *Hub) retentionLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		// One node at a time sweeps (knooppunten.go); the others wait for its lease.
		if h.lease("bewaartermijn") {
			began := time.Now()
			err := h.sweep(ctx)
			if err != nil {
				h.log.Error("bewaartermijnen toepassen", "err", err)
			}
			if ctx.Err() == nil {
				h.obs.RetentionRun(time.Since(began), err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweep removes gelezen files whose 168 hours have passed, purges everything older than 60
// days, and delivers held files whose route is Portaal again. It reads the injected clock.
func (h *Hub) sweep(ctx context.Context) error {
	now := h.clock.Now()
	if err := h.expireGelezen(now); err != nil {
		return err
	}
	if err := h.releaseAllHeld(); err != nil {
		return err
	}
	if err := h.finishAllHistory(); err != nil {
		return err
	}
	if err := h.sweepAanleveren(now); err != nil {
		return err
	}
	if err := h.purgeSends(now); err != nil {
		return err
	}
	return h.purge(ctx, now)
}

func (h *Hub) expireGelezen(now time.Time) error {
	limit := now.Add(-GelezenBewaartijd)
	var ids []uint64
	err := h.kv.View(func(t storage.Txn) error {
		return t.Scan([]byte(kGelezen), storage.ScanOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
			at := time.Unix(0, int64(beUint(k[len(kGelezen):])))
			if at.After(limit) {
				return false, nil
			}
			id, err := idFromKey(k)
			ids = append(ids, id)
			return err == nil, err
		})
	})
	if err != nil {
		return fmt.Errorf("gelezen bestanden zoeken: %w", err)
	}
	for _, id := range ids {
		var d Delivery
		queued := false
		err := h.kv.Update(func(t storage.Txn) error {
			queued = false
			if err := getJSON(t, key(kDelivery, id), &d); err != nil {
				if errors.Is(err, storage.ErrNotFound) {
					return nil
				}
				return err
			}
			if d.GelezenAt.IsZero() || d.GelezenAt.After(limit) || !d.DeletedAt.IsZero() {
				return t.Delete(key(kGelezen, d.GelezenAt, id))
			}
			var err error
			queued, err = h.hideDelivery(t, d, now, StatusEvent{At: now, Status: MsgVerlopen, By: "knooppunt"})
			return err
		})
		if err != nil {
			return fmt.Errorf("gelezen bestand %d opruimen: %w", id, err)
		}
		if queued {
			if err := h.finishHistory(id); err != nil {
				return err
			}
		}
		h.publish(Event{Org: d.Org, Product: d.Product, Kind: "delivery"})
	}
	return nil
}

func beUint(b []byte) uint64 {
	var n uint64
	for _, c := range b[:8] {
		n = n<<8 | uint64(c)
	}
	return n
}

// purge removes every upload that arrived more than 60 days ago, with its messages, delivery
// files, fouten and indexes. Records go first, then the files they pointed to.
func (h *Hub) purge(ctx context.Context, now time.Time) error {
	limit := now.Add(-Bewaartijd)
	var ids []uint64
	err := h.kv.View(func(t storage.Txn) error {
		return t.Scan([]byte(kExpire), storage.ScanOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
			if time.Unix(0, int64(beUint(k[len(kExpire):]))).After(limit) {
				return false, nil
			}
			id, err := idFromKey(k)
			ids = append(ids, id)
			return err == nil, err
		})
	})
	if err != nil {
		return fmt.Errorf("verlopen aanleveringen zoeken: %w", err)
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			return nil
		}
		if err := h.purgeUpload(id); err != nil {
			return err
		}
	}
	return nil
}

func (h *Hub) purgeUpload(id uint64) error {
	// Messages in batches, each with its indexes.
	deliveries := map[uint64]bool{}
	for {
		var batch []Message
		err := h.kv.View(func(t storage.Txn) error {
			return t.Scan(key(kMessage, ""), storage.ScanOptions{Start: key(kMessage, msgID(id, 0))}, func(k, v []byte) (bool, error) {
				mid, err := idFromKey(k)
				if err != nil || mid>>(entryBits+1) != id {
					return false, err
				}
				var m Message
				if err := json.Unmarshal(v, &m); err != nil {
					return false, err
				}
				batch = append(batch, m)
				return len(batch) < batchSize, nil
			})
		})
		if err != nil {
			return fmt.Errorf("aanlevering %d opruimen: %w", id, err)
		}
		if len(batch) == 0 {
			break
		}
		err = h.kv.Update(func(t storage.Txn) error {
			var c logChanges
			for _, m := range batch {
				if m.DeliveryID != 0 {
					deliveries[m.DeliveryID] = true
				}
				if m.Status != MsgAfgekeurd && m.Referentie != "" {
					if v, err := t.Get(key(kRef, m.Zender, m.Referentie)); err == nil && beUint(v) == m.ID {
						if err := t.Delete(key(kRef, m.Zender, m.Referentie)); err != nil {
							return err
						}
					}
				}
				if err := c.deleteLogEntries(t, m); err != nil {
					return err
				}
				if err := t.Delete(key(kMessage, m.ID)); err != nil {
					return err
				}
			}
			return c.flush(t)
		})
		if err != nil {
			return fmt.Errorf("aanlevering %d: berichten opruimen: %w", id, err)
		}
	}
	var blobs []string
	var u Upload
	err := h.kv.Update(func(t storage.Txn) error {
		blobs = blobs[:0]
		for did := range deliveries {
			var d Delivery
			if err := getJSON(t, key(kDelivery, did), &d); err != nil {
				if errors.Is(err, storage.ErrNotFound) {
					continue
				}
				return err
			}
			ks := [][]byte{key(kDelivery, did), key(kHold, d.Org, d.Product, d.Exchange, did), key(kHistQ, did)}
			if d.DeletedAt.IsZero() && !d.Held {
				ks = append(ks, key(kInbox, d.Org, d.Product, d.CreatedAt, did), key(kDlvName, d.Org, d.Product, d.Name))
			}
			if !d.GelezenAt.IsZero() {
				ks = append(ks, key(kGelezen, d.GelezenAt, did))
			}
			for _, k := range ks {
				if err := t.Delete(k); err != nil {
					return err
				}
			}
			blobs = append(blobs, d.Blob)
		}
		var fks [][]byte
		if err := t.Scan(key(kFout, id, ""), storage.ScanOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
			fks = append(fks, append([]byte(nil), k...))
			return true, nil
		}); err != nil {
			return err
		}
		for _, k := range fks {
			if err := t.Delete(k); err != nil {
				return err
			}
		}
		if err := getJSON(t, key(kUpload, id), &u); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		for _, k := range [][]byte{key(kUpload, id), key(kUploads, u.Org, u.Product, u.ReceivedAt, id), key(kExpire, u.ReceivedAt, id)} {
			if err := t.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("aanlevering %d opruimen: %w", id, err)
	}
	for _, b := range append(blobs, u.Blob) {
		if b == "" {
			continue
		}
		if err := h.files.Remove(b); err != nil && !errors.Is(err, storage.ErrNotFound) {
			h.log.Warn("bestand opruimen", "blob", b, "err", err)
		}
	}
	h.publish(Event{Org: u.Org, Product: u.Product, Kind: "upload", UploadID: id})
	return nil
}

// removeOrphans deletes delivery files that no record points to: written by an attempt that
// crashed before its commit, for an upload that has since become final.
func (h *Hub) removeOrphans() error {
	var orphans []string
	err := h.files.Walk("dlv/", func(name string, _ int64) error {
		parts := strings.Split(strings.TrimSuffix(strings.TrimPrefix(name, "dlv/"), ".zip"), "/")
		if len(parts) != 2 {
			return nil
		}
		up, err1 := strconv.ParseUint(parts[0], 10, 64)
		ord, err2 := strconv.Atoi(parts[1])
		if err1 != nil || err2 != nil {
			return nil
		}
		return h.kv.View(func(t storage.Txn) error {
			if _, err := t.Get(key(kQueue, up)); err == nil {
				return nil // still in progress: the redo rewrites it
			}
			if _, err := t.Get(key(kDelivery, dlvID(up, ord))); errors.Is(err, storage.ErrNotFound) {
				orphans = append(orphans, name)
			} else if err != nil {
				return err
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("afleverbestanden nalopen: %w", err)
	}
	for _, name := range orphans {
		if err := h.files.Remove(name); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
	}
	return nil
}
