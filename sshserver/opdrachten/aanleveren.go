package opdrachten

import (
	"fmt"
	"io"
	"knooppunt/exchange/tijdzone"
	"slices"
	"strconv"
	"strings"

	"knooppunt/exchange"
)

// aanleverenCommands show what the account handed in and the verwerkingsverslag of each.
var aanleverenCommands = []command{
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
}

type UploadJSON struct {
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

func uploadOf(u exchange.Upload) UploadJSON {
	return UploadJSON{ID: u.ID, Product: string(u.Product), Bestandsnaam: u.Name, Grootte: u.Size, Status: string(u.Status),
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
	out := make([]UploadJSON, 0, len(all))
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

// runVerslag shows the verwerkingsverslag; its JSON is exchange.Verslag, the same type as the
// .json files in verslagen/.
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
