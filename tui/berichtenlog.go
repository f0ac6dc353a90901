package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/table"
	"charm.land/bubbles/v2/textinput"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"

	"knooppunt/exchange"
)

// berichtenlog pages through the product's messages from the engine's index, narrowed by a
// filter line, and shows one message with its status history.
type berichtenlog struct {
	c      *Common
	pg     pager
	rows   []exchange.Message
	tbl    table.Model
	filter exchange.MessageFilter
	query  string
	input  textinput.Model
	typing bool
	detail *viewport.Model
	msg    exchange.Message

	restore key.Binding
}

func newBerichtenlog(c *Common) *berichtenlog {
	in := textinput.New()
	in.Prompt = "/ "
	in.Placeholder = "functie:WMO301 van:01-01-2026 tot:31-01-2026 richting:in partij:12345678 status:afgekeurd ref:…"
	return &berichtenlog{
		c: c, pg: newPager(), tbl: newTable(c), input: in,
		restore: key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "herstel / opnieuw")),
	}
}

func (s *berichtenlog) Editing() bool { return s.typing }

func (s *berichtenlog) Reload() {
	c := s.c
	s.rows = loadPage(c, &s.pg, func(limit, offset int) ([]exchange.Message, int, bool, error) {
		f := s.filter
		f.Limit, f.Offset = limit, offset
		l, err := c.Hub.MessageList(c.P, c.Product, f)
		return l.Messages, l.Total, l.AtLeast, err
	})
	rows := make([]table.Row, len(s.rows))
	for i, m := range s.rows {
		dir, other := s.direction(m)
		rows[i] = table.Row{c.date(m.ReceivedAt), m.Functie, dir, c.OrgName(other), string(m.Status), m.Referentie}
	}
	s.tbl.SetColumns(s.cols(s.c.Width))
	s.tbl.SetRows(rows)
	if s.detail != nil {
		s.open(s.msg.ID)
	}
}

// direction tells, from the organisation's side, whether it sent or received m, and who the
// other side is.
func (s *berichtenlog) direction(m exchange.Message) (string, string) {
	org := s.c.P.Org.Code
	if m.Zender == org {
		return "uit", m.Ontvanger
	}
	return "in", m.Zender
}

func (s *berichtenlog) Update(msg tea.Msg) tea.Cmd {
	k := s.c.Keys
	if s.typing {
		if km, ok := msg.(tea.KeyPressMsg); ok {
			switch km.String() {
			case "esc":
				s.typing = false
				s.input.Blur()
				s.input.SetValue(s.query)
				return nil
			case "enter":
				f, err := parseFilter(s.input.Value(), s.c.Opts.Location)
				if err != nil {
					s.c.Fail(err)
					return nil
				}
				s.c.clearStatus()
				s.filter, s.query, s.typing = f, strings.TrimSpace(s.input.Value()), false
				s.input.Blur()
				s.pg.Page = 0
				s.Reload()
				return nil
			}
		}
		var cmd tea.Cmd
		s.input, cmd = s.input.Update(msg)
		return cmd
	}
	km, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	if s.detail != nil {
		switch {
		case key.Matches(km, k.Back):
			s.detail = nil
		case key.Matches(km, s.restore):
			s.askRestore()
		default:
			v, cmd := s.detail.Update(km)
			s.detail = &v
			return cmd
		}
		return nil
	}
	if s.pg.handle(km, k) {
		s.Reload()
		return nil
	}
	switch {
	case key.Matches(km, k.Filter):
		s.typing = true
		return s.input.Focus()
	case key.Matches(km, k.Back) && s.query != "":
		s.filter, s.query = exchange.MessageFilter{}, ""
		s.input.SetValue("")
		s.pg.Page = 0
		s.Reload()
	case key.Matches(km, k.Enter):
		if i := s.tbl.Cursor(); i >= 0 && i < len(s.rows) {
			s.open(s.rows[i].ID)
		}
	case key.Matches(km, s.restore):
		if i := s.tbl.Cursor(); i >= 0 && i < len(s.rows) {
			s.msg = s.rows[i]
			s.askRestore()
		}
	default:
		var cmd tea.Cmd
		s.tbl, cmd = s.tbl.Update(km)
		return cmd
	}
	return nil
}

