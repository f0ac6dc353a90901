package opdrachten

import (
	"fmt"
	"io"
	"strings"

	gossh "golang.org/x/crypto/ssh"

	"knooppunt/exchange"
)

// whoamiCommands show the account itself: who it is and its products.
var whoamiCommands = []command{
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
}

// accountCommands manage accounts: the gebruikersbeheerder's, under the names of
// gebruikerWords. Permissions are checked by exchange, whatever door the call came through; a
// refusal exits with code 3.
var accountCommands = []command{
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
			out := []AccountJSON{}
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

// accountManageCommands change what exists: the roles of an account and deleting one
// (issue 13). As everywhere, exchange decides who may.
var accountManageCommands = []command{
	{
		words: []string{"gebruiker", "rol"}, args: "NAAM +ROL|-ROL…", minArgs: 2, maxArgs: -1,
		help: "geeft een account een rol (+productbeheerder) of neemt haar af (-productbeheerder); rollen: gebruikersbeheerder, productbeheerder, beheerder",
		run:  runGebruikerRol,
	},
	{
		words: []string{"gebruiker", "verwijder"}, args: "NAAM", minArgs: 1, maxArgs: 1,
		help: "verwijdert een account met zijn sleutels; het auditlog bewaart wat het deed",
		run: func(c *cmdCtx, in *input) error {
			if err := c.hub.DeleteAccount(c.p, in.args[0]); err != nil {
				return err
			}
			return c.done("account %s verwijderd", in.args[0])
		},
	},
}

// gebruikerWords gives the admin table's account, key and product commands their Dutch
// names: the gebruiker family of the gebruikersbeheerder. Both names run the same entry.
var gebruikerWords = map[string][]string{
	"account list":    {"gebruiker", "list"},
	"account add":     {"gebruiker", "add"},
	"account disable": {"gebruiker", "disable"},
	"account enable":  {"gebruiker", "enable"},
	"key add":         {"gebruiker", "key", "add"},
	"key remove":      {"gebruiker", "key", "remove"},
	"product grant":   {"gebruiker", "grant"},
	"product revoke":  {"gebruiker", "revoke"},
}

// withGebruiker returns the table with each command of gebruikerWords under its Dutch name,
// followed by the old names, which keep working but stay out of 'help'.
func withGebruiker(table []command) []command {
	var out, old []command
	for _, c := range table {
		words, ok := gebruikerWords[c.name()]
		if !ok {
			out = append(out, c)
			continue
		}
		dutch := c
		dutch.words = words
		out = append(out, dutch)
		c.alias = true
		old = append(old, c)
	}
	return append(out, old...)
}

type WhoamiJSON struct {
	Account         string   `json:"account"`
	Organisatie     string   `json:"organisatie"`
	OrganisatieNaam string   `json:"organisatie_naam"`
	Soort           string   `json:"soort"`
	Producten       []string `json:"producten"`
	Rollen          []string `json:"rollen"`
}

func runWhoami(c *cmdCtx, _ *input) error {
	a := c.p.Account
	v := WhoamiJSON{Account: a.Name, Organisatie: c.p.Org.Code, OrganisatieNaam: c.p.Org.Name, Soort: string(c.p.Org.Kind),
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
		fmt.Fprintf(w, "organisatie:  %s\n", OrgLabel(c.p))
		fmt.Fprintf(w, "producten:    %s\n", dash(strings.Join(v.Producten, ", ")))
		fmt.Fprintf(w, "rollen:       %s\n", strings.Join(v.Rollen, ", "))
	})
}

type ProductJSON struct {
	Product        string `json:"product"`
	Naam           string `json:"naam"`
	Release        string `json:"release"`
	Map            string `json:"map"`
	UitgevoerdDoor string `json:"uitgevoerd_door"` // the organisation that sends and receives it (samenwerking)
	// UitgevoerdVoor: the organisations this one runs the product for (samenwerking).
	UitgevoerdVoor []string `json:"uitgevoerd_voor"`
}

func runProducten(c *cmdCtx, _ *input) error {
	out := []ProductJSON{}
	mine, err := c.hub.Mailboxes(c.p)
	if err != nil {
		return err
	}
	for _, p := range mine {
		info, _ := c.hub.Catalogue().Product(p)
		out = append(out, ProductJSON{Product: string(p), Naam: info.Name, Release: info.Release, Map: "/" + string(p),
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

// AccountJSON is an account as 'gebruiker list --json' shows it; the keys by fingerprint.
type AccountJSON struct {
	Naam        string    `json:"naam"`
	Organisatie string    `json:"organisatie"`
	Producten   []string  `json:"producten"`
	Rollen      []string  `json:"rollen"`
	Geblokkeerd bool      `json:"geblokkeerd"`
	Sleutels    []KeyJSON `json:"sleutels"`
}

type KeyJSON struct {
	Type         string `json:"type"`
	Vingerafdruk string `json:"vingerafdruk"`
	Commentaar   string `json:"commentaar"`
}

func accountOf(a exchange.Account) AccountJSON {
	v := AccountJSON{Naam: a.Name, Organisatie: a.Org, Producten: []string{}, Rollen: []string{}, Geblokkeerd: a.Disabled, Sleutels: []KeyJSON{}}
	for _, p := range a.Products {
		v.Producten = append(v.Producten, string(p))
	}
	for _, r := range a.Roles {
		v.Rollen = append(v.Rollen, string(r))
	}
	for _, k := range a.Keys {
		pk, comment, _, _, err := gossh.ParseAuthorizedKey([]byte(k))
		if err == nil {
			v.Sleutels = append(v.Sleutels, KeyJSON{pk.Type(), gossh.FingerprintSHA256(pk), comment})
		}
	}
	return v
}

func runGebruikerRol(c *cmdCtx, in *input) error {
	var add, remove []exchange.Role
	for _, w := range in.args[1:] {
		switch {
		case strings.HasPrefix(w, "+") && len(w) > 1:
			add = append(add, exchange.Role(strings.ToLower(w[1:])))
		case strings.HasPrefix(w, "-") && len(w) > 1:
			remove = append(remove, exchange.Role(strings.ToLower(w[1:])))
		default:
			return usagef("rol %q: schrijf +ROL om toe te voegen of -ROL om af te nemen, zoals +productbeheerder", w)
		}
	}
	name := in.args[0]
	if err := c.hub.ChangeRoles(c.p, name, add, remove); err != nil {
		return err
	}
	a, err := c.hub.Account(name)
	if err != nil {
		return err
	}
	return c.done("rollen van %s: %s", name, joinRoles(a.Roles))
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

// OrgLabel is how a person reads the organisation of p: "0363 Amsterdam", or what the
// beheerder of the hub, who belongs to none, is.
func OrgLabel(p *exchange.Principal) string {
	if p.Org.Code == "" {
		return "beheerder van het knooppunt"
	}
	return p.Org.Code + " " + p.Org.Name
}
