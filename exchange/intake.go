package exchange

import (
	"encoding/json"
	"fmt"

	"knooppunt/storage"
)

// accept records a durable, cleanly closed upload as Ontvangen and queues it, in one
// transaction: from here on the processor owns it, across restarts.
func (h *Hub) accept(p *Principal, product Product, name, blob string, size int64) (Upload, error) {
	id, err := h.kv.Sequence("upload")
	if err != nil {
		return Upload{}, fmt.Errorf("aanlevering nummeren: %w", err)
	}
	u := Upload{
		ID:         id,
		Org:        p.Org.Code,
		Account:    p.Account.Name,
		Product:    product,
		Name:       name,
		Size:       size,
		Blob:       blob,
		Status:     Ontvangen,
		ReceivedAt: h.clock.Now(),
	}
	val, err := json.Marshal(u)
	if err != nil {
		return Upload{}, err
	}
	err = h.kv.Update(func(t storage.Txn) error {
		// The hand-in is the action: an account that lost the product (or was disabled) while
		// the bytes arrived does not get its upload processed.
		if _, err := authorize(t, p, ActionUpload, product); err != nil {
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
