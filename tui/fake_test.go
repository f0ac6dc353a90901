package tui

import (
	"context"
	"fmt"
	"slices"
	"time"

	"knooppunt/exchange"
)

// fakeHub stands in for the parts of the engine that are not in package exchange yet. It
// keeps to the contract's behaviour (newest first, paging, totals), not to its rules.
type fakeHub struct {
	now      time.Time
	cat      *exchange.Catalogue
	orgs     []exchange.Org
	accounts []exchange.Account
	uploads  []exchange.Upload
	inbox    []exchange.Delivery
	messages []exchange.Message
	routes   []exchange.RouteView
	events   chan exchange.Event
}

func (f *fakeHub) Catalogue() *exchange.Catalogue { return f.cat }
func (f *fakeHub) Now() time.Time                 { return f.now }
func (f *fakeHub) Subscribe(ctx context.Context, org string) <-chan exchange.Event {
	return f.events
}

func (f *fakeHub) Org(code string) (exchange.Org, error) {
	for _, o := range f.orgs {
		if o.Code == code {
			return o, nil
		}
	}
	return exchange.Org{}, exchange.ErrNotFound
}
func (f *fakeHub) Orgs() ([]exchange.Org, error) { return f.orgs, nil }

// Refresh reads p's account and organisation from the fake as exchange.Hub reads them from
// the store; a principal the fake does not hold stays as it is.
func (f *fakeHub) Refresh(p *exchange.Principal) (*exchange.Principal, error) {
	a := f.account(p.Account.Name)
	if a == nil {
		return p, nil
	}
	if a.Disabled {
		return nil, fmt.Errorf("%w: uw account %q is geblokkeerd", exchange.ErrDenied, a.Name)
	}
	np := &exchange.Principal{Account: *a, Remote: p.Remote}
	np.Account.Products = slices.Clone(a.Products)
	np.Account.Roles = slices.Clone(a.Roles)
	if o, err := f.Org(a.Org); err == nil {
		np.Org = o
	}
	return np, nil
}
func (f *fakeHub) CreateOrg(by *exchange.Principal, code, name string) (exchange.Org, error) {
	kind, err := exchange.KindOf(code)
	if err != nil {
		return exchange.Org{}, fmt.Errorf("%w: %w", exchange.ErrInvalid, err)
	}
	o := exchange.Org{Code: code, Name: name, Kind: kind}
	f.orgs = append(f.orgs, o)
	return o, nil
}
func (f *fakeHub) SetSamenwerking(by *exchange.Principal, org string, product exchange.Product, actor string) error {
	for i := range f.orgs {
		if f.orgs[i].Code == org {
			if f.orgs[i].Samenwerking == nil {
				f.orgs[i].Samenwerking = map[exchange.Product]string{}
			}
			f.orgs[i].Samenwerking[product] = actor
		}
	}
	return nil
}
func (f *fakeHub) Accounts(by *exchange.Principal, org string) ([]exchange.Account, error) {
	var out []exchange.Account
	for _, a := range f.accounts {
		if org == "" || a.Org == org {
			out = append(out, a)
		}
	}
	return out, nil
}
func (f *fakeHub) CreateAccount(by *exchange.Principal, a exchange.Account) error {
	f.accounts = append(f.accounts, a)
	return nil
}
func (f *fakeHub) account(name string) *exchange.Account {
	for i := range f.accounts {
		if f.accounts[i].Name == name {
			return &f.accounts[i]
		}
	}
	return nil
}
func (f *fakeHub) SetDisabled(by *exchange.Principal, name string, disabled bool) error {
	f.account(name).Disabled = disabled
	return nil
}
func (f *fakeHub) Grant(by *exchange.Principal, name string, p exchange.Product) error {
	a := f.account(name)
	a.Products = append(a.Products, p)
	return nil
}
func (f *fakeHub) Revoke(by *exchange.Principal, name string, p exchange.Product) error {
	a := f.account(name)
	a.Products = slices.DeleteFunc(a.Products, func(x exchange.Product) bool { return x == p })
	return nil
}
func (f *fakeHub) RenameOrg(by *exchange.Principal, code, name string) error {
	for i := range f.orgs {
		if f.orgs[i].Code == code {
			f.orgs[i].Name = name
		}
	}
	return nil
}
func (f *fakeHub) DeleteOrg(by *exchange.Principal, code string) error {
	f.orgs = slices.DeleteFunc(f.orgs, func(o exchange.Org) bool { return o.Code == code })
	return nil
}
func (f *fakeHub) ChangeRoles(by *exchange.Principal, name string, add, remove []exchange.Role) error {
	a := f.account(name)
	a.Roles = slices.DeleteFunc(append(a.Roles, add...), func(r exchange.Role) bool { return slices.Contains(remove, r) })
	return nil
}
func (f *fakeHub) AddKey(by *exchange.Principal, name, line string) error {
	a := f.account(name)
	a.Keys = append(a.Keys, line)
	return nil
}
func (f *fakeHub) RemoveKey(by *exchange.Principal, name, line string) error {
	a := f.account(name)
	a.Keys = slices.DeleteFunc(a.Keys, func(k string) bool { return k == line })
	return nil
}
func (f *fakeHub) DeleteAccount(by *exchange.Principal, name string) error {
	f.accounts = slices.DeleteFunc(f.accounts, func(a exchange.Account) bool { return a.Name == name })
	return nil
}

