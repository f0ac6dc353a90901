package tui

import (
	"fmt"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/table"
	tea "charm.land/bubbletea/v2"

	"knooppunt/exchange"
)

// organisaties lets the hub's beheerder list, add, rename and delete organisations and set
// a samenwerking: another organisation that runs a product on one's behalf.
type organisaties struct {
	c *Common
	list[exchange.Org]
	formHost

	samen, rename, remove key.Binding
}

func newOrganisaties(c *Common) *organisaties {
	return &organisaties{c: c, list: newList[exchange.Org](c),
		samen:  key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "samenwerking")),
		rename: key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "naam wijzigen")),
		remove: key.NewBinding(key.WithKeys("x", "delete"), key.WithHelp("x", "verwijderen")),
	}
}

func (s *organisaties) Editing() bool { return s.open != nil }

func (s *organisaties) Reload() {
	rows, err := s.c.Hub.Orgs()
	s.set(s.c, rows, err)
	s.fill(s.cols(s.c.Width), func(o exchange.Org) table.Row {
		s.c.orgNames[o.Code] = o.Name
		return table.Row{o.Code, o.Name, string(o.Kind), o.OIN, s.samenwerking(o)}
	})
}

func (s *organisaties) samenwerking(o exchange.Org) string {
	var parts []string
	for _, p := range exchange.Products {
		if actor := o.Samenwerking[p]; actor != "" {
			parts = append(parts, s.c.ProductName(p)+" door "+actor)
		}
		// The other side: what this organisation runs for others.
		for _, other := range s.rows {
			if other.Code != o.Code && other.Samenwerking[p] == o.Code {
				parts = append(parts, s.c.ProductName(p)+" voor "+other.Code)
			}
		}
	}
	return strings.Join(parts, ", ")
}

func (s *organisaties) Update(msg tea.Msg) tea.Cmd {
	km, cmd, ok := s.keyPress(msg)
	if !ok {
		return cmd
	}
	k := s.c.Keys
	switch {
	case key.Matches(km, k.Add):
		return s.addForm()
	case key.Matches(km, s.samen, k.Enter):
		if o, ok := s.current(); ok {
			return s.samenForm(o)
		}
	case key.Matches(km, s.rename):
		if o, ok := s.current(); ok {
			return s.renameForm(o)
		}
	case key.Matches(km, s.remove):
		if o, ok := s.current(); ok {
			c := s.c
			c.Ask(fmt.Sprintf("Organisatie %s (%s) verwijderen?", o.Name, o.Code), "Organisatie "+o.Code+" verwijderd.",
				func() error { return c.Hub.DeleteOrg(c.P, o.Code) })
		}
	default:
		return s.scroll(km)
	}
	return nil
}

func (s *organisaties) addForm() tea.Cmd {
	c := s.c
	f := &form{title: "Nieuwe organisatie", button: "Toevoegen"}
	f.text("Code", "", "gemeentecode (4 cijfers), AGB-code (8 cijfers), CAK of SVB")
	f.text("Naam", "", "bijvoorbeeld Gemeente Ameland")
	f.submit = func(f *form) error {
		if f.value(0) == "" || f.value(1) == "" {
			return fmt.Errorf("vul zowel de code als de naam in")
		}
		o, err := c.Hub.CreateOrg(c.P, f.value(0), f.value(1))
		if err != nil {
			return err
		}
		c.Flash("Organisatie %s (%s) toegevoegd als %s.", o.Name, o.Code, o.Kind)
		s.Reload()
		return nil
	}
	return s.show(f)
}

func (s *organisaties) renameForm(o exchange.Org) tea.Cmd {
	c := s.c
	f := &form{title: "Naam van " + o.Code, button: "Opslaan"}
	f.text("Naam", o.Name, "bijvoorbeeld Gemeente Ameland")
	f.note = "De code blijft: die staat in elk bericht."
	code := o.Code
	f.submit = func(f *form) error {
		if err := c.Hub.RenameOrg(c.P, code, f.value(0)); err != nil {
			return err
		}
		c.orgNames[code] = strings.TrimSpace(f.value(0))
		c.Flash("Organisatie %s heet nu %s.", code, strings.TrimSpace(f.value(0)))
		s.Reload()
		return nil
	}
	return s.show(f)
}

func (s *organisaties) samenForm(o exchange.Org) tea.Cmd {
	c := s.c
	names := make([]string, len(exchange.Products))
	for i, p := range exchange.Products {
		names[i] = c.ProductName(p)
	}
	f := &form{title: "Samenwerking van " + o.Name + " (" + o.Code + ")", button: "Opslaan"}
	f.choice("Product", names, names[0])
	f.text("Uitgevoerd door", o.Samenwerking[exchange.Products[0]], "code van de organisatie; leeg beëindigt de samenwerking")
	f.note = "De uitvoerende organisatie verstuurt en ontvangt de berichten van dit product namens " + o.Name + "."
	// Choosing another product shows who runs that one now, so that saving never copies
	// the first product's partner to it unseen.
	f.changed = func(f *form) {
		p := exchange.Products[slices.Index(names, f.value(0))]
		f.fields[1].input.SetValue(o.Samenwerking[p])
	}
	code := o.Code
	f.submit = func(f *form) error {
		p := exchange.Products[slices.Index(names, f.value(0))]
		actor := f.value(1)
		if err := c.Hub.SetSamenwerking(c.P, code, p, actor); err != nil {
			return err
		}
		if actor == "" {
			c.Flash("Samenwerking voor %s van %s beëindigd.", c.ProductName(p), code)
		} else {
			c.Flash("%s voert nu %s uit voor %s.", actor, c.ProductName(p), code)
		}
		s.Reload()
		return nil
	}
	return s.show(f)
}

func (s *organisaties) View(width, height int) string {
	st := s.c.Styles
	return formOrTable(st, "Organisaties van het knooppunt", s.open, len(s.rows), "Nog geen organisaties. Druk op a om er een toe te voegen.", &s.tbl, s.cols(width), width, height)
}

func (s *organisaties) ShortHelp() []key.Binding {
	k := s.c.Keys
	if s.open != nil {
		return k.formHelp()
	}
	return []key.Binding{k.Add, s.samen, s.rename, s.remove}
}

func (s *organisaties) FullHelp() [][]key.Binding {
	k := s.c.Keys
	return [][]key.Binding{{k.Up, k.Down}, s.ShortHelp()}
}

func (s *organisaties) cols(width int) []table.Column {
	return columns(width, 4,
		table.Column{Title: "Code", Width: 8},
		table.Column{Title: "Naam", Width: min(30, max(16, width/4))},
		table.Column{Title: "Soort", Width: 13},
		table.Column{Title: "OIN", Width: 20},
		table.Column{Title: "Samenwerking"},
	)
}
