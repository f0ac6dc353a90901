package exchange

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"knooppunt/storage"
)

// DoorDigikoppeling marks an upload that came in over Digikoppeling.
const DoorDigikoppeling = "Digikoppeling"

// HandIn takes in one file that arrived whole through a door other than SFTP (Digikoppeling):
// the same admission, the same upload record and queue, and so the same checks, routing,
// delivery and verslag as an SFTP upload. The bytes are durable before the record that
// names them; extra, when given, writes more in that record's transaction (the inbound ebMS
// message's duplicate-elimination record, so that the message counts as received exactly when
// its upload exists).
func (h *Hub) HandIn(ctx context.Context, p *Principal, product Product, name string, data []byte, door string, extra func(t storage.Txn, u *Upload) error) (Upload, error) {
	path := string(product) + "/" + door + "/" + name
	if int64(len(data)) > MaxXMLUpload {
		err := tooLarge(name, MaxXMLUpload)
		h.Audit(p, "aanleveren", path, err.Error())
		return Upload{}, err
	}
	sl, err := h.admit(ctx, p, path)
	if err != nil {
		h.Audit(p, "aanleveren", path, err.Error())
		return Upload{}, err
	}
	seq, err := h.kv.Sequence("spool")
	if err != nil {
		sl.release()
		return Upload{}, fmt.Errorf("aanlevering %s starten: %w", name, err)
	}
	blob := fmt.Sprintf("aanleveren/%s/%s/%016x", p.Org.Code, product, seq)
	// Open until the record that names the blob is committed: the sweep of aanleveren/ must
	// not take it for litter in between. Without this, a sweep at a restart removed the
	// committed blob of a Digikoppeling message that was then acknowledged and found lost
	// (faults.TestKillNineDuringReceiving).
	h.spools.add(blob)
	defer h.spools.done(blob)
	w, err := h.files.Create(blob)
	if err != nil {
		sl.release()
		return Upload{}, storeErr(name, err)
	}
	if _, err := w.WriteAt(data, 0); err != nil {
		w.Abort()
		sl.release()
		return Upload{}, storeErr(name, err)
	}
	if err := w.Commit(); err != nil {
		w.Abort()
		sl.release()
		return Upload{}, storeErr(name, err)
	}
	h.admission.hand(sl, blob)
	u, err := h.acceptWith(p, product, name, blob, int64(len(data)), door, extra)
	if err != nil {
		h.admission.unhand(blob)
		sl.release()
		h.files.Remove(blob)
		h.Audit(p, "aanleveren", path, err.Error())
		return Upload{}, err
	}
	h.log.Info("aanlevering ontvangen", "id", u.ID, "pad", path, "account", p.Account.Name, "bytes", len(data))
	h.Audit(p, "aanleveren", path, fmt.Sprintf("ontvangen als aanlevering %d (%d bytes)", u.ID, len(data)))
	return u, nil
}

// acceptWith is accept for any door, with more writes in the same transaction.
func (h *Hub) acceptWith(p *Principal, product Product, name, blob string, size int64, door string, extra func(t storage.Txn, u *Upload) error) (Upload, error) {
	id, err := h.kv.Sequence("upload")
	if err != nil {
		return Upload{}, fmt.Errorf("aanlevering nummeren: %w", err)
	}
	u := Upload{ID: id, Org: p.Org.Code, Account: p.Account.Name, Product: product, Name: name, Size: size, Blob: blob,
		Status: Ontvangen, ReceivedAt: h.clock.Now(), Door: door}
	err = h.kv.Update(func(t storage.Txn) error {
		// The hand-in is the action: an account that lost the product (or was disabled) while
		// the bytes arrived does not get its upload processed.
		if _, err := authorize(t, p, ActionUpload, product); err != nil {
			return err
		}
		if extra != nil {
			if err := extra(t, &u); err != nil {
				return err
			}
		}
		val, err := json.Marshal(u)
		if err != nil {
			return err
		}
		if err := t.Set(key(kUpload, id), val); err != nil {
			return err
		}
		if err := t.Set(key(kQueue, id), nil); err != nil {
			return err
		}
		return t.Set(key(kUploads, u.Org, product, u.ReceivedAt, id), nil)
	})
	if err != nil {
		return Upload{}, fmt.Errorf("aanlevering %s vastleggen: %w", name, err)
	}
	select {
	case h.wake <- struct{}{}:
	default:
	}
	h.publish(Event{Org: u.Org, Product: product, Kind: "upload", UploadID: id})
	h.obs.UploadReceived(string(product))
	return u, nil
}

// peekEnvelope reads what an envelope says about itself, for a door that has no folder to
// tell the product: the functie's product (fallback when unreadable), referentienummer and
// zender. The checks proper run later, as for every upload.
func (h *Hub) peekEnvelope(data []byte, fallback Product) (Product, Envelope) {
	ep, _ := h.parsers.Get().(*EnvelopeParser)
	if ep == nil {
		ep = new(EnvelopeParser)
	}
	env, _ := ep.Parse(bytes.NewReader(data))
	h.parsers.Put(ep)
	if f, ok := h.cat.FunctieAnywhere(env.Functie); ok {
		return f.Product, env
	}
	return fallback, env
}
