package tui

import (
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/table"
	tea "charm.land/bubbletea/v2"
)

// list is what every table screen holds: the rows it shows and the table drawing them.
// Screens embed it, so that choosing the row under the cursor and moving through the table
// are written once.
type list[T any] struct {
	rows []T
	tbl  table.Model
}

func newList[T any](c *Common) list[T] { return list[T]{tbl: newTable(c)} }

// current is the row under the cursor; false when the table is empty.
func (l *list[T]) current() (T, bool) {
	i := l.tbl.Cursor()
	if i < 0 || i >= len(l.rows) {
		var none T
		return none, false
	}
	return l.rows[i], true
}

// set takes the rows a screen loaded; when loading failed the status line says why and
// the table shows nothing rather than stale rows.
func (l *list[T]) set(c *Common, rows []T, err error) {
	if err != nil {
		c.Fail(err)
		rows = nil
	}
	l.rows = rows
}

// fill lays the rows out in the table under cols, one table row each.
func (l *list[T]) fill(cols []table.Column, row func(T) table.Row) {
	trows := make([]table.Row, len(l.rows))
	for i, r := range l.rows {
		trows[i] = row(r)
	}
	l.tbl.SetColumns(cols)
	l.tbl.SetRows(trows)
}

// scroll hands a key the screen has no use for to the table, which moves its cursor.
func (l *list[T]) scroll(km tea.KeyPressMsg) tea.Cmd {
	var cmd tea.Cmd
	l.tbl, cmd = l.tbl.Update(km)
	return cmd
}

// formHost is a screen that opens a form over its content: the administration screens.
type formHost struct {
	open *form
}

// show opens f with the focus on its first field that can change.
func (h *formHost) show(f *form) tea.Cmd {
	h.open = f
	return f.start()
}

// feed hands msg to the open form and forgets the form once it is submitted or left.
func (h *formHost) feed(msg tea.Msg) tea.Cmd {
	closed, cmd := h.open.update(msg)
	if closed {
		h.open = nil
	}
	return cmd
}

// keyPress begins an administration screen's Update: while a form is open every message
// is the form's (ok false, cmd what the form made of it); otherwise only a key press is
// for the screen itself.
func (h *formHost) keyPress(msg tea.Msg) (km tea.KeyPressMsg, cmd tea.Cmd, ok bool) {
	if h.open != nil {
		return km, h.feed(msg), false
	}
	km, ok = msg.(tea.KeyPressMsg)
	return km, nil, ok
}

// formHelp is the help line while a form is open.
func (k KeyMap) formHelp() []key.Binding {
	return []key.Binding{k.NextField, k.Save, k.Back}
}
