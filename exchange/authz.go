package exchange

import (
	"errors"
	"fmt"
	"slices"

	"knooppunt/storage"
)

// Roles lists every role in the order screens show them.
var Roles = []Role{Gebruiker, Gebruikersbeheerder, Productbeheerder, Beheerder}

// The permission policy. Every door (SFTP, commands, the TUI, later Digikoppeling) calls the
// engine with a principal; the engine calls authorize with the action, in the transaction of
// the change (or of the read), and authorize decides against the account, its organisation
// and the organisation's samenwerkingen as the store has them in that transaction. A session
// that was opened before a product or role was revoked, or its account disabled or deleted,
// loses the power at its next action. The decision itself is decide: data in, allow or deny
// out, and the table in authz_test.go is its specification.

// Action is something a principal asks the hub to do.
type Action string

const (
	ActionUpload      Action = "aanleveren"      // put a file in aanleveren/, list one's uploads there
	ActionFetch       Action = "ophalen"         // list and download files in ophalen/
	ActionDelete      Action = "verwijderen"     // delete files from ophalen/
	ActionMark        Action = "markeren"        // mark files gelezen or ongelezen
	ActionRestore     Action = "herstellen"      // bring a deleted file back (herstel)
	ActionReadVerslag Action = "verslag"         // verwerkingsverslagen and the aanleveringen list
	ActionReadLog     Action = "berichtenlog"    // the berichtenlog
	ActionReadRoutes  Action = "routes bekijken" // the Routeren page
	ActionEditRoute   Action = "route wijzigen"  // change a route (via, status, CPA)
	ActionImportCPA   Action = "cpa importeren"  // import a Digikoppeling CPA for a route
	ActionManageAccts Action = "accounts beheren"
	ActionReadOrgs    Action = "organisaties bekijken"
	ActionManageOrgs  Action = "organisaties beheren" // add, rename, delete, samenwerking
	ActionReadAudit   Action = "auditlog lezen"       // audit verify, audit export
	ActionBackup      Action = "backup maken"
	ActionReadNodes   Action = "knooppunten bekijken" // the nodes sharing the store and their heartbeats
)

// Actions lists every action, in the order of the permission table.
var Actions = []Action{
	ActionUpload, ActionFetch, ActionDelete, ActionMark, ActionRestore, ActionReadVerslag,
	ActionReadLog, ActionReadRoutes, ActionEditRoute, ActionImportCPA, ActionManageAccts,
	ActionReadOrgs, ActionManageOrgs, ActionReadAudit, ActionBackup, ActionReadNodes,
}

// mailboxAction tells whether a is done in a product's mailbox of the principal's own
// organisation: it needs the product on the account.
func mailboxAction(a Action) bool {
	switch a {
	case ActionUpload, ActionFetch, ActionDelete, ActionMark, ActionRestore, ActionReadVerslag,
		ActionReadLog, ActionReadRoutes, ActionEditRoute, ActionImportCPA:
		return true
	}
	return false
}

// System is the hub acting on its own behalf: bootstrap, the demo data, restore, retention
// and the command line on the machine (knooppunt backup, audit verify). It may do anything.
// It is a value of its own so that a missing principal (nil) is never taken for it: nil is
// refused everywhere.
var System = &Principal{system: true, Account: Account{Name: systemName}}

// IsSystem tells whether p is System.
func (p *Principal) IsSystem() bool { return p != nil && p.system }

// Has reports whether the account holds role r. Every account is a gebruiker. Beheerder does
// not imply the other roles: where a beheerder may act too, check both. It reads the
// principal as the caller holds it: for a screen's layout; the engine decides with authorize.
func (p *Principal) Has(r Role) bool {
	if p == nil || p.system {
		return false
	}
	return r == Gebruiker || slices.Contains(p.Account.Roles, r)
}

// CanUse reports whether the account may use a product's mailbox, as the caller holds it.
func (p *Principal) CanUse(product Product) bool {
	return p != nil && !p.system && !p.Account.Disabled && slices.Contains(p.Account.Products, product)
}

