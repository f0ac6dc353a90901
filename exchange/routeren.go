package exchange

import (
	"encoding/json"
	"errors"
	"fmt"

	"knooppunt/storage"
)

// RouteView is one row of the routing page.
type RouteView struct {
	Route
	Exchange     Exchange
	Locked       bool
	LockedReason string
	StUF         string
	Payload      string
	// For: the organisations that let this one run the product (samenwerking); its routes
	// carry their messages too.
	For []string
	// Waiting is the number of messages held for this exchange in the organisation's
	// outbound queue ("wacht op route") until its route is Portaal and Actief again.
	Waiting int
}

// heldMessages counts the messages held for org's exchange of product.
func heldMessages(t storage.Txn, org string, product Product, exchange string) (int, error) {
	n := 0
	err := t.Scan(key(kHold, org, product, exchange, ""), storage.ScanOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
		id, err := idFromKey(k)
		if err != nil {
			return false, err
		}
		var d Delivery
		if err := getJSON(t, key(kDelivery, id), &d); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return true, nil
			}
			return false, err
		}
		n += len(d.Messages)
		return true, nil
	})
	return n, err
}

// routeOf returns an organisation's route for an exchange; without a record it is the
// initial route, Portaal and Actief.
func routeOf(t storage.Txn, org string, product Product, exchange string) (Route, error) {
	var r Route
	err := getJSON(t, key(kRoute, org, product, exchange), &r)
	if errors.Is(err, storage.ErrNotFound) {
		return Route{Org: org, Product: product, Exchange: exchange, Via: Portaal, Status: Actief}, nil
	}
	return r, err
}

