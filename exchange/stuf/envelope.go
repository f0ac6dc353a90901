package stuf

import (
	"bytes"
	"fmt"
	"io"
	"unicode/utf8"

	"knooppunt/exchange/codes"
)

// Envelope is what the hub reads from a StUF-GGk ggk0210 envelope: the stuurgegevens and
// parameters it routes on, and the kind and decoded size of the payload it never decodes.
type Envelope struct {
	Root                                                                                                   string // "Di01" | "Du01"
	Berichtcode, ZenderOrg, ZenderApp, OntvangerOrg, OntvangerApp, Referentie, Tijdstip, CrossRef, Functie string
	ApplicatieVersie, ApplicatieSubversie, FunctieVersie, FunctieSubversie                                 string
	Kind                                                                                                   string // "xmlBestand" | "tekstBestand"
	Bestandsnaam                                                                                           string
	PayloadSize                                                                                            int64 // decoded bytes
}

// Namespaces the envelope schema uses.
const (
	namespaceGGK  = "http://www.stufstandaarden.nl/koppelvlak/ggk0210"
	namespaceStUF = "http://www.egem.nl/StUF/StUF0301"
	namespaceXSI  = "http://www.w3.org/2001/XMLSchema-instance"
	namespaceXML  = "http://www.w3.org/XML/1998/namespace"
	namespaceNS   = "http://www.w3.org/2000/xmlns/"
)

// Namespace ids: the known namespaces are small constants so that matching an element costs an
// integer compare; any other namespace gets nsOther plus the index of the binding that declared it.
const (
	nsNone = iota
	nsGGK
	nsStUF
	nsXSI
	nsXML
	nsOther
)

// Limits that keep memory bounded whatever the input. The schema's longest value (an
// organisatie of 200 characters) fits in maxValue bytes, and its deepest element is at depth 4,
// so these limits never refuse a valid envelope.
const (
	readBufSize  = 4 << 10
	maxDepth     = 32   // open elements
	maxName      = 256  // bytes in an element, attribute or PI name
	maxAttrs     = 32   // attributes on one element, namespace declarations included
	maxAttrValue = 1024 // bytes of an attribute value kept; longer ones are checked, not kept
	maxBindings  = 64   // namespace declarations in scope
	maxValue     = 1024 // bytes of an element's text kept (the payload is streamed, never kept)
)

// Parse reads one envelope as a stream and checks it against the ggk0210 schema
// (ggk0210_msg_ggkberichten.xsd with StUF 0301). It returns IB001 when the input is not
// well-formed XML (detail "niet welgevormd: regel N: …") or is XML that the schema refuses, and
// KP007 for what the national list has no code for: a DTD, another encoding than UTF-8, too
// many namespace declarations, or a read error of r;
// the detail names the field, in Dutch. The base64 payload is validated and counted as it
// streams by, never held. Business rules (known functie, ontvanger's applicatie GGk, …) are
// the caller's: the verdict here is the schema's alone. On a rejection the Envelope holds the
// fields read before it, which the caller may show but must not trust.
func Parse(r io.Reader) (Envelope, *codes.Rejection) {
	p := new(envParser)
	p.mem = new(parserMem)
	return p.parse(r)
}

// Parser is Parse's state (about 30 KB) kept for reuse: a caller that parses
// many envelopes keeps a few of them (a sync.Pool) instead of allocating and collecting one per
// envelope. The zero value is ready; one Parser parses one envelope at a time.
type Parser struct {
	p      envParser
	mem    parserMem               // the buffers, which a parse overwrites before it reads them: not cleared
	hr     headReader              // BerichtHeader's decoder of the payload's start
	scan   [scanChars / 4 * 3]byte // the start BerichtHeader's fast path reads
	intern map[string]string
}

// Parse is Parse on reused memory; the verdict is exactly Parse's.
func (ep *Parser) Parse(r io.Reader) (Envelope, *codes.Rejection) {
	if ep.intern == nil {
		ep.intern = make(map[string]string, maxInterned)
	}
	ep.p = envParser{mem: &ep.mem, intern: ep.intern} // the state of a fresh parser, without the allocation
	env, rej := ep.p.parse(r)
	ep.p.src, ep.p.rerr = nil, nil // keep no reader alive in a pool
	return env, rej
}

// parserMem holds the parser's large buffers. Nothing is read from them that this parse did
// not write first (the read buffer up to end, the payload's start up to len(head.raw)), so a
// reused Parser skips clearing them.
type parserMem struct {
	read [readBufSize]byte
	head [payloadHeadChars]byte
}

func (p *envParser) parse(r io.Reader) (Envelope, *codes.Rejection) {
	p.src, p.line = r, 1
	p.buf = p.mem.read[:]
	p.head.raw = p.mem.head[:0]
	p.names = p.namesArr[:0]
	p.abuf = p.abufArr[:0]
	p.nsbuf = p.nsbufArr[:0]
	p.attrs = p.attrsArr[:0]
	p.binds = p.bindsArr[:0]
	p.open = p.openArr[:0]
	p.val = p.valArr[:0]
	p.vstack = p.vArr[:0]
	if rej := p.document(); rej != nil {
		return p.env, rej
	}
	if p.verr != nil {
		return p.env, p.verr
	}
	return p.env, nil
}

