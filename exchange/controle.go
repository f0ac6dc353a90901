package exchange

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"

	"knooppunt/exchange/codes"
	"knooppunt/exchange/stuf"
	"knooppunt/exchange/zipintake"
	"knooppunt/storage"
)

// checker applies the business rules to the entries of one upload. It caches what it looks
// up (organisations, samenwerking, routes) for the length of the upload; entries are checked
// concurrently.
type checker struct {
	h    *Hub
	u    *Upload
	info ProductInfo

	mu     sync.Mutex
	orgs   map[string]orgFacts
	routes map[routeKey]Route
}

// orgFacts is what the checks need of one organisation: whether the hub knows it, and who runs
// the upload's product for it (itself, or its samenwerking partner).
type orgFacts struct {
	known bool
	actor string
}

// routeKey is a route's cache key; a struct, so a lookup builds no string.
type routeKey struct{ org, exchange string }

func (h *Hub) newChecker(u *Upload) *checker {
	info, _ := h.cat.Product(u.Product)
	return &checker{h: h, u: u, info: info, orgs: map[string]orgFacts{}, routes: map[routeKey]Route{}}
}

func (c *checker) isKnown(code string) bool { return c.org(code).known }

func (c *checker) actor(code string) string { return c.org(code).actor }

// org is code's facts from the cache, looked up when missing; a failed lookup counts as
// unknown and is not kept (lookup, called first by the rules, reports it as a retry).
func (c *checker) org(code string) orgFacts {
	c.mu.Lock()
	f, ok := c.orgs[code]
	c.mu.Unlock()
	if !ok {
		if err := c.lookup(code, ""); err != nil {
			return orgFacts{actor: code}
		}
		c.mu.Lock()
		f = c.orgs[code]
		c.mu.Unlock()
	}
	return f
}

