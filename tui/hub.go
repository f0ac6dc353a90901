package tui

import (
	"context"
	"time"

	"knooppunt/exchange"
)

// Hub is the part of *exchange.Hub the screens use. It is declared here, at the consumer, so
// that the screens name exactly what they depend on.
type Hub interface {
	Catalogue() *exchange.Catalogue
	Now() time.Time
	Subscribe(ctx context.Context, org string) <-chan exchange.Event
	// Refresh reads the principal as the store has it now: the tabs and products follow it.
	Refresh(p *exchange.Principal) (*exchange.Principal, error)

	Org(code string) (exchange.Org, error)
	Orgs() ([]exchange.Org, error)
	CreateOrg(by *exchange.Principal, code, name string) (exchange.Org, error)
	RenameOrg(by *exchange.Principal, code, name string) error
	DeleteOrg(by *exchange.Principal, code string) error
	SetSamenwerking(by *exchange.Principal, org string, product exchange.Product, actor string) error
	Accounts(by *exchange.Principal, org string) ([]exchange.Account, error)
	CreateAccount(by *exchange.Principal, a exchange.Account) error
	SetDisabled(by *exchange.Principal, name string, disabled bool) error
	Grant(by *exchange.Principal, name string, p exchange.Product) error
	Revoke(by *exchange.Principal, name string, p exchange.Product) error
	ChangeRoles(by *exchange.Principal, name string, add, remove []exchange.Role) error
	AddKey(by *exchange.Principal, name, authorizedKey string) error
	RemoveKey(by *exchange.Principal, name, keyOrFingerprint string) error
	DeleteAccount(by *exchange.Principal, name string) error

	Uploads(ctx context.Context, p *exchange.Principal, product exchange.Product, opts exchange.ListOptions) ([]exchange.Upload, int, error)
	Upload(p *exchange.Principal, id uint64) (exchange.Upload, error)
	HideUploads(p *exchange.Principal, ids []uint64) error
	Inbox(ctx context.Context, p *exchange.Principal, product exchange.Product, opts exchange.InboxOptions) ([]exchange.Delivery, int, error)
	SetGelezen(p *exchange.Principal, product exchange.Product, names []string, gelezen bool) error
	DeleteDeliveries(p *exchange.Principal, product exchange.Product, names []string) error
	MessageList(ctx context.Context, p *exchange.Principal, product exchange.Product, f exchange.MessageFilter) (exchange.MessageList, error)
	Message(p *exchange.Principal, id uint64) (exchange.Message, error)
	Restore(p *exchange.Principal, product exchange.Product, referentie string) error
	Routes(p *exchange.Principal, product exchange.Product) ([]exchange.RouteView, error)
	SetRoute(p *exchange.Principal, product exchange.Product, exchange string, via exchange.Via, status exchange.RouteStatus, cpa string) error

	CPAs(p *exchange.Principal, org string) ([]exchange.CPA, error)
	DeleteCPA(by *exchange.Principal, id string) error
	Resend(p *exchange.Principal, product exchange.Product, referentie string) error
}

var _ Hub = (*exchange.Hub)(nil)
