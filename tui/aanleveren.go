package tui

import (
	"fmt"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/table"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	lgtable "charm.land/lipgloss/v2/table"

	"knooppunt/exchange"
)

// aanleveren lists the organisation's uploads of the product, newest first, with their
// status as the engine reports it, and opens each one's verwerkingsverslag.
type aanleveren struct {
	c  *Common
	pg pager
	list[exchange.Upload]
	sel     map[uint64]bool
	verslag *viewport.Model
	openID  uint64
}

func newAanleveren(c *Common) *aanleveren {
	return &aanleveren{c: c, pg: newPager(), list: newList[exchange.Upload](c), sel: map[uint64]bool{}}
}

func (s *aanleveren) Editing() bool { return false }

func (s *aanleveren) Reload() {
	c := s.c
	s.rows = loadPage(c, &s.pg, func(limit, offset int) ([]exchange.Upload, int, bool, error) {
		rows, total, err := c.Hub.Uploads(c.Ctx, c.P, c.Product, exchange.ListOptions{Limit: limit, Offset: offset})
		return rows, total, false, err
	})
	s.fillTable()
	if s.verslag != nil {
		s.openVerslag(s.openID)
	}
}

func (s *aanleveren) fillTable() {
	s.fill(s.cols(s.c.Width), func(u exchange.Upload) table.Row {
		return table.Row{mark(s.sel[u.ID]), s.c.date(u.ReceivedAt), s.c.OrgName(u.Org), exchange.Printable(u.Name), s.c.uploadStatus(u)}
	})
}

// uploadStatus is the portal's status column: Bezig shows when the engine expects to finish.
func (c *Common) uploadStatus(u exchange.Upload) string {
	if u.Status == exchange.Bezig && !u.ExpectedAt.IsZero() {
		t := u.ExpectedAt.In(c.Opts.Location)
		if y, m, d := t.Date(); y == c.Hub.Now().In(c.Opts.Location).Year() && m == c.Hub.Now().In(c.Opts.Location).Month() && d == c.Hub.Now().In(c.Opts.Location).Day() {
			return "Bezig, verwacht " + t.Format("15:04")
		}
		return "Bezig, verwacht " + t.Format("02-01 15:04")
	}
	if n := u.Waiting(); n > 0 {
		return fmt.Sprintf("%s; %d wachten", u.Status, n)
	}
	return string(u.Status)
}

func (s *aanleveren) Update(msg tea.Msg) tea.Cmd {
	k := s.c.Keys
	if s.verslag != nil {
		if km, ok := msg.(tea.KeyPressMsg); ok && key.Matches(km, k.Back) {
			s.verslag = nil
			return nil
		}
		v, cmd := s.verslag.Update(msg)
		s.verslag = &v
		return cmd
	}
	km, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	if s.pg.handle(km, k) {
		s.Reload()
		return nil
	}
	switch {
	case key.Matches(km, k.Enter):
		if u, ok := s.current(); ok {
			s.openVerslag(u.ID)
		}
	case key.Matches(km, k.Select):
		if u, ok := s.current(); ok {
			toggle(s.sel, u.ID)
			s.fillTable()
			s.tbl.MoveDown(1)
		}
	case key.Matches(km, k.SelectAll):
		toggleAll(s.sel, s.rows, func(u exchange.Upload) uint64 { return u.ID })
		s.fillTable()
	case key.Matches(km, k.Delete):
		s.askDelete()
	default:
		return s.scroll(km)
	}
	return nil
}

func (s *aanleveren) askDelete() {
	ids := make([]uint64, 0, len(s.sel))
	for id := range s.sel {
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		s.c.Fail(fmt.Errorf("selecteer eerst met spatie de aanleveringen die u wilt verwijderen"))
		return
	}
	slices.Sort(ids)
	c := s.c
	c.Ask(fmt.Sprintf("%d aanlevering(en) uit dit overzicht verwijderen?", len(ids)),
		fmt.Sprintf("%d aanlevering(en) verwijderd uit het overzicht.", len(ids)),
		func() error {
			if err := c.Hub.HideUploads(c.P, ids); err != nil {
				return err
			}
			clear(s.sel)
			return nil
		})
}

func (s *aanleveren) openVerslag(id uint64) {
	u, err := s.c.Hub.Upload(s.c.P, id)
	if err != nil {
		s.c.Fail(err)
		s.verslag = nil
		return
	}
	if u.Product != s.c.Product {
		s.verslag = nil
		return
	}
	w, h := s.c.Width, max(s.c.Height-7, 3)
	keep := 0
	if s.verslag != nil {
		keep = s.verslag.YOffset()
	}
	v := viewport.New(viewport.WithWidth(w), viewport.WithHeight(h))
	v.SetContent(s.c.verslagView(u, w))
	v.SetYOffset(keep)
	s.verslag, s.openID = &v, id
}

