package tui

import (
	"fmt"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/table"
	tea "charm.land/bubbletea/v2"

	gossh "golang.org/x/crypto/ssh"

	"knooppunt/exchange"
)

// gebruikers lets a gebruikersbeheerder manage the accounts of the organisation (and the
// beheerder every account): add one with a pasted public key, grant and revoke products,
// change roles and keys, block and unblock, delete.
type gebruikers struct {
	c *Common
	list[exchange.Account]
	formHost

	block, roles, keys, remove key.Binding
}

func newGebruikers(c *Common) *gebruikers {
	return &gebruikers{c: c, list: newList[exchange.Account](c),
		block:  key.NewBinding(key.WithKeys("b"), key.WithHelp("b", "blokkeren/deblokkeren")),
		roles:  key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "rollen")),
		keys:   key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "sleutels")),
		remove: key.NewBinding(key.WithKeys("x", "delete"), key.WithHelp("x", "verwijderen")),
	}
}

func (s *gebruikers) Editing() bool { return s.open != nil }

func (s *gebruikers) all() bool { return s.c.P.Has(exchange.Beheerder) }

func (s *gebruikers) Reload() {
	org := s.c.P.Org.Code
	if s.all() {
		org = ""
	}
	rows, err := s.c.Hub.Accounts(s.c.P, org)
	s.set(s.c, rows, err)
	s.fill(s.cols(s.c.Width), func(a exchange.Account) table.Row {
		status := "actief"
		if a.Disabled {
			status = "geblokkeerd"
		}
		roles := make([]string, 0, len(a.Roles))
		for _, r := range a.Roles {
			if r != exchange.Gebruiker {
				roles = append(roles, string(r))
			}
		}
		if len(roles) == 0 {
			roles = append(roles, string(exchange.Gebruiker))
		}
		row := table.Row{a.Name}
		if s.all() {
			row = append(row, a.Org)
		}
		return append(row, s.productList(a.Products), strings.Join(roles, ", "), fmt.Sprint(len(a.Keys)), status)
	})
}

func (s *gebruikers) productList(ps []exchange.Product) string {
	var names []string
	for _, p := range exchange.Products {
		if slices.Contains(ps, p) {
			names = append(names, s.c.ProductName(p))
		}
	}
	if len(names) == 0 {
		return "–"
	}
	return strings.Join(names, " ")
}

func (s *gebruikers) Update(msg tea.Msg) tea.Cmd {
	km, cmd, ok := s.keyPress(msg)
	if !ok {
		return cmd
	}
	k := s.c.Keys
	switch {
	case key.Matches(km, k.Add):
		return s.addForm()
	case key.Matches(km, k.Edit):
		if a, ok := s.current(); ok {
			return s.productsForm(a)
		}
	case key.Matches(km, s.block):
		if a, ok := s.current(); ok {
			s.askBlock(a)
		}
	case key.Matches(km, s.roles):
		if a, ok := s.current(); ok {
			return s.rolesForm(a)
		}
	case key.Matches(km, s.keys):
		if a, ok := s.current(); ok {
			return s.keysForm(a)
		}
	case key.Matches(km, s.remove):
		if a, ok := s.current(); ok {
			c := s.c
			c.Ask(fmt.Sprintf("Account %s verwijderen, met zijn sleutels? Het kan daarna niet meer inloggen.", a.Name),
				"Account "+a.Name+" verwijderd.",
				func() error { return c.Hub.DeleteAccount(c.P, a.Name) })
		}
	default:
		return s.scroll(km)
	}
	return nil
}

