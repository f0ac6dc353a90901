package sshserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"knooppunt/exchange"
	"knooppunt/exchange/tijdzone"
)

// mailboxCommands are what a person or a cron job does with its own mailbox, the portal's
// pages as commands. Each reads and changes only through exchange, which checks the account.
var mailboxCommands = []command{
	{
		words: []string{"whoami"}, maxArgs: 0,
		help: "toont uw account, organisatie, producten en rollen",
		run:  runWhoami,
	},
	{
		words: []string{"producten"}, maxArgs: 0,
		help: "toont de producten (berichtstromen) van uw account",
		run:  runProducten,
	},
	{
		words: []string{"aanleveringen"}, maxArgs: 0,
		flags: []flagSpec{productFlag, {name: "status", value: "Ontvangen|Bezig|Afgeleverd|Afgekeurd"}, aantalFlag},
		help:  "toont uw aanleveringen, nieuwste eerst (standaard de nieuwste 100, over al uw producten samen), ook die bij het aanleveren zijn geweigerd",
		run:   runAanleveringen,
	},
	{
		words: []string{"verslag"}, args: "ID|BESTANDSNAAM", minArgs: 1, maxArgs: 1,
		flags: []flagSpec{productFlag},
		help:  "toont het verwerkingsverslag van een aanlevering (nummer uit 'aanleveringen', de naam van het aangeleverde bestand of van het verslag)",
		run:   runVerslag,
	},
	{
		words: []string{"ophalen"}, maxArgs: 0,
		flags: []flagSpec{productFlag, {name: "nieuw", boolean: true}, aantalFlag},
		help:  "toont de bestanden in ophalen/, nieuwste eerst; --nieuw: alleen die nog niet gelezen zijn",
		run:   runOphalen,
	},
	{
		words: []string{"gelezen"}, args: "BESTAND…", minArgs: 1, maxArgs: -1,
		help: "markeert bestanden in ophalen/ als gelezen (naam, of product/naam)",
		run:  func(c *cmdCtx, in *input) error { return runMark(c, in, true) },
	},
	{
		words: []string{"ongelezen"}, args: "BESTAND…", minArgs: 1, maxArgs: -1,
		help: "haalt de markering gelezen weg, zodat het bestand niet na 168 uur verdwijnt",
		run:  func(c *cmdCtx, in *input) error { return runMark(c, in, false) },
	},
	{
		words: []string{"verwijder"}, args: "BESTAND…", minArgs: 1, maxArgs: -1,
		help: "verwijdert bestanden uit ophalen/; ze blijven 60 dagen in de berichtenlog en te herstellen",
		run:  runVerwijder,
	},
	{
		words: []string{"berichtenlog"}, maxArgs: 0,
		flags: []flagSpec{productFlag, {name: "van", value: "DATUM"}, {name: "tot", value: "DATUM"}, {name: "functie", value: "F"},
			{name: "status", value: "S"}, {name: "richting", value: "in|uit"}, {name: "referentie", value: "REFERENTIENUMMER"}, aantalFlag},
		help: "toont de berichtenlog, nieuwste eerst (standaard de nieuwste 100, over al uw producten samen); DATUM als 2025-01-31 of 31-01-2025, --tot telt die dag mee; " +
			"status: " + strings.Join(slices.Sorted(mapKeys(messageStatuses)), ", "),
		run: runBerichtenlog,
	},
	{
		words: []string{"herstel"}, args: "REFERENTIENUMMER", minArgs: 1, maxArgs: 1,
		flags: []flagSpec{productFlag},
		help:  "zet een verwijderd of verlopen bestand terug in ophalen/: het bestand met het bericht met dit referentienummer",
		run:   runHerstel,
	},
	{
		words: []string{"routes"}, maxArgs: 0,
		flags: []flagSpec{productFlag},
		help:  "toont per uitwisseling hoe berichten u bereiken (Portaal of Digikoppeling) en of de route actief is",
		run:   runRoutes,
	},
	{
		words: []string{"route", "zet"}, args: "UITWISSELING", minArgs: 1, maxArgs: -1,
		flags: []flagSpec{productFlag, {name: "via", value: "portaal|digikoppeling", need: true}, {name: "status", value: "actief|inactief", need: true}, {name: "cpa", value: "ID"}},
		help:  "wijzigt een route, bijvoorbeeld: route zet 'WMO 301/302' --via digikoppeling --status actief --cpa CPAID (productbeheerder); zonder --cpa blijft de CPA, --cpa - haalt hem weg",
		run:   runRouteZet,
	},
}