// Routes lists the organisation's routing rows of product. Rows are locked when another
// organisation runs the product for this one (samenwerking): that one's routes apply.
func (h *Hub) Routes(p *Principal, product Product) ([]RouteView, error) {
	var out []RouteView
	var fp *Principal
	info, _ := h.cat.Product(product)
	err := h.kv.View(func(t storage.Txn) error {
		out = nil
		var err error
		if fp, err = authorize(t, p, ActionReadRoutes, product); err != nil {
			return err
		}
		org := fp.Org.Code
		locked, reason := false, ""
		if actor := fp.Org.Samenwerking[product]; actor != "" {
			name := actor
			if o, err := txOrg(t, actor); err == nil && o.Name != "" {
				name = fmt.Sprintf("%s (%s)", o.Name, actor)
			}
			locked, reason = true, fmt.Sprintf("Deze route wordt beheerd door %s, die %s voor uw organisatie uitvoert (samenwerking)", name, info.Name)
		}
		var actsFor []string
		err = t.Scan([]byte(kOrg), storage.ScanOptions{}, func(_, v []byte) (bool, error) {
			var o Org
			if err := json.Unmarshal(v, &o); err != nil {
				return false, err
			}
			if o.Code != org && o.Samenwerking[product] == org {
				actsFor = append(actsFor, o.Code)
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		for _, ex := range h.cat.Exchanges(product) {
			r, err := routeOf(t, org, product, ex.Name)
			if err != nil {
				return err
			}
			n, err := heldMessages(t, org, product, ex.Name)
			if err != nil {
				return err
			}
			out = append(out, RouteView{Route: r, Exchange: ex, Locked: locked, LockedReason: reason, StUF: "StUF " + info.StUF, Payload: "XML " + info.Release, Waiting: n, For: actsFor})
		}
		return nil
	})
	if fp == nil {
		return nil, err // refused
	}
	if err != nil {
		return nil, fmt.Errorf("routes van %s lezen: %w", product, err)
	}
	return out, nil
}

// SetRoute changes one routing row. Only a productbeheerder of the organisation may. When a
// route becomes Portaal and Actief, the messages held for it are delivered to ophalen/.
func (h *Hub) SetRoute(p *Principal, product Product, exchange string, via Via, status RouteStatus, cpa string) (err error) {
	path := fmt.Sprintf("%s/routes/%s", product, exchange)
	defer func() {
		res := "ok"
		if err != nil {
			res = err.Error()
		}
		h.Audit(p, "route", path, res)
	}()
	if err := h.Allowed(p, ActionEditRoute, product); err != nil {
		return err
	}
	known := false
	for _, ex := range h.cat.Exchanges(product) {
		known = known || ex.Name == exchange
	}
	if !known {
		return fmt.Errorf("%w: uitwisseling %q bestaat niet in %s", ErrInvalid, exchange, product)
	}
	if via != Portaal && via != Digikoppeling {
		return fmt.Errorf("%w: uitwisseling via %q: kies Portaal of Digikoppeling", ErrInvalid, via)
	}
	if status != Actief && status != Inactief {
		return fmt.Errorf("%w: status %q: kies Actief of Inactief", ErrInvalid, status)
	}
	r := Route{Org: p.Org.Code, Product: product, Exchange: exchange, Via: via, CPA: cpa, Status: status, Changed: h.clock.Now(), By: p.Account.Name}
	var fp *Principal
	err = h.kv.Update(func(t storage.Txn) error {
		var err error
		if fp, err = authorize(t, p, ActionEditRoute, product); err != nil {
			return err
		}
		if err := h.checkRouteCPA(t, &r); err != nil {
			return err
		}
		return setJSON(t, key(kRoute, r.Org, product, exchange), r)
	})
	if fp == nil {
		return err
	}
	if err != nil {
		if errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound) {
			return err
		}
		return fmt.Errorf("route %s vastleggen: %w", exchange, err)
	}
	h.publish(Event{Org: r.Org, Product: product, Kind: "route"})
	if via == Portaal && status == Actief {
		if err := h.releaseSends(r.Org, product, exchange); err != nil {
			return err
		}
		return h.releaseHeld(r.Org, product, exchange)
	}
	h.kickSender()
	return nil
}

// NoCPA, given as the CPA of SetRoute, takes the route's CPA away; "" keeps the one it has.
const NoCPA = "-"

// checkRouteCPA settles the route's CPA: "" keeps the stored one, NoCPA clears it, and a
// named one must be an imported CPA of the organisation. Digikoppeling and Actief need one.
func (h *Hub) checkRouteCPA(t storage.Txn, r *Route) error {
	switch r.CPA {
	case "":
		old, err := routeOf(t, r.Org, r.Product, r.Exchange)
		if err != nil {
			return err
		}
		r.CPA = old.CPA
	case NoCPA:
		r.CPA = ""
	default:
		c, err := txCPA(t, r.CPA)
		if err != nil {
			return err
		}
		if c.Org != r.Org {
			return fmt.Errorf("%w: CPA %s hoort bij organisatie %s, niet bij %s; kies een CPA van uw eigen organisatie", ErrInvalid, r.CPA, c.Org, r.Org)
		}
	}
	if r.Via == Digikoppeling && r.Status == Actief && r.CPA == "" {
		return fmt.Errorf("%w: een actieve route via Digikoppeling heeft een CPA nodig; kies er een met --cpa (zie 'cpa list') of zet de status op inactief", ErrInvalid)
	}
	return nil
}

// releaseHeld delivers the files held for an organisation's exchange while its route was
// Digikoppeling. Retention calls it too, so a release cut short by a crash completes.
func (h *Hub) releaseHeld(org string, product Product, exchange string) error {
	var ids []uint64
	err := h.kv.View(func(t storage.Txn) error {
		return t.Scan(key(kHold, org, product, exchange, ""), storage.ScanOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
			id, err := idFromKey(k)
			ids = append(ids, id)
			return err == nil, err
		})
	})
	if err != nil {
		return fmt.Errorf("wachtende berichten van %s lezen: %w", org, err)
	}
	uploaders := map[string]uint64{}
	for _, id := range ids {
		queued, err := h.releaseHeldFile(org, product, exchange, id, uploaders)
		if err != nil {
			return fmt.Errorf("wachtend bestand %d afleveren: %w", id, err)
		}
		if queued {
			if err := h.finishHistory(id); err != nil {
				return err
			}
		}
	}
	if len(ids) > 0 {
		h.publish(Event{Org: org, Product: product, Kind: "delivery"})
	}
	for uploader, id := range uploaders {
		h.publish(Event{Org: uploader, Product: product, Kind: "upload", UploadID: id})
	}
	return nil
}

// releaseHeldFile delivers one held file, if it is still held and the route is Portaal and
// actief, noting in uploaders the upload that no longer waits for it.
func (h *Hub) releaseHeldFile(org string, product Product, exchange string, id uint64, uploaders map[string]uint64) (queued bool, err error) {
	now := h.clock.Now()
	err = h.kv.Update(func(t storage.Txn) error {
		queued = false
		r, err := routeOf(t, org, product, exchange)
		if err != nil || r.Via != Portaal || r.Status != Actief {
			return err
		}
		// Read again in this transaction: a route change and the sweep may both have
		// listed this file, and the one that comes second must find it released, or the
		// file would be delivered twice (the second time under a _2 name).
		switch _, err := t.Get(key(kHold, org, product, exchange, id)); {
		case errors.Is(err, storage.ErrNotFound):
			return nil
		case err != nil:
			return err
		}
		var d Delivery
		if err := getJSON(t, key(kDelivery, id), &d); err != nil {
			return err
		}
		if !d.Held {
			return t.Delete(key(kHold, org, product, exchange, id))
		}
		if err := t.Delete(key(kHold, org, product, exchange, id)); err != nil {
			return err
		}
		d.Held = false
		d.CreatedAt = now
		if err := h.putDelivery(t, &d); err != nil {
			return err
		}
		// The upload no longer waits for these: its list status and verslag say so.
		var u Upload
		switch err := getJSON(t, key(kUpload, d.UploadID), &u); {
		case errors.Is(err, storage.ErrNotFound):
		case err != nil:
			return err
		case u.released(d.Org, exchange, len(d.Messages)):
			if err := setJSON(t, key(kUpload, u.ID), u); err != nil {
				return err
			}
			uploaders[u.Org] = u.ID
		}
		queued, err = deliveryHistory(t, &d, queuedEvent{Event: StatusEvent{At: now, Status: MsgAfgeleverd}, OnlyIf: MsgWachtRoute})
		return err
	})
	return queued, err
}

// releaseAllHeld finds every held file whose route is Portaal again and delivers it.
func (h *Hub) releaseAllHeld() error {
	type row struct {
		org      string
		product  Product
		exchange string
	}
	seen := map[row]bool{}
	var rows []row
	err := h.kv.View(func(t storage.Txn) error {
		return t.Scan([]byte(kHold), storage.ScanOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
			id, err := idFromKey(k)
			if err != nil {
				return false, err
			}
			var d Delivery
			if err := getJSON(t, key(kDelivery, id), &d); err != nil {
				return false, err
			}
			r := row{d.Org, d.Product, d.Exchange}
			if !seen[r] {
				seen[r] = true
				rows = append(rows, r)
			}
			return true, nil
		})
	})
	if err != nil {
		return err
	}
	for _, r := range rows {
		if err := h.releaseHeld(r.org, r.product, r.exchange); err != nil {
			return err
		}
	}
	return nil
}
