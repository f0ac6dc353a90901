package tui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/lipgloss/v2"

	"knooppunt/exchange"
	"knooppunt/exchange/tijdzone"
)

// Options describe the session around the screens.
type Options struct {
	// HubName is shown in the header.
	HubName string
	// Host and Port are what the sftp commands on screen connect to.
	Host string
	Port int
	// NoAltScreen draws in the normal screen: for TERM=dumb, which knows no alternate one.
	NoAltScreen bool
	// KeyPath is the private key in the commands shown on screen: the hub cannot know where
	// the person keeps it, so a placeholder; "" means ~/.ssh/id_ed25519.
	KeyPath string
	// Location is the time zone dates are shown in; nil means Europe/Amsterdam.
	Location *time.Location
	Log      *slog.Logger
}

// Common is what every screen shares: the hub and who is using it, the styles and keys, the
// size of the terminal and the product in view.
type Common struct {
	Ctx     context.Context
	Hub     Hub
	P       *exchange.Principal
	Opts    Options
	Styles  Styles
	Keys    KeyMap
	Width   int
	Height  int
	Product exchange.Product

	orgNames map[string]string
	status   string
	statusOK bool
	confirm  *confirmation
}

func newCommon(ctx context.Context, hub Hub, p *exchange.Principal, opts Options) *Common {
	if opts.Location == nil {
		opts.Location = tijdzone.Amsterdam()
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.HubName == "" {
		opts.HubName = "knooppunt"
	}
	if opts.KeyPath == "" {
		opts.KeyPath = "~/.ssh/id_ed25519"
	}
	c := &Common{
		Ctx:      ctx,
		Hub:      hub,
		P:        p,
		Opts:     opts,
		Styles:   newStyles(true),
		Keys:     newKeyMap(),
		Width:    80,
		Height:   24,
		orgNames: map[string]string{},
	}
	if p.Org.Code != "" {
		c.orgNames[p.Org.Code] = exchange.Printable(p.Org.Name)
	}
	return c
}

// Products lists the products this account may use, in the portal's order.
func (c *Common) Products() []exchange.Product {
	var out []exchange.Product
	for _, p := range exchange.Products {
		if c.P.CanUse(p) {
			out = append(out, p)
		}
	}
	return out
}

// ProductName is a product as people write it: iWmo.
func (c *Common) ProductName(p exchange.Product) string {
	if info, ok := c.Hub.Catalogue().Product(p); ok {
		return info.Name
	}
	return string(p)
}

// OrgName names an organisation by its code, remembering the answer for the session.
func (c *Common) OrgName(code string) string {
	if code == "" {
		return ""
	}
	if n, ok := c.orgNames[code]; ok {
		return n
	}
	name := code
	if o, err := c.Hub.Org(code); err == nil && o.Name != "" {
		name = o.Name
	}
	name = exchange.Printable(name)
	c.orgNames[code] = name
	return name
}

// Flash shows a short confirmation in the status line.
func (c *Common) Flash(format string, args ...any) {
	c.status, c.statusOK = exchange.Printable(fmt.Sprintf(format, args...)), true
}

// Fail shows what went wrong, in words a person can act on.
func (c *Common) Fail(err error) {
	c.status, c.statusOK = exchange.Printable(explain(err)), false
}

func (c *Common) clearStatus() { c.status = "" }

// explain turns an error of the exchange into one Dutch line. The exchange already says what
// to do; add a hint only where its sentinel alone would be terse.
func explain(err error) string {
	msg := err.Error()
	switch {
	case errors.Is(err, exchange.ErrDenied) && msg == exchange.ErrDenied.Error():
		return "Geen toestemming: vraag de gebruikersbeheerder van uw organisatie om toegang."
	case errors.Is(err, exchange.ErrNoSpace):
		return "De opslag van het knooppunt is vol: probeer het later opnieuw of neem contact op met de beheerder."
	}
	// "ongeldige invoer: …" says nothing the rest of the sentence does not.
	if errors.Is(err, exchange.ErrInvalid) {
		msg = strings.TrimPrefix(msg, exchange.ErrInvalid.Error()+": ")
	}
	if msg == "" {
		return "Er ging iets mis."
	}
	return strings.ToUpper(msg[:1]) + msg[1:]
}

func (c *Common) date(t time.Time) string { return c.local(t, "02-01-2006 15:04") }

// shortDate leaves out the year, for narrow tables: 12-03 15:34.
func (c *Common) shortDate(t time.Time) string { return c.local(t, "02-01 15:04") }

func (c *Common) dateSec(t time.Time) string { return c.local(t, "02-01-2006 15:04:05") }

// local is t in the reader's time zone laid out as layout; "" for a time never set.
func (c *Common) local(t time.Time, layout string) string {
	if t.IsZero() {
		return ""
	}
	return t.In(c.Opts.Location).Format(layout)
}

// sftpTarget is the user@host part of the commands shown on screen, with the port option.
func (c *Common) sftpTarget() string {
	host := c.Opts.Host
	if host == "" {
		host = "localhost"
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6: sftp reads user@[::1]
	}
	port := ""
	if c.Opts.Port != 0 && c.Opts.Port != 22 {
		port = "-P " + strconv.Itoa(c.Opts.Port) + " "
	}
	return port + c.P.Account.Name + "@" + host
}

// KeyMap holds the keys of the frame; screens add their own.
type KeyMap struct {
	NextTab, PrevTab key.Binding
	Product          key.Binding
	Help             key.Binding
	Quit             key.Binding
	Up, Down         key.Binding
	Enter, Back      key.Binding
	Select           key.Binding
	SelectAll        key.Binding
	Delete           key.Binding
	PrevPage         key.Binding
	NextPage         key.Binding
	FirstPage        key.Binding
	LastPage         key.Binding
	PageSize         key.Binding
	Filter           key.Binding
	Add              key.Binding
	Edit             key.Binding
	NextField, Save  key.Binding // in a form
}

func newKeyMap() KeyMap {
	b := func(keys []string, k, help string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, help))
	}
	return KeyMap{
		NextTab:   b([]string{"tab"}, "tab", "volgend tabblad"),
		PrevTab:   b([]string{"shift+tab"}, "shift+tab", "vorig tabblad"),
		Product:   b([]string{"1", "2", "3", "4", "5"}, "1-5", "product"),
		Help:      b([]string{"?"}, "?", "alle toetsen"),
		Quit:      b([]string{"q", "ctrl+c"}, "q", "afsluiten"),
		Up:        b([]string{"up", "k"}, "↑/k", "omhoog"),
		Down:      b([]string{"down", "j"}, "↓/j", "omlaag"),
		Enter:     b([]string{"enter"}, "enter", "openen"),
		Back:      b([]string{"esc"}, "esc", "terug"),
		Select:    b([]string{"space"}, "spatie", "selecteren"),
		SelectAll: b([]string{"*"}, "*", "pagina selecteren"),
		Delete:    b([]string{"x", "delete"}, "x", "verwijder geselecteerd"),
		PrevPage:  b([]string{"left", "h"}, "←/h", "vorige pagina"),
		NextPage:  b([]string{"right", "l"}, "→/l", "volgende pagina"),
		FirstPage: b([]string{"shift+left", "home"}, "home/shift+←", "eerste pagina"),
		LastPage:  b([]string{"shift+right", "end"}, "end/shift+→", "laatste pagina"),
		PageSize:  b([]string{"p"}, "p", "10 | 100 | 500 per pagina"),
		Filter:    b([]string{"/"}, "/", "filteren"),
		Add:       b([]string{"a"}, "a", "toevoegen"),
		Edit:      b([]string{"e", "enter"}, "enter", "bewerken"),
		NextField: b([]string{"tab", "down"}, "tab/↓", "volgend veld"),
		Save:      b([]string{"ctrl+s"}, "ctrl+s", "opslaan"),
	}
}