var (
	productFlag = flagSpec{name: "product", value: "P"}
	aantalFlag  = flagSpec{name: "aantal", value: "N"}
)

// emit writes a command's result: v as indented JSON with --json, otherwise the text.
func (c *cmdCtx) emit(v any, text func(w io.Writer)) error {
	if !c.json {
		text(c.out)
		return nil
	}
	enc := json.NewEncoder(c.jsonOut())
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// doneJSON is the answer of a command that changes something and has nothing else to show.
type doneJSON struct {
	Resultaat string `json:"resultaat"`
	Melding   string `json:"melding"`
}

// done reports a change: the sentence as text, or {"resultaat":"ok","melding":…}.
func (c *cmdCtx) done(format string, a ...any) error {
	msg := fmt.Sprintf(format, a...)
	return c.emit(doneJSON{"ok", msg}, func(w io.Writer) { fmt.Fprintln(w, msg) })
}

// ts is a time as scripts read it: RFC 3339 in Dutch time, "" when unset.
func ts(t time.Time) string { return exchange.RFC3339(t) }

// short is a time as people read it in a table.
func short(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(tijdzone.Amsterdam()).Format("02-01-2006 15:04:05")
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// products are the products a command covers: the one --product names, or every product of
// the account. exchange still checks each.
func (c *cmdCtx) products(in *input) ([]exchange.Product, error) {
	if s := in.flag("product"); s != "" {
		p, err := c.product(s)
		if err != nil {
			return nil, err
		}
		return []exchange.Product{p}, nil
	}
	ps, err := c.hub.Mailboxes(c.p)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("%w: account %s heeft geen producten; vraag uw gebruikersbeheerder om toegang", exchange.ErrDenied, c.p.Account.Name)
	}
	return ps, nil
}

func (c *cmdCtx) limit(in *input, def int) (int, error) {
	s := in.flag("aantal")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, usagef("--aantal %q: geef een getal, 0 voor alles", s)
	}
	return n, nil
}

// firstN is the first n of a list sorted newest first; n 0 means all.
func firstN[T any](all []T, n int) []T {
	if n > 0 && len(all) > n {
		return all[:n]
	}
	return all
}

// more tells on stderr that a list was cut short, so a script's stdout stays clean.
func (c *cmdCtx) more(shown, total int, what string) {
	if total > shown {
		c.note("let op: %d van %d %s getoond; gebruik --aantal 0 voor alles", shown, total, what)
	}
}

// --- whoami, producten ---

type whoamiJSON struct {
	Account         string   `json:"account"`
	Organisatie     string   `json:"organisatie"`
	OrganisatieNaam string   `json:"organisatie_naam"`
	Soort           string   `json:"soort"`
	Producten       []string `json:"producten"`
	Rollen          []string `json:"rollen"`
}

func runWhoami(c *cmdCtx, _ *input) error {
	a := c.p.Account
	v := whoamiJSON{Account: a.Name, Organisatie: c.p.Org.Code, OrganisatieNaam: c.p.Org.Name, Soort: string(c.p.Org.Kind),
		Producten: []string{}, Rollen: []string{}}
	mine, err := c.hub.Mailboxes(c.p)
	if err != nil {
		return err
	}
	for _, p := range mine {
		v.Producten = append(v.Producten, string(p))
	}
	for _, r := range exchange.Roles {
		if c.p.Has(r) {
			v.Rollen = append(v.Rollen, string(r))
		}
	}
	return c.emit(v, func(w io.Writer) {
		fmt.Fprintf(w, "account:      %s\n", v.Account)
		fmt.Fprintf(w, "organisatie:  %s\n", orgLabel(c.p))
		fmt.Fprintf(w, "producten:    %s\n", dash(strings.Join(v.Producten, ", ")))
		fmt.Fprintf(w, "rollen:       %s\n", strings.Join(v.Rollen, ", "))
	})
}

type productJSON struct {
	Product        string `json:"product"`
	Naam           string `json:"naam"`
	Release        string `json:"release"`
	Map            string `json:"map"`
	UitgevoerdDoor string `json:"uitgevoerd_door"` // the organisation that sends and receives it (samenwerking)
	// UitgevoerdVoor: the organisations this one runs the product for (samenwerking).
	UitgevoerdVoor []string `json:"uitgevoerd_voor"`
}