func (s *gebruikers) addForm() tea.Cmd {
	c := s.c
	f := &form{title: "Nieuw account", button: "Toevoegen"}
	f.text("Naam", "", "inlognaam, bijvoorbeeld jan")
	orgField := -1
	if s.all() {
		orgField = len(f.fields)
		f.text("Organisatie", c.P.Org.Code, "organisatiecode, bijvoorbeeld 9999")
	}
	keyField := len(f.fields)
	f.text("Publieke sleutel", "", "plak hier de regel uit ~/.ssh/id_ed25519.pub")
	f.note = "Producten kent u daarna toe met enter op het nieuwe account."
	f.submit = func(f *form) error {
		a := exchange.Account{Name: f.value(0), Org: c.P.Org.Code, Keys: []string{f.value(keyField)}}
		if orgField >= 0 {
			a.Org = f.value(orgField)
		}
		if a.Name == "" {
			return fmt.Errorf("vul een naam in")
		}
		if f.value(keyField) == "" {
			return fmt.Errorf("plak de publieke sleutel (ssh-ed25519 AAAA… of ssh-rsa AAAA…) van de nieuwe gebruiker")
		}
		if err := c.Hub.CreateAccount(c.P, a); err != nil {
			return err
		}
		c.Flash("Account %s aangemaakt; ken nu de producten toe.", a.Name)
		s.Reload()
		return nil
	}
	return s.show(f)
}

func (s *gebruikers) productsForm(a exchange.Account) tea.Cmd {
	c := s.c
	f := &form{title: "Producten van " + a.Name, button: "Opslaan"}
	for _, p := range exchange.Products {
		f.check(c.ProductName(p), slices.Contains(a.Products, p))
	}
	f.note = "spatie zet een product aan of uit."
	name := a.Name
	f.submit = func(f *form) error {
		changes := toggled(f, exchange.Products, a.Products)
		for _, ch := range changes {
			grantOrRevoke := c.Hub.Revoke
			if ch.on {
				grantOrRevoke = c.Hub.Grant
			}
			err := grantOrRevoke(c.P, name, ch.value)
			if err != nil {
				s.Reload()
				return err
			}
		}
		c.Flash("Producten van %s opgeslagen (%d gewijzigd).", name, len(changes))
		s.Reload()
		return nil
	}
	return s.show(f)
}

// rolesForm turns roles on and off; the exchange decides who may hand out which (only a
// beheerder hands out beheerder).
func (s *gebruikers) rolesForm(a exchange.Account) tea.Cmd {
	c := s.c
	f := &form{title: "Rollen van " + a.Name, button: "Opslaan"}
	choices := []exchange.Role{exchange.Gebruikersbeheerder, exchange.Productbeheerder}
	if s.all() {
		choices = append(choices, exchange.Beheerder)
	}
	for _, r := range choices {
		f.check(string(r), slices.Contains(a.Roles, r))
	}
	f.note = "Elk account is gebruiker. Een gebruikersbeheerder beheert de accounts van de organisatie, een productbeheerder de routes. Spatie zet een rol aan of uit."
	name := a.Name
	f.submit = func(f *form) error {
		var add, remove []exchange.Role
		for _, ch := range toggled(f, choices, a.Roles) {
			if ch.on {
				add = append(add, ch.value)
			} else {
				remove = append(remove, ch.value)
			}
		}
		if len(add)+len(remove) == 0 {
			c.Flash("Rollen van %s ongewijzigd.", name)
			return nil
		}
		if err := c.Hub.ChangeRoles(c.P, name, add, remove); err != nil {
			s.Reload()
			return err
		}
		c.Flash("Rollen van %s opgeslagen.", name)
		s.Reload()
		return nil
	}
	return s.show(f)
}

