package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/table"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"knooppunt/exchange"
)

// ophalen lists the files waiting in the organisation's ophalen/ of the product (figure 5):
// select, mark or unmark gelezen, delete, and the sftp command that fetches the selection.
type ophalen struct {
	c  *Common
	pg pager
	list[exchange.Delivery]
	sel map[string]bool

	markRead, markUnread key.Binding
	download             key.Binding
	// shown: the download command of the selection, whole, until esc.
	shown *viewport.Model
}

func newOphalen(c *Common) *ophalen {
	return &ophalen{
		c: c, pg: newPager(), list: newList[exchange.Delivery](c), sel: map[string]bool{},
		markRead:   key.NewBinding(key.WithKeys("m"), key.WithHelp("m", "markeer gelezen")),
		markUnread: key.NewBinding(key.WithKeys("u"), key.WithHelp("u", "markering gelezen weg")),
		download:   key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "download-opdracht")),
	}
}

func (s *ophalen) Editing() bool { return false }

// showCommand opens the whole download command of the selection and offers it to the
// terminal's clipboard (OSC 52; terminals that do not allow it ignore the request).
func (s *ophalen) showCommand() tea.Cmd {
	names := s.selection()
	if len(names) == 0 {
		return nil
	}
	cmd := s.getCommand(names)
	v := viewport.New(viewport.WithWidth(s.c.Width), viewport.WithHeight(max(s.c.Height-8, 3)))
	v.SetContent(cmd)
	s.shown = &v
	s.c.Flash("Opdracht (%d bestand(en)) naar het klembord, als uw terminal dat toestaat.", len(names))
	return tea.SetClipboard(cmd)
}

func (s *ophalen) Reload() {
	c := s.c
	s.rows = loadPage(c, &s.pg, func(limit, offset int) ([]exchange.Delivery, int, bool, error) {
		rows, total, err := c.Hub.Inbox(c.Ctx, c.P, c.Product, exchange.InboxOptions{Limit: limit, Offset: offset})
		return rows, total, false, err
	})
	s.fillTable()
}

func (s *ophalen) fillTable() {
	s.fill(s.cols(s.c.Width), func(d exchange.Delivery) table.Row {
		got := ""
		if !d.GelezenAt.IsZero() {
			got = "✓"
		}
		return table.Row{mark(s.sel[d.Name]), got, s.c.date(d.CreatedAt), s.organisatie(d), d.Name}
	})
}

// organisatie names who sent the file and, when it came in for another organisation under
// a samenwerking, for whom.
func (s *ophalen) organisatie(d exchange.Delivery) string {
	name := s.c.OrgName(d.From)
	if len(d.For) > 0 {
		names := make([]string, len(d.For))
		for i, o := range d.For {
			names[i] = s.c.OrgName(o)
		}
		name += " (voor " + strings.Join(names, ", ") + ")"
	}
	return name
}

// selection is the selected files, or the file under the cursor when none is selected.
func (s *ophalen) selection() []string {
	var names []string
	for _, d := range s.rows {
		if s.sel[d.Name] {
			names = append(names, d.Name)
		}
	}
	for name := range s.sel {
		if !containsName(s.rows, name) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		if d, ok := s.current(); ok {
			names = append(names, d.Name)
		}
	}
	return names
}

func containsName(rows []exchange.Delivery, name string) bool {
	for _, d := range rows {
		if d.Name == name {
			return true
		}
	}
	return false
}

func (s *ophalen) Update(msg tea.Msg) tea.Cmd {
	k := s.c.Keys
	km, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	if s.shown != nil {
		if key.Matches(km, k.Back, s.download) {
			s.shown = nil
			return nil
		}
		v, cmd := s.shown.Update(km)
		s.shown = &v
		return cmd
	}
	if s.pg.handle(km, k) {
		s.Reload()
		return nil
	}
	c := s.c
	switch {
	case key.Matches(km, k.Select):
		if d, ok := s.current(); ok {
			toggle(s.sel, d.Name)
			s.fillTable()
			s.tbl.MoveDown(1)
		}
	case key.Matches(km, s.download):
		return s.showCommand()
	case key.Matches(km, k.SelectAll):
		toggleAll(s.sel, s.rows, func(d exchange.Delivery) string { return d.Name })
		s.fillTable()
	case key.Matches(km, s.markRead, s.markUnread):
		names := s.selection()
		if len(names) == 0 {
			return nil
		}
		gelezen := key.Matches(km, s.markRead)
		if err := c.Hub.SetGelezen(c.P, c.Product, names, gelezen); err != nil {
			c.Fail(err)
			return nil
		}
		if gelezen {
			c.Flash("%d bestand(en) gemarkeerd als gelezen; gelezen bestanden gaan na 168 uur weg.", len(names))
		} else {
			c.Flash("Markering gelezen verwijderd van %d bestand(en).", len(names))
		}
		s.Reload()
	case key.Matches(km, k.Delete):
		names := s.selection()
		if len(names) == 0 {
			return nil
		}
		c.Ask(fmt.Sprintf("%d bestand(en) verwijderen uit ophalen? Herstellen kan 60 dagen.", len(names)),
			fmt.Sprintf("%d bestand(en) verwijderd; herstellen kan via de Berichtenlog.", len(names)),
			func() error {
				if err := c.Hub.DeleteDeliveries(c.P, c.Product, names); err != nil {
					return err
				}
				for _, n := range names {
					delete(s.sel, n)
				}
				return nil
			})
	default:
		return s.scroll(km)
	}
	return nil
}