func runProducten(c *cmdCtx, _ *input) error {
	out := []productJSON{}
	mine, err := c.hub.Mailboxes(c.p)
	if err != nil {
		return err
	}
	for _, p := range mine {
		info, _ := c.hub.Catalogue().Product(p)
		out = append(out, productJSON{Product: string(p), Naam: info.Name, Release: info.Release, Map: "/" + string(p),
			UitgevoerdDoor: c.hub.ActorFor(c.p.Org.Code, p), UitgevoerdVoor: append([]string{}, c.hub.ActsFor(c.p.Org.Code, p)...)})
	}
	return c.emit(out, func(w io.Writer) {
		var rows [][]string
		for _, p := range out {
			rows = append(rows, []string{p.Product, p.Naam, p.Release, p.Map, p.UitgevoerdDoor, dash(strings.Join(p.UitgevoerdVoor, ", "))})
		}
		c.table("PRODUCT\tNAAM\tRELEASE\tMAP\tUITGEVOERD DOOR\tUITGEVOERD VOOR", rows)
	})
}

// --- aanleveringen, verslag ---

type uploadJSON struct {
	ID              uint64 `json:"id"`
	Product         string `json:"product"`
	Bestandsnaam    string `json:"bestandsnaam"`
	Grootte         int64  `json:"grootte"`
	Status          string `json:"status"`
	Account         string `json:"account"`
	OntvangenOp     string `json:"ontvangen_op"`
	VerwachtOp      string `json:"verwacht_op,omitempty"`
	EindeVerwerking string `json:"einde_verwerking,omitempty"`
	Aangeleverd     int    `json:"aangeleverd"`
	Correct         int    `json:"correct"`
	Incorrect       int    `json:"incorrect"`
}

func uploadOf(u exchange.Upload) uploadJSON {
	return uploadJSON{ID: u.ID, Product: string(u.Product), Bestandsnaam: u.Name, Grootte: u.Size, Status: string(u.Status),
		Account: u.Account, OntvangenOp: ts(u.ReceivedAt), VerwachtOp: ts(u.ExpectedAt), EindeVerwerking: ts(u.FinishedAt),
		Aangeleverd: u.Counts.Aangeleverd, Correct: u.Counts.Correct, Incorrect: u.Counts.Incorrect}
}

// statusText is the portal's status column: "Bezig, verwachte aflevertijd 14:05".
func statusText(u exchange.Upload) string {
	if u.Status == exchange.Bezig && !u.ExpectedAt.IsZero() {
		return "Bezig, verwachte aflevertijd " + u.ExpectedAt.In(tijdzone.Amsterdam()).Format("15:04:05")
	}
	return string(u.Status)
}

var uploadStatuses = []exchange.UploadStatus{exchange.Ontvangen, exchange.Bezig, exchange.Afgeleverd, exchange.Afgekeurd}

func runAanleveringen(c *cmdCtx, in *input) error {
	products, err := c.products(in)
	if err != nil {
		return err
	}
	var status exchange.UploadStatus
	if s := in.flag("status"); s != "" {
		i := slices.IndexFunc(uploadStatuses, func(st exchange.UploadStatus) bool { return strings.EqualFold(string(st), s) })
		if i < 0 {
			return usagef("--status %q: kies Ontvangen, Bezig, Afgeleverd of Afgekeurd", s)
		}
		status = uploadStatuses[i]
	}
	limit, err := c.limit(in, 100)
	if err != nil {
		return err
	}
	var all []exchange.Upload
	total := 0
	for _, p := range products {
		// Each product's newest `limit`: the newest `limit` of all are among them.
		us, n, err := c.hub.Uploads(c.context(), c.p, p, exchange.ListOptions{Limit: limit, Status: status})
		if err != nil {
			return err
		}
		all = append(all, us...)
		total += n
	}
	if in.flag("product") == "" && (status == "" || status == exchange.Afgekeurd) {
		// Uploads refused because the account has no access to their product are listed in
		// no product it can use; the person looks for them here.
		us, err := c.hub.RefusedElsewhere(c.context(), c.p)
		if err != nil {
			return err
		}
		all = append(all, us...)
		total += len(us)
	}
	slices.SortStableFunc(all, func(a, b exchange.Upload) int { return b.ReceivedAt.Compare(a.ReceivedAt) })
	if limit > 0 && len(all) > limit {
		all = all[:limit] // --aantal is the total, not a number per product
	}
	c.more(len(all), total, "aanleveringen")
	out := make([]uploadJSON, 0, len(all))
	for _, u := range all {
		out = append(out, uploadOf(u))
	}
	return c.emit(out, func(w io.Writer) {
		var rows [][]string
		for _, u := range all {
			rows = append(rows, []string{strconv.FormatUint(u.ID, 10), string(u.Product), u.Name, short(u.ReceivedAt), statusText(u),
				fmt.Sprintf("%d/%d/%d", u.Counts.Aangeleverd, u.Counts.Correct, u.Counts.Incorrect)})
		}
		c.table("ID\tPRODUCT\tBESTAND\tONTVANGEN\tSTATUS\tAANGELEVERD/CORRECT/INCORRECT", rows)
	})
}