func pageOf[T any](all []T, limit, offset int) []T {
	if offset > len(all) {
		return nil
	}
	return all[offset:min(len(all), offset+limit)]
}

func (f *fakeHub) Uploads(_ context.Context, p *exchange.Principal, product exchange.Product, opts exchange.ListOptions) ([]exchange.Upload, int, error) {
	var all []exchange.Upload
	for _, u := range f.uploads {
		if u.Product == product && !u.Deleted {
			all = append(all, u)
		}
	}
	return pageOf(all, opts.Limit, opts.Offset), len(all), nil
}
func (f *fakeHub) Upload(p *exchange.Principal, id uint64) (exchange.Upload, error) {
	for _, u := range f.uploads {
		if u.ID == id {
			return u, nil
		}
	}
	return exchange.Upload{}, exchange.ErrNotFound
}
func (f *fakeHub) HideUploads(p *exchange.Principal, ids []uint64) error {
	for i := range f.uploads {
		if slices.Contains(ids, f.uploads[i].ID) {
			f.uploads[i].Deleted = true
		}
	}
	return nil
}
func (f *fakeHub) Inbox(_ context.Context, p *exchange.Principal, product exchange.Product, opts exchange.InboxOptions) ([]exchange.Delivery, int, error) {
	var all []exchange.Delivery
	for _, d := range f.inbox {
		if d.Product == product && d.DeletedAt.IsZero() {
			all = append(all, d)
		}
	}
	return pageOf(all, opts.Limit, opts.Offset), len(all), nil
}
func (f *fakeHub) SetGelezen(p *exchange.Principal, product exchange.Product, names []string, gelezen bool) error {
	for i := range f.inbox {
		if slices.Contains(names, f.inbox[i].Name) {
			f.inbox[i].GelezenAt = time.Time{}
			if gelezen {
				f.inbox[i].GelezenAt = f.now
			}
		}
	}
	return nil
}
func (f *fakeHub) DeleteDeliveries(p *exchange.Principal, product exchange.Product, names []string) error {
	for i := range f.inbox {
		if slices.Contains(names, f.inbox[i].Name) {
			f.inbox[i].DeletedAt = f.now
		}
	}
	return nil
}
func (f *fakeHub) MessageList(_ context.Context, p *exchange.Principal, product exchange.Product, mf exchange.MessageFilter) (exchange.MessageList, error) {
	var all []exchange.Message
	for _, m := range f.messages {
		if m.Product == product && (mf.Functie == "" || m.Functie == mf.Functie) {
			all = append(all, m)
		}
	}
	return exchange.MessageList{Messages: pageOf(all, mf.Limit, mf.Offset), Total: len(all)}, nil
}
func (f *fakeHub) Message(p *exchange.Principal, id uint64) (exchange.Message, error) {
	for _, m := range f.messages {
		if m.ID == id {
			return m, nil
		}
	}
	return exchange.Message{}, exchange.ErrNotFound
}
func (f *fakeHub) Restore(p *exchange.Principal, product exchange.Product, ref string) error {
	for i := range f.messages {
		if f.messages[i].Referentie == ref {
			f.messages[i].Status = exchange.MsgHersteld
		}
	}
	return nil
}
func (f *fakeHub) Routes(p *exchange.Principal, product exchange.Product) ([]exchange.RouteView, error) {
	var out []exchange.RouteView
	for _, r := range f.routes {
		if r.Product == product {
			out = append(out, r)
		}
	}
	return out, nil
}
func (f *fakeHub) SetRoute(p *exchange.Principal, product exchange.Product, name string, via exchange.Via, status exchange.RouteStatus, cpa string) error {
	for i := range f.routes {
		if f.routes[i].Product == product && f.routes[i].Exchange.Name == name {
			f.routes[i].Via, f.routes[i].Status, f.routes[i].CPA = via, status, cpa
		}
	}
	return nil
}

