package opdrachten

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"knooppunt/exchange"
)

// The folders of a product's ophalen/ as SFTP shows them (sshserver/sftp.go): a path that
// names a file there is taken as well as its bare name.
const (
	folderOphalen = "ophalen"
	folderNieuw   = "nieuw"
)

// ophalenCommands list, mark and remove the files in ophalen/.
var ophalenCommands = []command{
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
}

type DeliveryJSON struct {
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
	out := make([]DeliveryJSON, 0, len(all))
	for _, d := range all {
		folder := "/" + folderOphalen + "/"
		if onlyNew {
			folder += folderNieuw + "/"
		}
		out = append(out, DeliveryJSON{Product: string(d.Product), Naam: d.Name, Pad: "/" + string(d.Product) + folder + d.Name,
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

type MarkJSON struct {
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
	out := make([]MarkJSON, 0, len(refs))
	for _, r := range refs {
		out = append(out, MarkJSON{string(r.product), r.name, gelezen})
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

type RemovedJSON struct {
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
	out := make([]RemovedJSON, 0, len(refs))
	for _, r := range refs {
		out = append(out, RemovedJSON{string(r.product), r.name, true, append([]string{}, nums[r.product][r.name]...)})
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
