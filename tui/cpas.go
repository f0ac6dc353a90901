package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/table"
	tea "charm.land/bubbletea/v2"

	"knooppunt/exchange"
)

// cpas shows the beheerder the imported CPAs (Digikoppeling): a list, and a CPA's details on
// enter. Importing goes over ssh (cpa import < cpa.xml): a terminal has no file picker.
type cpas struct {
	c *Common
	list[exchange.CPA]
	formHost

	del key.Binding
}

func newCPAs(c *Common) *cpas {
	return &cpas{c: c, list: newList[exchange.CPA](c), del: key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "verwijderen"))}
}

func (s *cpas) Editing() bool { return s.open != nil && s.open.submit != nil }

func (s *cpas) Reload() {
	rows, err := s.c.Hub.CPAs(s.c.P, "")
	s.set(s.c, rows, err)
	s.fill(s.cols(s.c.Width), func(x exchange.CPA) table.Row {
		return table.Row{x.ID, x.Org, x.Profile(), s.c.date(x.End), x.Endpoint}
	})
}

func (s *cpas) cols(width int) []table.Column {
	return columns(width, 0,
		table.Column{Title: "CPA"},
		table.Column{Title: "Organisatie", Width: 12},
		table.Column{Title: "Profiel", Width: 9},
		table.Column{Title: "Geldig tot", Width: 17},
		table.Column{Title: "Endpoint", Width: min(40, max(16, width/4))},
	)
}

func (s *cpas) Update(msg tea.Msg) tea.Cmd {
	km, cmd, ok := s.keyPress(msg)
	if !ok {
		return cmd
	}
	switch {
	case key.Matches(km, s.c.Keys.Enter):
		if x, ok := s.current(); ok {
			return s.show(s.detail(x))
		}
	case key.Matches(km, s.del):
		if x, ok := s.current(); ok {
			id := x.ID
			if err := s.c.Hub.DeleteCPA(s.c.P, id); err != nil {
				s.c.Fail(err)
				return nil
			}
			s.c.Flash("CPA %s verwijderd.", id)
			s.Reload()
		}
	default:
		return s.scroll(km)
	}
	return nil
}

func (s *cpas) detail(x exchange.CPA) *form {
	f := &form{title: "CPA " + x.ID}
	f.static("Organisatie", fmt.Sprintf("%s (OIN %s)", x.Org, x.OIN))
	f.static("Knooppunt", "OIN "+x.HubOIN)
	f.static("Geldig", s.c.date(x.Start)+" tot "+s.c.date(x.End))
	f.static("Service", x.Service)
	f.static("Rollen", x.Role+" / "+x.HubRole)
	f.static("Verstuurt", strings.Join(x.Sends, ", "))
	f.static("Ontvangt", strings.Join(x.Receives, ", "))
	f.static("Endpoint", x.Endpoint)
	f.static("Profiel", fmt.Sprintf("%s, syncReplyMode %s", x.Profile(), x.SyncReply))
	f.static("Retries", fmt.Sprintf("%d, interval %s", x.Retries, x.RetryInterval))
	f.static("Geïmporteerd", s.c.date(x.Imported)+" door "+x.By)
	return f
}

func (s *cpas) View(width, height int) string {
	return formOrTable(s.c.Styles, "CPA's (Digikoppeling)", s.open, len(s.rows),
		"Nog geen CPA's. Importeer er een met: ssh beheer@knooppunt cpa import < cpa.xml", &s.tbl, s.cols(width), width, height)
}

func (s *cpas) ShortHelp() []key.Binding {
	k := s.c.Keys
	if s.open != nil {
		return []key.Binding{k.Back}
	}
	open := key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "details"))
	return []key.Binding{k.Up, k.Down, open, s.del}
}

func (s *cpas) FullHelp() [][]key.Binding { return [][]key.Binding{s.ShortHelp()} }
