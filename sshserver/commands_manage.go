package sshserver

import (
	"strings"

	"knooppunt/exchange"
)

// manageCommands change what exists: the roles of an account, deleting an account, the name
// of an organisation and deleting one (issue 13). As everywhere, exchange decides who may.
var manageCommands = []command{
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
