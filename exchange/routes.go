package exchange

import (
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
	if err := mayUse(p, product); err != nil {
		return nil, err
	}
	info, _ := h.cat.Product(product)
	locked, reason := h.routeLock(p.Org.Code, product)
	var out []RouteView
	err := h.kv.View(func(t storage.Txn) error {
		for _, ex := range h.cat.Exchanges(product) {
			r, err := routeOf(t, p.Org.Code, product, ex.Name)
			if err != nil {
				return err
			}
			out = append(out, RouteView{Route: r, Exchange: ex, Locked: locked, LockedReason: reason, StUF: "StUF " + info.StUF, Payload: "XML " + info.Release})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("routes van %s lezen: %w", product, err)
	}
	return out, nil
}

func (h *Hub) routeLock(org string, product Product) (bool, string) {
	actor := h.ActorFor(org, product)
	if actor == org {
		return false, ""
	}
	name := actor
	if o, err := h.Org(actor); err == nil && o.Name != "" {
		name = fmt.Sprintf("%s (%s)", o.Name, actor)
	}
	pname := string(product)
	if info, ok := h.cat.Product(product); ok {
		pname = info.Name
	}
	return true, fmt.Sprintf("Deze route wordt beheerd door %s, die %s voor uw organisatie uitvoert (samenwerking)", name, pname)
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
	if err := mayUse(p, product); err != nil {
		return err
	}
	if !p.Has(Productbeheerder) {
		return fmt.Errorf("%w: alleen een productbeheerder mag routes wijzigen; vraag uw gebruikersbeheerder om die rol", ErrDenied)
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
	if locked, reason := h.routeLock(p.Org.Code, product); locked {
		return fmt.Errorf("%w: %s", ErrDenied, reason)
	}
	r := Route{Org: p.Org.Code, Product: product, Exchange: exchange, Via: via, CPA: cpa, Status: status, Changed: h.clock.Now(), By: p.Account.Name}
	err = h.kv.Update(func(t storage.Txn) error {
		if err := h.checkRouteCPA(t, &r); err != nil {
			return err
		}
		return setJSON(t, key(kRoute, r.Org, product, exchange), r)
	})
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
	for _, id := range ids {
		now := h.clock.Now()
		err := h.kv.Update(func(t storage.Txn) error {
			r, err := routeOf(t, org, product, exchange)
			if err != nil || r.Via != Portaal || r.Status != Actief {
				return err
			}
			var d Delivery
			if err := getJSON(t, key(kDelivery, id), &d); err != nil {
				return err
			}
			if err := t.Delete(key(kHold, org, product, exchange, id)); err != nil {
				return err
			}
			d.Held = false
			d.CreatedAt = now
			if err := h.putDelivery(t, &d); err != nil {
				return err
			}
			return addHistory(t, d.Messages, StatusEvent{At: now, Status: MsgAfgeleverd}, MsgWachtRoute)
		})
		if err != nil {
			return fmt.Errorf("wachtend bestand %d afleveren: %w", id, err)
		}
	}
	if len(ids) > 0 {
		h.publish(Event{Org: org, Product: product, Kind: "delivery"})
	}
	return nil
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