// verslagJSON is the verwerkingsverslag: the same type as the .json files in verslagen/.
type verslagJSON = exchange.Verslag

func runVerslag(c *cmdCtx, in *input) error {
	products, err := c.products(in)
	if err != nil {
		return err
	}
	u, err := c.findUpload(in.args[0], products)
	if err != nil {
		return err
	}
	v, txt, err := c.hub.Report(c.p, u.ID)
	if err != nil {
		return err
	}
	return c.emit(v, func(w io.Writer) {
		if txt == nil {
			fmt.Fprintf(w, "Aanlevering %d, %s (%s): %s\nHet verwerkingsverslag volgt als de verwerking klaar is.\n", u.ID, u.Name, u.Product, statusText(u))
			return
		}
		w.Write(txt)
	})
}

// findUpload finds an upload by its number, the name of its report (with or without .txt or
// .json) or the name it was uploaded under (the newest with that name).
func (c *cmdCtx) findUpload(arg string, products []exchange.Product) (exchange.Upload, error) {
	if id, err := strconv.ParseUint(arg, 10, 64); err == nil {
		return c.hub.Upload(c.p, id)
	}
	var found exchange.Upload
	for _, p := range products {
		reports, err := c.hub.Reports(c.context(), c.p, p)
		if err != nil {
			return exchange.Upload{}, err
		}
		for _, r := range reports {
			if r.Name == arg || strings.TrimSuffix(strings.TrimSuffix(r.Name, ".json"), ".txt") == arg {
				return c.hub.Upload(c.p, r.UploadID)
			}
		}
		us, _, err := c.hub.Uploads(c.context(), c.p, p, exchange.ListOptions{})
		if err != nil {
			return exchange.Upload{}, err
		}
		for _, u := range us {
			if u.Name == arg && u.ReceivedAt.After(found.ReceivedAt) {
				found = u
			}
		}
	}
	if found.ID == 0 {
		return exchange.Upload{}, fmt.Errorf("%w: geen aanlevering of verslag %q; 'aanleveringen' toont nummers en namen", exchange.ErrNotFound, arg)
	}
	return found, nil
}

// --- ophalen, gelezen, ongelezen, verwijder ---

type deliveryJSON struct {
	Product         string `json:"product"`
	Naam            string `json:"naam"`
	Pad             string `json:"pad"`
	Functie         string `json:"functie"`
	Van             string `json:"van"`
	Grootte         int64  `json:"grootte"`
	Publicatiedatum string `json:"publicatiedatum"`
	Gelezen         bool   `json:"gelezen"`
	GelezenOp       string `json:"gelezen_op,omitempty"`
	// Voor: the organisations the file's messages are for when not the account's own
	// (samenwerking).
	Voor []string `json:"voor,omitempty"`
	// Referentienummers of the messages in the file; any one of them brings the file back
	// with herstel after verwijder.
	Referentienummers []string `json:"referentienummers"`
}