// Styles are built for the terminal's background; colour is only ever an extra, so every
// state also shows in text or as bold/reverse for terminals without colour.
type Styles struct {
	Header, HubName, Muted, Faint    lipgloss.Style
	ProductActive, Product           lipgloss.Style
	TabActive, Tab                   lipgloss.Style
	Rule                             lipgloss.Style
	Title, Label, Value              lipgloss.Style
	OK, Error, Warn                  lipgloss.Style
	Cursor, Selected                 lipgloss.Style
	TableHeader, TableCell, TableSel lipgloss.Style
	Command                          lipgloss.Style
	PageActive, Page                 lipgloss.Style
	Dialog                           lipgloss.Style
	FieldFocus, Field                lipgloss.Style
	HelpKey, HelpDesc, HelpSep       lipgloss.Style
}

func newStyles(dark bool) Styles {
	ld := lipgloss.LightDark(dark)
	accent := ld(lipgloss.Color("#1F5FBF"), lipgloss.Color("#7FB2FF"))
	muted := ld(lipgloss.Color("#5A5A5A"), lipgloss.Color("#A0A0A0"))
	faint := ld(lipgloss.Color("#9A9A9A"), lipgloss.Color("#6A6A6A"))
	green := ld(lipgloss.Color("#1A7F37"), lipgloss.Color("#5FD38D"))
	red := ld(lipgloss.Color("#B42318"), lipgloss.Color("#FF7B72"))
	amber := ld(lipgloss.Color("#9A6700"), lipgloss.Color("#E3B341"))
	s := lipgloss.NewStyle()
	return Styles{
		Header:        s.Bold(true),
		HubName:       s.Bold(true).Foreground(accent),
		Muted:         s.Foreground(muted),
		Faint:         s.Faint(true).Foreground(faint),
		ProductActive: s.Bold(true).Reverse(true),
		Product:       s.Foreground(muted),
		TabActive:     s.Bold(true).Underline(true).Foreground(accent),
		Tab:           s,
		Rule:          s.Foreground(faint),
		Title:         s.Bold(true),
		Label:         s.Foreground(muted),
		Value:         s,
		OK:            s.Foreground(green),
		Error:         s.Bold(true).Foreground(red),
		Warn:          s.Foreground(amber),
		Cursor:        s.Reverse(true),
		Selected:      s.Bold(true),
		TableHeader:   s.Bold(true).PaddingRight(1),
		TableCell:     s.PaddingRight(1),
		TableSel:      s.Reverse(true),
		Command:       s.Foreground(accent),
		PageActive:    s.Bold(true).Reverse(true),
		Page:          s,
		Dialog:        s.Border(lipgloss.NormalBorder()).BorderForeground(accent).Padding(0, 1),
		FieldFocus:    s.Bold(true).Reverse(true),
		Field:         s,
		HelpKey:       s.Bold(true),
		HelpDesc:      s.Foreground(muted),
		HelpSep:       s.Foreground(faint),
	}
}
