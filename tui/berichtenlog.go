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
	c  *Common
	pg pager
	list[exchange.Message]
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
	in.Placeholder = "WMO301 afgekeurd Ameland uit 6f1c2a7e van:01-03-2026 tot:31-03-2026"
	return &berichtenlog{
		c: c, pg: newPager(), list: newList[exchange.Message](c), input: in,
		restore: key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "herstel / opnieuw")),
	}
}

func (s *berichtenlog) Editing() bool { return s.typing }

func (s *berichtenlog) Reload() {
	c := s.c
	s.rows = loadPage(c, &s.pg, func(limit, offset int) ([]exchange.Message, int, bool, error) {
		f := s.filter
		f.Limit, f.Offset = limit, offset
		l, err := c.Hub.MessageList(c.Ctx, c.P, c.Product, f)
		return l.Messages, l.Total, l.AtLeast, err
	})
	s.fillTable(s.c.Width)
	if s.detail != nil {
		s.open(s.msg.ID)
	}
}

// fillTable lays the rows out for width: from 120 columns each field has its own column;
// narrower, the direction joins the other side ("aan …", "van …") and the date loses its
// year, so that the referentienummer, which herstel needs, always shows whole.
func (s *berichtenlog) fillTable(width int) {
	c := s.c
	org := c.P.Org.Code
	wide := width >= 120
	rows := make([]table.Row, len(s.rows))
	for i, m := range s.rows {
		dir := m.Direction(org)
		other := c.OrgName(m.Counterpart(org))
		if by := m.OnBehalfOf(org); by != "" {
			other += " (namens " + c.OrgName(by) + ")"
			if dir == "in" {
				other = c.OrgName(m.Counterpart(org)) + " (voor " + c.OrgName(by) + ")"
			}
		}
		if wide {
			rows[i] = table.Row{c.date(m.ReceivedAt), exchange.Printable(m.Functie), dir, other, string(m.Status), exchange.Printable(m.Referentie)}
			continue
		}
		vanAan := "van "
		if dir == "uit" {
			vanAan = "aan "
		}
		rows[i] = table.Row{c.shortDate(m.ReceivedAt), exchange.Printable(m.Functie), vanAan + other, string(m.Status), exchange.Printable(m.Referentie)}
	}
	// Without rows while the columns change: a row with fewer cells than columns panics.
	cur := s.tbl.Cursor()
	s.tbl.SetRows(nil)
	s.tbl.SetColumns(s.cols(width))
	s.tbl.SetRows(rows)
	s.tbl.SetCursor(max(cur, 0))
}

// filterWords are the organisations and functies the filter line knows by name.
func (s *berichtenlog) filterWords() filterWords {
	c := s.c
	w := filterWords{loc: c.Opts.Location, cat: c.Hub.Catalogue()}
	if orgs, err := c.Hub.Orgs(); err == nil {
		w.orgs = orgs
	}
	return w
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
				f, err := parseFilter(s.input.Value(), s.filterWords())
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
		case key.Matches(km, s.restore) && s.canR(s.msg):
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
		if m, ok := s.current(); ok {
			s.open(m.ID)
		}
	case key.Matches(km, s.restore):
		if m, ok := s.current(); ok && s.canR(m) {
			s.msg = m
			s.askRestore()
		}
	default:
		return s.scroll(km)
	}
	return nil
}

// canR tells whether r does something for m: herstel of a file deleted from one's own
// ophalen, or sending again what Digikoppeling could not deliver (mislukt).
func (s *berichtenlog) canR(m exchange.Message) bool {
	return m.Restorable(s.c.P) || m.Status == exchange.MsgMislukt
}