func runOphalen(c *cmdCtx, in *input) error {
	products, err := c.products(in)
	if err != nil {
		return err
	}
	limit, err := c.limit(in, 0)
	if err != nil {
		return err
	}
	onlyNew := in.flag("nieuw") != ""
	var all []exchange.Delivery
	shown, total := 0, 0
	for _, p := range products {
		ds, n, err := c.hub.Inbox(c.context(), c.p, p, exchange.InboxOptions{Limit: limit, OnlyNew: onlyNew, Referenties: c.json})
		if err != nil {
			return err
		}
		all = append(all, ds...)
		shown, total = shown+len(ds), total+n
	}
	slices.SortStableFunc(all, func(a, b exchange.Delivery) int { return b.CreatedAt.Compare(a.CreatedAt) })
	all = firstN(all, limit) // --aantal is the total over the products
	shown = len(all)
	c.more(shown, total, "bestanden")
	out := make([]deliveryJSON, 0, len(all))
	for _, d := range all {
		folder := "/ophalen/"
		if onlyNew {
			folder = "/ophalen/nieuw/"
		}
		out = append(out, deliveryJSON{Product: string(d.Product), Naam: d.Name, Pad: "/" + string(d.Product) + folder + d.Name,
			Functie: d.Functie, Van: d.From, Grootte: d.Size, Publicatiedatum: ts(d.CreatedAt), Gelezen: !d.GelezenAt.IsZero(), GelezenOp: ts(d.GelezenAt),
			Voor: d.For, Referentienummers: append([]string{}, d.Referenties...)})
	}
	return c.emit(out, func(w io.Writer) {
		var rows [][]string
		for _, d := range all {
			gelezen := "nee"
			if !d.GelezenAt.IsZero() {
				gelezen = short(d.GelezenAt)
			}
			rows = append(rows, []string{string(d.Product), d.Name, d.Functie, d.From, strconv.FormatInt(d.Size, 10), short(d.CreatedAt), gelezen})
		}
		c.table("PRODUCT\tBESTAND\tFUNCTIE\tVAN\tGROOTTE\tPUBLICATIEDATUM\tGELEZEN", rows)
	})
}

// fileRef is one file in a product's ophalen/.
type fileRef struct {
	product exchange.Product
	name    string
}

// files resolves BESTAND arguments, all before anything changes: a name in ophalen/ of one of
// the account's products, product/name, or a path as SFTP shows it (/iwmo/ophalen/nieuw/x.zip).
func (c *cmdCtx) files(args []string) ([]fileRef, error) {
	products, err := c.products(&input{})
	if err != nil {
		return nil, err
	}
	var refs []fileRef
	for _, arg := range args {
		parts := strings.Split(strings.Trim(arg, "/"), "/")
		name := parts[len(parts)-1]
		candidates := products
		if len(parts) > 1 {
			p, err := c.product(parts[0])
			if err != nil {
				return nil, err
			}
			folders := strings.Join(parts[1:len(parts)-1], "/")
			if folders != "" && folders != folderOphalen && folders != folderOphalen+"/"+folderNieuw {
				return nil, usagef("%s: alleen bestanden in ophalen/ kunnen dit; geef naam of product/naam", arg)
			}
			candidates = []exchange.Product{p}
		}
		var in []exchange.Product
		for _, p := range candidates {
			_, err := c.hub.Delivery(c.p, p, name)
			switch {
			case err == nil:
				in = append(in, p)
			case len(candidates) == 1 || !errors.Is(err, exchange.ErrNotFound):
				return nil, err
			}
		}
		switch len(in) {
		case 0:
			return nil, fmt.Errorf("%w: %s staat niet in ophalen/ van uw producten; 'ophalen' toont de bestanden", exchange.ErrNotFound, name)
		case 1:
			refs = append(refs, fileRef{in[0], name})
		default:
			return nil, usagef("%s staat in ophalen/ van %s; schrijf product/naam, zoals %s/%s", name, exchange.JoinProducts(in), in[0], name)
		}
	}
	return refs, nil
}

// byProduct groups file names per product in the order they came.
func byProduct(refs []fileRef) ([]exchange.Product, map[exchange.Product][]string) {
	var order []exchange.Product
	names := map[exchange.Product][]string{}
	for _, r := range refs {
		if names[r.product] == nil {
			order = append(order, r.product)
		}
		names[r.product] = append(names[r.product], r.name)
	}
	return order, names
}

type markJSON struct {
	Product string `json:"product"`
	Naam    string `json:"naam"`
	Gelezen bool   `json:"gelezen"`
}

func runMark(c *cmdCtx, in *input, gelezen bool) error {
	refs, err := c.files(in.args)
	if err != nil {
		return err
	}
	order, names := byProduct(refs)
	for _, p := range order {
		if err := c.hub.SetGelezen(c.p, p, names[p], gelezen); err != nil {
			return err
		}
	}
	out := make([]markJSON, 0, len(refs))
	for _, r := range refs {
		out = append(out, markJSON{string(r.product), r.name, gelezen})
	}
	return c.emit(out, func(w io.Writer) {
		word := "gelezen"
		if !gelezen {
			word = "niet meer gelezen; het blijft in ophalen/"
		}
		for _, r := range refs {
			fmt.Fprintf(w, "%s/%s: %s\n", r.product, r.name, word)
		}
	})
}

