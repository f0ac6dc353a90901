package opdrachten

import (
	"fmt"
	"io"
	"knooppunt/exchange/tijdzone"
	"slices"
	"strings"
	"time"

	"knooppunt/exchange"
)

// berichtenlogCommands search the berichtenlog and bring a removed file back.
var berichtenlogCommands = []command{
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
}

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

type MessageJSON struct {
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
	out := make([]MessageJSON, 0, len(all))
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

func (c *cmdCtx) messageOf(m exchange.Message) MessageJSON {
	return MessageJSON{ID: m.ID, Product: string(m.Product), Functie: m.Functie, Richting: m.Direction(c.p.Org.Code), Referentienummer: m.Referentie,
		Crossrefnummer: m.CrossRef, Zender: m.Zender, Ontvanger: m.Ontvanger, Bestand: m.File, Grootte: m.Size,
		OntvangenOp: ts(m.ReceivedAt), Status: string(m.Status), Aanlevering: m.UploadID, Namens: m.OnBehalfOf(c.p.Org.Code)}
}

type RestoredJSON struct {
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
	v := RestoredJSON{string(product), ref, true}
	return c.emit(v, func(w io.Writer) {
		fmt.Fprintf(w, "het bestand met bericht %s staat weer in /%s/ophalen\n", ref, product)
	})
}