// verslagView is the verwerkingsverslag of figure 3 and 4: header, counts, error table.
func (c *Common) verslagView(u exchange.Upload, width int) string {
	st := c.Styles
	var b strings.Builder
	// Names and details come from outside: nothing in them may steer the terminal.
	b.WriteString(st.Title.Render("Verwerkingsverslag "+exchange.Printable(u.Name)) + "\n\n")
	row := func(label, value string) {
		b.WriteString(st.Label.Render(fmt.Sprintf("%-20s", label)) + " " + exchange.Printable(value) + "\n")
	}
	row("Bestandsnaam", u.Name)
	row("Verzender", c.OrgName(u.Org)+" ("+u.Org+"), account "+u.Account)
	row("Ingeleverd op", c.dateSec(u.ReceivedAt))
	if !u.Status.Final() {
		row("Status", c.uploadStatus(u))
		b.WriteString("\n" + st.Muted.Render("Het verslag verschijnt zodra de aanlevering Afgeleverd of Afgekeurd is; dit scherm werkt zichzelf bij.") + "\n")
		return b.String()
	}
	row("Einde verwerking", c.dateSec(u.FinishedAt))
	row("Verwerkingsduur", exchange.Duur(u.Verwerkingsduur()))
	row("Status", string(u.Status))
	for _, w := range u.Wachtend {
		text := fmt.Sprintf("%d bericht(en) voor %s (%s), %s: de ontvanger ontvangt die via Digikoppeling",
			w.Berichten, c.OrgName(w.Organisatie), w.Organisatie, w.Uitwisseling)
		// Escaped before the wrap: the wrap's own line breaks must stay line breaks.
		wrapped := lipgloss.NewStyle().Width(max(width-21, 20)).Render(exchange.Printable(text))
		b.WriteString(st.Label.Render(fmt.Sprintf("%-20s", "Wacht op route")) + " " +
			strings.ReplaceAll(wrapped, "\n", "\n"+strings.Repeat(" ", 21)) + "\n")
	}
	b.WriteString("\n")
	counts := lgtable.New().Border(lipgloss.HiddenBorder()).BorderHeader(true).Border(lipgloss.NormalBorder()).
		BorderTop(false).BorderBottom(false).BorderLeft(false).BorderRight(false).BorderColumn(false).
		Headers("Aantal bestanden aangeleverd", "Correct", "Incorrect").
		Row(fmt.Sprint(u.Counts.Aangeleverd), fmt.Sprint(u.Counts.Correct), fmt.Sprint(u.Counts.Incorrect)).
		StyleFunc(func(row, col int) lipgloss.Style { return lipgloss.NewStyle().PaddingRight(3) })
	b.WriteString(counts.String() + "\n")
	if len(u.Fouten) == 0 {
		return b.String()
	}
	b.WriteString("\n")
	errs := lgtable.New().Border(lipgloss.NormalBorder()).BorderTop(false).BorderBottom(false).
		BorderLeft(false).BorderRight(false).BorderRow(false).Width(width).
		Headers("Bestand", "Foutomschrijving", "Fout detail").
		StyleFunc(func(row, col int) lipgloss.Style { return lipgloss.NewStyle().Padding(0, 1) })
	for _, f := range u.Fouten {
		oms := f.Omschrijving
		if oms == "" {
			oms = f.Code.Omschrijving()
		}
		errs.Row(exchange.Printable(f.Bestand), string(f.Code)+" "+oms, exchange.Printable(f.Detail))
	}
	b.WriteString(errs.String() + "\n")
	return b.String()
}

func (s *aanleveren) View(width, height int) string {
	c, st := s.c, s.c.Styles
	if s.verslag != nil {
		s.verslag.SetWidth(width)
		s.verslag.SetHeight(height - 1)
		return s.verslag.View() + "\n" + st.Muted.Render(fmt.Sprintf("esc terug · ↑/↓ pgup/pgdn scrollen · %3.0f%%", s.verslag.ScrollPercent()*100))
	}
	title := st.Title.Render("U kunt hier uw aanleveringen voor " + c.ProductName(c.Product) + " volgen")
	if s.pg.total == 0 {
		folder := "/" + string(c.Product) + "/aanleveren/"
		wrap := lipgloss.NewStyle().Width(width)
		return title + "\n\n" + wrap.Render(
			"Er zijn nog geen aanleveringen. Lever een .xml- of .zip-bestand aan met sftp:\n\n"+
				st.Command.Render("echo 'put BESTAND.zip "+folder+"' | sftp -b - "+c.sftpTarget())+"\n\n"+
				st.Muted.Render("Of interactief: sftp "+c.sftpTarget()+" en dan put BESTAND.zip "+folder+
					". Zodra het bestand binnen is, verschijnt het hier met de status Ontvangen.")+"\n\n"+
				st.Muted.Render("Toetsen: tab en shift+tab wisselen van tabblad, 1-5 van product, ? toont alle toetsen, q sluit af. "+
					"In een lijst: ↑/↓ regel, ←/→ pagina, home/end (of shift+←/→) eerste en laatste pagina."))
	}
	s.tbl.SetColumns(s.cols(width))
	s.tbl.SetWidth(width)
	s.tbl.SetHeight(height - 3)
	foot := st.Muted.Render(fmt.Sprintf("%d geselecteerd · spatie selecteren · x verwijder geselecteerd · enter verslag", len(s.sel)))
	return title + "\n" + s.pg.view(st, "aanlevering", "aanleveringen", width) + "\n" + s.tbl.View() + "\n" + foot
}

func (s *aanleveren) ShortHelp() []key.Binding {
	k := s.c.Keys
	if s.verslag != nil {
		return []key.Binding{k.Back}
	}
	return []key.Binding{k.Enter, k.Select, k.Delete, k.NextPage}
}

func (s *aanleveren) FullHelp() [][]key.Binding {
	k := s.c.Keys
	open := key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "verwerkingsverslag"))
	return [][]key.Binding{
		{k.Up, k.Down, open, k.Back},
		{k.Select, k.SelectAll, k.Delete},
		{k.PrevPage, k.NextPage, k.FirstPage, k.LastPage, k.PageSize},
	}
}

func (s *aanleveren) cols(width int) []table.Column {
	return columns(width, 3,
		table.Column{Title: "", Width: 3},
		table.Column{Title: "Aanleverdatum", Width: 16},
		table.Column{Title: "Organisatie", Width: min(24, max(11, width/6))},
		table.Column{Title: "Bestandsnaam"},
		table.Column{Title: "Status", Width: 21},
	)
}
