package opdrachten

import (
	"fmt"
	"io"
	"strings"

	"knooppunt/exchange"
)

// digikoppelingCommands: the OIN of an organisation, the CPAs and resending over Digikoppeling.
var digikoppelingCommands = []command{
	{
		words: []string{"org", "oin"}, args: "CODE OIN", minArgs: 2, maxArgs: 2,
		help: "zet het OIN (20 cijfers) van een organisatie, haar PartyId over Digikoppeling; '-' haalt het weg (beheerder)",
		run: func(c *cmdCtx, in *input) error {
			oin := in.args[1]
			if oin == "-" {
				oin = ""
			}
			if err := c.hub.SetOIN(c.p, in.args[0], oin); err != nil {
				return err
			}
			return c.done("OIN van %s is nu %s", in.args[0], dash(oin))
		},
	},
	{
		words: []string{"cpa", "import"}, maxArgs: 0,
		help: "importeert een CPA van stdin: ssh beheer@knooppunt cpa import < cpa.xml (beheerder)",
		run: func(c *cmdCtx, in *input) error {
			if c.in == nil {
				return usagef("geef de CPA op stdin")
			}
			doc, err := io.ReadAll(io.LimitReader(c.in, 1<<20+1))
			if err != nil {
				return fmt.Errorf("CPA lezen: %w", err)
			}
			if len(strings.TrimSpace(string(doc))) == 0 {
				return usagef("stdin is leeg; geef de CPA zo: cpa import < cpa.xml")
			}
			cpa, err := c.hub.ImportCPA(c.p, doc)
			if err != nil {
				return err
			}
			return c.emit(cpaOf(cpa), func(w io.Writer) {
				fmt.Fprintf(w, "CPA %s geïmporteerd voor %s (OIN %s), profiel %s, geldig tot %s\n", cpa.ID, cpa.Org, cpa.OIN, cpa.Profile(), ts(cpa.End))
			})
		},
	},
	{
		words: []string{"cpa", "list"}, maxArgs: 0,
		flags: []flagSpec{{name: "org", value: "CODE"}},
		help:  "toont de CPA's (van één organisatie met --org)",
		run: func(c *cmdCtx, in *input) error {
			cpas, err := c.hub.CPAs(c.p, in.flag("org"))
			if err != nil {
				return err
			}
			out := []CPAJSON{}
			var rows [][]string
			for _, x := range cpas {
				out = append(out, cpaOf(x))
				rows = append(rows, []string{x.ID, x.Org, x.OIN, x.Profile(), ts(x.Start), ts(x.End), x.Endpoint})
			}
			return c.emit(out, func(io.Writer) { c.table("CPAID\tORGANISATIE\tOIN\tPROFIEL\tSTART\tEINDE\tENDPOINT", rows) })
		},
	},
	{
		words: []string{"cpa", "show"}, args: "CPAID", minArgs: 1, maxArgs: 1,
		help: "toont een CPA: partijen, acties, endpoint, betrouwbaarheid en ondertekening",
		run: func(c *cmdCtx, in *input) error {
			x, err := c.hub.GetCPA(c.p, in.args[0])
			if err != nil {
				return err
			}
			v := cpaOf(x)
			return c.emit(v, func(w io.Writer) {
				for _, l := range [][2]string{
					{"cpaid", v.CPAID}, {"organisatie", v.Organisatie}, {"oin", v.OIN}, {"oin knooppunt", v.OINKnooppunt},
					{"geldig", v.Start + " tot " + v.Einde}, {"service", v.Service}, {"rol", v.Rol + " (knooppunt: " + v.RolKnooppunt + ")"},
					{"verstuurt", strings.Join(v.Verstuurt, ", ")}, {"ontvangt", strings.Join(v.Ontvangt, ", ")},
					{"endpoint", v.Endpoint}, {"profiel", v.Profiel}, {"syncReplyMode", v.SyncReplyMode},
					{"retries", fmt.Sprintf("%d, interval %s", v.Retries, v.RetryInterval)}, {"geïmporteerd", v.Geimporteerd + " door " + v.Door},
				} {
					fmt.Fprintf(w, "%-15s %s\n", l[0]+":", l[1])
				}
			})
		},
	},
	{
		words: []string{"cpa", "delete"}, args: "CPAID", minArgs: 1, maxArgs: 1,
		help: "verwijdert een CPA; niet zolang een route hem gebruikt (beheerder)",
		run: func(c *cmdCtx, in *input) error {
			if err := c.hub.DeleteCPA(c.p, in.args[0]); err != nil {
				return err
			}
			return c.done("CPA %s verwijderd", in.args[0])
		},
	},
	{
		words: []string{"opnieuw"}, args: "REFERENTIENUMMER", minArgs: 1, maxArgs: 1,
		flags: []flagSpec{productFlag},
		help:  "verstuurt een mislukt Digikoppeling-bericht opnieuw, met hetzelfde MessageId",
		run: func(c *cmdCtx, in *input) error {
			products, err := c.products(in)
			if err != nil {
				return err
			}
			var last error
			for _, p := range products {
				if last = c.hub.Resend(c.p, p, in.args[0]); last == nil {
					return c.done("bericht %s wordt opnieuw verstuurd via Digikoppeling", in.args[0])
				}
			}
			return last
		},
	},
}

type CPAJSON struct {
	CPAID         string   `json:"cpaid"`
	Organisatie   string   `json:"organisatie"`
	OIN           string   `json:"oin"`
	OINKnooppunt  string   `json:"oin_knooppunt"`
	Start         string   `json:"start"`
	Einde         string   `json:"einde"`
	Service       string   `json:"service"`
	Rol           string   `json:"rol"`
	RolKnooppunt  string   `json:"rol_knooppunt"`
	Verstuurt     []string `json:"verstuurt"`
	Ontvangt      []string `json:"ontvangt"`
	Endpoint      string   `json:"endpoint"`
	Profiel       string   `json:"profiel"`
	SyncReplyMode string   `json:"syncreplymode"`
	Retries       int      `json:"retries"`
	RetryInterval string   `json:"retry_interval"`
	Geimporteerd  string   `json:"geimporteerd"`
	Door          string   `json:"door"`
}

func cpaOf(x exchange.CPA) CPAJSON {
	return CPAJSON{CPAID: x.ID, Organisatie: x.Org, OIN: x.OIN, OINKnooppunt: x.HubOIN, Start: ts(x.Start), Einde: ts(x.End),
		Service: x.Service, Rol: x.Role, RolKnooppunt: x.HubRole, Verstuurt: nonNil(x.Sends), Ontvangt: nonNil(x.Receives),
		Endpoint: x.Endpoint, Profiel: x.Profile(), SyncReplyMode: x.SyncReply, Retries: x.Retries, RetryInterval: x.RetryInterval.String(),
		Geimporteerd: ts(x.Imported), Door: x.By}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
