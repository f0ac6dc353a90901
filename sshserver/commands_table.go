package sshserver

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	gossh "golang.org/x/crypto/ssh"

	"knooppunt/exchange"
)

// commands is the table of admin commands. Permissions are checked by exchange, whatever
// door the call came through; a refusal exits with code 3.
var adminCommands = []command{
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
			out := []orgJSON{}
			for _, o := range visible {
				v := orgOf(o, orgs)
				rows = append(rows, []string{o.Code, string(o.Kind), o.Name, dash(o.OIN), samenwerkingText(v)})
				out = append(out, v)
			}
			return c.emit(out, func(io.Writer) { c.table("CODE\tSOORT\tNAAM\tOIN\tSAMENWERKING", rows) })
		},
	},
	{
		words: []string{"account", "add"}, args: "NAAM", minArgs: 1, maxArgs: 1,
		flags: []flagSpec{
			{name: "org", value: "CODE"},
			{name: "key", value: "'SLEUTEL'", multi: true, need: true, key: true},
			{name: "product", value: "P", multi: true},
			{name: "rol", value: "R", multi: true},
		},
		help: "maakt een account; --org mag een gebruikersbeheerder weglaten (eigen organisatie); rollen: gebruiker, gebruikersbeheerder, productbeheerder, beheerder",
		run: func(c *cmdCtx, in *input) error {
			a := exchange.Account{Name: in.args[0], Org: in.flag("org"), Keys: in.flags["key"]}
			for _, s := range in.flags["product"] {
				p, err := c.product(s)
				if err != nil {
					return err
				}
				a.Products = append(a.Products, p)
			}
			for _, r := range in.flags["rol"] {
				a.Roles = append(a.Roles, exchange.Role(r))
			}
			if err := c.hub.CreateAccount(c.p, a); err != nil {
				return err
			}
			return c.done("account %s aangemaakt", a.Name)
		},
	},
	{
		words: []string{"account", "list"}, maxArgs: 0,
		flags: []flagSpec{{name: "org", value: "CODE"}},
		help:  "toont de accounts (van één organisatie met --org)",
		run: func(c *cmdCtx, in *input) error {
			accts, err := c.hub.Accounts(c.p, in.flag("org"))
			if err != nil {
				return err
			}
			var rows [][]string
			out := []accountJSON{}
			for _, a := range accts {
				out = append(out, accountOf(a))
				status := "actief"
				if a.Disabled {
					status = "geblokkeerd"
				}
				rows = append(rows, []string{a.Name, dash(a.Org), dash(exchange.JoinProducts(a.Products)), dash(joinRoles(a.Roles)), status, dash(fingerprints(a.Keys))})
			}
			return c.emit(out, func(io.Writer) { c.table("NAAM\tORGANISATIE\tPRODUCTEN\tROLLEN\tSTATUS\tSLEUTELS", rows) })
		},
	},
	{
		words: []string{"account", "disable"}, args: "NAAM", minArgs: 1, maxArgs: 1,
		help: "blokkeert een account: het kan niet meer inloggen",
		run: func(c *cmdCtx, in *input) error {
			if err := c.hub.SetDisabled(c.p, in.args[0], true); err != nil {
				return err
			}
			return c.done("account %s geblokkeerd", in.args[0])
		},
	},
	{
		words: []string{"account", "enable"}, args: "NAAM", minArgs: 1, maxArgs: 1,
		help: "heft de blokkade van een account op",
		run: func(c *cmdCtx, in *input) error {
			if err := c.hub.SetDisabled(c.p, in.args[0], false); err != nil {
				return err
			}
			return c.done("account %s weer actief", in.args[0])
		},
	},
	{
		words: []string{"key", "add"}, args: "NAAM 'SLEUTEL'", minArgs: 2, maxArgs: -1,
		help: "voegt een openbare sleutel (een regel uit een .pub-bestand) toe aan een account",
		run: func(c *cmdCtx, in *input) error {
			if err := c.hub.AddKey(c.p, in.args[0], strings.Join(in.args[1:], " ")); err != nil {
				return err
			}
			return c.done("sleutel toegevoegd aan %s", in.args[0])
		},
	},
	{
		words: []string{"key", "remove"}, args: "NAAM VINGERAFDRUK", minArgs: 2, maxArgs: -1,
		help: "verwijdert een sleutel, op vingerafdruk (SHA256:…, zie 'gebruiker list') of als sleutelregel",
		run: func(c *cmdCtx, in *input) error {
			if err := c.hub.RemoveKey(c.p, in.args[0], strings.Join(in.args[1:], " ")); err != nil {
				return err
			}
			return c.done("sleutel verwijderd van %s", in.args[0])
		},
	},
	{
		words: []string{"product", "grant"}, args: "NAAM PRODUCT", minArgs: 2, maxArgs: 2,
		help: "geeft een account toegang tot een product (iwmo, ijw, ieb, pgb-wmo, pgb-jw)",
		run: func(c *cmdCtx, in *input) error {
			p, err := c.product(in.args[1])
			if err != nil {
				return err
			}
			if err := c.hub.Grant(c.p, in.args[0], p); err != nil {
				return err
			}
			return c.done("%s heeft nu toegang tot %s", in.args[0], p)
		},
	},
	{
		words: []string{"product", "revoke"}, args: "NAAM PRODUCT", minArgs: 2, maxArgs: 2,
		help: "trekt de toegang van een account tot een product in",
		run: func(c *cmdCtx, in *input) error {
			p, err := c.product(in.args[1])
			if err != nil {
				return err
			}
			if err := c.hub.Revoke(c.p, in.args[0], p); err != nil {
				return err
			}
			return c.done("%s heeft geen toegang meer tot %s", in.args[0], p)
		},
	},
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func joinRoles(rs []exchange.Role) string {
	var s []string
	for _, r := range rs {
		s = append(s, string(r))
	}
	return strings.Join(s, ",")
}

func fingerprints(keys []string) string {
	var s []string
	for _, k := range keys {
		pk, _, _, _, err := gossh.ParseAuthorizedKey([]byte(k))
		if err != nil {
			continue
		}
		s = append(s, gossh.FingerprintSHA256(pk))
	}
	return strings.Join(s, ",")
}
