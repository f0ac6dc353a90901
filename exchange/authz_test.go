package exchange

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"knooppunt/storage"
)

// The permission table: every action × role × product (with or without access to iWmo, the
// product asked for) × samenwerking (none; the organisation executes iWmo for another; the
// organisation delegated iWmo to another). Each row lists what is allowed; every other action
// is refused. The principal handed in claims every role and product: only the account, its
// organisation and the samenwerking as stored decide.
func TestPermissionTable(t *testing.T) {
	mailbox := []Action{ActionUpload, ActionFetch, ActionDelete, ActionMark, ActionRestore, ActionReadVerslag, ActionReadLog, ActionReadRoutes}
	route := []Action{ActionEditRoute, ActionImportCPA}
	accounts := []Action{ActionManageAccts, ActionReadOrgs}
	hub := []Action{ActionManageAccts, ActionReadOrgs, ActionManageOrgs, ActionReadAudit, ActionBackup, ActionReadNodes}
	all := func(sets ...[]Action) []Action { return slices.Concat(sets...) }

	const (
		none      = "geen"       // 9999: no samenwerking
		executing = "uitvoerend" // 0363 executes iWmo for 0060
		delegated = "uitbesteed" // 0060 lets 0363 execute iWmo
	)
	table := []struct {
		role         Role
		product      bool // the account has iWmo
		samenwerking string
		allow        []Action
	}{
		{Gebruiker, true, none, mailbox},
		{Gebruiker, true, executing, mailbox},
		{Gebruiker, true, delegated, mailbox},
		{Gebruiker, false, none, nil},
		{Gebruiker, false, executing, nil},
		{Gebruiker, false, delegated, nil},

		{Gebruikersbeheerder, true, none, all(mailbox, accounts)},
		{Gebruikersbeheerder, true, executing, all(mailbox, accounts)},
		{Gebruikersbeheerder, true, delegated, all(mailbox, accounts)},
		{Gebruikersbeheerder, false, none, accounts},
		{Gebruikersbeheerder, false, executing, accounts},
		{Gebruikersbeheerder, false, delegated, accounts},

		{Productbeheerder, true, none, all(mailbox, route)},
		{Productbeheerder, true, executing, all(mailbox, route)},
		{Productbeheerder, true, delegated, mailbox}, // the routes are the executing organisation's
		{Productbeheerder, false, none, nil},
		{Productbeheerder, false, executing, nil},
		{Productbeheerder, false, delegated, nil},

		{Beheerder, true, none, all(mailbox, hub)},
		{Beheerder, true, executing, all(mailbox, hub)},
		{Beheerder, true, delegated, all(mailbox, hub)},
		{Beheerder, false, none, hub},
		{Beheerder, false, executing, hub},
		{Beheerder, false, delegated, hub},
	}

	h := acctHub(t)
	for _, o := range [][2]string{{"9999", "Test Gemeente"}, {"0363", "Amsterdam"}, {"0060", "Ameland"}} {
		_, err := h.CreateOrg(System, o[0], o[1])
		acctMust(t, err)
	}
	acctMust(t, h.SetSamenwerking(System, "0060", IWmo, "0363"))
	orgOf := map[string]string{none: "9999", executing: "0363", delegated: "0060"}
	claimsAll := func(name string) *Principal {
		return &Principal{Account: Account{Name: name, Roles: Roles, Products: Products}, Org: Org{Code: "9999"}}
	}
	for _, row := range table {
		short := map[Role]string{Gebruiker: "gebr", Gebruikersbeheerder: "gbeh", Productbeheerder: "pbeh", Beheerder: "beh"}
		name := fmt.Sprintf("%s-%t-%s", short[row.role], row.product, row.samenwerking)
		a := Account{Name: name, Org: orgOf[row.samenwerking], Roles: []Role{row.role}, Products: []Product{IJw}}
		if row.product {
			a.Products = append(a.Products, IWmo)
		}
		acctMust(t, h.CreateAccount(System, a))
		for _, action := range Actions {
			want := slices.Contains(row.allow, action)
			err := h.Allowed(claimsAll(name), action, IWmo)
			if got := err == nil; got != want {
				t.Errorf("%s, iwmo %t, samenwerking %s: %s allowed %t, want %t (%v)", row.role, row.product, row.samenwerking, action, got, want, err)
			}
		}
	}

	// Beyond the table: the hub's own beheerder (no organisation), the system, nobody, and
	// accounts that are disabled or gone.
	acctMust(t, h.CreateAccount(System, Account{Name: "beheer", Roles: []Role{Beheerder}}))
	acctMust(t, h.CreateAccount(System, Account{Name: "weg", Org: "9999", Roles: Roles, Products: []Product{IWmo}}))
	acctMust(t, h.CreateAccount(System, Account{Name: "dicht", Org: "9999", Roles: Roles, Products: []Product{IWmo}}))
	acctMust(t, h.SetDisabled(System, "dicht", true))
	acctMust(t, h.DeleteAccount(System, "weg"))
	for _, c := range []struct {
		who   string
		p     *Principal
		allow []Action
	}{
		{"beheer (zonder organisatie)", claimsAll("beheer"), hub},
		{"System", System, Actions},
		{"nil", nil, nil},
		{"geblokkeerd account", claimsAll("dicht"), nil},
		{"verwijderd account", claimsAll("weg"), nil},
		{"onbekend account", claimsAll("niemand"), nil},
	} {
		for _, action := range Actions {
			want := slices.Contains(c.allow, action)
			err := h.Allowed(c.p, action, IWmo)
			if got := err == nil; got != want {
				t.Errorf("%s: %s allowed %t, want %t (%v)", c.who, action, got, want, err)
			}
		}
	}
}