func (s *berichtenlog) askRestore() {
	c, m := s.c, s.msg
	if m.Status == exchange.MsgMislukt {
		c.Ask(fmt.Sprintf("Bericht %s (%s) opnieuw versturen via Digikoppeling?", m.Referentie, m.Functie),
			"Bericht "+m.Referentie+" wordt opnieuw verstuurd.",
			func() error { return c.Hub.Resend(c.P, c.Product, m.Referentie) })
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
	// Fields of a refused envelope come from outside: nothing in them may steer the terminal.
	b.WriteString(st.Title.Render("Bericht "+exchange.Printable(m.Functie)+" "+exchange.Printable(m.Referentie)) + "\n\n")
	row := func(label, value string) {
		if value != "" {
			b.WriteString(st.Label.Render(fmt.Sprintf("%-18s", label)) + " " + exchange.Printable(value) + "\n")
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
	if m.Uploader != "" && m.Uploader != m.Zender {
		row("Aangeleverd door", orgLabel(c, m.Uploader)+" (samenwerking, namens "+c.OrgName(m.Zender)+")")
	}
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
	if m.Restorable(c.P) {
		b.WriteString("\n" + st.Muted.Render("Dit bericht is "+string(m.Status)+"; druk op r om het terug te zetten in ophalen.") + "\n")
	}
	if m.Status == exchange.MsgMislukt {
		b.WriteString("\n" + st.Muted.Render("Versturen via Digikoppeling is mislukt; druk op r om het opnieuw te versturen.") + "\n")
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
		help := "esc terug · ↑/↓ scrollen"
		if s.canR(s.msg) {
			help += " · r herstel naar ophalen"
		}
		return s.detail.View() + "\n" + st.Muted.Render(help)
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
	s.fillTable(width)
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
		if s.canR(s.msg) {
			return []key.Binding{k.Back, s.restore}
		}
		return []key.Binding{k.Back}
	}
	if m, ok := s.current(); ok && s.canR(m) {
		return []key.Binding{s.restore, k.Filter, k.Enter, k.NextPage}
	}
	return []key.Binding{k.Filter, k.Enter, k.NextPage}
}

func (s *berichtenlog) FullHelp() [][]key.Binding {
	k := s.c.Keys
	return [][]key.Binding{
		{k.Up, k.Down, k.Enter, k.Back},
		// r acts only on a file deleted from one's own ophalen/; the list offers it there.
		{k.Filter, key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "herstel (verwijderd uit uw ophalen)"))},
		{k.PrevPage, k.NextPage, k.FirstPage, k.LastPage, k.PageSize},
	}
}

// filterWords are what the filter line understands beside the key:value terms: the
// organisations the account may meet (by name or code) and the catalogue's functies.
type filterWords struct {
	loc  *time.Location
	orgs []exchange.Org
	cat  *exchange.Catalogue
}

// statusWords are the statuses as the screen shows them, with the short words the command's
// --status takes.
var statusWords = func() map[string]exchange.MessageStatus {
	m := map[string]exchange.MessageStatus{"wacht": exchange.MsgWachtRoute, "afgeleverd": exchange.MsgAfgeleverd, "ongelezen": exchange.MsgOngelezen}
	for _, s := range []exchange.MessageStatus{exchange.MsgOntvangen, exchange.MsgAfgekeurd, exchange.MsgAfgeleverd,
		exchange.MsgWachtRoute, exchange.MsgGelezen, exchange.MsgOngelezen, exchange.MsgVerwijderd, exchange.MsgHersteld, exchange.MsgVerlopen} {
		m[string(s)] = s
	}
	return m
}()

// parseFilter reads the filter line: key:value terms, and bare words that say by themselves
// what they are: a functie (WMO301), a status as the screen shows it (afgekeurd, wacht op
// route), an organisation's name or code (Ameland, 0060), a direction (in, uit), or the
// start of a referentienummer (6f1c2a7e). Whatever it does not recognise is an error that
// says what it does take.
func parseFilter(q string, w filterWords) (exchange.MessageFilter, error) {
	var f exchange.MessageFilter
	terms := strings.Fields(q)
	for i := 0; i < len(terms); i++ {
		term := terms[i]
		k, v, ok := strings.Cut(term, ":")
		if !ok {
			// The longest run of words that names a status or an organisation.
			n, err := w.bare(terms[i:], &f)
			if err != nil {
				return f, err
			}
			i += n - 1
			continue
		}
		if v == "" {
			return f, fmt.Errorf("filter %q heeft geen waarde: schrijf bijvoorbeeld %s:…", term, k)
		}
		// A value may go on over the next words: status:wacht op route, partij:Zorgaanbieder Test.
		more := 0
		for j := i + 1; j < len(terms) && !strings.Contains(terms[j], ":"); j++ {
			more = j - i
		}
		switch strings.ToLower(k) {
		case "van", "vanaf":
			t, err := parseDate(v, w.loc)
			if err != nil {
				return f, err
			}
			f.From = t
		case "tot", "t/m", "tm":
			t, err := parseDate(v, w.loc)
			if err != nil {
				return f, err
			}
			f.To = t.AddDate(0, 0, 1) // the whole day counts
		case "functie":
			fn, ok := w.functie(v)
			if !ok {
				return f, fmt.Errorf("functie %q onbekend: schrijf bijvoorbeeld functie:WMO301", v)
			}
			f.Functie = fn
		case "richting":
			d, ok := direction(v)
			if !ok {
				return f, fmt.Errorf("richting %q onbekend: gebruik richting:in (ontvangen) of richting:uit (verzonden)", v)
			}
			f.Direction = d
		case "partij", "tegenpartij", "org", "organisatie":
			n, code := w.longest(append([]string{v}, terms[i+1:i+1+more]...), w.org)
			if n == 0 {
				return f, fmt.Errorf("organisatie %q onbekend: schrijf de code (12345678) of de naam zoals de lijst die toont", v)
			}
			f.Counterpart = code
			i += n - 1
		case "status":
			n, st := w.longest(append([]string{v}, terms[i+1:i+1+more]...), status)
			if n == 0 {
				return f, fmt.Errorf("status %q onbekend: kies uit %s", v, statusList())
			}
			f.Status = st
			i += n - 1
		case "ref", "referentie", "referentienummer":
			if len(v) < exchange.MinRefPrefix {
				return f, fmt.Errorf("referentienummer %q is te kort: geef ten minste de eerste %d tekens", v, exchange.MinRefPrefix)
			}
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

// bare takes a term without a key (and the words after it that belong to it) into f, and
// says how many words it took.
func (w filterWords) bare(terms []string, f *exchange.MessageFilter) (int, error) {
	term := terms[0]
	if fn, ok := w.functie(term); ok {
		f.Functie = fn
		return 1, nil
	}
	if n, st := w.longest(terms, status); n > 0 {
		f.Status = st
		return n, nil
	}
	if d, ok := direction(term); ok {
		f.Direction = d
		return 1, nil
	}
	if n, code := w.longest(terms, w.org); n > 0 {
		f.Counterpart = code
		return n, nil
	}
	if looksLikeRef(term) {
		if len(term) < exchange.MinRefPrefix {
			return 0, fmt.Errorf("referentienummer %q is te kort: geef ten minste de eerste %d tekens", term, exchange.MinRefPrefix)
		}
		f.Referentie = term
		return 1, nil
	}
	return 0, fmt.Errorf("%q: geen functie, status, organisatie, in/uit of referentienummer", term)
}

// longest finds the longest run of words at the start of terms that match says is something,
// and returns how many words that is and what it is.
func (w filterWords) longest(terms []string, match func(string) (string, bool)) (int, string) {
	for n := len(terms); n > 0; n-- {
		if v, ok := match(strings.Join(terms[:n], " ")); ok {
			return n, v
		}
	}
	return 0, ""
}

func status(s string) (string, bool) {
	st, ok := statusWords[strings.ToLower(s)]
	return string(st), ok
}

func statusList() string {
	return "ontvangen, afgekeurd, afgeleverd in ophalen, wacht op route, gelezen, verwijderd, hersteld, verlopen"
}

func direction(s string) (string, bool) {
	switch strings.ToLower(s) {
	case "in", "ontvangen":
		return "in", true
	case "uit", "verzonden":
		return "uit", true
	}
	return "", false
}

// org finds an organisation by its code, its whole name, or the start of the name of
// exactly one.
func (w filterWords) org(s string) (string, bool) {
	ls := strings.ToLower(s)
	var prefixed []string
	for _, o := range w.orgs {
		if strings.EqualFold(o.Code, s) || strings.ToLower(o.Name) == ls {
			return o.Code, true
		}
		if len(ls) >= 3 && strings.HasPrefix(strings.ToLower(o.Name), ls) {
			prefixed = append(prefixed, o.Code)
		}
	}
	if len(prefixed) == 1 {
		return prefixed[0], true
	}
	return "", false
}

func (w filterWords) functie(s string) (string, bool) {
	u := strings.ToUpper(s)
	if w.cat != nil {
		_, ok := w.cat.FunctieAnywhere(u)
		return u, ok
	}
	return u, looksLikeFunctie(u)
}

// looksLikeRef: a referentienummer is a UUID, so its start is hex digits and dashes.
func looksLikeRef(s string) bool {
	for _, r := range strings.ToLower(s) {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r == '-') {
			return false
		}
	}
	return s != ""
}

func looksLikeFunctie(s string) bool {
	u := strings.ToUpper(s)
	return u == "TKB" || u == "BAB" ||
		((strings.HasPrefix(u, "WMO") || strings.HasPrefix(u, "JW")) && len(strings.TrimLeft(u, "WMOJ")) == 3)
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
	ref := table.Column{Title: "Referentienummer", Width: 36}
	if width >= 120 {
		return columns(width, 3,
			table.Column{Title: "Ontvangen", Width: 16},
			table.Column{Title: "Functie", Width: 7},
			table.Column{Title: "Richting", Width: 8},
			table.Column{Title: "Tegenpartij"},
			table.Column{Title: "Status", Width: 21},
			ref,
		)
	}
	// 80 columns: 11+1 + 7+1 + flex+1 + 11+1 + 36+1, the Van/aan column gets 10.
	stat := 11
	if width >= 100 {
		stat = 21
	}
	return columns(width, 2,
		table.Column{Title: "Ontvangen", Width: 11},
		table.Column{Title: "Functie", Width: 7},
		table.Column{Title: "Van/aan"},
		table.Column{Title: "Status", Width: stat},
		ref,
	)
}
