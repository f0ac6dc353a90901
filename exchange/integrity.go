package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"knooppunt/storage"
)

// CheckFiles reads back every file a record points to, delivery files and uploads still in
// the queue, against the checksum taken when it was written. A damaged one is moved aside by
// the file store, so it is never served; a missing one cannot be served either. Both are
// logged as errors and written to the audit log for the beheerder. It runs beside the
// workers: until it reaches a file, Open still checks the length (and the checksum of files
// up to storage.VerifyOnOpen) before serving it. It returns how many files it checked and
// how many of those were damaged or missing (restore prints them).
func (h *Hub) CheckFiles(ctx context.Context) (checked, bad int) {
	type ref struct {
		blob, what string
		size       int64
		key        []byte // the record; a file whose record vanished meanwhile was purged, not lost
	}
	var refs []ref
	err := h.kv.View(func(t storage.Txn) error {
		err := t.Scan([]byte(kDelivery), storage.ScanOptions{}, func(k, v []byte) (bool, error) {
			var d struct {
				Org     string  `json:"organisatie"`
				Product Product `json:"product"`
				Name    string  `json:"naam"`
				Size    int64   `json:"grootte"`
				Blob    string  `json:"blob"`
			}
			if err := json.Unmarshal(v, &d); err != nil {
				return false, fmt.Errorf("aflevering %q lezen: %w", k, err)
			}
			if d.Blob != "" {
				what := fmt.Sprintf("aflevering %s in %s/%s/ophalen", d.Name, d.Org, d.Product)
				refs = append(refs, ref{blob: d.Blob, what: what, size: d.Size, key: append([]byte(nil), k...)})
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		return scanUploads(ctx, t, []byte(kQueue), false, func(u Upload) (bool, error) {
			if u.Blob != "" {
				what := fmt.Sprintf("aanlevering %d (%s van %s)", u.ID, u.Name, u.Org)
				refs = append(refs, ref{blob: u.Blob, what: what, size: u.Size, key: key(kQueue, u.ID)})
			}
			return true, nil
		})
	})
	if err != nil {
		h.log.Error("bestandscontrole: records lezen mislukt", "err", err)
		return 0, 0
	}
	for _, r := range refs {
		if ctx.Err() != nil {
			return len(refs), bad
		}
		err := h.files.Verify(r.blob)
		if err == nil {
			size, serr := h.files.Stat(r.blob)
			if serr == nil && r.size > 0 && size != r.size {
				err = fmt.Errorf("%w (%s: %d bytes, vastgelegd was %d)", storage.ErrDamaged, r.blob, size, r.size)
			}
		}
		if errors.Is(err, storage.ErrNotFound) && !h.recordExists(r.key) {
			continue
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, storage.ErrNotFound):
			err = fmt.Errorf("bestand %s ontbreekt", r.blob)
		case !errors.Is(err, storage.ErrDamaged):
			h.log.Error("bestandscontrole: lezen mislukt", "bestand", r.blob, "err", err)
			continue
		}
		bad++
		h.log.Error("BESCHADIGD BESTAND: wordt niet uitgeleverd", "wat", r.what, "bestand", r.blob, "err", err)
		h.Audit(System, "bestandscontrole", r.what, err.Error())
	}
	h.log.Info("bestandscontrole klaar", "gecontroleerd", len(refs), "beschadigd_of_ontbrekend", bad)
	return len(refs), bad
}

func (h *Hub) recordExists(k []byte) bool {
	err := h.kv.View(func(t storage.Txn) error {
		_, err := t.Get(k)
		return err
	})
	return !errors.Is(err, storage.ErrNotFound)
}