// envParser is a streaming XML 1.0 + Namespaces tokenizer fused with a validator for the one
// fixed envelope grammar. The tokenizer owns well-formedness (IB001 "niet welgevormd", fatal: parsing stops);
// the validator records the first schema violation (IB001) and then only watches, so a document
// that is both invalid and malformed is reported as malformed, as xmllint does.
type envParser struct {
	src      io.Reader
	buf      []byte
	pos, end int
	eof      bool
	rerr     error
	reads0   int // consecutive empty reads, to stop on a reader that makes no progress
	line     int

	names []byte // qualified names of the open elements, back to back
	open  []openElem
	abuf  []byte // names and kept values of the attributes of the current start tag
	attrs []rawAttr
	nsbuf []byte // prefixes and URIs of the bindings in scope
	binds []binding
	ref   [utf8.UTFMax]byte

	// validator state
	env     Envelope
	verr    *codes.Rejection
	vstack  []vframe
	val     []byte // text of the current simple element, up to maxValue bytes
	valOver bool
	cdata   bool // a CDATA section appeared in the current element
	b64     b64State
	head    payloadHead // the start of an xmlBestand payload, for the payload check

	mem    *parserMem
	intern map[string]string // values seen in earlier envelopes; nil for a one-off Parse
	// plainText turns base64Run off, for the tests that compare it with text's general loop.
	plainText bool
	namesArr  [512]byte
	abufArr   [512]byte
	nsbufArr  [512]byte
	attrsArr  [8]rawAttr
	bindsArr  [8]binding
	openArr   [maxDepth]openElem
	vArr      [maxDepth]vframe
	valArr    [256]byte
}

type openElem struct {
	nameStart int // in names
	bindMark  int // len(binds) before this element's declarations
	nsbufMark int
}

type rawAttr struct {
	qs, qe int // qualified name in abuf
	vs, ve int // kept value in abuf
	colon  int // index of ':' in the name relative to qs, or -1
	over   bool
	ns     int
}

type binding struct {
	ps, pe int // prefix in nsbuf ("" for the default namespace)
	us, ue int // URI in nsbuf
	ns     int
}

// ---- input ----

// avail reports whether n bytes are buffered at pos, reading more when needed.
func (p *envParser) avail(n int) bool {
	if p.end-p.pos >= n {
		return true
	}
	return p.fill(n)
}

func (p *envParser) fill(n int) bool {
	if p.pos > 0 {
		copy(p.buf, p.buf[p.pos:p.end])
		p.end -= p.pos
		p.pos = 0
	}
	for p.end < n && !p.eof {
		m, err := p.src.Read(p.buf[p.end:])
		p.end += m
		switch {
		case err == io.EOF:
			p.eof = true
		case err != nil:
			p.eof, p.rerr = true, err
		case m == 0:
			p.reads0++
			if p.reads0 > 100 {
				p.eof, p.rerr = true, io.ErrNoProgress
			}
		default:
			p.reads0 = 0
		}
	}
	return p.end >= n
}

func (p *envParser) hasPrefix(s string) bool {
	return p.avail(len(s)) && string(p.buf[p.pos:p.pos+len(s)]) == s
}

// fail returns the rejection for a well-formedness error at the current line: IB001, since a
// document that is not well-formed does not conform to the schema either, with the detail
// "niet welgevormd: regel N: …". A read error of the source takes precedence, as it is the
// real cause of whatever looked wrong.
func (p *envParser) fail(format string, args ...any) *codes.Rejection {
	if p.rerr != nil {
		return &codes.Rejection{Code: codes.KP007, Detail: fmt.Sprintf("bestand kon niet volledig gelezen worden: %v", p.rerr)}
	}
	return &codes.Rejection{Code: codes.IB001, Detail: fmt.Sprintf("niet welgevormd: regel %d: ", p.line) + fmt.Sprintf(format, args...)}
}

// beyondSchema is IB001 for well-formed XML past a limit no schema-valid envelope reaches
// (nesting, a name's length, attributes on one element).
func (p *envParser) beyondSchema(format string, args ...any) *codes.Rejection {
	if p.rerr != nil {
		return p.fail("")
	}
	return &codes.Rejection{Code: codes.IB001, Detail: fmt.Sprintf("regel %d: ", p.line) + fmt.Sprintf(format, args...)}
}

// unsupported is KP007, the hub's own code, for XML that may be well-formed and that the
// national list has no code for, but that this hub does not process: a DTD (which could
// declare entities), another encoding than UTF-8, namespace declarations past a limit.
func (p *envParser) unsupported(format string, args ...any) *codes.Rejection {
	if p.rerr != nil {
		return p.fail("")
	}
	return &codes.Rejection{Code: codes.KP007, Detail: fmt.Sprintf(format, args...) + fmt.Sprintf(" (regel %d)", p.line)}
}

func (p *envParser) failEOF(where string) *codes.Rejection {
	return p.fail("bestand eindigt onverwacht %s", where)
}

// ---- character classes ----