// keysForm lists the account's keys, each to keep or take off, and takes a new one.
func (s *gebruikers) keysForm(a exchange.Account) tea.Cmd {
	c := s.c
	f := &form{title: "Sleutels van " + a.Name, button: "Opslaan"}
	fps := make([]string, len(a.Keys))
	for i, line := range a.Keys {
		fps[i] = keyLabel(line)
		f.check(fps[i], true)
	}
	f.text("Nieuwe sleutel", "", "plak hier de regel uit ~/.ssh/id_ed25519.pub")
	f.note = "Zet een vinkje uit (spatie) om die sleutel te verwijderen."
	name := a.Name
	f.submit = func(f *form) error {
		added, removed := 0, 0
		if line := strings.TrimSpace(f.value(len(a.Keys))); line != "" {
			if err := c.Hub.AddKey(c.P, name, line); err != nil {
				return err
			}
			added++
		}
		for i, line := range a.Keys {
			if f.value(i) != "" {
				continue
			}
			if err := c.Hub.RemoveKey(c.P, name, line); err != nil {
				s.Reload()
				return err
			}
			removed++
		}
		c.Flash("Sleutels van %s: %d toegevoegd, %d verwijderd.", name, added, removed)
		s.Reload()
		return nil
	}
	return s.show(f)
}

// change is a check field changed in a form: its value turned on or off.
type change[T any] struct {
	value T
	on    bool
}

// toggled compares the check fields of f, one for each of choices from the first field on,
// with the values set now, and lists what changed in the order of choices.
func toggled[T comparable](f *form, choices, set []T) []change[T] {
	var out []change[T]
	for i, v := range choices {
		if want := f.value(i) != ""; want != slices.Contains(set, v) {
			out = append(out, change[T]{value: v, on: want})
		}
	}
	return out
}

// keyLabel names a key as ssh-keygen -l does, the fingerprint cut to what tells keys apart
// on screen: type, SHA256:…, comment.
func keyLabel(line string) string {
	pk, comment, _, _, err := gossh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return "onleesbare sleutel"
	}
	fp := gossh.FingerprintSHA256(pk)
	if len(fp) > len("SHA256:")+12 {
		fp = fp[:len("SHA256:")+12] + "…"
	}
	label := strings.TrimPrefix(pk.Type(), "ssh-") + " " + fp
	if comment != "" {
		label += " " + comment
	}
	return label
}

func (s *gebruikers) askBlock(a exchange.Account) {
	c := s.c
	verb, done := "blokkeren", "geblokkeerd: dit account kan niet meer inloggen."
	if a.Disabled {
		verb, done = "deblokkeren", "gedeblokkeerd."
	}
	c.Ask(fmt.Sprintf("Account %s %s?", a.Name, verb), "Account "+a.Name+" "+done,
		func() error { return c.Hub.SetDisabled(c.P, a.Name, !a.Disabled) })
}

func (s *gebruikers) View(width, height int) string {
	c, st := s.c, s.c.Styles
	title := "Gebruikers van " + c.P.Org.Name
	if s.all() {
		title = "Alle accounts van het knooppunt"
	}
	return formOrTable(st, title, s.open, len(s.rows), "Nog geen accounts. Druk op a om er een toe te voegen.", &s.tbl, s.cols(width), width, height)
}

func (s *gebruikers) ShortHelp() []key.Binding {
	k := s.c.Keys
	if s.open != nil {
		return k.formHelp()
	}
	edit := key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "producten"))
	return []key.Binding{k.Add, edit, s.roles, s.keys, s.block, s.remove}
}

func (s *gebruikers) FullHelp() [][]key.Binding {
	k := s.c.Keys
	if s.open != nil {
		return [][]key.Binding{s.ShortHelp()}
	}
	edit := key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "producten"))
	return [][]key.Binding{{k.Up, k.Down, k.Add, edit}, {s.roles, s.keys, s.block, s.remove}}
}

// cols leaves out the organisation when every account shown is of the viewer's own.
func (s *gebruikers) cols(width int) []table.Column {
	cols := []table.Column{{Title: "Naam", Width: 14}}
	if s.all() {
		cols = append(cols, table.Column{Title: "Organisatie", Width: 11})
	}
	flex := len(cols)
	cols = append(cols,
		table.Column{Title: "Producten"},
		table.Column{Title: "Rollen", Width: min(38, max(12, width/4))},
		table.Column{Title: "Sleutels", Width: 8},
		table.Column{Title: "Status", Width: 11},
	)
	return columns(width, flex, cols...)
}
