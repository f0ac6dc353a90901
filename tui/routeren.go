package tui

import (
	"fmt"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"knooppunt/exchange"
)

// routeren shows one row per exchange of the product (figure 6); a row opens into the form
// that couples a CPA profile and chooses Portaal or Digikoppeling. Only a productbeheerder
// edits, and never a row another organisation runs under a samenwerking.
type routeren struct {
	c      *Common
	rows   []exchange.RouteView
	cursor int
	offset int
	formHost
}

func newRouteren(c *Common) *routeren { return &routeren{c: c} }

func (s *routeren) Editing() bool { return s.open != nil && s.open.submit != nil }

func (s *routeren) Reload() {
	rows, err := s.c.Hub.Routes(s.c.P, s.c.Product)
	if err != nil {
		s.c.Fail(err)
		s.rows = nil
		return
	}
	s.rows = rows
	s.cursor = min(s.cursor, max(len(rows)-1, 0))
}

func (s *routeren) mayEdit() bool { return s.c.P.Has(exchange.Productbeheerder) }

func routeLine(r exchange.RouteView) string {
	line := fmt.Sprintf("%s (%s – %s – %s – %s)", r.Exchange.Name, r.Via, r.Status, r.StUF, r.Payload)
	if r.Waiting > 0 {
		line += fmt.Sprintf(" – %d wachtend", r.Waiting)
	}
	return line
}

func (s *routeren) Update(msg tea.Msg) tea.Cmd {
	if s.Editing() {
		return s.feed(msg)
	}
	km, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	k := s.c.Keys
	if s.open != nil {
		// A read-only row closes again with any key; moving goes on from there.
		s.open = nil
		if key.Matches(km, k.Enter, k.Back) || km.String() == "space" {
			return nil
		}
	}
	switch {
	case key.Matches(km, k.Up):
		s.cursor = max(s.cursor-1, 0)
	case key.Matches(km, k.Down):
		s.cursor = min(s.cursor+1, max(len(s.rows)-1, 0))
	case key.Matches(km, k.Enter), km.String() == "space", km.String() == "e":
		if s.cursor < len(s.rows) {
			return s.expand(s.rows[s.cursor])
		}
	}
	return nil
}

func (s *routeren) expand(r exchange.RouteView) tea.Cmd {
	c := s.c
	f := &form{button: "Opslaan"}
	f.static("Uitwisseling", r.Exchange.Name)
	switch {
	case r.Locked:
		f.static("Uitwisseling via", string(r.Via)).static("CPA profiel", r.CPA).static("Status", string(r.Status))
		f.note = "Vergrendeld: " + r.LockedReason + ". Neem voor wijzigingen contact op met de servicedesk."
	case !s.mayEdit():
		f.static("Uitwisseling via", string(r.Via)).static("CPA profiel", r.CPA).static("Status", string(r.Status))
		f.note = "Alleen een productbeheerder van uw organisatie kan routeringen wijzigen."
	default:
		f.choice("Uitwisseling via", []string{string(exchange.Portaal), string(exchange.Digikoppeling)}, string(r.Via))
		f.choice("CPA profiel", s.cpaChoices(r.CPA), cpaChoice(r.CPA))
		f.choice("Status", []string{string(exchange.Actief), string(exchange.Inactief)}, string(r.Status))
		name := r.Exchange.Name
		f.submit = func(f *form) error {
			via, cpa, status := exchange.Via(f.value(1)), f.value(2), exchange.RouteStatus(f.value(3))
			if cpa == noCPA {
				cpa = exchange.NoCPA
			}
			if via == exchange.Digikoppeling && status == exchange.Actief && cpa == exchange.NoCPA {
				return fmt.Errorf("kies een CPA profiel: een actieve route via Digikoppeling heeft er een nodig (de beheerder importeert CPA's)")
			}
			if err := c.Hub.SetRoute(c.P, c.Product, name, via, status, cpa); err != nil {
				return err
			}
			c.Flash("Routering %s opgeslagen.", name)
			s.Reload()
			return nil
		}
	}
	return s.show(f)
}