const (
	ccPlain   = iota // ordinary character data
	ccNewline        // '\n': plain, but counted
	ccStop           // needs a closer look: markup, '\r', ']', a non-ASCII lead byte
	ccBad            // never allowed in an XML document
)

// textClass classifies bytes of character data between tags.
var textClass = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c == '\n':
			t[c] = ccNewline
		case c == '\t':
			t[c] = ccPlain
		case c < 0x20:
			if c == '\r' {
				t[c] = ccStop
			} else {
				t[c] = ccBad
			}
		case c == '<' || c == '&' || c == ']' || c >= 0x80:
			t[c] = ccStop
		}
	}
	return t
}()

var asciiNameStart, asciiNameChar = func() (start, char [256]bool) {
	for c := range 128 {
		start[c] = isNameStart(rune(c))
		char[c] = isNameChar(rune(c))
	}
	return start, char
}()

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isXMLChar(r rune) bool {
	switch {
	case r >= 0x20 && r <= 0xD7FF:
		return true
	case r == 0x9 || r == 0xA || r == 0xD:
		return true
	case r >= 0xE000 && r <= 0xFFFD:
		return true
	case r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}

// isNameStart and isNameChar follow XML 1.0 (fifth edition), productions [4] and [4a].
func isNameStart(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_', r == ':':
		return true
	case r < 0xC0:
		return false
	case r <= 0xD6, r >= 0xD8 && r <= 0xF6, r >= 0xF8 && r <= 0x2FF, r >= 0x370 && r <= 0x37D,
		r >= 0x37F && r <= 0x1FFF, r >= 0x200C && r <= 0x200D, r >= 0x2070 && r <= 0x218F,
		r >= 0x2C00 && r <= 0x2FEF, r >= 0x3001 && r <= 0xD7FF, r >= 0xF900 && r <= 0xFDCF,
		r >= 0xFDF0 && r <= 0xFFFD, r >= 0x10000 && r <= 0xEFFFF:
		return true
	}
	return false
}

func isNameChar(r rune) bool {
	switch {
	case isNameStart(r):
		return true
	case r == '-', r == '.', r >= '0' && r <= '9', r == 0xB7, r >= 0x300 && r <= 0x36F, r >= 0x203F && r <= 0x2040:
		return true
	}
	return false
}

// ---- document structure ----

func (p *envParser) document() *codes.Rejection {
	if p.hasPrefix("\xEF\xBB\xBF") {
		p.pos += 3
	}
	if p.hasPrefix("<?xml") && p.avail(6) && isSpace(p.buf[p.pos+5]) {
		if rej := p.xmlDecl(); rej != nil {
			return rej
		}
	}
	if rej := p.misc(false); rej != nil {
		return rej
	}
	if rej := p.startTag(); rej != nil {
		return rej
	}
	if rej := p.content(); rej != nil {
		return rej
	}
	if rej := p.misc(true); rej != nil {
		return rej
	}
	if p.rerr != nil {
		return p.fail("")
	}
	return nil
}

// misc skips whitespace, comments and processing instructions before (after=false) or after
// the root element. Before it, it stops at the root's start tag.
func (p *envParser) misc(after bool) *codes.Rejection {
	for {
		p.skipSpace()
		if !p.avail(1) {
			if after {
				return nil
			}
			return p.fail("het bestand bevat geen XML-element")
		}
		if p.buf[p.pos] != '<' {
			if after {
				return p.fail("tekst na het einde van het root-element")
			}
			return p.fail("tekst vóór het root-element; een envelop begint met <?xml of met het root-element")
		}
		switch {
		case p.hasPrefix("<!--"):
			if rej := p.comment(); rej != nil {
				return rej
			}
		case p.hasPrefix("<?"):
			if rej := p.pi(); rej != nil {
				return rej
			}
		case p.hasPrefix("<!DOCTYPE"):
			return p.unsupported("een DTD (<!DOCTYPE) is niet toegestaan; verwijder de DOCTYPE-regel")
		case p.hasPrefix("<!"):
			return p.fail("ongeldige markup '<!' buiten het root-element")
		default:
			if after {
				return p.fail("meer dan één root-element")
			}
			return nil
		}
	}
}

func (p *envParser) skipSpace() bool {
	skipped := false
	for p.pos < p.end || p.avail(1) {
		c := p.buf[p.pos]
		if !isSpace(c) {
			break
		}
		if c == '\n' {
			p.line++
		}
		p.pos++
		skipped = true
	}
	return skipped
}

