package exchange

import (
	"fmt"
	"strings"

	"knooppunt/storage"
)

// Samenwerking: an organisation lets another of the same kind send and receive its messages
// of a product (Org.Samenwerking). Only a beheerder sets or ends one.

// SetSamenwerking lets actor run org's product on its behalf; actor "" ends the samenwerking.
// Only a beheerder may. The actor is an organisation of the same kind, and delegation does
// not chain: an actor runs the product itself.
func (h *Hub) SetSamenwerking(by *Principal, org string, product Product, actor string) (err error) {
	defer func() { h.auditChange(by, "samenwerking", org+"/"+string(product)+"->"+actor, err) }()
	return h.kv.Update(func(t storage.Txn) error {
		if _, err := authorize(t, by, ActionManageOrgs, ""); err != nil {
			return err
		}
		o, err := txOrg(t, org)
		if err != nil {
			return err
		}
		if err := h.checkProduct(o, product); err != nil {
			return err
		}
		if actor == "" {
			if o.Samenwerking[product] == "" {
				return nil
			}
			delete(o.Samenwerking, product)
			return putOrg(t, o)
		}
		if actor == org {
			return fmt.Errorf("%w: een organisatie kan niet met zichzelf samenwerken; geef een andere organisatie op of \"\" om de samenwerking te beëindigen", ErrInvalid)
		}
		a, err := txOrg(t, actor)
		if err != nil {
			return err
		}
		if a.Kind != o.Kind {
			return fmt.Errorf("%w: %s (%s) kan %s niet uitvoeren voor %s (%s): kies een organisatie van dezelfde soort", ErrInvalid, actor, a.Kind, product, org, o.Kind)
		}
		if next := a.Samenwerking[product]; next != "" {
			return fmt.Errorf("%w: %s laat %s zelf al uitvoeren door %s; kies die organisatie", ErrInvalid, actor, product, next)
		}
		var principals []string
		err = eachOrg(t, func(other Org) {
			if other.Samenwerking[product] == org {
				principals = append(principals, other.Code)
			}
		})
		if err != nil {
			return fmt.Errorf("samenwerkingen lezen: %w", err)
		}
		if len(principals) > 0 {
			return fmt.Errorf("%w: %s voert %s al uit voor %s en kan het daarom niet uitbesteden; beëindig eerst die samenwerking", ErrInvalid, org, product, strings.Join(principals, ", "))
		}
		if o.Samenwerking == nil {
			o.Samenwerking = map[Product]string{}
		}
		o.Samenwerking[product] = actor
		return putOrg(t, o)
	})
}

// ActorFor tells which organisation sends and receives org's messages of product: the one it
// works together with, or org itself.
func (h *Hub) ActorFor(org string, product Product) string {
	o, err := h.Org(org)
	if err != nil || o.Samenwerking[product] == "" {
		return org
	}
	return o.Samenwerking[product]
}

// ActsFor lists the organisations that let org run product for them (samenwerking): the
// other side of ActorFor, so that both organisations see the samenwerking.
func (h *Hub) ActsFor(org string, product Product) []string {
	orgs, err := h.Orgs()
	if err != nil {
		return nil
	}
	var out []string
	for _, o := range orgs {
		if o.Code != org && o.Samenwerking[product] == org {
			out = append(out, o.Code)
		}
	}
	return out
}