type removedJSON struct {
	Product           string   `json:"product"`
	Naam              string   `json:"naam"`
	Verwijderd        bool     `json:"verwijderd"`
	Referentienummers []string `json:"referentienummers"`
}

func runVerwijder(c *cmdCtx, in *input) error {
	refs, err := c.files(in.args)
	if err != nil {
		return err
	}
	order, names := byProduct(refs)
	// The referentienummers first: after the delete they are what herstel takes.
	nums := map[exchange.Product]map[string][]string{}
	for _, p := range order {
		if nums[p], err = c.hub.Referenties(c.p, p, names[p]); err != nil {
			return err
		}
	}
	for _, p := range order {
		if err := c.hub.DeleteDeliveries(c.p, p, names[p]); err != nil {
			return err
		}
	}
	out := make([]removedJSON, 0, len(refs))
	for _, r := range refs {
		out = append(out, removedJSON{string(r.product), r.name, true, append([]string{}, nums[r.product][r.name]...)})
	}
	return c.emit(out, func(w io.Writer) {
		for _, r := range out {
			switch n := len(r.Referentienummers); n {
			case 0:
				fmt.Fprintf(w, "%s/%s: verwijderd\n", r.Product, r.Naam)
			case 1:
				fmt.Fprintf(w, "%s/%s: verwijderd; terugzetten (tot 60 dagen na ontvangst): herstel %s\n", r.Product, r.Naam, r.Referentienummers[0])
			default:
				fmt.Fprintf(w, "%s/%s: verwijderd; terugzetten (tot 60 dagen na ontvangst): herstel %s (of een van de %d andere referentienummers in 'verwijder --json')\n",
					r.Product, r.Naam, r.Referentienummers[0], n-1)
			}
		}
	})
}

// --- berichtenlog, herstel ---

// messageStatuses are the words --status takes for a message's status.
var messageStatuses = map[string]exchange.MessageStatus{
	"ontvangen":  exchange.MsgOntvangen,
	"afgekeurd":  exchange.MsgAfgekeurd,
	"afgeleverd": exchange.MsgAfgeleverd,
	"wacht":      exchange.MsgWachtRoute,
	"gelezen":    exchange.MsgGelezen,
	"verwijderd": exchange.MsgVerwijderd,
	"hersteld":   exchange.MsgHersteld,
	"verlopen":   exchange.MsgVerlopen,
	"verzonden":  exchange.MsgVerzondenDK,
	"bevestigd":  exchange.MsgBevestigd,
	"mislukt":    exchange.MsgMislukt,
}

type messageJSON struct {
	ID               uint64 `json:"id"`
	Product          string `json:"product"`
	Functie          string `json:"functie"`
	Richting         string `json:"richting"` // in: received, uit: sent
	Referentienummer string `json:"referentienummer"`
	Crossrefnummer   string `json:"crossrefnummer,omitempty"`
	Zender           string `json:"zender"`
	Ontvanger        string `json:"ontvanger"`
	Bestand          string `json:"bestand"`
	Grootte          int64  `json:"grootte"`
	OntvangenOp      string `json:"ontvangen_op"`
	Status           string `json:"status"`
	Aanlevering      uint64 `json:"aanlevering,omitempty"`
	// Namens: the organisation this one sent or received the message for (samenwerking).
	Namens string `json:"namens,omitempty"`
}