// storedPrincipal stores p's account as it is (every product, whatever the organisation's
// kind), as the engine tests want it, so that authorize finds it; it returns p.
func storedPrincipal(t testing.TB, h *Hub, p *Principal) *Principal {
	t.Helper()
	if err := h.kv.Update(func(tx storage.Txn) error { return putAccount(tx, p.Account) }); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestNilPrincipalIsNotTheSystem: a missing principal is refused by every engine call that
// used to take nil for "the system".
func TestNilPrincipalIsNotTheSystem(t *testing.T) {
	h := acctWorld(t)
	_, err := h.CreateOrg(nil, "0363", "Amsterdam")
	acctWant(t, err, ErrDenied, "meld u aan")
	acctWant(t, h.CreateAccount(nil, Account{Name: "nieuw", Org: "9999"}), ErrDenied)
	acctWant(t, h.SetDisabled(nil, "jan", true), ErrDenied)
	acctWant(t, h.Grant(nil, "jan", IJw), ErrDenied)
	acctWant(t, h.SetSamenwerking(nil, "0060", IWmo, "9999"), ErrDenied)
	acctWant(t, h.DeleteAccount(nil, "jan"), ErrDenied)
	_, err = h.Accounts(nil, "")
	acctWant(t, err, ErrDenied)
	_, err = h.CheckAudit(nil, nil)
	acctWant(t, err, ErrDenied)
	_, _, err = h.Inbox(context.Background(), nil, IWmo, InboxOptions{})
	acctWant(t, err, ErrDenied)
	acctWant(t, h.SetRoute(nil, IWmo, "WMO 301/302", Portaal, Inactief, ""), ErrDenied)
	if _, err := h.Mailboxes(nil); err == nil {
		t.Error("Mailboxes(nil) answered")
	}
}

// TestRevokedPowersEndAtTheNextCall: a principal held since login loses, at its next call,
// what was taken from the stored account, and a disabled or deleted account is reported to the
// doors once.
func TestRevokedPowersEndAtTheNextCall(t *testing.T) {
	h := acctWorld(t)
	var closed []string
	h.OnAccountClosed(func(a string) { closed = append(closed, a) })
	beheer := acctAs(t, h, "beheer")
	acctMust(t, h.ChangeRoles(beheer, "jan", []Role{Productbeheerder}, nil))
	jan := acctAs(t, h, "jan") // held by an open session
	acctMust(t, h.SetRoute(jan, IWmo, "WMO 301/302", Portaal, Actief, ""))
	acctMust(t, h.ChangeRoles(beheer, "jan", nil, []Role{Productbeheerder}))
	acctWant(t, h.SetRoute(jan, IWmo, "WMO 301/302", Portaal, Inactief, ""), ErrDenied, "productbeheerder")
	_, _, err := h.Inbox(context.Background(), jan, IWmo, InboxOptions{})
	acctMust(t, err)
	acctMust(t, h.Revoke(beheer, "jan", IWmo))
	_, _, err = h.Inbox(context.Background(), jan, IWmo, InboxOptions{})
	acctWant(t, err, ErrDenied, "geen toegang tot iwmo")
	if ps, err := h.Mailboxes(jan); err != nil || len(ps) != 0 {
		t.Errorf("Mailboxes after revoke = %v, %v", ps, err)
	}
	gb := acctAs(t, h, "gb")
	acctMust(t, h.SetDisabled(beheer, "gb", true))
	_, err = h.Accounts(gb, "9999")
	acctWant(t, err, ErrDenied, "geblokkeerd")
	acctMust(t, h.DeleteAccount(beheer, "jan"))
	_, _, err = h.Uploads(context.Background(), jan, IWmo, ListOptions{})
	acctWant(t, err, ErrDenied, "bestaat niet meer")
	if got := strings.Join(closed, ","); got != "gb,jan" {
		t.Errorf("accounts reported closed: %q, want gb,jan", got)
	}
}