// xmlDecl reads <?xml version="1.0" encoding="…" standalone="…"?>; only UTF-8 is accepted,
// the encoding the StUF-GGk standard prescribes.
func (p *envParser) xmlDecl() *codes.Rejection {
	p.pos += 5
	seen := 0
	for {
		sp := p.skipSpace()
		if p.hasPrefix("?>") {
			p.pos += 2
			if seen == 0 {
				return p.fail("XML-declaratie zonder version")
			}
			return nil
		}
		if !p.avail(1) {
			return p.failEOF("in de XML-declaratie")
		}
		if !sp {
			return p.fail("spatie verwacht in de XML-declaratie")
		}
		var key [16]byte
		k := 0
		for p.avail(1) && k < len(key) {
			c := p.buf[p.pos]
			if !(c >= 'a' && c <= 'z') {
				break
			}
			key[k] = c
			k++
			p.pos++
		}
		p.skipSpace()
		if !p.avail(1) || p.buf[p.pos] != '=' {
			return p.fail("ongeldige XML-declaratie")
		}
		p.pos++
		p.skipSpace()
		if !p.avail(1) || (p.buf[p.pos] != '"' && p.buf[p.pos] != '\'') {
			return p.fail("ongeldige XML-declaratie")
		}
		q := p.buf[p.pos]
		p.pos++
		var v [40]byte
		n := 0
		for {
			if !p.avail(1) {
				return p.failEOF("in de XML-declaratie")
			}
			c := p.buf[p.pos]
			p.pos++
			if c == q {
				break
			}
			if n == len(v) {
				return p.fail("ongeldige XML-declaratie")
			}
			v[n] = c
			n++
		}
		val := string(v[:n])
		switch name := string(key[:k]); {
		case name == "version" && seen == 0:
			if val != "1.0" {
				return p.fail("XML-versie %q wordt niet ondersteund; gebruik version=\"1.0\"", val)
			}
			seen = 1
		case name == "encoding" && seen == 1:
			if !equalFoldASCII(val, "UTF-8") {
				return p.unsupported("tekenset %q wordt niet ondersteund; lever de envelop aan in UTF-8", val)
			}
			seen = 2
		case name == "standalone" && (seen == 1 || seen == 2):
			if val != "yes" && val != "no" {
				return p.fail("ongeldige waarde %q voor standalone in de XML-declaratie", val)
			}
			seen = 3
		default:
			return p.fail("ongeldige XML-declaratie")
		}
	}
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if x >= 'a' && x <= 'z' {
			x -= 'a' - 'A'
		}
		if y >= 'a' && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// comment skips <!-- … -->, which may not contain "--".
func (p *envParser) comment() *codes.Rejection {
	p.pos += 4
	for {
		if !p.avail(1) {
			return p.failEOF("in commentaar")
		}
		c := p.buf[p.pos]
		if c == '-' {
			if !p.avail(2) {
				return p.failEOF("in commentaar")
			}
			if p.buf[p.pos+1] == '-' {
				if !p.avail(3) || p.buf[p.pos+2] != '>' {
					return p.fail("'--' is niet toegestaan in commentaar")
				}
				p.pos += 3
				return nil
			}
		}
		if rej := p.skipChar(); rej != nil {
			return rej
		}
	}
}

// skipChar checks and steps over one character of markup that is not kept.
func (p *envParser) skipChar() *codes.Rejection {
	c := p.buf[p.pos]
	if c < 0x80 {
		if textClass[c] == ccBad {
			return p.fail("ongeldig teken 0x%02X", c)
		}
		if c == '\n' {
			p.line++
		}
		p.pos++
		return nil
	}
	p.avail(utf8.UTFMax)
	r, size := utf8.DecodeRune(p.buf[p.pos:p.end])
	if (r == utf8.RuneError && size == 1) || !isXMLChar(r) {
		return p.fail("ongeldige UTF-8 of ongeldig teken")
	}
	p.pos += size
	return nil
}

// pi skips a processing instruction <?target …?>; the target "xml" is reserved for the declaration.
func (p *envParser) pi() *codes.Rejection {
	p.pos += 2
	start := len(p.names)
	if rej := p.name(&p.names); rej != nil {
		return rej
	}
	target := p.names[start:]
	p.names = p.names[:start]
	if len(target) == 3 && equalFoldASCII(string(target), "xml") {
		return p.fail("de XML-declaratie mag alleen aan het begin van het bestand staan")
	}
	if bytes.IndexByte(target, ':') >= 0 {
		return p.fail("':' is niet toegestaan in de naam van een processing instruction")
	}
	if p.hasPrefix("?>") {
		p.pos += 2
		return nil
	}
	if !p.skipSpace() {
		return p.fail("spatie verwacht na de naam van een processing instruction")
	}
	for {
		if !p.avail(1) {
			return p.failEOF("in een processing instruction")
		}
		if p.buf[p.pos] == '?' && p.hasPrefix("?>") {
			p.pos += 2
			return nil
		}
		if rej := p.skipChar(); rej != nil {
			return rej
		}
	}
}

// name reads an XML Name at pos and appends it to *dst.
func (p *envParser) name(dst *[]byte) *codes.Rejection {
	// Fast path: an ASCII name that is wholly buffered, the usual case.
	if i := p.pos; i < p.end && asciiNameStart[p.buf[i]] {
		for i++; i < p.end && asciiNameChar[p.buf[i]]; i++ {
		}
		if i < p.end && p.buf[i] < 0x80 && i-p.pos <= maxName {
			*dst = append(*dst, p.buf[p.pos:i]...)
			p.pos = i
			return nil
		}
	}
	n := 0
	for {
		if !p.avail(1) {
			break
		}
		c := p.buf[p.pos]
		var r rune
		size := 1
		if c < 0x80 {
			r = rune(c)
		} else {
			p.avail(utf8.UTFMax)
			r, size = utf8.DecodeRune(p.buf[p.pos:p.end])
			if r == utf8.RuneError && size == 1 {
				return p.fail("ongeldige UTF-8 in een naam")
			}
		}
		if n == 0 && !isNameStart(r) || n > 0 && !isNameChar(r) {
			break
		}
		if n+size > maxName {
			return p.beyondSchema("naam is langer dan %d bytes", maxName)
		}
		*dst = append(*dst, p.buf[p.pos:p.pos+size]...)
		p.pos += size
		n += size
	}
	if n == 0 {
		if !p.avail(1) {
			return p.failEOF("waar een naam verwacht werd")
		}
		return p.fail("naam verwacht, gevonden %q", p.buf[p.pos])
	}
	return nil
}

// qnameColon checks that a name is a QName (NCName or NCName:NCName) and returns the colon's index or -1.
func qnameColon(q []byte) (int, bool) {
	i := bytes.IndexByte(q, ':')
	if i < 0 {
		return -1, true
	}
	if i == 0 || i == len(q)-1 || bytes.IndexByte(q[i+1:], ':') >= 0 {
		return i, false
	}
	r, _ := utf8.DecodeRune(q[i+1:])
	return i, isNameStart(r)
}

// ---- elements ----

// startTag reads a start tag or empty-element tag at pos ('<' followed by a name character),
// resolves its namespaces and hands it to the validator.
func (p *envParser) startTag() *codes.Rejection {
	if len(p.open) == maxDepth {
		return p.beyondSchema("elementen zijn dieper genest dan %d niveaus", maxDepth)
	}
	p.pos++
	nameStart := len(p.names)
	if rej := p.name(&p.names); rej != nil {
		return rej
	}
	p.abuf = p.abuf[:0]
	p.attrs = p.attrs[:0]
	empty := false
	for {
		sp := p.skipSpace()
		if !p.avail(1) {
			return p.failEOF("in een tag")
		}
		c := p.buf[p.pos]
		if c == '>' {
			p.pos++
			break
		}
		if c == '/' {
			if !p.avail(2) || p.buf[p.pos+1] != '>' {
				return p.fail("'>' verwacht na '/' in tag <%s>", p.names[nameStart:])
			}
			p.pos += 2
			empty = true
			break
		}
		if !sp {
			return p.fail("spatie verwacht vóór een attribuut in tag <%s>", p.names[nameStart:])
		}
		if rej := p.attribute(); rej != nil {
			return rej
		}
	}
	qname := p.names[nameStart:]
	colon, ok := qnameColon(qname)
	if !ok {
		return p.fail("ongeldige elementnaam %q", qname)
	}
	bindMark, nsbufMark := len(p.binds), len(p.nsbuf)
	if rej := p.declareNamespaces(); rej != nil {
		return rej
	}
	ns := nsNone
	if colon >= 0 {
		var found bool
		if ns, found = p.lookup(qname[:colon]); !found {
			return p.fail("namespace-prefix %q van element <%s> is niet gedeclareerd", qname[:colon], qname)
		}
	} else {
		ns, _ = p.lookup(nil)
	}
	if rej := p.resolveAttrs(); rej != nil {
		return rej
	}
	p.open = append(p.open, openElem{nameStart: nameStart, bindMark: bindMark, nsbufMark: nsbufMark})
	p.vStart(ns, qname[colon+1:])
	if empty {
		p.closeElement()
	}
	return nil
}

// attribute reads Name Eq AttValue, keeping at most maxAttrValue bytes of the normalised value.
func (p *envParser) attribute() *codes.Rejection {
	if len(p.attrs) == maxAttrs {
		return p.beyondSchema("meer dan %d attributen op één element", maxAttrs)
	}
	a := rawAttr{qs: len(p.abuf)}
	if rej := p.name(&p.abuf); rej != nil {
		return rej
	}
	a.qe = len(p.abuf)
	p.skipSpace()
	if !p.avail(1) || p.buf[p.pos] != '=' {
		return p.fail("'=' verwacht na attribuut %s", p.abuf[a.qs:a.qe])
	}
	p.pos++
	p.skipSpace()
	if !p.avail(1) || (p.buf[p.pos] != '"' && p.buf[p.pos] != '\'') {
		return p.fail("attribuutwaarde tussen aanhalingstekens verwacht na %s=", p.abuf[a.qs:a.qe])
	}
	q := p.buf[p.pos]
	p.pos++
	a.vs = len(p.abuf)
	keep := func(b []byte) {
		if a.over {
			return
		}
		if len(p.abuf)-a.vs+len(b) > maxAttrValue {
			a.over = true
			return
		}
		p.abuf = append(p.abuf, b...)
	}
	for {
		if !p.avail(1) {
			return p.failEOF("in een attribuutwaarde")
		}
		c := p.buf[p.pos]
		switch {
		case c == q:
			p.pos++
			a.ve = len(p.abuf)
			for _, b := range p.attrs {
				if bytes.Equal(p.abuf[b.qs:b.qe], p.abuf[a.qs:a.qe]) {
					return p.fail("attribuut %s komt twee keer voor", p.abuf[a.qs:a.qe])
				}
			}
			p.attrs = append(p.attrs, a)
			return nil
		case c == '<':
			return p.fail("'<' is niet toegestaan in een attribuutwaarde")
		case c == '&':
			b, rej := p.reference()
			if rej != nil {
				return rej
			}
			keep(b)
		case c == '\r':
			p.pos++
			if p.avail(1) && p.buf[p.pos] == '\n' {
				p.pos++
			}
			p.line++
			keep(space)
		case c == '\n' || c == '\t':
			if c == '\n' {
				p.line++
			}
			p.pos++
			keep(space)
		case c < 0x80:
			if textClass[c] == ccBad {
				return p.fail("ongeldig teken 0x%02X in een attribuutwaarde", c)
			}
			keep(p.buf[p.pos : p.pos+1])
			p.pos++
		default:
			p.avail(utf8.UTFMax)
			r, size := utf8.DecodeRune(p.buf[p.pos:p.end])
			if (r == utf8.RuneError && size == 1) || !isXMLChar(r) {
				return p.fail("ongeldige UTF-8 of ongeldig teken in een attribuutwaarde")
			}
			keep(p.buf[p.pos : p.pos+size])
			p.pos += size
		}
	}
}

var space = []byte{' '}

// reference reads &name; or &#…; at pos and returns the character(s) it stands for. Only the five
// predefined entities exist here: a document without DTD declares no others, and a DTD is refused.
func (p *envParser) reference() ([]byte, *codes.Rejection) {
	p.pos++
	var nm [12]byte
	n := 0
	for {
		if !p.avail(1) {
			return nil, p.failEOF("in een entiteitverwijzing")
		}
		c := p.buf[p.pos]
		p.pos++
		if c == ';' {
			break
		}
		if n == len(nm) || isSpace(c) || c == '<' || c == '&' {
			return nil, p.fail("ongeldige of onbekende entiteitverwijzing; alleen &lt; &gt; &amp; &apos; &quot; en &#…; zijn toegestaan")
		}
		nm[n] = c
		n++
	}
	s := nm[:n]
	switch string(s) {
	case "lt":
		return []byte("<"), nil
	case "gt":
		return []byte(">"), nil
	case "amp":
		return []byte("&"), nil
	case "apos":
		return []byte("'"), nil
	case "quot":
		return []byte("\""), nil
	}
	if len(s) < 2 || s[0] != '#' {
		return nil, p.fail("entiteit &%s; is niet toegestaan; alleen &lt; &gt; &amp; &apos; &quot; en &#…; zijn toegestaan", s)
	}
	digits, base := s[1:], rune(10)
	if digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if len(digits) == 0 || len(digits) > 8 {
		return nil, p.fail("ongeldige tekenverwijzing &%s;", s)
	}
	var r rune
	for _, d := range digits {
		var v rune
		switch {
		case d >= '0' && d <= '9':
			v = rune(d - '0')
		case base == 16 && d >= 'a' && d <= 'f':
			v = rune(d-'a') + 10
		case base == 16 && d >= 'A' && d <= 'F':
			v = rune(d-'A') + 10
		default:
			return nil, p.fail("ongeldige tekenverwijzing &%s;", s)
		}
		r = r*base + v
	}
	if !isXMLChar(r) {
		return nil, p.fail("tekenverwijzing &%s; verwijst naar een teken dat in XML niet is toegestaan", s)
	}
	k := utf8.EncodeRune(p.ref[:], r)
	return p.ref[:k], nil
}

// declareNamespaces pushes the bindings declared by the current tag's xmlns attributes.
func (p *envParser) declareNamespaces() *codes.Rejection {
	for i := range p.attrs {
		a := &p.attrs[i]
		q := p.abuf[a.qs:a.qe]
		colon, ok := qnameColon(q)
		if !ok {
			return p.fail("ongeldige attribuutnaam %q", q)
		}
		a.colon = colon
		var prefix []byte
		switch {
		case string(q) == "xmlns":
		case colon == 5 && string(q[:5]) == "xmlns":
			prefix = q[6:]
		default:
			continue
		}
		a.ns = -1 // a declaration, not an attribute
		if a.over {
			return p.unsupported("namespace-URI in %s is langer dan %d bytes", q, maxAttrValue)
		}
		uri := p.abuf[a.vs:a.ve]
		id := nsOther + len(p.binds)
		switch string(uri) {
		case namespaceGGK:
			id = nsGGK
		case namespaceStUF:
			id = nsStUF
		case namespaceXSI:
			id = nsXSI
		case namespaceXML:
			id = nsXML
		case namespaceNS:
			return p.fail("de xmlns-namespace mag niet gedeclareerd worden")
		case "":
			if prefix != nil {
				return p.fail("lege namespace-URI voor prefix %q is niet toegestaan", prefix)
			}
			id = nsNone
		}
		if string(prefix) == "xmlns" {
			return p.fail("prefix xmlns mag niet gedeclareerd worden")
		}
		if (string(prefix) == "xml") != (id == nsXML) {
			return p.fail("prefix xml hoort alleen bij %s", namespaceXML)
		}
		if len(p.binds) == maxBindings {
			return p.unsupported("meer dan %d namespace-declaraties tegelijk", maxBindings)
		}
		b := binding{ps: len(p.nsbuf), ns: id}
		p.nsbuf = append(p.nsbuf, prefix...)
		b.pe = len(p.nsbuf)
		b.us = b.pe
		if id >= nsOther {
			p.nsbuf = append(p.nsbuf, uri...)
		}
		b.ue = len(p.nsbuf)
		p.binds = append(p.binds, b)
	}
	return nil
}

// lookup resolves a prefix (nil for the default namespace) to a namespace id.
func (p *envParser) lookup(prefix []byte) (int, bool) {
	for i := len(p.binds) - 1; i >= 0; i-- {
		b := &p.binds[i]
		if bytes.Equal(p.nsbuf[b.ps:b.pe], prefix) {
			return b.ns, true
		}
	}
	switch string(prefix) {
	case "":
		return nsNone, true
	case "xml":
		return nsXML, true
	}
	return nsNone, false
}

// nsURI is the URI of a namespace id in scope, for messages.
func (p *envParser) nsURI(ns int) string {
	switch ns {
	case nsGGK:
		return namespaceGGK
	case nsStUF:
		return namespaceStUF
	case nsXSI:
		return namespaceXSI
	case nsXML:
		return namespaceXML
	case nsNone:
		return ""
	}
	if i := ns - nsOther; i >= 0 && i < len(p.binds) {
		return string(p.nsbuf[p.binds[i].us:p.binds[i].ue])
	}
	return "?"
}

func (p *envParser) sameNS(a, b int) bool {
	if a == b {
		return true
	}
	return a >= nsOther && b >= nsOther && p.nsURI(a) == p.nsURI(b)
}

// resolveAttrs gives every attribute that is not a declaration its namespace and refuses two
// attributes with the same expanded name.
func (p *envParser) resolveAttrs() *codes.Rejection {
	for i := range p.attrs {
		a := &p.attrs[i]
		if a.ns < 0 {
			continue
		}
		a.ns = nsNone
		if a.colon >= 0 {
			q := p.abuf[a.qs:a.qe]
			ns, ok := p.lookup(q[:a.colon])
			if !ok {
				return p.fail("namespace-prefix %q van attribuut %s is niet gedeclareerd", q[:a.colon], q)
			}
			a.ns = ns
		}
		for j := range i {
			b := &p.attrs[j]
			if b.ns >= 0 && p.sameNS(a.ns, b.ns) && bytes.Equal(p.attrLocal(a), p.attrLocal(b)) {
				return p.fail("attribuut %s komt twee keer voor", p.abuf[a.qs:a.qe])
			}
		}
	}
	return nil
}

func (p *envParser) attrLocal(a *rawAttr) []byte { return p.abuf[a.qs+a.colon+1 : a.qe] }

// endTag reads </name S?> and checks it closes the innermost open element.
func (p *envParser) endTag() *codes.Rejection {
	p.pos += 2
	top := p.open[len(p.open)-1]
	start := len(p.names)
	if rej := p.name(&p.names); rej != nil {
		return rej
	}
	got := p.names[start:]
	want := p.names[top.nameStart:start]
	if !bytes.Equal(got, want) {
		return p.fail("eindtag </%s> sluit <%s> niet af", got, want)
	}
	p.names = p.names[:start]
	p.skipSpace()
	if !p.avail(1) || p.buf[p.pos] != '>' {
		return p.fail("'>' verwacht in eindtag </%s>", want)
	}
	p.pos++
	p.closeElement()
	return nil
}

func (p *envParser) closeElement() {
	top := p.open[len(p.open)-1]
	p.vEnd()
	p.open = p.open[:len(p.open)-1]
	p.names = p.names[:top.nameStart]
	p.binds = p.binds[:top.bindMark]
	p.nsbuf = p.nsbuf[:top.nsbufMark]
}

// content reads everything inside the root element up to and including its end tag.
func (p *envParser) content() *codes.Rejection {
	for len(p.open) > 0 {
		if !p.avail(1) {
			return p.failEOF(fmt.Sprintf("binnen element <%s>", p.names[p.open[len(p.open)-1].nameStart:]))
		}
		var rej *codes.Rejection
		switch p.buf[p.pos] {
		case '<':
			if !p.avail(2) {
				return p.failEOF("in een tag")
			}
			switch p.buf[p.pos+1] {
			case '/':
				rej = p.endTag()
			case '?':
				rej = p.pi()
			case '!':
				switch {
				case p.hasPrefix("<!--"):
					rej = p.comment()
				case p.hasPrefix("<![CDATA["):
					rej = p.cdataSection()
				default:
					rej = p.fail("ongeldige markup '<!' in de inhoud; alleen commentaar en CDATA zijn toegestaan")
				}
			default:
				rej = p.startTag()
			}
		case '&':
			var b []byte
			if b, rej = p.reference(); rej == nil {
				p.vText(b)
			}
		default:
			rej = p.text()
		}
		if rej != nil {
			return rej
		}
	}
	return nil
}

// text hands character data up to the next '<' or '&' to the validator in chunks, checking
// each character and normalising line ends, without copying it.
func (p *envParser) text() *codes.Rejection {
	for {
		buf := p.buf[:p.end]
		if !p.plainText {
			p.base64Run(buf)
		}
		i := p.pos
	scan:
		for i < len(buf) {
			switch textClass[buf[i]] {
			case ccPlain:
				i++
			case ccNewline:
				p.line++
				i++
			case ccStop:
				if buf[i] < 0x80 {
					break scan
				}
				if len(buf)-i < utf8.UTFMax && !p.eof {
					break scan
				}
				r, size := utf8.DecodeRune(buf[i:])
				if (r == utf8.RuneError && size == 1) || !isXMLChar(r) {
					p.vText(buf[p.pos:i])
					p.pos = i
					return p.fail("ongeldige UTF-8 of ongeldig teken in de tekst")
				}
				i += size
			default:
				p.vText(buf[p.pos:i])
				p.pos = i
				return p.fail("ongeldig teken 0x%02X in de tekst", buf[i])
			}
		}
		if i > p.pos {
			p.vText(buf[p.pos:i])
			p.pos = i
		}
		if i == len(buf) {
			if !p.fill(1) {
				return nil
			}
			continue
		}
		switch c := buf[i]; c {
		case '<', '&':
			return nil
		case '\r':
			p.pos++
			if p.avail(1) && p.buf[p.pos] == '\n' {
				p.pos++
			}
			p.line++
			p.vText(newline)
		case ']':
			if p.avail(3) && p.buf[p.pos+1] == ']' && p.buf[p.pos+2] == '>' {
				return p.fail("']]>' is niet toegestaan in tekst")
			}
			p.pos++
			p.vText(bracket)
		default: // a multi-byte character split over the end of the buffer
			p.fill(utf8.UTFMax)
		}
	}
}

// b64Other is 1 for every byte that is not a base64 alphabet character.
var b64Other = func() (t [256]byte) {
	for c := range t {
		if b64Value[c] >= 64 {
			t[c] = 1
		}
	}
	return t
}()

// base64Run takes, inside a base64 element that is valid so far and before any '=', the run
// of alphabet characters, spaces, tabs and line feeds at pos in one pass: each of them is
// valid XML text and valid base64 alike, so the character check, the base64 count and the
// payload's kept start need not each look at every byte. It leaves everything else (markup,
// '\r', '=', any other character) to text's general loop, which does exactly what it did.
func (p *envParser) base64Run(buf []byte) {
	if p.verr != nil || len(p.vstack) == 0 || p.b64.pad != 0 {
		return
	}
	d := p.vstack[len(p.vstack)-1].d
	if d.kind != kindBase64 {
		return
	}
	i, n, last, lines := p.pos, int64(0), p.b64.last, 0
	// Eight alphabet characters at a time: one branch for the eight, none per byte.
	for ; i+8 <= len(buf); i += 8 {
		w := buf[i : i+8 : i+8]
		if b64Other[w[0]]|b64Other[w[1]]|b64Other[w[2]]|b64Other[w[3]]|
			b64Other[w[4]]|b64Other[w[5]]|b64Other[w[6]]|b64Other[w[7]] != 0 {
			break
		}
		n += 8
		last = b64Value[w[7]]
	}
	for i < len(buf) {
		c := buf[i]
		if v := b64Value[c]; v < 64 {
			n++
			last = v
		} else if c == '\n' {
			lines++
		} else if c != ' ' && c != '\t' {
			break
		}
		i++
	}
	if i == p.pos {
		return
	}
	p.line += lines
	p.b64.n += n
	p.b64.last = last
	if d.local == "xmlBestand" {
		if run := buf[p.pos:i]; int(n) == len(run) {
			p.head.feedAlphabet(run) // no whitespace to leave out
		} else {
			p.head.feed(run)
		}
	}
	p.pos = i
}

var (
	newline = []byte{'\n'}
	bracket = []byte{']'}
)

// cdataSection reads <![CDATA[ … ]]> and hands its text to the validator.
func (p *envParser) cdataSection() *codes.Rejection {
	p.pos += len("<![CDATA[")
	p.vCDATA()
	for {
		buf := p.buf[:p.end]
		i := p.pos
		for i < len(buf) {
			c := buf[i]
			if c == ']' || c == '\r' || c >= 0x80 || textClass[c] == ccBad {
				break
			}
			if c == '\n' {
				p.line++
			}
			i++
		}
		if i > p.pos {
			p.vText(buf[p.pos:i])
			p.pos = i
		}
		if !p.avail(1) {
			return p.failEOF("in een CDATA-sectie")
		}
		switch c := p.buf[p.pos]; {
		case c == ']':
			if p.hasPrefix("]]>") {
				p.pos += 3
				return nil
			}
			p.pos++
			p.vText(bracket)
		case c == '\r':
			p.pos++
			if p.avail(1) && p.buf[p.pos] == '\n' {
				p.pos++
			}
			p.line++
			p.vText(newline)
		default:
			p.avail(utf8.UTFMax) // before taking start: a refill moves the buffer
			start := p.pos
			if rej := p.skipChar(); rej != nil {
				return rej
			}
			p.vText(p.buf[start:p.pos])
		}
	}
}