// parseDate reads a day in Dutch time; end gives the last moment of that day.
func parseDate(flag, s string, end bool) (time.Time, error) {
	for _, layout := range []string{"2006-01-02", "02-01-2006", "20060102"} {
		if d, err := time.ParseInLocation(layout, s, tijdzone.Amsterdam()); err == nil {
			if d.Year() < 1970 || d.Year() > 2200 {
				return time.Time{}, usagef("--%s %q: kies een datum tussen 1970 en 2200", flag, s)
			}
			if end {
				d = d.AddDate(0, 0, 1).Add(-time.Nanosecond)
			}
			return d, nil
		}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil && t.Year() >= 1970 && t.Year() <= 2200 {
		return t, nil
	}
	return time.Time{}, usagef("--%s %q: schrijf een datum als 2025-01-31 of 31-01-2025", flag, s)
}

func runBerichtenlog(c *cmdCtx, in *input) error {
	products, err := c.products(in)
	if err != nil {
		return err
	}
	f := exchange.MessageFilter{Functie: strings.ToUpper(in.flag("functie")), Referentie: in.flag("referentie")}
	if s := in.flag("van"); s != "" {
		if f.From, err = parseDate("van", s, false); err != nil {
			return err
		}
	}
	if s := in.flag("tot"); s != "" {
		if f.To, err = parseDate("tot", s, true); err != nil {
			return err
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.To.Before(f.From) {
		return usagef("--tot ligt voor --van")
	}
	if s := in.flag("status"); s != "" {
		st, ok := messageStatuses[strings.ToLower(s)]
		if !ok {
			return usagef("--status %q: kies uit %s", s, strings.Join(slices.Sorted(mapKeys(messageStatuses)), ", "))
		}
		f.Status = string(st)
	}
	switch d := strings.ToLower(in.flag("richting")); d {
	case "", "in", "uit":
		f.Direction = d
	default:
		return usagef("--richting %q: kies in (ontvangen) of uit (verstuurd)", in.flag("richting"))
	}
	if f.Limit, err = c.limit(in, 100); err != nil {
		return err
	}
	var all []exchange.Message
	shown, total, atLeast := 0, 0, false
	for _, p := range products {
		l, err := c.hub.MessageList(c.context(), c.p, p, f)
		if err != nil {
			return err
		}
		all = append(all, l.Messages...)
		shown, total, atLeast = shown+len(l.Messages), total+l.Total, atLeast || l.AtLeast
	}
	slices.SortStableFunc(all, func(a, b exchange.Message) int { return b.ReceivedAt.Compare(a.ReceivedAt) })
	all = firstN(all, f.Limit) // --aantal is the total over the products, not a number per product
	shown = len(all)
	if atLeast {
		// The hub stopped counting (exchange.MessageCountCap).
		c.note("let op: %d van meer dan %d berichten getoond; gebruik --aantal 0 voor alles", shown, total)
	} else {
		c.more(shown, total, "berichten")
	}
	out := make([]messageJSON, 0, len(all))
	for _, m := range all {
		out = append(out, c.messageOf(m))
	}
	return c.emit(out, func(w io.Writer) {
		var rows [][]string
		for i, m := range out {
			rows = append(rows, []string{m.Product, m.Functie, m.Richting, m.Zender, m.Ontvanger, m.Referentienummer, short(all[i].ReceivedAt), m.Status})
		}
		c.table("PRODUCT\tFUNCTIE\tRICHTING\tZENDER\tONTVANGER\tREFERENTIENUMMER\tONTVANGEN\tSTATUS", rows)
	})
}

func (c *cmdCtx) messageOf(m exchange.Message) messageJSON {
	return messageJSON{ID: m.ID, Product: string(m.Product), Functie: m.Functie, Richting: m.Direction(c.p.Org.Code), Referentienummer: m.Referentie,
		Crossrefnummer: m.CrossRef, Zender: m.Zender, Ontvanger: m.Ontvanger, Bestand: m.File, Grootte: m.Size,
		OntvangenOp: ts(m.ReceivedAt), Status: string(m.Status), Aanlevering: m.UploadID, Namens: m.OnBehalfOf(c.p.Org.Code)}
}

type restoredJSON struct {
	Product          string `json:"product"`
	Referentienummer string `json:"referentienummer"`
	Hersteld         bool   `json:"hersteld"`
}

func runHerstel(c *cmdCtx, in *input) error {
	ref := in.args[0]
	products, err := c.products(in)
	if err != nil {
		return err
	}
	product := products[0]
	if len(products) > 1 {
		// The message tells which product's ophalen/ the file goes back to.
		var found []exchange.Product
		for _, p := range products {
			ms, _, err := c.hub.Messages(c.context(), c.p, p, exchange.MessageFilter{Referentie: ref, Limit: 1})
			if err != nil {
				return err
			}
			if len(ms) > 0 {
				found = append(found, p)
			}
		}
		switch len(found) {
		case 0:
			return fmt.Errorf("%w: geen bericht met referentienummer %s in uw berichtenlog; 'berichtenlog --referentie %s' zoekt het op", exchange.ErrNotFound, ref, ref)
		case 1:
			product = found[0]
		default:
			return usagef("referentienummer %s komt voor in %s; kies er een met --product", ref, exchange.JoinProducts(found))
		}
	}
	if err := c.hub.Restore(c.p, product, ref); err != nil {
		return err
	}
	v := restoredJSON{string(product), ref, true}
	return c.emit(v, func(w io.Writer) {
		fmt.Fprintf(w, "het bestand met bericht %s staat weer in /%s/ophalen\n", ref, product)
	})
}

// --- routes ---

type routeJSON struct {
	Product      string `json:"product"`
	Uitwisseling string `json:"uitwisseling"`
	Via          string `json:"via"`
	CPA          string `json:"cpa"`
	Status       string `json:"status"`
	StUF         string `json:"stuf"`
	Payload      string `json:"payload"`
	Vergrendeld  bool   `json:"vergrendeld"`
	Reden        string `json:"reden,omitempty"`
	Gewijzigd    string `json:"gewijzigd,omitempty"`
	Door         string `json:"door,omitempty"`
	// Wachtend: messages held for this exchange until it is Portaal and Actief again.
	Wachtend int `json:"wachtend"`
}

func routeOf(r exchange.RouteView) routeJSON {
	return routeJSON{Product: string(r.Product), Uitwisseling: r.Route.Exchange, Via: string(r.Via), CPA: r.CPA, Status: string(r.Status),
		StUF: r.StUF, Payload: r.Payload, Vergrendeld: r.Locked, Reden: r.LockedReason, Gewijzigd: ts(r.Changed), Door: r.By, Wachtend: r.Waiting}
}

func (c *cmdCtx) showRoutes(out []routeJSON) error {
	return c.emit(out, func(w io.Writer) {
		var rows [][]string
		for _, r := range out {
			lock := ""
			if r.Vergrendeld {
				lock = r.Reden
			}
			rows = append(rows, []string{r.Product, r.Uitwisseling, r.Via, dash(r.CPA), r.Status, strconv.Itoa(r.Wachtend), r.StUF, r.Payload, lock})
		}
		c.table("PRODUCT\tUITWISSELING\tVIA\tCPA\tSTATUS\tWACHTEND\tSTUF\tPAYLOAD\t", rows)
	})
}

func runRoutes(c *cmdCtx, in *input) error {
	products, err := c.products(in)
	if err != nil {
		return err
	}
	out := []routeJSON{}
	for _, p := range products {
		rs, err := c.hub.Routes(c.p, p)
		if err != nil {
			return err
		}
		for _, r := range rs {
			out = append(out, routeOf(r))
		}
	}
	return c.showRoutes(out)
}

func runRouteZet(c *cmdCtx, in *input) error {
	// ssh joins the words of a command with spaces, so 'WMO 301/302' may arrive as two words.
	name := strings.Join(in.args, " ")
	var via exchange.Via
	switch strings.ToLower(in.flag("via")) {
	case "portaal":
		via = exchange.Portaal
	case "digikoppeling":
		via = exchange.Digikoppeling
	default:
		return usagef("--via %q: kies portaal of digikoppeling", in.flag("via"))
	}
	var status exchange.RouteStatus
	switch strings.ToLower(in.flag("status")) {
	case "actief":
		status = exchange.Actief
	case "inactief":
		status = exchange.Inactief
	default:
		return usagef("--status %q: kies actief of inactief", in.flag("status"))
	}
	products, err := c.products(in)
	if err != nil {
		return err
	}
	var found []exchange.Product
	var exName string
	for _, p := range products {
		for _, ex := range c.hub.Catalogue().Exchanges(p) {
			if strings.EqualFold(strings.ReplaceAll(ex.Name, " ", ""), strings.ReplaceAll(name, " ", "")) {
				found, exName = append(found, p), ex.Name
			}
		}
	}
	switch len(found) {
	case 0:
		var names []string
		for _, p := range products {
			for _, ex := range c.hub.Catalogue().Exchanges(p) {
				names = append(names, "'"+ex.Name+"'")
			}
		}
		return usagef("uitwisseling %q bestaat niet in %s; kies uit %s", name, exchange.JoinProducts(products), strings.Join(slices.Compact(names), ", "))
	case 1:
	default:
		return usagef("uitwisseling %q hoort bij %s; kies er een met --product", exName, exchange.JoinProducts(found))
	}
	if err := c.hub.SetRoute(c.p, found[0], exName, via, status, in.flag("cpa")); err != nil {
		return err
	}
	rs, err := c.hub.Routes(c.p, found[0])
	if err != nil {
		return err
	}
	out := []routeJSON{}
	for _, r := range rs {
		if r.Route.Exchange == exName {
			out = append(out, routeOf(r))
		}
	}
	return c.showRoutes(out)
}
