package tui

import (
	"strings"

	"charm.land/bubbles/v2/table"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
)

type fieldKind int

const (
	fieldStatic fieldKind = iota
	fieldText
	fieldChoice
	fieldCheck
)

type field struct {
	label   string
	kind    fieldKind
	value   string // fieldStatic
	input   textinput.Model
	options []string
	choice  int
	checked bool
}

// form is a small dialog of fields ending in one action button. Arrow keys and tab move
// between fields, space or ←/→ change a choice, enter on the button (or ctrl+s anywhere)
// submits, esc leaves without a change.
type form struct {
	title  string
	note   string
	fields []*field
	focus  int // len(fields) is the button
	button string
	err    string
	submit func(f *form) error // nil makes the form read-only
	// changed runs after a choice changed, so that fields depending on it can follow.
	changed func(f *form)
}

func (f *form) static(label, value string) *form {
	f.fields = append(f.fields, &field{label: label, kind: fieldStatic, value: value})
	return f
}

func (f *form) text(label, value, placeholder string) *form {
	in := textinput.New()
	in.Prompt = ""
	in.Placeholder = placeholder
	in.SetValue(value)
	f.fields = append(f.fields, &field{label: label, kind: fieldText, input: in})
	return f
}

func (f *form) choice(label string, options []string, current string) *form {
	fd := &field{label: label, kind: fieldChoice, options: options}
	for i, o := range options {
		if o == current {
			fd.choice = i
		}
	}
	f.fields = append(f.fields, fd)
	return f
}

func (f *form) check(label string, checked bool) *form {
	f.fields = append(f.fields, &field{label: label, kind: fieldCheck, checked: checked})
	return f
}

// value is what field i holds now: the text, the chosen option, or "ja"/"" for a check.
func (f *form) value(i int) string {
	fd := f.fields[i]
	switch fd.kind {
	case fieldText:
		return strings.TrimSpace(fd.input.Value())
	case fieldChoice:
		return fd.options[fd.choice]
	case fieldCheck:
		if fd.checked {
			return "ja"
		}
		return ""
	}
	return fd.value
}

// start puts the focus on the first field that can change.
func (f *form) start() tea.Cmd {
	f.focus = len(f.fields)
	for i, fd := range f.fields {
		if fd.kind != fieldStatic && f.submit != nil {
			f.focus = i
			break
		}
	}
	return f.refocus()
}

func (f *form) refocus() tea.Cmd {
	var cmd tea.Cmd
	for i, fd := range f.fields {
		if fd.kind != fieldText {
			continue
		}
		if i == f.focus {
			cmd = fd.input.Focus()
		} else {
			fd.input.Blur()
		}
	}
	return cmd
}

func (f *form) move(d int) tea.Cmd {
	n := len(f.fields) + 1
	for range n {
		f.focus = (f.focus + d + n) % n
		if f.focus == len(f.fields) || f.fields[f.focus].kind != fieldStatic {
			break
		}
	}
	return f.refocus()
}

// update handles one message; closed tells that the form is done (submitted or left).
func (f *form) update(msg tea.Msg) (closed bool, cmd tea.Cmd) {
	km, isKey := msg.(tea.KeyPressMsg)
	var cur *field
	if f.focus < len(f.fields) {
		cur = f.fields[f.focus]
	}
	if !isKey {
		if cur != nil && cur.kind == fieldText {
			cur.input, cmd = cur.input.Update(msg)
		}
		return false, cmd
	}
	switch km.String() {
	case "esc":
		return true, nil
	case "ctrl+s":
		return f.doSubmit()
	case "tab", "down":
		return false, f.move(1)
	case "shift+tab", "up":
		return false, f.move(-1)
	case "enter":
		if cur == nil {
			return f.doSubmit()
		}
		return false, f.move(1)
	}
	if cur == nil || f.submit == nil {
		return false, nil
	}
	switch cur.kind {
	case fieldText:
		cur.input, cmd = cur.input.Update(msg)
		return false, cmd
	case fieldChoice:
		switch km.String() {
		case "space", "right", "l":
			cur.choice = (cur.choice + 1) % len(cur.options)
		case "left", "h":
			cur.choice = (cur.choice - 1 + len(cur.options)) % len(cur.options)
		default:
			return false, nil
		}
		if f.changed != nil {
			f.changed(f)
		}
	case fieldCheck:
		if km.String() == "space" || km.String() == "x" {
			cur.checked = !cur.checked
		}
	}
	return false, nil
}

func (f *form) doSubmit() (bool, tea.Cmd) {
	if f.submit == nil {
		return true, nil
	}
	if err := f.submit(f); err != nil {
		f.err = explain(err)
		return false, nil
	}
	return true, nil
}

// view draws the form within width columns.
func (f *form) view(st Styles, width int) string {
	labelW := 0
	for _, fd := range f.fields {
		labelW = max(labelW, lipgloss.Width(fd.label))
	}
	var b strings.Builder
	if f.title != "" {
		b.WriteString(st.Title.Render(f.title) + "\n")
	}
	valueW := max(width-labelW-6, 10)
	for i, fd := range f.fields {
		focused := i == f.focus && f.submit != nil
		pointer := "  "
		if focused {
			pointer = "› "
		}
		label := st.Label.Render(fd.label + strings.Repeat(" ", labelW-lipgloss.Width(fd.label)))
		var val string
		switch fd.kind {
		case fieldStatic:
			val = fd.value
		case fieldText:
			fd.input.SetWidth(valueW - 2)
			val = "[" + fd.input.View() + "]"
		case fieldChoice:
			var opts []string
			for j, o := range fd.options {
				if j == fd.choice {
					opts = append(opts, "("+"•"+") "+o)
				} else {
					opts = append(opts, "( ) "+o)
				}
			}
			val = strings.Join(opts, "  ")
		case fieldCheck:
			val = mark(fd.checked)
		}
		if focused && fd.kind != fieldText {
			val = st.FieldFocus.Render(val)
		}
		b.WriteString(pointer + label + "  " + val + "\n")
	}
	if f.submit != nil {
		btn := "[ " + f.button + " ]"
		if f.focus == len(f.fields) {
			b.WriteString("› " + st.FieldFocus.Render(btn))
		} else {
			b.WriteString("  " + btn)
		}
		b.WriteString("   " + st.Muted.Render("esc annuleren") + "\n")
	}
	if f.note != "" {
		b.WriteString(lipgloss.NewStyle().Width(width).Render(st.Muted.Render(f.note)) + "\n")
	}
	if f.err != "" {
		b.WriteString(lipgloss.NewStyle().Width(width).Render(st.Error.Render(f.err)) + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// formOrTable is the view of an administration screen: its open form, or else its table (or
// a hint when the table is empty), under the title.
func formOrTable(st Styles, title string, open *form, rows int, empty string, tbl *table.Model, cols []table.Column, width, height int) string {
	head := st.Title.Render(title)
	if open != nil {
		return head + "\n\n" + open.view(st, width)
	}
	if rows == 0 {
		return head + "\n\n" + empty
	}
	tbl.SetColumns(cols)
	tbl.SetWidth(width)
	tbl.SetHeight(height - 1)
	return head + "\n" + tbl.View()
}
