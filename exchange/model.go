package exchange

import (
	"slices"
	"strings"
	"time"

	"knooppunt/exchange/codes"
)

// Role is what an account may do beyond using its products.
type Role string

const (
	Gebruiker           Role = "gebruiker"
	Gebruikersbeheerder Role = "gebruikersbeheerder"
	Productbeheerder    Role = "productbeheerder"
	Beheerder           Role = "beheerder" // of the hub itself
)

// Org is an organisation connected to the hub.
type Org struct {
	Code    string    `json:"code"`
	Name    string    `json:"naam"`
	Kind    OrgKind   `json:"soort"`
	Created time.Time `json:"aangemaakt"`
	// OIN is the Organisatie-identificatienummer (20 digits) by which the organisation is
	// known over Digikoppeling; "" when it has none.
	OIN string `json:"oin,omitempty"`
	// Samenwerking maps a product to the organisation that runs it for this one: that
	// organisation sends and receives the product's messages on this one's behalf.
	Samenwerking map[Product]string `json:"samenwerking,omitempty"`
}

// Account is one login. The SSH user name is the account's name.
type Account struct {
	Name     string    `json:"naam"`
	Org      string    `json:"organisatie"`
	Keys     []string  `json:"sleutels"` // authorized_keys lines
	Products []Product `json:"producten"`
	Roles    []Role    `json:"rollen"`
	Disabled bool      `json:"geblokkeerd"`
	Created  time.Time `json:"aangemaakt"`
}

// Principal is an authenticated account with its organisation, as every door into the hub
// (SFTP, commands, TUI) hands it to the engine.
type Principal struct {
	Account Account
	Org     Org
	Remote  string // the client's address, for the audit log

	system bool // System: the hub itself (authz.go)
	// partner: an organisation's own software at a door without accounts (Digikoppeling),
	// authenticated by its certificate and CPA there; the policy re-reads its organisation.
	partner bool
}

// UploadStatus is the portal's status of an aanlevering.
type UploadStatus string

const (
	Ontvangen  UploadStatus = "Ontvangen"
	Bezig      UploadStatus = "Bezig"
	Afgeleverd UploadStatus = "Afgeleverd"
	Afgekeurd  UploadStatus = "Afgekeurd"
)

// Final tells whether processing has ended.
func (s UploadStatus) Final() bool { return s == Afgeleverd || s == Afgekeurd }

// Upload is one aanlevering: a file accepted from aanleveren/.
type Upload struct {
	ID         uint64       `json:"id"`
	Org        string       `json:"organisatie"`
	Account    string       `json:"account"`
	Product    Product      `json:"product"`
	Name       string       `json:"bestandsnaam"`
	Size       int64        `json:"grootte"`
	Blob       string       `json:"blob"`
	Status     UploadStatus `json:"status"`
	ReceivedAt time.Time    `json:"ontvangen_op"`
	StartedAt  time.Time    `json:"gestart_op,omitzero"`
	ExpectedAt time.Time    `json:"verwacht_op,omitzero"` // estimate while Bezig
	FinishedAt time.Time    `json:"einde_verwerking,omitzero"`
	Counts     Counts       `json:"aantallen"`
	Fouten     []Fout       `json:"fouten,omitempty"`
	Deleted    bool         `json:"verwijderd,omitempty"` // hidden from the Aanleveren list
	// Wachtend: the messages that wait in a recipient's outbound queue for its route (the
	// recipient takes that exchange via Digikoppeling); set at the end of processing, taken
	// off as the route releases them.
	Wachtend []Wachtend `json:"wachtend,omitempty"`
	// AtDoor: refused before the engine saw it (RefuseUpload); its account may read it even
	// in a product it has no access to, since that was the refusal.
	AtDoor bool `json:"geweigerd_aan_de_deur,omitempty"`
	// Door is how the upload came in: "" (SFTP or the portal) or DoorDigikoppeling.
	Door string  `json:"kanaal,omitempty"`
	EbMS *EbMSIn `json:"ebms,omitempty"` // the ebMS message it came in, over Digikoppeling
	// EbMSBatch: the ebMS messages of an aanlevering that several Digikoppeling messages
	// made together (digikoppeling_inbox.go), one per file of its ZIP (EbMSIn.Bestand).
	EbMSBatch []EbMSIn `json:"ebms_berichten,omitempty"`
}

// Verwerkingsduur is how long the engine worked on u: from Bezig to Afgeleverd or Afgekeurd.
// The wait for admission and in the queue is not processing. It is the one definition: the
// verslag, the TUI's verslag screen and the processing metric all show this (the TUI used to
// count from the receipt and disagreed with the verslag). An upload refused before the engine
// saw it has no start: its duration counts from the receipt.
func (u Upload) Verwerkingsduur() time.Duration {
	start := u.StartedAt
	if start.IsZero() {
		start = u.ReceivedAt
	}
	if u.FinishedAt.IsZero() || u.FinishedAt.Before(start) {
		return 0
	}
	return u.FinishedAt.Sub(start)
}

// Wachtend is how many messages of an upload wait for one recipient's route.
type Wachtend struct {
	Organisatie  string `json:"organisatie"`
	Uitwisseling string `json:"uitwisseling"`
	Berichten    int    `json:"berichten"`
}

// released takes n messages for org's exchange off what the upload waits for, and tells
// whether that changed anything.
func (u *Upload) released(org, exchange string, n int) bool {
	i := slices.IndexFunc(u.Wachtend, func(w Wachtend) bool { return w.Organisatie == org && w.Uitwisseling == exchange })
	if i < 0 {
		return false
	}
	if u.Wachtend[i].Berichten -= n; u.Wachtend[i].Berichten <= 0 {
		u.Wachtend = slices.Delete(u.Wachtend, i, i+1)
	}
	return true
}

