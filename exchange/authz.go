package exchange

import (
	"errors"
	"fmt"
	"slices"

	"knooppunt/storage"
)

// Roles lists every role in the order screens show them.
var Roles = []Role{Gebruiker, Gebruikersbeheerder, Productbeheerder, Beheerder}

// Has reports whether the account holds role r. Every account is a gebruiker. Beheerder does
// not imply the other roles: where a beheerder may act too, check both. A nil principal (the
// system) holds no role; the methods that accept a nil principal treat it themselves.
func (p *Principal) Has(r Role) bool {
	if p == nil {
		return false
	}
	return r == Gebruiker || slices.Contains(p.Account.Roles, r)
}

// CanUse reports whether the account may use a product's mailbox.
func (p *Principal) CanUse(product Product) bool {
	return p != nil && !p.Account.Disabled && slices.Contains(p.Account.Products, product)
}

// txActor returns the acting account as the store has it now (nil for the system), so that a
// session opened before a change cannot keep powers it has since lost.
func txActor(t storage.Txn, by *Principal) (*Account, error) {
	if by == nil {
		return nil, nil
	}
	a, err := txAccount(t, by.Account.Name)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: uw account %q bestaat niet meer", ErrDenied, by.Account.Name)
	}
	if err != nil {
		return nil, err
	}
	if a.Disabled {
		return nil, fmt.Errorf("%w: uw account %q is geblokkeerd", ErrDenied, a.Name)
	}
	return &a, nil
}

func isBeheerder(actor *Account) bool {
	return actor == nil || slices.Contains(actor.Roles, Beheerder)
}

func requireBeheerder(actor *Account, what string) error {
	if isBeheerder(actor) {
		return nil
	}
	return fmt.Errorf("%w: alleen een beheerder van het knooppunt mag %s", ErrDenied, what)
}

// canManage tells whether actor may change target: a beheerder any account, a
// gebruikersbeheerder the accounts of its own organisation except beheerders.
func canManage(actor *Account, target Account) error {
	if isBeheerder(actor) {
		return nil
	}
	if !slices.Contains(actor.Roles, Gebruikersbeheerder) {
		return fmt.Errorf("%w: alleen een gebruikersbeheerder of beheerder mag accounts beheren; vraag dit aan de gebruikersbeheerder van uw organisatie", ErrDenied)
	}
	if actor.Org == "" || target.Org != actor.Org {
		return fmt.Errorf("%w: u beheert alleen accounts van uw eigen organisatie (%s)", ErrDenied, actor.Org)
	}
	if slices.Contains(target.Roles, Beheerder) {
		return fmt.Errorf("%w: alleen een beheerder van het knooppunt mag een beheerder wijzigen", ErrDenied)
	}
	return nil
}

// checkRoles validates roles and tells whether actor may hand them out.
func checkRoles(actor *Account, roles []Role) error {
	for _, r := range roles {
		if !slices.Contains(Roles, r) {
			return fmt.Errorf("%w: onbekende rol %q: kies uit gebruiker, gebruikersbeheerder, productbeheerder, beheerder", ErrInvalid, r)
		}
		if r == Beheerder && !isBeheerder(actor) {
			return fmt.Errorf("%w: alleen een beheerder van het knooppunt mag de rol beheerder toekennen", ErrDenied)
		}
	}
	return nil
}

// normRoles removes duplicates and puts roles in the order of Roles; no role means gebruiker.
func normRoles(roles []Role) []Role {
	var out []Role
	for _, r := range Roles {
		if slices.Contains(roles, r) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		out = []Role{Gebruiker}
	}
	return out
}

// checkProduct tells whether an organisation of kind may use product: a product is open to
// the kinds of organisation that exchange its messages.
func (h *Hub) checkProduct(org Org, p Product) error {
	info, ok := h.cat.Product(p)
	if !ok {
		return fmt.Errorf("%w: onbekend product %q: kies uit iwmo, ijw, ieb, pgb-wmo, pgb-jw", ErrInvalid, p)
	}
	if org.Code == "" {
		return fmt.Errorf("%w: een account zonder organisatie kan geen producten gebruiken", ErrInvalid)
	}
	if info.Parties[0] != org.Kind && info.Parties[1] != org.Kind {
		return fmt.Errorf("%w: product %s is niet voor een %s; een %s kan kiezen uit %s", ErrInvalid, p, org.Kind, org.Kind, joinProducts(h.productsFor(org.Kind)))
	}
	return nil
}

func (h *Hub) productsFor(kind OrgKind) []Product {
	var out []Product
	for _, p := range Products {
		if info, _ := h.cat.Product(p); info.Parties[0] == kind || info.Parties[1] == kind {
			out = append(out, p)
		}
	}
	return out
}

// normProducts removes duplicates and puts products in catalogue order.
func normProducts(ps []Product) []Product {
	var out []Product
	for _, p := range Products {
		if slices.Contains(ps, p) {
			out = append(out, p)
		}
	}
	return out
}

func joinProducts(ps []Product) string {
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += ", "
		}
		s += string(p)
	}
	return s
}