// fresh returns p as the store has it in t: its account and organisation (with the
// samenwerkingen) read again, its address kept. System is itself; nil, a deleted account and
// a disabled one are refused.
func fresh(t storage.Txn, p *Principal) (*Principal, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: meld u aan", ErrDenied)
	}
	if p.system {
		return p, nil
	}
	if err := storage.Prefetch(t, principalKeys(p)); err != nil {
		return nil, err
	}
	if p.partner {
		o, err := txOrg(t, p.Org.Code)
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("%w: de organisatie %s bestaat niet meer", ErrDenied, p.Org.Code)
		}
		if err != nil {
			return nil, err
		}
		return &Principal{Account: p.Account, Org: o, Remote: p.Remote, partner: true}, nil
	}
	a, err := txAccount(t, p.Account.Name)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: uw account %q bestaat niet meer", ErrDenied, p.Account.Name)
	}
	if err != nil {
		return nil, err
	}
	if a.Disabled {
		return nil, fmt.Errorf("%w: uw account %q is geblokkeerd", ErrDenied, a.Name)
	}
	np := &Principal{Account: a, Remote: p.Remote}
	if a.Org != "" {
		o, err := txOrg(t, a.Org)
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("%w: de organisatie %s van uw account bestaat niet meer", ErrDenied, a.Org)
		}
		if err != nil {
			return nil, err
		}
		np.Org = o
	}
	return np, nil
}

// principalKeys are the records fresh reads for p, with more (keys the caller reads next in
// the same transaction): on PostgreSQL one query reads them all ahead instead of a round trip
// each, and every SFTP request of a session authorises anew (the account, then its
// organisation, then the file's name and record were four round trips, on a busy database
// most of a download's time). The organisation is the one p had at login; when the account
// moved since, fresh's read of the new one is simply not served from the read-ahead.
func principalKeys(p *Principal, more ...[]byte) [][]byte {
	if p == nil || p.system {
		return more
	}
	keys := make([][]byte, 0, 2+len(more))
	if p.partner {
		keys = append(keys, key(kOrg, p.Org.Code))
	} else {
		keys = append(keys, key(kAccount, p.Account.Name))
		if p.Org.Code != "" {
			keys = append(keys, key(kOrg, p.Org.Code))
		}
	}
	return append(keys, more...)
}

// authorize decides whether p may do action with product (ignored for actions outside a
// mailbox), against the account, its organisation and samenwerking as stored in t, and returns
// p as stored: the caller works on with that one. Call it inside the transaction of the change.
func authorize(t storage.Txn, p *Principal, action Action, product Product) (*Principal, error) {
	fp, err := fresh(t, p)
	if err != nil {
		return nil, err
	}
	if err := decide(fp, action, product); err != nil {
		return nil, err
	}
	return fp, nil
}

// decide is the permission policy: may fp, a principal as stored now (System, or an enabled
// account with its organisation), do action with product? Row-level rules that need the thing
// acted on (which accounts a gebruikersbeheerder manages: canManage; which organisation's
// records a principal reads) come after it, in the same transaction.
func decide(fp *Principal, action Action, product Product) error {
	if fp == nil {
		return fmt.Errorf("%w: meld u aan", ErrDenied)
	}
	if fp.system {
		return nil
	}
	if fp.partner {
		// The door checked the certificate's OIN and the CPA (parties, service, action); the
		// partner's software hands in and nothing else.
		if action == ActionUpload {
			return nil
		}
		return fmt.Errorf("%w: via Digikoppeling kan alleen worden aangeleverd", ErrDenied)
	}
	beheerder := slices.Contains(fp.Account.Roles, Beheerder)
	if mailboxAction(action) {
		if fp.Account.Org == "" || !slices.Contains(fp.Account.Products, product) {
			return fmt.Errorf("%w: account %s heeft geen toegang tot %s; vraag uw gebruikersbeheerder om toegang", ErrDenied, fp.Account.Name, product)
		}
	}
	switch action {
	case ActionEditRoute, ActionImportCPA:
		if !slices.Contains(fp.Account.Roles, Productbeheerder) {
			return fmt.Errorf("%w: alleen een productbeheerder mag routes wijzigen; vraag uw gebruikersbeheerder om die rol", ErrDenied)
		}
		if actor := fp.Org.Samenwerking[product]; actor != "" {
			return fmt.Errorf("%w: %s", ErrDenied, lockReason(actor, product))
		}
	case ActionManageAccts:
		if !beheerder && !slices.Contains(fp.Account.Roles, Gebruikersbeheerder) {
			return fmt.Errorf("%w: alleen een gebruikersbeheerder of beheerder mag accounts beheren; vraag dit aan de gebruikersbeheerder van uw organisatie", ErrDenied)
		}
	case ActionReadOrgs:
		if !beheerder && !slices.Contains(fp.Account.Roles, Gebruikersbeheerder) {
			return fmt.Errorf("%w: alleen een beheerder of gebruikersbeheerder mag organisaties bekijken", ErrDenied)
		}
	case ActionManageOrgs, ActionReadAudit, ActionBackup, ActionReadNodes:
		if !beheerder {
			return fmt.Errorf("%w: alleen een beheerder van het knooppunt mag %s", ErrDenied, action)
		}
	}
	return nil
}

