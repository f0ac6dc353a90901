package tui

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"knooppunt/exchange"
)

// screen is one tab's content below the frame.
type screen interface {
	// Reload fetches the screen's page for the product in view.
	Reload()
	Update(msg tea.Msg) tea.Cmd
	View(width, height int) string
	ShortHelp() []key.Binding
	FullHelp() [][]key.Binding
	// Editing tells that a text field, form or detail view has the keyboard, so that the
	// frame's own keys (tab, q, digits) go to the screen.
	Editing() bool
}

type tabKind int

const (
	tabAanleveren tabKind = iota
	tabBerichtenlog
	tabOphalen
	tabRouteren
	tabGebruikers
	tabOrganisaties
	tabCPAs
)

func (t tabKind) String() string {
	return [...]string{"Aanleveren", "Berichtenlog", "Ophalen", "Routeren", "Gebruikers", "Organisaties", "CPA's"}[t]
}

// confirmation is a question the frame asks before an irreversible change.
type confirmation struct {
	prompt string
	done   string
	run    func() error
}

// eventMsg carries a change the engine pushed for the organisation.
type eventMsg exchange.Event

// App is the whole portal for one session.
type App struct {
	c        *Common
	tabs     []tabKind
	tab      int
	screens  map[tabKind]screen
	help     help.Model
	showHelp bool
	events   <-chan exchange.Event
}

// New builds the portal for principal p. The session's ctx ends the subscription to the
// engine's events.
func New(ctx context.Context, hub Hub, p *exchange.Principal, opts Options) *App {
	c := newCommon(ctx, hub, p, opts)
	a := &App{c: c, screens: map[tabKind]screen{}, help: help.New()}
	a.help.Styles = help.DefaultStyles(true)
	a.layout()
	if code := p.Org.Code; code != "" {
		a.events = hub.Subscribe(ctx, code)
	}
	if s := a.active(); s != nil {
		s.Reload()
	}
	return a
}

// layout sets the tabs and the product in view from the principal as last read: a tab for
// each thing it may use, the tab and product in view kept where they still exist.
func (a *App) layout() {
	c := a.c
	cur, hadTab := a.current()
	var tabs []tabKind
	if products := c.Products(); len(products) > 0 {
		tabs = append(tabs, tabAanleveren, tabBerichtenlog, tabOphalen, tabRouteren)
		if !slices.Contains(products, c.Product) {
			c.Product = products[0]
		}
	} else {
		c.Product = ""
	}
	if c.P.Has(exchange.Gebruikersbeheerder) || c.P.Has(exchange.Beheerder) {
		tabs = append(tabs, tabGebruikers)
	}
	if c.P.Has(exchange.Beheerder) {
		tabs = append(tabs, tabOrganisaties, tabCPAs)
	}
	for _, t := range tabs {
		if a.screens[t] == nil {
			a.screens[t] = newScreen(t, c)
		}
	}
	a.tabs, a.tab = tabs, 0
	if i := slices.Index(tabs, cur); hadTab && i >= 0 {
		a.tab = i
	}
}

func newScreen(t tabKind, c *Common) screen {
	switch t {
	case tabAanleveren:
		return newAanleveren(c)
	case tabBerichtenlog:
		return newBerichtenlog(c)
	case tabOphalen:
		return newOphalen(c)
	case tabRouteren:
		return newRouteren(c)
	case tabGebruikers:
		return newGebruikers(c)
	case tabOrganisaties:
		return newOrganisaties(c)
	default:
		return newCPAs(c)
	}
}

// current is the tab in view, if there is one.
func (a *App) current() (tabKind, bool) {
	if len(a.tabs) == 0 {
		return 0, false
	}
	return a.tabs[a.tab], true
}

