package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/table"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"knooppunt/exchange"
)

// ophalen lists the files waiting in the organisation's ophalen/ of the product (figure 5):
// select, mark or unmark gelezen, delete, and the sftp command that fetches the selection.
type ophalen struct {
	c    *Common
	pg   pager
	rows []exchange.Delivery
	tbl  table.Model
	sel  map[string]bool

	markRead, markUnread key.Binding
}

func newOphalen(c *Common) *ophalen {
	return &ophalen{
		c: c, pg: newPager(), tbl: newTable(c), sel: map[string]bool{},
		markRead:   key.NewBinding(key.WithKeys("m"), key.WithHelp("m", "markeer gelezen")),
		markUnread: key.NewBinding(key.WithKeys("u"), key.WithHelp("u", "markering gelezen weg")),
	}
}

func (s *ophalen) Editing() bool { return false }

func (s *ophalen) Reload() {
	c := s.c
	s.rows = loadPage(c, &s.pg, func(limit, offset int) ([]exchange.Delivery, int, bool, error) {
		rows, total, err := c.Hub.Inbox(c.P, c.Product, exchange.InboxOptions{Limit: limit, Offset: offset})
		return rows, total, false, err
	})
	s.fillTable()
}

func (s *ophalen) fillTable() {
	rows := make([]table.Row, len(s.rows))
	for i, d := range s.rows {
		got := ""
		if !d.GelezenAt.IsZero() {
			got = "✓"
		}
		rows[i] = table.Row{mark(s.sel[d.Name]), got, s.c.date(d.CreatedAt), s.c.OrgName(d.From), d.Name}
	}
	s.tbl.SetColumns(s.cols(s.c.Width))
	s.tbl.SetRows(rows)
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
		if i := s.tbl.Cursor(); i >= 0 && i < len(s.rows) {
			names = append(names, s.rows[i].Name)
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
	if s.pg.handle(km, k) {
		s.Reload()
		return nil
	}
	c := s.c
	switch {
	case key.Matches(km, k.Select):
		if i := s.tbl.Cursor(); i >= 0 && i < len(s.rows) {
			toggle(s.sel, s.rows[i].Name)
			s.fillTable()
			s.tbl.MoveDown(1)
		}
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
		var cmd tea.Cmd
		s.tbl, cmd = s.tbl.Update(km)
		return cmd
	}
	return nil
}

// getCommand is the OpenSSH sftp command that downloads names.
func (s *ophalen) getCommand(names []string) string {
	folder := "/" + string(s.c.Product) + "/ophalen/"
	if len(names) == 1 {
		return "sftp " + s.c.sftpTarget() + ":" + folder + names[0]
	}
	paths := make([]string, len(names))
	for i, n := range names {
		paths[i] = folder + n
	}
	return "printf 'get %s\\n' " + strings.Join(paths, " ") + " | sftp -b - " + s.c.sftpTarget()
}

func (s *ophalen) View(width, height int) string {
	c, st := s.c, s.c.Styles
	title := st.Title.Render("U kunt hier een " + c.ProductName(c.Product) + " bericht ophalen")
	if s.pg.total == 0 {
		return title + "\n\n" + "Er staan geen bestanden voor u klaar.\n\n" +
			lipgloss.NewStyle().Width(width).Render(st.Muted.Render("Nieuwe berichten verschijnen hier vanzelf. Met sftp kijkt u ook in /"+string(c.Product)+"/ophalen/:")+"\n"+st.Command.Render("echo 'ls -l /"+string(c.Product)+"/ophalen/' | sftp -b - "+c.sftpTarget()))
	}
	names := s.selection()
	cmd := ""
	if len(names) > 0 {
		label := "Ophalen met sftp:"
		if len(s.sel) > 0 {
			label = fmt.Sprintf("Selectie (%d) ophalen met sftp:", len(names))
		}
		cmd = st.Label.Render(label) + "\n" + lipgloss.NewStyle().Width(width).Render(st.Command.Render(s.getCommand(names)))
	}
	cmdLines := lipgloss.Height(cmd)
	if cmd != "" && cmdLines > 4 {
		cmd = st.Label.Render(fmt.Sprintf("Selectie (%d) ophalen met sftp:", len(names))) + "\n" +
			st.Command.Render(fmt.Sprintf("printf 'get %%s\\n' … (%d bestanden) | sftp -b - %s", len(names), c.sftpTarget()))
		cmdLines = 2
	}
	s.tbl.SetColumns(s.cols(width))
	s.tbl.SetWidth(width)
	s.tbl.SetHeight(max(height-3-cmdLines, 3))
	return title + "\n" + s.pg.view(st, "bestand", "bestanden", width) + "\n" + s.tbl.View() + "\n" + cmd
}

func (s *ophalen) ShortHelp() []key.Binding {
	k := s.c.Keys
	return []key.Binding{k.Select, s.markRead, k.Delete, k.NextPage}
}

func (s *ophalen) FullHelp() [][]key.Binding {
	k := s.c.Keys
	return [][]key.Binding{
		{k.Up, k.Down, k.Select, k.SelectAll},
		{s.markRead, s.markUnread, k.Delete},
		{k.PrevPage, k.NextPage, k.FirstPage, k.LastPage, k.PageSize},
	}
}

func (s *ophalen) cols(width int) []table.Column {
	return columns(width, 4,
		table.Column{Title: "", Width: 3},
		table.Column{Title: "Gedownload", Width: 10},
		table.Column{Title: "Publicatiedatum", Width: 16},
		table.Column{Title: "Organisatie", Width: min(24, max(11, width/6))},
		table.Column{Title: "Titel"},
	)
}