func (s *berichtenlog) askRestore() {
	c, m := s.c, s.msg
	if m.Status == exchange.MsgMislukt {
		c.Ask(fmt.Sprintf("Bericht %s (%s) opnieuw versturen via Digikoppeling?", m.Referentie, m.Functie),
			"Bericht "+m.Referentie+" wordt opnieuw verstuurd.",
			func() error { return c.Hub.Resend(c.P, c.Product, m.Referentie) })
		return
	}
	if m.Status != exchange.MsgVerwijderd {
		c.Fail(fmt.Errorf("alleen een verwijderd bericht kan terug; dit bericht is %s", m.Status))
		return
	}
	c.Ask(fmt.Sprintf("Bericht %s (%s) terugzetten in ophalen?", m.Referentie, m.Functie),
		"Bericht "+m.Referentie+" staat weer in ophalen.",
		func() error { return c.Hub.Restore(c.P, c.Product, m.Referentie) })
}

func (s *berichtenlog) open(id uint64) {
	m, err := s.c.Hub.Message(s.c.P, id)
	if err != nil {
		s.c.Fail(err)
		s.detail = nil
		return
	}
	keep := 0
	if s.detail != nil {
		keep = s.detail.YOffset()
	}
	v := viewport.New(viewport.WithWidth(s.c.Width), viewport.WithHeight(max(s.c.Height-7, 3)))
	v.SetContent(s.detailView(m))
	v.SetYOffset(keep)
	s.detail, s.msg = &v, m
}

func (s *berichtenlog) detailView(m exchange.Message) string {
	c, st := s.c, s.c.Styles
	var b strings.Builder
	b.WriteString(st.Title.Render("Bericht "+m.Functie+" "+m.Referentie) + "\n\n")
	row := func(label, value string) {
		if value != "" {
			b.WriteString(st.Label.Render(fmt.Sprintf("%-18s", label)) + " " + value + "\n")
		}
	}
	oms := ""
	if f, ok := c.Hub.Catalogue().Functie(m.Product, m.Functie); ok {
		oms = " – " + f.Omschrijving + " (" + string(f.Direction) + "bericht)"
	}
	row("Functie", m.Functie+oms)
	row("Referentienummer", m.Referentie)
	row("Antwoord op", m.CrossRef)
	row("Zender", orgLabel(c, m.Zender))
	row("Ontvanger", orgLabel(c, m.Ontvanger))
	if m.Mailbox != "" && m.Mailbox != m.Ontvanger {
		row("Postbus", orgLabel(c, m.Mailbox)+" (samenwerking)")
	}
	row("Bestand", m.File)
	row("Aanlevering", fmt.Sprintf("#%d, bestand %d", m.UploadID, m.Entry+1))
	row("Grootte", fmt.Sprintf("%d bytes", m.Size))
	row("Ontvangen op", c.dateSec(m.ReceivedAt))
	row("Status", string(m.Status))
	b.WriteString("\n" + st.Title.Render("Statushistorie") + "\n")
	for _, e := range m.History {
		line := fmt.Sprintf("  %s  %-28s", c.dateSec(e.At), e.Status)
		if e.Code != "" {
			line += " " + string(e.Code) + " " + e.Code.Omschrijving()
		}
		if e.By != "" {
			line += " (door " + e.By + ")"
		}
		if e.Detail != "" {
			line += ": " + e.Detail
		}
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	if m.Status == exchange.MsgMislukt {
		b.WriteString("\n" + st.Muted.Render("Versturen via Digikoppeling is mislukt; druk op r om het opnieuw te versturen.") + "\n")
	}
	if m.Status == exchange.MsgVerwijderd {
		b.WriteString("\n" + st.Muted.Render("Dit bericht is verwijderd; druk op r om het terug te zetten in ophalen.") + "\n")
	}
	return b.String()
}

func orgLabel(c *Common, code string) string {
	if code == "" {
		return ""
	}
	if n := c.OrgName(code); n != code {
		return n + " (" + code + ")"
	}
	return code
}

func (s *berichtenlog) View(width, height int) string {
	c, st := s.c, s.c.Styles
	if s.detail != nil {
		s.detail.SetWidth(width)
		s.detail.SetHeight(height - 1)
		return s.detail.View() + "\n" + st.Muted.Render("esc terug · ↑/↓ scrollen · r herstel naar ophalen")
	}
	title := st.Title.Render("Berichtenlog " + c.ProductName(c.Product))
	var filter string
	switch {
	case s.typing:
		s.input.SetWidth(max(width-3, 1))
		filter = s.input.View()
	case s.query != "":
		filter = st.Label.Render("Filter: ") + s.query + st.Muted.Render("   (/ wijzigen, esc wissen)")
	default:
		filter = st.Muted.Render("/ filteren op datum, functie, richting, tegenpartij, status of referentienummer")
	}
	if s.pg.total == 0 {
		empty := "Geen berichten."
		if s.query != "" {
			empty = "Geen berichten die aan het filter voldoen."
		}
		return title + "\n" + filter + "\n\n" + empty
	}
	s.tbl.SetColumns(s.cols(width))
	s.tbl.SetWidth(width)
	s.tbl.SetHeight(height - 3)
	return title + "\n" + filter + "\n" + s.pg.view(st, "bericht", "berichten", width) + "\n" + s.tbl.View()
}

func (s *berichtenlog) ShortHelp() []key.Binding {
	k := s.c.Keys
	switch {
	case s.typing:
		return []key.Binding{
			key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "toepassen")),
			key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "annuleren")),
		}
	case s.detail != nil:
		return []key.Binding{k.Back, s.restore}
	}
	return []key.Binding{k.Filter, k.Enter, s.restore, k.NextPage}
}