// refresh reads the principal again, so that the tabs and products follow a revoked role or
// product, or a disabled account, at the next action in a portal that is already open. The
// engine refuses such an action itself; this is what the portal shows. It tells whether the
// tab or product in view changed, so that the caller reloads it.
func (a *App) refresh() bool {
	c := a.c
	fp, err := c.Hub.Refresh(c.P)
	switch {
	case errors.Is(err, exchange.ErrDenied):
		// Disabled or deleted: nothing left to use (the server closes the connection too).
		// The name stays, so that a next refresh finds the account again if it is enabled.
		fp = &exchange.Principal{Account: exchange.Account{Name: c.P.Account.Name, Org: c.P.Account.Org, Disabled: true},
			Org: c.P.Org, Remote: c.P.Remote}
		c.Fail(err)
	case err != nil:
		// A store that does not answer now: keep showing what was allowed; the engine decides
		// each action anyway.
		c.Opts.Log.Warn("tui: account opnieuw lezen", "account", c.P.Account.Name, "err", err)
		return false
	}
	tab, had := a.current()
	product := c.Product
	c.P = fp
	a.layout()
	now, has := a.current()
	return had != has || tab != now || product != c.Product
}

func (a *App) active() screen {
	if len(a.tabs) == 0 {
		return nil
	}
	return a.screens[a.tabs[a.tab]]
}

// Init asks the terminal for its background, to pick colours that read on it, and starts
// listening to the engine.
func (a *App) Init() tea.Cmd {
	return tea.Batch(tea.RequestBackgroundColor, a.listen())
}

func (a *App) listen() tea.Cmd {
	if a.events == nil {
		return nil
	}
	ch := a.events
	return func() tea.Msg {
		e, ok := <-ch
		if !ok {
			return nil
		}
		return eventMsg(e)
	}
}

// Update handles one message. A panic in any screen is caught here: the session goes on
// with the error on the status line, and the stack goes to the log.
func (a *App) Update(msg tea.Msg) (_ tea.Model, cmd tea.Cmd) {
	defer func() {
		if r := recover(); r != nil {
			a.c.Opts.Log.Error("tui: paniek in scherm", "account", a.c.P.Account.Name, "panic", r, "stack", string(debug.Stack()))
			a.c.Fail(fmt.Errorf("er ging iets mis (%v); het scherm is hersteld, probeer het opnieuw", r))
			a.c.confirm = nil
			cmd = nil
		}
	}()
	return a, a.update(msg)
}

func (a *App) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		// ssh -tt without a terminal asks for a 0×0 one: draw at 80×24 then.
		a.c.Width, a.c.Height = msg.Width, msg.Height
		if a.c.Width <= 0 || a.c.Height <= 0 {
			a.c.Width, a.c.Height = 80, 24
		}
		return nil
	case tea.BackgroundColorMsg:
		a.c.Styles = newStyles(msg.IsDark())
		a.help.Styles = help.DefaultStyles(msg.IsDark())
		return nil
	case eventMsg:
		changed := a.refresh()
		if s := a.active(); s != nil && (changed || msg.Product == "" || msg.Product == a.c.Product) {
			s.Reload()
		}
		return a.listen()
	case tea.KeyPressMsg:
		return a.key(msg)
	}
	if s := a.active(); s != nil {
		return s.Update(msg)
	}
	return nil
}

func (a *App) key(msg tea.KeyPressMsg) tea.Cmd {
	k := a.c.Keys
	if msg.String() == "ctrl+c" {
		return tea.Quit
	}
	if q := a.c.confirm; q != nil {
		switch msg.String() {
		case "j", "J", "y", "Y", "enter":
			a.c.confirm = nil
			if err := q.run(); err != nil {
				a.c.Fail(err)
			} else {
				a.c.Flash("%s", q.done)
			}
			a.refresh()
			if s := a.active(); s != nil {
				s.Reload()
			}
		case "n", "N", "esc":
			a.c.confirm = nil
			a.c.Flash("Geannuleerd.")
		}
		return nil
	}
	if a.showHelp {
		if key.Matches(msg, k.Help, k.Back) {
			a.showHelp = false
			return nil
		}
		if !key.Matches(msg, k.Quit) {
			return nil
		}
	}
	s := a.active()
	if s != nil && s.Editing() {
		return s.Update(msg)
	}
	a.c.clearStatus()
	// Every key that is not typed into a form is an action: draw it with the account as the
	// store has it now. A form keeps the keyboard; its save is decided by the engine.
	if a.refresh() {
		if s = a.active(); s != nil {
			s.Reload()
		}
	}
	s = a.active()
	switch {
	case key.Matches(msg, k.Quit):
		return tea.Quit
	case key.Matches(msg, k.Help):
		a.showHelp = true
		return nil
	case key.Matches(msg, k.NextTab):
		a.switchTab(1)
		return nil
	case key.Matches(msg, k.PrevTab):
		a.switchTab(-1)
		return nil
	case key.Matches(msg, k.Product):
		products := a.c.Products()
		if i := int(msg.String()[0] - '1'); i < len(products) {
			a.c.Product = products[i]
			if a.tabs[a.tab] >= tabGebruikers {
				a.tab = 0
			}
			if s := a.active(); s != nil {
				s.Reload()
			}
		}
		return nil
	}
	if s != nil {
		return s.Update(msg)
	}
	return nil
}