// noCPA is the CPA choice "none".
const noCPA = "(geen)"

func cpaChoice(id string) string {
	if id == "" {
		return noCPA
	}
	return id
}

// cpaChoices are the organisation's imported CPAs, and the route's current one.
func (s *routeren) cpaChoices(current string) []string {
	out := []string{noCPA}
	cpas, err := s.c.Hub.CPAs(s.c.P, s.c.P.Org.Code)
	if err == nil {
		for _, c := range cpas {
			out = append(out, c.ID)
		}
	}
	if current != "" && !slices.Contains(out, current) {
		out = append(out, current)
	}
	return out
}

func (s *routeren) View(width, height int) string {
	c, st := s.c, s.c.Styles
	head := st.Title.Render("Koppelen CPA profiel aan berichtuitwisseling – "+c.ProductName(c.Product)) + "\n" +
		lipgloss.NewStyle().Width(width).Render(st.Muted.Render("Kies per uitwisseling Portaal (bestanden via sftp of dit portaal) of Digikoppeling (webservice, met CPA profiel)."))
	// When one samenwerking locks every row, say why once instead of on every row.
	shared := len(s.rows) > 0
	for _, r := range s.rows {
		shared = shared && r.Locked && r.LockedReason == s.rows[0].LockedReason
	}
	if shared {
		head += "\n" + lipgloss.NewStyle().Width(width).Render(st.Warn.Render("Vergrendeld: "+s.rows[0].LockedReason))
	}
	if len(s.rows) > 0 && len(s.rows[0].For) > 0 {
		names := make([]string, len(s.rows[0].For))
		for i, o := range s.rows[0].For {
			names[i] = orgLabel(c, o)
		}
		head += "\n" + lipgloss.NewStyle().Width(width).Render(st.Warn.Render("Samenwerking: deze routes gelden ook voor "+
			strings.Join(names, ", ")+", die "+c.ProductName(c.Product)+" door u laat uitvoeren."))
	}
	var lines []string
	cursorLine := 0
	for i, r := range s.rows {
		marker, open := "▸ ", s.open != nil && i == s.cursor
		if open {
			marker = "▾ "
		}
		line := marker + routeLine(r)
		if r.Locked {
			line += " – vergrendeld"
		}
		switch {
		case i == s.cursor:
			cursorLine = len(lines)
			if r.Locked {
				line = st.Cursor.Render(st.Faint.Render(line))
			} else {
				line = st.Cursor.Render(line)
			}
		case r.Locked:
			line = st.Faint.Render(line)
		}
		lines = append(lines, line)
		if r.Locked && !shared {
			lines = append(lines, st.Faint.Render("    "+r.LockedReason))
		}
		if open {
			for _, l := range strings.Split(s.open.view(st, width-4), "\n") {
				lines = append(lines, "    "+l)
			}
		}
	}
	if len(s.rows) == 0 {
		lines = append(lines, "Dit product heeft geen uitwisselingen om te routeren.")
	}
	room := max(height-lipgloss.Height(head)-1, 1)
	openLen := 0
	if s.open != nil {
		openLen = lipgloss.Height(s.open.view(st, width-4))
	}
	// Keep the cursor row and its open form in view.
	if cursorLine < s.offset {
		s.offset = cursorLine
	}
	if end := cursorLine + openLen; end >= s.offset+room {
		s.offset = max(end-room+1, 0)
	}
	s.offset = min(s.offset, max(len(lines)-room, 0))
	lines = lines[s.offset:min(len(lines), s.offset+room)]
	return head + "\n" + strings.Join(lines, "\n")
}

func (s *routeren) ShortHelp() []key.Binding {
	k := s.c.Keys
	if s.Editing() {
		return []key.Binding{
			k.NextField,
			key.NewBinding(key.WithKeys("space"), key.WithHelp("spatie", "kiezen")),
			k.Save,
			k.Back,
		}
	}
	open := key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "openen"))
	return []key.Binding{k.Up, k.Down, open}
}

func (s *routeren) FullHelp() [][]key.Binding {
	return [][]key.Binding{s.ShortHelp()}
}