// lookup reads, once per upload, the organisation code and (with an exchange) the route of
// its mailbox, in one transaction: on PostgreSQL the organisation and the route of its own
// mailbox (no samenwerking, the common case) in one query. The organisation, whether it runs
// the product itself and the route were three transactions of a round trip or more each per
// new code; on a busy database these were most of a small upload's processing (issue 14).
func (c *checker) lookup(code, exchange string) error {
	c.mu.Lock()
	f, haveOrg := c.orgs[code]
	haveRoute := true
	if exchange != "" && haveOrg {
		_, haveRoute = c.routes[routeKey{f.actor, exchange}]
	} else if exchange != "" {
		haveRoute = false
	}
	c.mu.Unlock()
	if haveOrg && haveRoute {
		return nil
	}
	var r Route
	err := c.h.kv.View(func(t storage.Txn) error {
		keys := [][]byte{key(kOrg, code)}
		if exchange != "" {
			keys = append(keys, key(kRoute, code, c.u.Product, exchange))
		}
		if err := storage.Prefetch(t, keys); err != nil {
			return err
		}
		f = orgFacts{actor: code}
		o, err := txOrg(t, code)
		switch {
		case err == nil:
			f.known = true
			if a := o.Samenwerking[c.u.Product]; a != "" {
				f.actor = a
			}
		case !errors.Is(err, ErrNotFound):
			return err
		}
		if exchange != "" {
			r, err = routeOf(t, f.actor, c.u.Product, exchange)
		}
		return err
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.orgs[code] = f
	if exchange != "" {
		c.routes[routeKey{f.actor, exchange}] = r
	}
	c.mu.Unlock()
	return nil
}

func (c *checker) route(org, exchange string) (Route, error) {
	k := routeKey{org, exchange}
	c.mu.Lock()
	r, ok := c.routes[k]
	c.mu.Unlock()
	if ok {
		return r, nil
	}
	err := c.h.kv.View(func(t storage.Txn) error {
		var err error
		r, err = routeOf(t, org, c.u.Product, exchange)
		return err
	})
	if err != nil {
		return Route{}, err
	}
	c.mu.Lock()
	c.routes[k] = r
	c.mu.Unlock()
	return r, nil
}

// unknownOrg is the rejection for an organisation the hub does not know: IB005 for a
// gemeentecode, the hub's own KP001 for the rest.
func unknownOrg(code, role string) *codes.Rejection {
	if kind, err := KindOf(code); err == nil && kind == Gemeente {
		return &codes.Rejection{Code: codes.IB005, Detail: fmt.Sprintf("gemeentecode %s (%s) is onbekend bij het knooppunt", code, role)}
	}
	return &codes.Rejection{Code: codes.KP001, Detail: fmt.Sprintf("organisatie %q (%s) is onbekend bij het knooppunt", code, role)}
}

// check decides one entry, except for the rules that depend on other messages (IB016, KP005),
// which commitBatch applies inside its transaction.
func (c *checker) check(e zipintake.Entry) verdict {
	v := verdict{index: e.Index, name: e.Name}
	if e.Rejection != nil {
		v.fout = e.Rejection
		return v
	}
	rc, err := e.Open()
	if err != nil {
		if !errors.As(err, &v.fout) {
			v.err = fmt.Errorf("bestand %s openen: %w", e.Name, err)
		}
		return v
	}
	defer rc.Close() // read only: its Close loses nothing
	var r io.Reader = rc
	if !c.info.Envelope {
		br := bufio.NewReaderSize(rc, 4096)
		head, _ := br.Peek(4096) // a shorter file gives what it has, with io.EOF: enough to look at
		if !bytes.Contains(head, []byte("ggk0210")) {
			return c.checkPlain(v, e, br)
		}
		r = br
	}
	ep, _ := c.h.parsers.Get().(*stuf.Parser)
	if ep == nil {
		ep = new(stuf.Parser)
	}
	rr := &refusingReader{r: r}
	env, rej := ep.Parse(rr)
	var ph *payloadHeader
	if rej == nil && rr.rej == nil && env.Kind == "xmlBestand" && !c.h.cfg.SkipPayloadCheck {
		ph = readPayloadHeader(ep)
	}
	c.h.parsers.Put(ep)
	if rr.rej != nil {
		// The entry broke a limit or failed its CRC while being read (IB904, KP004, IB901):
		// that is the reason, not the XML that stopped short because of it.
		rej = rr.rej
	}
	if rej != nil {
		v.fout = rej
		return v
	}
	u := c.u
	v.msg = &Message{
		// Fields of a refused envelope can hold anything; those of an accepted one are codes
		// that Printable leaves as they are.
		ID: msgID(u.ID, e.Index), Product: u.Product, Functie: Printable(env.Functie), Referentie: Printable(env.Referentie),
		CrossRef: Printable(env.CrossRef), Zender: Printable(env.ZenderOrg), Ontvanger: Printable(env.OntvangerOrg), Uploader: u.Org,
		UploadID: u.ID, Entry: e.Index, File: e.Name, Size: e.Size, ReceivedAt: u.ReceivedAt,
		Status: MsgOntvangen, History: []StatusEvent{{At: u.ReceivedAt, Status: MsgOntvangen}},
	}
	v.fout = c.rules(&v, env)
	if v.fout == nil && ph != nil {
		v.fout = c.payloadRule(ph, env)
	}
	return v
}

// refusingReader keeps the *Rejection an entry's reader failed with.
type refusingReader struct {
	r   io.Reader
	rej *codes.Rejection
}

func (x *refusingReader) Read(p []byte) (int, error) {
	n, err := x.r.Read(p)
	if err != nil && x.rej == nil {
		errors.As(err, &x.rej)
	}
	return n, err
}

func (c *checker) rules(v *verdict, env stuf.Envelope) *codes.Rejection {
	cat, p := c.h.cat, c.u.Product
	f, ok := cat.Functie(p, env.Functie)
	if !ok {
		if other, ok := cat.FunctieAnywhere(env.Functie); ok {
			return &codes.Rejection{Code: codes.KP006, Detail: fmt.Sprintf("functie %s hoort bij %s; lever het bericht aan in de map %s/aanleveren", env.Functie, other.Product, other.Product)}
		}
		return &codes.Rejection{Code: codes.IB004, Detail: fmt.Sprintf("functie %s wordt niet ondersteund", env.Functie)}
	}
	if retour := env.Root == "Du01"; retour != (f.Direction == Retour) {
		want := "een heenbericht (Di01)"
		if f.Direction == Retour {
			want = "een retourbericht (Du01)"
		}
		return &codes.Rejection{Code: codes.IB007, Detail: fmt.Sprintf("functie %s is %s, maar staat in een %s-envelop", f.Code, want, env.Root)}
	}
	zender, ontvanger := env.ZenderOrg, env.OntvangerOrg
	if err := c.lookup(zender, ""); err != nil {
		v.err = fmt.Errorf("organisatie %s lezen: %w", Printable(zender), err)
		return nil
	}
	if c.actor(zender) != c.u.Org {
		return &codes.Rejection{Code: codes.IB002, Detail: "Organisatie is niet geautoriseerd. Organisatie " + c.u.Org}
	}
	if !c.isKnown(zender) {
		return unknownOrg(zender, "zender")
	}
	// An unknown code has no kind (KindOf's error): it does not match f.From either.
	if kind, _ := KindOf(zender); kind != f.From {
		return &codes.Rejection{Code: codes.IB007, Detail: fmt.Sprintf("een %s mag geen %s versturen; dat doet een %s", kindName(kind), f.Code, kindName(f.From))}
	}
	return c.recipient(v, f, ontvanger, f.Answers)
}

// recipient checks the ontvanger and its route and sets where the message goes.
func (c *checker) recipient(v *verdict, f Functie, ontvanger, answers string) *codes.Rejection {
	if err := c.lookup(ontvanger, f.Exchange); err != nil {
		v.err = fmt.Errorf("organisatie %s lezen: %w", Printable(ontvanger), err)
		return nil
	}
	if !c.isKnown(ontvanger) {
		return unknownOrg(ontvanger, "ontvanger")
	}
	// As for the zender: an unknown code matches no kind.
	if kind, _ := KindOf(ontvanger); kind != f.To {
		return &codes.Rejection{Code: codes.IB007, Detail: fmt.Sprintf("%s gaat naar een %s, niet naar een %s (%s)", f.Code, kindName(f.To), kindName(kind), ontvanger)}
	}
	mailbox := c.actor(ontvanger)
	r, err := c.route(mailbox, f.Exchange)
	if err != nil {
		v.err = fmt.Errorf("route %s van %s lezen: %w", f.Exchange, mailbox, err)
		return nil
	}
	if r.Status != Actief {
		return &codes.Rejection{Code: codes.IB023, Detail: fmt.Sprintf("de route %s van ontvanger %s staat op %s", f.Exchange, mailbox, r.Status)}
	}
	v.msg.Mailbox = mailbox
	v.group = groupKey{Mailbox: mailbox, Functie: f.Code, Exchange: f.Exchange, Hold: r.Via != Portaal}
	v.heen = answers
	return nil
}

func kindName(k OrgKind) string {
	if k == "" {
		return "onbekende organisatie"
	}
	return string(k)
}

// pgbName is the seed's recommended name of a BAB file: <gemeentecode>_<berichttype>_<datum>.xml.
var pgbName = regexp.MustCompile(`(?i)^([0-9]{4})_([a-z]+)_([0-9]{8})[^/]*\.xml$`)

// checkPlain decides a PGB 1.0 file without a StUF envelope. The uploader is the zender; the
// uploader's kind tells the berichttype: a gemeente sends a TKB to the SVB, the SVB sends a
// BAB to the gemeente its file name names.
func (c *checker) checkPlain(v verdict, e zipintake.Entry, r io.Reader) verdict {
	if rej := wellFormed(r); rej != nil {
		v.fout = rej
		return v
	}
	u := c.u
	v.noRef = true
	v.msg = &Message{
		ID: msgID(u.ID, e.Index), Product: u.Product, Referentie: e.Name, Zender: u.Org, Uploader: u.Org,
		UploadID: u.ID, Entry: e.Index, File: e.Name, Size: e.Size, ReceivedAt: u.ReceivedAt,
		Status: MsgOntvangen, History: []StatusEvent{{At: u.ReceivedAt, Status: MsgOntvangen}},
	}
	kind, _ := KindOf(u.Org) // an uploader's code was checked when its organisation was added
	var functie, ontvanger string
	switch kind {
	case Gemeente:
		functie, ontvanger = "TKB", "SVB"
	case SVB:
		functie = "BAB"
		m := pgbName.FindStringSubmatch(e.Name)
		if m == nil || !strings.EqualFold(m[2], "BAB") {
			v.fout = &codes.Rejection{Code: codes.KP008, Detail: fmt.Sprintf("%s: noem een BAB-bestand <gemeentecode>_BAB_<datum>.xml, bijvoorbeeld 0363_BAB_20260128.xml", e.Name)}
			return v
		}
		ontvanger = m[1]
	default:
		v.fout = &codes.Rejection{Code: codes.IB007, Detail: fmt.Sprintf("een %s levert geen PGB-bestanden aan", kindName(kind))}
		return v
	}
	v.msg.Functie, v.msg.Ontvanger = functie, ontvanger
	f, _ := c.h.cat.Functie(u.Product, functie)
	v.fout = c.recipient(&v, f, ontvanger, "")
	return v
}

// wellFormed checks that r is one well-formed XML document without a DTD, which could
// declare entities; nothing is expanded.
func wellFormed(r io.Reader) *codes.Rejection {
	d := xml.NewDecoder(r)
	d.Strict = true
	root := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if !root {
				return &codes.Rejection{Code: codes.IB001, Detail: "niet welgevormd: het bestand bevat geen XML-element"}
			}
			return nil
		}
		if err != nil {
			var rej *codes.Rejection
			if errors.As(err, &rej) {
				return rej
			}
			var syn *xml.SyntaxError
			if errors.As(err, &syn) {
				return &codes.Rejection{Code: codes.IB001, Detail: fmt.Sprintf("niet welgevormd: regel %d: %s", syn.Line, syn.Msg)}
			}
			return &codes.Rejection{Code: codes.IB001, Detail: "niet welgevormd: " + err.Error()}
		}
		switch tok.(type) {
		case xml.Directive:
			return &codes.Rejection{Code: codes.KP007, Detail: "het bestand bevat een DTD of entiteit; die worden niet geaccepteerd"}
		case xml.StartElement:
			root = true
		}
	}
}
