package tui

import (
	"fmt"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/paginator"
	"charm.land/bubbles/v2/table"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// pageSizes are the portal's choices of rows per page.
var pageSizes = []int{10, 100, 500}

// pager keeps the page of a list that the exchange hands out page by page; only one page is
// ever fetched.
type pager struct {
	paginator.Model
	total int
	more  bool // total is a lower bound: the exchange stopped counting
}

func newPager() pager {
	return pager{Model: paginator.New(paginator.WithPerPage(pageSizes[0]))}
}

func (p *pager) offset() int { return p.Page * p.PerPage }

// setCount records the number of items the exchange reported, and tells whether the current
// page lies past the end (items were removed) and was moved back. When the count is a lower
// bound (more), one page more is offered than the count fills, and the view shows "10.000+".
func (p *pager) setCount(n int, more bool) (moved bool) {
	p.total, p.more = n, more
	if more {
		n++
	}
	p.SetTotalPages(n)
	if p.TotalPages == 0 {
		p.TotalPages = 1
	}
	if p.Page >= p.TotalPages {
		p.Page = p.TotalPages - 1
		return true
	}
	return false
}

// handle moves through the pages; it tells whether the page changed.
func (p *pager) handle(msg tea.KeyPressMsg, k KeyMap) bool {
	before, per := p.Page, p.PerPage
	switch {
	case key.Matches(msg, k.PrevPage):
		p.PrevPage()
	case key.Matches(msg, k.NextPage):
		p.NextPage()
	case key.Matches(msg, k.FirstPage):
		p.Page = 0
	case key.Matches(msg, k.LastPage):
		p.Page = max(p.TotalPages-1, 0)
	case key.Matches(msg, k.PageSize):
		first := p.offset()
		for i, s := range pageSizes {
			if s == p.PerPage {
				p.PerPage = pageSizes[(i+1)%len(pageSizes)]
				break
			}
		}
		p.Page = first / p.PerPage
	default:
		return false
	}
	return p.Page != before || p.PerPage != per
}

// view draws the navigation as the portal does: ← « 1 2 3 » → 10 | 100 | 500, and the total
// counted in one (singular) or many.
func (p *pager) view(st Styles, one, many string, width int) string {
	var b strings.Builder
	b.WriteString("← « ")
	first, last := 0, p.TotalPages-1
	const window = 7
	if p.TotalPages > window {
		first = max(0, min(p.Page-window/2, p.TotalPages-window))
		last = first + window - 1
	}
	if first > 0 {
		b.WriteString("… ")
	}
	for i := first; i <= last; i++ {
		n := strconv.Itoa(i + 1)
		if i == p.Page {
			b.WriteString(st.PageActive.Render("[" + n + "]"))
		} else {
			b.WriteString(st.Page.Render(n))
		}
		b.WriteString(" ")
	}
	if last < p.TotalPages-1 {
		b.WriteString("… ")
	}
	b.WriteString("» →   ")
	for i, s := range pageSizes {
		if i > 0 {
			b.WriteString(" | ")
		}
		n := strconv.Itoa(s)
		if s == p.PerPage {
			b.WriteString(st.PageActive.Render("[" + n + "]"))
		} else {
			b.WriteString(n)
		}
	}
	noun := many
	if p.total == 1 && !p.more {
		noun = one
	}
	if p.more {
		fmt.Fprintf(&b, "   %s+ %s", thousands(p.total), noun)
	} else {
		fmt.Fprintf(&b, "   %d %s", p.total, noun)
	}
	return ansi.Truncate(b.String(), width, "…")
}

// newTable is a bubbles table with the portal's keys: space and the letters stay free for
// selecting and acting.
func newTable(c *Common) table.Model {
	km := table.KeyMap{
		LineUp:     c.Keys.Up,
		LineDown:   c.Keys.Down,
		PageUp:     key.NewBinding(key.WithKeys("pgup"), key.WithHelp("pgup", "scherm omhoog")),
		PageDown:   key.NewBinding(key.WithKeys("pgdown"), key.WithHelp("pgdn", "scherm omlaag")),
		GotoTop:    key.NewBinding(key.WithKeys("g"), key.WithHelp("g", "bovenaan")),
		GotoBottom: key.NewBinding(key.WithKeys("G"), key.WithHelp("G", "onderaan")),
	}
	t := table.New(table.WithKeyMap(km), table.WithFocused(true))
	t.SetStyles(table.Styles{Header: c.Styles.TableHeader, Cell: c.Styles.TableCell, Selected: c.Styles.TableSel})
	return t
}

// columns sizes a table to width: every column keeps its width except flex, which takes what
// is left (each column is followed by one space).
func columns(width, flex int, cols ...table.Column) []table.Column {
	used := 0
	for i, col := range cols {
		used++
		if i != flex {
			used += col.Width
		}
	}
	cols[flex].Width = max(width-used, 8)
	return cols
}

// mark shows whether a row is selected, readable without colour.
func mark(selected bool) string {
	if selected {
		return "[x]"
	}
	return "[ ]"
}

// thousands writes n with Dutch thousands separators: 10.000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "." + s[i:]
	}
	return s
}

// loadPage fetches the pager's current page. When items were removed and the page now lies
// past the end, the pager moves back and the page is fetched again. On an error the status
// line shows it and the page is empty.
func loadPage[T any](c *Common, p *pager, fetch func(limit, offset int) (rows []T, total int, more bool, err error)) []T {
	for {
		rows, total, more, err := fetch(p.PerPage, p.offset())
		if err != nil {
			c.Fail(err)
			return nil
		}
		if !p.setCount(total, more) {
			return rows
		}
	}
}