func (s *berichtenlog) FullHelp() [][]key.Binding {
	k := s.c.Keys
	return [][]key.Binding{
		{k.Up, k.Down, k.Enter, k.Back},
		{k.Filter, s.restore},
		{k.PrevPage, k.NextPage, k.FirstPage, k.LastPage, k.PageSize},
	}
}

// parseFilter reads the filter line: space-separated key:value terms. A term without a key is
// a functie when it looks like one, else a referentienummer.
func parseFilter(q string, loc *time.Location) (exchange.MessageFilter, error) {
	var f exchange.MessageFilter
	for _, term := range strings.Fields(q) {
		k, v, ok := strings.Cut(term, ":")
		if !ok {
			if looksLikeFunctie(term) {
				f.Functie = strings.ToUpper(term)
			} else {
				f.Referentie = term
			}
			continue
		}
		if v == "" {
			return f, fmt.Errorf("filter %q heeft geen waarde: schrijf bijvoorbeeld %s:…", term, k)
		}
		switch strings.ToLower(k) {
		case "van", "vanaf":
			t, err := parseDate(v, loc)
			if err != nil {
				return f, err
			}
			f.From = t
		case "tot", "t/m", "tm":
			t, err := parseDate(v, loc)
			if err != nil {
				return f, err
			}
			f.To = t.AddDate(0, 0, 1) // the whole day counts
		case "functie":
			f.Functie = strings.ToUpper(v)
		case "richting":
			switch strings.ToLower(v) {
			case "in", "ontvangen":
				f.Direction = "in"
			case "uit", "verzonden":
				f.Direction = "uit"
			default:
				return f, fmt.Errorf("richting %q onbekend: gebruik richting:in (ontvangen) of richting:uit (verzonden)", v)
			}
		case "partij", "tegenpartij", "org", "organisatie":
			f.Counterpart = v
		case "status":
			f.Status = matchStatus(v)
		case "ref", "referentie", "referentienummer":
			f.Referentie = v
		default:
			return f, fmt.Errorf("onbekend filter %q: gebruik van:, tot:, functie:, richting:, partij:, status: of ref:", k)
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, fmt.Errorf("de datum bij van: ligt na de datum bij tot:")
	}
	return f, nil
}

func looksLikeFunctie(s string) bool {
	u := strings.ToUpper(s)
	return u == "TKB" || u == "BAB" ||
		((strings.HasPrefix(u, "WMO") || strings.HasPrefix(u, "JW")) && len(strings.TrimLeft(u, "WMOJ")) == 3)
}

// matchStatus completes a typed status to the engine's word: "afgel" is "afgeleverd in ophalen".
func matchStatus(v string) string {
	v = strings.ToLower(v)
	for _, s := range []exchange.MessageStatus{exchange.MsgOntvangen, exchange.MsgAfgekeurd, exchange.MsgAfgeleverd,
		exchange.MsgWachtRoute, exchange.MsgGelezen, exchange.MsgOngelezen, exchange.MsgVerwijderd, exchange.MsgHersteld, exchange.MsgVerlopen,
		exchange.MsgVerzondenDK, exchange.MsgBevestigd, exchange.MsgMislukt} {
		if strings.HasPrefix(string(s), v) {
			return string(s)
		}
	}
	return v
}

func parseDate(v string, loc *time.Location) (time.Time, error) {
	for _, layout := range []string{"2006-01-02", "02-01-2006", "2-1-2006"} {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("datum %q niet herkend: schrijf dd-mm-jjjj of jjjj-mm-dd", v)
}

func (s *berichtenlog) cols(width int) []table.Column {
	return columns(width, 5,
		table.Column{Title: "Ontvangen", Width: 16},
		table.Column{Title: "Functie", Width: 7},
		table.Column{Title: "Richting", Width: 8},
		table.Column{Title: "Tegenpartij", Width: min(20, max(11, width/7))},
		table.Column{Title: "Status", Width: min(21, max(12, width/5))},
		table.Column{Title: "Referentienummer"},
	)
}