// lockReason says why a delegated product's routes are not the organisation's to change.
func lockReason(actor string, product Product) string {
	return fmt.Sprintf("Deze route wordt beheerd door %s, die %s voor uw organisatie uitvoert (samenwerking)", actor, product)
}

// Allowed tells whether p may do action with product now, as the store has p's account: for
// a door that shows or hides something before it calls the engine (the SFTP tree, help). The
// engine checks the call itself again.
func (h *Hub) Allowed(p *Principal, action Action, product Product) error {
	return h.kv.View(func(t storage.Txn) error {
		_, err := authorize(t, p, action, product)
		return err
	})
}

// Can tells whether p may do action now with at least one product (an action outside a
// mailbox: at all): for a door's menu or help, which shows what p may do. The engine checks
// each call itself again.
func (h *Hub) Can(p *Principal, action Action) bool {
	ok := false
	// An error (the account gone, the store failing) leaves ok false: the menu shows less,
	// and the engine decides each call itself anyway.
	_ = h.kv.View(func(t storage.Txn) error {
		fp, err := fresh(t, p)
		if err != nil {
			return err
		}
		if !mailboxAction(action) {
			ok = decide(fp, action, "") == nil
			return nil
		}
		for _, pr := range Products {
			ok = ok || decide(fp, action, pr) == nil
		}
		return nil
	})
	return ok
}

// Mailboxes lists the products whose mailbox p may use now (ophalen), in catalogue order.
func (h *Hub) Mailboxes(p *Principal) ([]Product, error) {
	var out []Product
	err := h.kv.View(func(t storage.Txn) error {
		out = nil
		fp, err := fresh(t, p)
		if err != nil {
			return err
		}
		for _, pr := range Products {
			if decide(fp, ActionFetch, pr) == nil {
				out = append(out, pr)
			}
		}
		return nil
	})
	return out, err
}

// Refresh returns p as the store has it now (its account, organisation and samenwerkingen),
// or why p may do nothing any more: for a screen that draws what p may see.
func (h *Hub) Refresh(p *Principal) (*Principal, error) {
	var fp *Principal
	err := h.kv.View(func(t storage.Txn) error {
		var err error
		fp, err = fresh(t, p)
		return err
	})
	return fp, err
}

// requireBeheerder is the policy for the hub's own Digikoppeling settings (CPAs, OINs):
// what ActionManageOrgs allows, with the refusal naming what was asked.
func requireBeheerder(fp *Principal, what string) error {
	if err := decide(fp, ActionManageOrgs, ""); err != nil {
		return fmt.Errorf("%w: alleen een beheerder van het knooppunt mag %s", ErrDenied, what)
	}
	return nil
}

func isBeheerder(fp *Principal) bool {
	return fp.IsSystem() || slices.Contains(fp.Account.Roles, Beheerder)
}

// canManage tells whether fp (authorized for ActionManageAccts) may change target: a
// beheerder any account, a gebruikersbeheerder the accounts of its own organisation except
// beheerders.
func canManage(fp *Principal, target Account) error {
	if isBeheerder(fp) {
		return nil
	}
	if fp.Account.Org == "" || target.Org != fp.Account.Org {
		return fmt.Errorf("%w: u beheert alleen accounts van uw eigen organisatie (%s)", ErrDenied, fp.Account.Org)
	}
	if slices.Contains(target.Roles, Beheerder) {
		return fmt.Errorf("%w: alleen een beheerder van het knooppunt mag een beheerder wijzigen", ErrDenied)
	}
	return nil
}

// checkRoles validates roles and tells whether fp may hand them out.
func checkRoles(fp *Principal, roles []Role) error {
	for _, r := range roles {
		if !slices.Contains(Roles, r) {
			return fmt.Errorf("%w: onbekende rol %q: kies uit gebruiker, gebruikersbeheerder, productbeheerder, beheerder", ErrInvalid, r)
		}
		if r == Beheerder && !isBeheerder(fp) {
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
		return fmt.Errorf("%w: product %s is niet voor een %s; een %s kan kiezen uit %s", ErrInvalid, p, org.Kind, org.Kind, JoinProducts(h.productsFor(org.Kind)))
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