// newFake builds the demo's organisations with a few uploads, files and messages.
func newFake() *fakeHub {
	now := time.Date(2026, 3, 12, 14, 30, 0, 0, time.UTC)
	f := &fakeHub{now: now, cat: exchange.NewCatalogue(), events: make(chan exchange.Event)}
	f.orgs = []exchange.Org{
		{Code: "9999", Name: "Test Gemeente 1", Kind: exchange.Gemeente},
		{Code: "0060", Name: "Ameland", Kind: exchange.Gemeente, Samenwerking: map[exchange.Product]string{exchange.IJw: "9999"}},
		{Code: "12345678", Name: "Zorgaanbieder Test", Kind: exchange.Aanbieder},
		{Code: "CAK", Name: "CAK", Kind: exchange.CAK},
		{Code: "SVB", Name: "SVB", Kind: exchange.SVB},
	}
	f.accounts = []exchange.Account{
		{Name: "gemeente", Org: "9999", Products: exchange.Products, Roles: []exchange.Role{exchange.Gebruiker, exchange.Gebruikersbeheerder, exchange.Productbeheerder}},
		{Name: "jan", Org: "9999", Products: []exchange.Product{exchange.IWmo}},
	}
	statuses := []exchange.UploadStatus{exchange.Bezig, exchange.Ontvangen, exchange.Afgekeurd, exchange.Afgeleverd}
	for i := range 14 {
		at := now.Add(-time.Duration(i) * 37 * time.Minute)
		u := exchange.Upload{ID: uint64(100 - i), Org: "9999", Account: "gemeente", Product: exchange.IWmo,
			Name: fmt.Sprintf("Portaaltest_9999_WMO301_%d_3_20260312.zip", i), ReceivedAt: at, Status: statuses[min(i, 3)]}
		if i == 0 {
			u.ExpectedAt = now.Add(4 * time.Minute)
		}
		if u.Status.Final() {
			u.FinishedAt = at.Add(22 * time.Second)
			u.Counts = exchange.Counts{Aangeleverd: 3, Correct: 3}
		}
		if u.Status == exchange.Afgekeurd {
			u.Counts = exchange.Counts{Aangeleverd: 13, Correct: 0, Incorrect: 13}
			for j := range 13 {
				u.Fouten = append(u.Fouten, exchange.Fout{Bestand: fmt.Sprintf("IMG_%04d.PNG", 463+j), Code: "IB002",
					Omschrijving: "Organisatie is niet geautoriseerd", Detail: "Organisatie is niet geautoriseerd. Organisatie 9999"})
			}
		}
		f.uploads = append(f.uploads, u)
	}
	for i := range 23 {
		at := now.Add(-time.Duration(i) * 26 * time.Hour)
		d := exchange.Delivery{ID: uint64(500 - i), Org: "9999", Product: exchange.IWmo, From: "12345678", Functie: "WMO302",
			Name: at.Format("20060102_150405") + "_9999_WMO302.ZIP", CreatedAt: at}
		if i%3 == 1 {
			d.GelezenAt = at.Add(time.Hour)
		}
		f.inbox = append(f.inbox, d)
	}
	for i := range 30 {
		at := now.Add(-time.Duration(i) * 3 * time.Hour)
		m := exchange.Message{ID: uint64(900 - i), Product: exchange.IWmo, Functie: "WMO301", Zender: "9999", Ontvanger: "12345678",
			Referentie: fmt.Sprintf("6f1c2a7e-0b4d-4c1e-9a3b-%012d", i), ReceivedAt: at, Status: exchange.MsgAfgeleverd, UploadID: 88, File: "bericht.xml", Size: 2048,
			History: []exchange.StatusEvent{{At: at, Status: exchange.MsgOntvangen}, {At: at.Add(time.Second), Status: exchange.MsgAfgeleverd}}}
		if i%2 == 1 {
			m.Functie, m.Zender, m.Ontvanger = "WMO302", "12345678", "9999"
		}
		if i == 2 {
			m.Status = exchange.MsgVerwijderd
			m.History = append(m.History, exchange.StatusEvent{At: at.Add(time.Hour), Status: exchange.MsgVerwijderd, By: "gemeente"})
		}
		f.messages = append(f.messages, m)
	}
	for _, p := range []exchange.Product{exchange.IWmo, exchange.IJw} {
		for _, ex := range f.cat.Exchanges(p) {
			r := exchange.RouteView{Route: exchange.Route{Org: "9999", Product: p, Exchange: ex.Name, Via: exchange.Portaal, Status: exchange.Actief},
				Exchange: ex, StUF: "StUF 2.1", Payload: "XML 3.2"}
			if ex.Heen == "WMO305" {
				r.Locked, r.LockedReason = true, "iWmo wordt uitgevoerd door Ameland (0060) in een samenwerking"
			}
			f.routes = append(f.routes, r)
		}
	}
	return f
}

func (f *fakeHub) CPAs(p *exchange.Principal, org string) ([]exchange.CPA, error) { return nil, nil }
func (f *fakeHub) DeleteCPA(by *exchange.Principal, id string) error              { return nil }
func (f *fakeHub) Resend(p *exchange.Principal, product exchange.Product, ref string) error {
	return nil
}
