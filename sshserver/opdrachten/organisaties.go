package opdrachten

import (
	"fmt"
	"io"
	"strings"

	"knooppunt/exchange"
)

// orgCommands add and list organisations. Who sees which is exchange's decision.
var orgCommands = []command{
	{
		words: []string{"org", "add"}, args: "CODE NAAM…", minArgs: 2, maxArgs: -1,
		flags: []flagSpec{{name: "oin", value: "OIN"}},
		help:  "voegt een organisatie toe (gemeentecode, AGB-code, CAK of SVB), met --oin haar OIN voor Digikoppeling (beheerder)",
		run: func(c *cmdCtx, in *input) error {
			o, err := c.hub.CreateOrgOIN(c.p, in.args[0], strings.Join(in.args[1:], " "), in.flag("oin"))
			if err != nil {
				return err
			}
			return c.emit(orgOf(o, nil), func(w io.Writer) { fmt.Fprintf(w, "organisatie %s %q (%s) toegevoegd\n", o.Code, o.Name, o.Kind) })
		},
	},
	{
		words: []string{"org", "list"}, maxArgs: 0,
		help: "toont de organisaties",
		run: func(c *cmdCtx, _ *input) error {
			visible, err := c.hub.OrgList(c.p) // exchange decides who sees which
			if err != nil {
				return err
			}
			orgs, err := c.hub.Orgs() // for the other side of each samenwerking
			if err != nil {
				return err
			}
			var rows [][]string
			out := []OrgJSON{}
			for _, o := range visible {
				v := orgOf(o, orgs)
				rows = append(rows, []string{o.Code, string(o.Kind), o.Name, dash(o.OIN), samenwerkingText(v)})
				out = append(out, v)
			}
			return c.emit(out, func(io.Writer) { c.table("CODE\tSOORT\tNAAM\tOIN\tSAMENWERKING", rows) })
		},
	},
}

// orgManageCommands rename, delete and join organisations (issue 13); exchange decides who
// may.
var orgManageCommands = []command{
	{
		words: []string{"org", "naam"}, args: "CODE NIEUWENAAM…", minArgs: 2, maxArgs: -1,
		help: "geeft een organisatie een nieuwe naam; de code blijft (beheerder)",
		run: func(c *cmdCtx, in *input) error {
			name := strings.Join(in.args[1:], " ")
			if err := c.hub.RenameOrg(c.p, in.args[0], name); err != nil {
				return err
			}
			return c.done("organisatie %s heet nu %q", in.args[0], name)
		},
	},
	{
		words: []string{"org", "verwijder"}, args: "CODE", minArgs: 1, maxArgs: 1,
		help: "verwijdert een organisatie zonder accounts, samenwerking en berichten jonger dan 60 dagen (beheerder)",
		run: func(c *cmdCtx, in *input) error {
			if err := c.hub.DeleteOrg(c.p, in.args[0]); err != nil {
				return err
			}
			return c.done("organisatie %s verwijderd", in.args[0])
		},
	},
	{
		words: []string{"org", "samenwerking"}, args: "ORGANISATIE PRODUCT [UITVOERDER]", minArgs: 2, maxArgs: 3,
		help: "laat UITVOERDER het product voor ORGANISATIE versturen en ontvangen; zonder UITVOERDER eindigt de samenwerking (beheerder)",
		run:  runSamenwerking,
	},
}

type SamenwerkingJSON struct {
	Organisatie    string `json:"organisatie"`
	Product        string `json:"product"`
	UitgevoerdDoor string `json:"uitgevoerd_door"`
}

func runSamenwerking(c *cmdCtx, in *input) error {
	p, err := c.product(in.args[1])
	if err != nil {
		return err
	}
	org, actor := in.args[0], ""
	if len(in.args) == 3 {
		actor = in.args[2]
	}
	if err := c.hub.SetSamenwerking(c.p, org, p, actor); err != nil {
		return err
	}
	v := SamenwerkingJSON{org, string(p), c.hub.ActorFor(org, p)}
	return c.emit(v, func(w io.Writer) {
		if actor == "" {
			fmt.Fprintf(w, "%s voert %s weer zelf uit\n", org, p)
			return
		}
		fmt.Fprintf(w, "%s voert %s nu uit voor %s\n", actor, p, org)
	})
}

type OrgJSON struct {
	Code         string            `json:"code"`
	Naam         string            `json:"naam"`
	Soort        string            `json:"soort"`
	Samenwerking map[string]string `json:"samenwerking"` // product -> the organisation that runs it for this one
	// VoertUitVoor: product -> the organisations this one runs it for (the other side).
	VoertUitVoor map[string][]string `json:"voert_uit_voor"`
	OIN          string              `json:"oin"`
}

func orgOf(o exchange.Org, all []exchange.Org) OrgJSON {
	v := OrgJSON{Code: o.Code, Naam: o.Name, Soort: string(o.Kind), Samenwerking: map[string]string{}, VoertUitVoor: map[string][]string{}, OIN: o.OIN}
	for p, actor := range o.Samenwerking {
		v.Samenwerking[string(p)] = actor
	}
	for _, other := range all {
		for p, actor := range other.Samenwerking {
			if actor == o.Code && other.Code != o.Code {
				v.VoertUitVoor[string(p)] = append(v.VoertUitVoor[string(p)], other.Code)
			}
		}
	}
	return v
}

// samenwerkingText is an organisation's samenwerkingen in one cell: "iwmo door 9999" for
// what another runs for it, "iwmo voor 0060" for what it runs for another.
func samenwerkingText(v OrgJSON) string {
	var parts []string
	for _, p := range exchange.Products {
		if a := v.Samenwerking[string(p)]; a != "" {
			parts = append(parts, string(p)+" door "+a)
		}
		if fs := v.VoertUitVoor[string(p)]; len(fs) > 0 {
			parts = append(parts, string(p)+" voor "+strings.Join(fs, ", "))
		}
	}
	if len(parts) == 0 {
		return "–"
	}
	return strings.Join(parts, "; ")
}