// getCommand is the OpenSSH sftp command that downloads exactly names into the current
// directory, to paste as it is: a here-document with one get per file, so that every line
// stays short. The key is Options.KeyPath, a placeholder the person replaces when theirs
// lives elsewhere.
func (s *ophalen) getCommand(names []string) string {
	folder := "/" + string(s.c.Product) + "/ophalen/"
	var b strings.Builder
	b.WriteString("sftp -i " + s.c.Opts.KeyPath + " -b - " + s.c.sftpTarget() + " <<'EOF'\n")
	for _, n := range names {
		b.WriteString("get " + sftpQuote(folder+n) + "\n")
	}
	b.WriteString("EOF")
	return b.String()
}

// sftpQuote quotes a path for sftp's command line when it holds a space or a quote.
func sftpQuote(p string) string {
	if !strings.ContainsAny(p, " \t\"'\\") {
		return p
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(p) + `"`
}

func (s *ophalen) View(width, height int) string {
	c, st := s.c, s.c.Styles
	if s.shown != nil {
		s.shown.SetWidth(width)
		s.shown.SetHeight(max(height-3, 3))
		what := fmt.Sprintf("Selectie (%d) ophalen", len(s.selection()))
		if len(s.sel) == 0 {
			what = "Bestand ophalen"
		}
		return st.Title.Render(what+": plak deze opdracht in een terminal") + "\n" +
			lipgloss.NewStyle().Width(width).Render(st.Muted.Render("De bestanden komen in de map waar u de opdracht geeft. Staat de sleutel van "+c.P.Account.Name+
				" niet in "+c.Opts.KeyPath+", zet dan het pad ervan achter -i. esc terug.")) + "\n\n" +
			st.Command.Render(s.shown.View())
	}
	title := st.Title.Render("U kunt hier een " + c.ProductName(c.Product) + " bericht ophalen")
	if s.pg.total == 0 {
		return title + "\n\n" + "Er staan geen bestanden voor u klaar.\n\n" +
			lipgloss.NewStyle().Width(width).Render(st.Muted.Render("Nieuwe berichten verschijnen hier vanzelf. Met sftp kijkt u ook in /"+string(c.Product)+"/ophalen/:")+"\n"+st.Command.Render("echo 'ls -l /"+string(c.Product)+"/ophalen/' | sftp -b - "+c.sftpTarget()))
	}
	cmd := s.commandView(width, height)
	cmdLines := lipgloss.Height(cmd)
	s.tbl.SetColumns(s.cols(width))
	s.tbl.SetWidth(width)
	s.tbl.SetHeight(max(height-3-cmdLines, 3))
	return title + "\n" + s.pg.view(st, "bestand", "bestanden", width) + "\n" + s.tbl.View() + "\n" + cmd
}

// commandView is the download command under the list; when it would take more than a
// third of the screen, a line that says which key shows it whole.
func (s *ophalen) commandView(width, height int) string {
	st := s.c.Styles
	names := s.selection()
	if len(names) == 0 {
		return ""
	}
	label := "Ophalen met sftp (in de huidige map):"
	if len(s.sel) > 0 {
		label = fmt.Sprintf("Selectie (%d) ophalen met sftp (in de huidige map):", len(names))
	}
	cmd := s.getCommand(names)
	if lines := strings.Count(cmd, "\n") + 2; lines > max(height/3, 5) {
		return st.Label.Render(fmt.Sprintf("Selectie (%d) ophalen: druk op d voor de opdracht die precies deze bestanden ophaalt.", len(names)))
	}
	return st.Label.Render(label) + "\n" + lipgloss.NewStyle().Width(width).Render(st.Command.Render(cmd))
}

func (s *ophalen) ShortHelp() []key.Binding {
	k := s.c.Keys
	return []key.Binding{k.Select, s.download, s.markRead, k.Delete, k.NextPage}
}

func (s *ophalen) FullHelp() [][]key.Binding {
	k := s.c.Keys
	return [][]key.Binding{
		{k.Up, k.Down, k.Select, k.SelectAll, s.download},
		{s.markRead, s.markUnread, k.Delete},
		{k.PrevPage, k.NextPage, k.FirstPage, k.LastPage, k.PageSize},
	}
}

func (s *ophalen) cols(width int) []table.Column {
	return columns(width, 4,
		table.Column{Title: "", Width: 3},
		table.Column{Title: "Gedownload", Width: 10},
		table.Column{Title: "Publicatiedatum", Width: 16},
		// Room for "Zender (voor Ameland)" up to what a file name needs (33).
		table.Column{Title: "Organisatie", Width: max(11, min(40, width-4-11-17-1-34))},
		table.Column{Title: "Titel"},
	)
}
