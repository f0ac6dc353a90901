package opdrachten

import (
	"io"
	"slices"
	"strconv"
	"strings"

	"knooppunt/exchange"
)

// routerenCommands show and change how each exchange reaches the account's organisation.
var routerenCommands = []command{
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

type RouteJSON struct {
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

func routeOf(r exchange.RouteView) RouteJSON {
	return RouteJSON{Product: string(r.Product), Uitwisseling: r.Route.Exchange, Via: string(r.Via), CPA: r.CPA, Status: string(r.Status),
		StUF: r.StUF, Payload: r.Payload, Vergrendeld: r.Locked, Reden: r.LockedReason, Gewijzigd: ts(r.Changed), Door: r.By, Wachtend: r.Waiting}
}

func (c *cmdCtx) showRoutes(out []RouteJSON) error {
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
	out := []RouteJSON{}
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
	via, err := oneOf(in, "via", exchange.Portaal, exchange.Digikoppeling)
	if err != nil {
		return err
	}
	status, err := oneOf(in, "status", exchange.Actief, exchange.Inactief)
	if err != nil {
		return err
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
	out := []RouteJSON{}
	for _, r := range rs {
		if r.Route.Exchange == exName {
			out = append(out, routeOf(r))
		}
	}
	return c.showRoutes(out)
}