func (a *App) switchTab(d int) {
	if len(a.tabs) == 0 {
		return
	}
	a.tab = (a.tab + d + len(a.tabs)) % len(a.tabs)
	a.active().Reload()
}

// View draws the frame: header, product bar, tabs, the screen, the status line and the keys.
func (a *App) View() tea.View {
	v := tea.NewView(a.render())
	v.AltScreen = !a.c.Opts.NoAltScreen
	v.WindowTitle = a.c.Opts.HubName
	return v
}

func (a *App) render() (out string) {
	defer func() {
		if r := recover(); r != nil {
			a.c.Opts.Log.Error("tui: paniek bij tekenen", "account", a.c.P.Account.Name, "panic", r, "stack", string(debug.Stack()))
			out = fmt.Sprintf("Er ging iets mis bij het tekenen van dit scherm (%v).\nDruk op tab voor een ander tabblad of q om af te sluiten.", r)
		}
	}()
	c := a.c
	w, h := c.Width, c.Height
	st := c.Styles
	top := []string{a.headerView(w), a.productBar(w), a.tabBar(w), st.Rule.Render(strings.Repeat("─", w))}
	status := a.statusView(w)
	footer := a.footerView(w)
	bodyH := max(h-len(top)-2, 1)
	var body string
	switch s := a.active(); {
	case a.showHelp:
		body = a.fullHelp()
	case s == nil:
		body = "Dit account heeft geen producten en geen beheertaken. Vraag de gebruikersbeheerder van uw organisatie om toegang."
	default:
		body = s.View(w, bodyH)
	}
	lines := append(top, fit(body, w, bodyH), status, footer)
	return strings.Join(lines, "\n")
}

func (a *App) headerView(w int) string {
	c, st := a.c, a.c.Styles
	left := st.HubName.Render(c.Opts.HubName)
	who := c.P.Account.Name
	if c.P.Org.Code != "" {
		who += " · " + exchange.Printable(c.P.Org.Name) + " (" + c.P.Org.Code + ")"
	} else if c.P.Has(exchange.Beheerder) {
		who += " · beheerder van het knooppunt"
	}
	right := st.Header.Render(who)
	gap := w - lipgloss.Width(left) - lipgloss.Width(right) - 2
	if gap < 1 {
		return ansi.Truncate(" "+left+" "+right, w, "…")
	}
	return " " + left + strings.Repeat(" ", gap) + right + " "
}

func (a *App) productBar(w int) string {
	c, st := a.c, a.c.Styles
	products := c.Products()
	if len(products) == 0 {
		if c.P.Has(exchange.Beheerder) {
			return ansi.Truncate(st.Muted.Render(" Beheerder: accounts en organisaties van het knooppunt; geen eigen berichten"), w, "…")
		}
		return st.Muted.Render(" Geen producten")
	}
	parts := []string{st.Label.Render(" Product:")}
	for i, p := range products {
		name := fmt.Sprintf("%d %s", i+1, c.ProductName(p))
		if p == c.Product && a.tabs[a.tab] < tabGebruikers {
			parts = append(parts, st.ProductActive.Render("["+name+"]"))
		} else {
			parts = append(parts, st.Product.Render(" "+name+" "))
		}
	}
	return ansi.Truncate(strings.Join(parts, " "), w, "…")
}

func (a *App) tabBar(w int) string {
	st := a.c.Styles
	var parts []string
	for i, t := range a.tabs {
		if i == a.tab {
			parts = append(parts, st.TabActive.Render("["+t.String()+"]"))
		} else {
			parts = append(parts, st.Tab.Render(" "+t.String()+" "))
		}
	}
	return ansi.Truncate(strings.Join(parts, st.Rule.Render("│")), w, "…")
}