// Waiting is the number of the upload's messages that wait for a route.
func (u Upload) Waiting() int {
	n := 0
	for _, w := range u.Wachtend {
		n += w.Berichten
	}
	return n
}

// Counts are a verwerkingsverslag's totals.
type Counts struct {
	Aangeleverd int `json:"aangeleverd"`
	Correct     int `json:"correct"`
	Incorrect   int `json:"incorrect"`
}

// Fout is one rejected file of an upload.
type Fout struct {
	Bestand      string     `json:"bestand"`
	Code         codes.Code `json:"code"`
	Omschrijving string     `json:"omschrijving"`
	Detail       string     `json:"detail"`
}

// MessageStatus is one step in a message's history in the berichtenlog.
type MessageStatus string

const (
	MsgOntvangen  MessageStatus = "ontvangen"
	MsgAfgekeurd  MessageStatus = "afgekeurd"
	MsgAfgeleverd MessageStatus = "afgeleverd in ophalen"
	MsgWachtRoute MessageStatus = "wacht op route"
	MsgGelezen    MessageStatus = "gelezen"
	MsgOngelezen  MessageStatus = "markering gelezen verwijderd"
	MsgVerwijderd MessageStatus = "verwijderd"
	MsgHersteld   MessageStatus = "hersteld"
	MsgVerlopen   MessageStatus = "verlopen"
)

// StatusEvent is one entry of a message's status history.
type StatusEvent struct {
	At     time.Time     `json:"tijd"`
	Status MessageStatus `json:"status"`
	Code   codes.Code    `json:"code,omitempty"`
	By     string        `json:"door,omitempty"`
	Detail string        `json:"detail,omitempty"` // why, for mislukt
}

// Message is one bericht in the berichtenlog. It appears in the log of its zender and of its
// ontvanger.
type Message struct {
	ID         uint64        `json:"id"`
	Product    Product       `json:"product"`
	Functie    string        `json:"functie"`
	Referentie string        `json:"referentienummer"`
	CrossRef   string        `json:"crossrefnummer,omitempty"`
	Zender     string        `json:"zender"`
	Ontvanger  string        `json:"ontvanger"`
	Mailbox    string        `json:"postbus"`     // the organisation whose ophalen/ receives it (samenwerking)
	Uploader   string        `json:"aanleveraar"` // the organisation that uploaded it (samenwerking)
	UploadID   uint64        `json:"aanlevering"`
	Entry      int           `json:"volgnummer"` // index within the upload
	File       string        `json:"bestand"`    // entry name within the upload
	Size       int64         `json:"grootte"`
	ReceivedAt time.Time     `json:"ontvangen_op"`
	DeliveryID uint64        `json:"aflevering,omitempty"`
	Status     MessageStatus `json:"status"`
	History    []StatusEvent `json:"historie"`
}

// Delivery is one file in a recipient's ophalen/: the messages of one upload for one
// recipient and functie, zipped.
type Delivery struct {
	ID        uint64    `json:"id"`
	Org       string    `json:"organisatie"` // whose ophalen/ it is in
	Product   Product   `json:"product"`
	Name      string    `json:"naam"`
	Functie   string    `json:"functie"`
	From      string    `json:"van"` // zender
	UploadID  uint64    `json:"aanlevering"`
	Messages  []uint64  `json:"berichten"`
	Size      int64     `json:"grootte"`
	Blob      string    `json:"blob"`
	CreatedAt time.Time `json:"publicatiedatum"`
	GelezenAt time.Time `json:"gelezen_op,omitzero"`
	DeletedAt time.Time `json:"verwijderd_op,omitzero"`
	// Held: waiting in the recipient's outbound queue until its route for Exchange is Portaal.
	Held     bool   `json:"wacht_op_route,omitempty"`
	Exchange string `json:"uitwisseling,omitempty"`
	// For: the ontvangers of its messages other than Org, which receives them for them under
	// a samenwerking.
	For []string `json:"voor,omitempty"`
	// Referenties: the referentienummers of its messages, filled only on request
	// (InboxOptions.Referenties, Hub.Referenties); not stored.
	Referenties []string `json:"-"`
}

// Via is how a route carries messages to the recipient.
type Via string

const (
	Portaal       Via = "Portaal"
	Digikoppeling Via = "Digikoppeling"
)

// RouteStatus switches a route on or off.
type RouteStatus string

const (
	Actief   RouteStatus = "Actief"
	Inactief RouteStatus = "Inactief"
)

// Route is an organisation's choice for one exchange of a product.
type Route struct {
	Org      string      `json:"organisatie"`
	Product  Product     `json:"product"`
	Exchange string      `json:"uitwisseling"` // "WMO 301/302"
	Via      Via         `json:"via"`
	CPA      string      `json:"cpa,omitempty"`
	Status   RouteStatus `json:"status"`
	Changed  time.Time   `json:"gewijzigd,omitzero"`
	By       string      `json:"door,omitempty"`
}

// AuditEntry records one login attempt, file operation or change. Entries are hash-chained:
// each carries the hash of the one before it.
type AuditEntry struct {
	Seq     uint64    `json:"seq"`
	At      time.Time `json:"tijd"`
	Account string    `json:"account"`
	Org     string    `json:"organisatie,omitempty"`
	Remote  string    `json:"adres,omitempty"`
	Action  string    `json:"actie"`
	Path    string    `json:"pad,omitempty"`
	Result  string    `json:"resultaat"`
	Prev    string    `json:"vorige"`
	Hash    string    `json:"hash"`
}

// JoinProducts lists products as a sentence or a table cell reads them: "iwmo, ijw".
func JoinProducts(ps []Product) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, ", ")
}
