package opdrachten

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"knooppunt/exchange"
	"knooppunt/exchange/tijdzone"
)

var (
	productFlag = flagSpec{name: "product", value: "P"}
	aantalFlag  = flagSpec{name: "aantal", value: "N"}
)

// emit writes a command's result: v as indented JSON with --json, otherwise the text.
func (c *cmdCtx) emit(v any, text func(w io.Writer)) error {
	if !c.json {
		text(c.out)
		return nil
	}
	enc := json.NewEncoder(c.jsonOut())
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// DoneJSON is the answer of a command that changes something and has nothing else to show.
type DoneJSON struct {
	Resultaat string `json:"resultaat"`
	Melding   string `json:"melding"`
}

// done reports a change: the sentence as text, or {"resultaat":"ok","melding":…}.
func (c *cmdCtx) done(format string, a ...any) error {
	msg := fmt.Sprintf(format, a...)
	return c.emit(DoneJSON{"ok", msg}, func(w io.Writer) { fmt.Fprintln(w, msg) })
}

func (c *cmdCtx) table(header string, rows [][]string) {
	tw := newTable(c.out)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ts is a time as scripts read it: RFC 3339 in Dutch time, "" when unset.
func ts(t time.Time) string { return exchange.RFC3339(t) }

// short is a time as people read it in a table.
func short(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(tijdzone.Amsterdam()).Format("02-01-2006 15:04:05")
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func (c *cmdCtx) product(s string) (exchange.Product, error) {
	p, err := c.hub.Catalogue().ParseProduct(s)
	if err != nil {
		return "", usageError{err.Error()}
	}
	return p, nil
}

// products are the products a command covers: the one --product names, or every product of
// the account. exchange still checks each.
func (c *cmdCtx) products(in *input) ([]exchange.Product, error) {
	if s := in.flag("product"); s != "" {
		p, err := c.product(s)
		if err != nil {
			return nil, err
		}
		return []exchange.Product{p}, nil
	}
	ps, err := c.hub.Mailboxes(c.p)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("%w: account %s heeft geen producten; vraag uw gebruikersbeheerder om toegang", exchange.ErrDenied, c.p.Account.Name)
	}
	return ps, nil
}

func (c *cmdCtx) limit(in *input, def int) (int, error) {
	s := in.flag("aantal")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, usagef("--aantal %q: geef een getal, 0 voor alles", s)
	}
	return n, nil
}

// firstN is the first n of a list sorted newest first; n 0 means all.
func firstN[T any](all []T, n int) []T {
	if n > 0 && len(all) > n {
		return all[:n]
	}
	return all
}

// more tells on stderr that a list was cut short, so a script's stdout stays clean.
func (c *cmdCtx) more(shown, total int, what string) {
	if total > shown {
		c.note("let op: %d van %d %s getoond; gebruik --aantal 0 voor alles", shown, total, what)
	}
}