func (a *App) statusView(w int) string {
	c, st := a.c, a.c.Styles
	switch {
	case c.confirm != nil:
		// However long the question, the answer keys stay in view.
		return st.Warn.Render(ansi.Truncate(c.confirm.prompt, max(w-6, 1), "…") + " [j/n]")
	case c.status == "":
		return ""
	case c.statusOK:
		return ansi.Truncate(st.OK.Render(c.status), w, "…")
	}
	return ansi.Truncate(st.Error.Render(c.status), w, "…")
}

// footerView is the line of keys. The screen's own keys come first; `?` and `q` are always
// there at the end, however narrow the terminal, so that the full help can be found. While
// a form or text field has the keyboard, tab belongs to it and the frame's keys are left out.
func (a *App) footerView(w int) string {
	k := a.c.Keys
	s := a.active()
	var own, frame []key.Binding
	switch {
	case a.c.confirm != nil:
		own = []key.Binding{
			key.NewBinding(key.WithKeys("j"), key.WithHelp("j", "ja")),
			key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "nee")),
		}
	case a.showHelp:
		own = []key.Binding{k.Back, k.Quit}
	case s != nil && s.Editing():
		own = s.ShortHelp()
	default:
		if s != nil {
			own = s.ShortHelp()
		}
		frame = []key.Binding{k.Help, k.Quit}
		if len(a.tabs) > 1 && w >= 100 {
			frame = append([]key.Binding{k.NextTab}, frame...)
		}
	}
	a.help.SetWidth(0) // fitted here: help's own cut lets a line overflow when "…" does not fit
	tail := a.help.ShortHelpView(frame)
	sep := a.help.Styles.ShortSeparator.Render(a.help.ShortSeparator)
	room := w
	if tail != "" {
		room -= lipgloss.Width(tail) + lipgloss.Width(sep)
	}
	ellipsis := " " + a.help.Styles.Ellipsis.Render(a.help.Ellipsis)
	head := ""
	for n := len(own); n > 0; n-- {
		h := a.help.ShortHelpView(own[:n])
		if n < len(own) {
			h += ellipsis
		}
		if lipgloss.Width(h) <= room {
			head = h
			break
		}
	}
	switch {
	case head == "":
		return ansi.Truncate(tail, w, "…")
	case tail == "":
		return head
	}
	return head + sep + tail
}

func (a *App) fullHelp() string {
	k := a.c.Keys
	groups := [][]key.Binding{{k.NextTab, k.PrevTab, k.Product, k.Help, k.Quit}}
	if s := a.active(); s != nil {
		groups = append(groups, s.FullHelp()...)
	}
	// Columns that do not fit beside each other go below, so that no key is hidden on a
	// narrow terminal.
	a.help.SetWidth(0)
	sep := a.help.Styles.FullSeparator.Render(a.help.FullSeparator)
	var bands, band []string
	used := 0
	for _, g := range groups {
		col := a.help.FullHelpView([][]key.Binding{g})
		if col == "" {
			continue
		}
		w := lipgloss.Width(col)
		if len(band) > 0 && used+lipgloss.Width(sep)+w > a.c.Width {
			bands = append(bands, lipgloss.JoinHorizontal(lipgloss.Top, band...))
			band, used = nil, 0
		}
		if len(band) > 0 {
			band = append(band, sep)
			used += lipgloss.Width(sep)
		}
		band = append(band, col)
		used += w
	}
	if len(band) > 0 {
		bands = append(bands, lipgloss.JoinHorizontal(lipgloss.Top, band...))
	}
	return a.c.Styles.Title.Render("Alle toetsen") + "\n\n" + strings.Join(bands, "\n\n")
}

// Ask makes the frame ask prompt before run; done is shown when run succeeded.
func (c *Common) Ask(prompt, done string, run func() error) {
	c.confirm = &confirmation{prompt: prompt, done: done, run: run}
}

// fit cuts s to w columns and exactly h lines, so that the frame never moves.
func fit(s string, w, h int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for i, l := range lines {
		if lipgloss.Width(l) > w {
			lines[i] = ansi.Truncate(l, w, "…")
		}
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}
