package stuf

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// The payload check's format half: an iWmo/iJw 3.x message carries its own header
// (BerichtCode, Afzender, Ontvanger). While Parser streams an xmlBestand's base64 by, it keeps
// the base64 characters of the payload's first payloadHeadLen decoded bytes; BerichtHeader
// decodes them only as far as it reads the Header (about 1.3 KB), so the payload is never
// decoded whole and its start only as far as needed. Comparing the header with the envelope
// is a business rule and stays with the engine (exchange/payloadcontrole.go).

// payloadHeadLen is how much of an xmlBestand payload is kept for the check, in decoded
// bytes. The header is the root's first child; in the 3.2 examples it ends within 1.3 KB.
const payloadHeadLen = 16 << 10

// payloadHeadChars is the base64 characters kept: enough for payloadHeadLen decoded bytes,
// rounded up to a whole group of four.
const payloadHeadChars = (payloadHeadLen + 2) / 3 * 4

// payloadHead keeps the alphabet characters (no whitespace, no '=') of the start of a base64
// payload that the envelope parser has already validated, and counts all of them.
type payloadHead struct {
	raw   []byte // the parser's headArr, up to payloadHeadChars
	total int64  // alphabet characters in the whole payload
}

// feed takes the next text of the payload; the parser has validated it as base64.
func (h *payloadHead) feed(b []byte) {
	for len(b) > 0 {
		i := 0
		for i < len(b) && b64Value[b[i]] < 64 {
			i++
		}
		h.total += int64(i)
		if room := cap(h.raw) - len(h.raw); room > 0 {
			h.raw = append(h.raw, b[:min(i, room)]...)
		}
		for i < len(b) && b64Value[b[i]] >= 64 { // whitespace or '='
			i++
		}
		b = b[i:]
	}
}

// feedAlphabet is feed for text of alphabet characters only.
func (h *payloadHead) feedAlphabet(b []byte) {
	h.total += int64(len(b))
	if room := cap(h.raw) - len(h.raw); room > 0 {
		h.raw = append(h.raw, b[:min(len(b), room)]...)
	}
}

// scanChars is how much of the kept payload start the fast path of the header check decodes:
// 2,046 bytes, a whole number of base64 groups.
const scanChars = 2728

// decodedLen is the length of what n base64 alphabet characters decode to (a valid count:
// never 1 more than a multiple of 4).
func decodedLen(n int64) int64 { return n/4*3 + max(n%4-1, 0) }

// truncated reports whether the payload is longer than what is kept.
func (h *payloadHead) truncated() bool { return decodedLen(h.total) > payloadHeadLen }

// headReader decodes the kept characters as the header reader asks for bytes, a chunk at a
// time, up to payloadHeadLen bytes.
type headReader struct {
	raw      []byte // characters not yet decoded
	left     int    // decoded bytes still to hand out, the bound included
	buf      [768]byte
	pos, end int
}

func (r *headReader) reset(h *payloadHead) {
	r.raw, r.left, r.pos, r.end = h.raw, int(min(decodedLen(h.total), payloadHeadLen)), 0, 0
}

func (r *headReader) more() bool {
	if r.left == 0 || len(r.raw) == 0 {
		return false
	}
	n := min(len(r.raw), len(r.buf)/3*4)
	// The characters were validated by the parser: Decode cannot fail on them.
	m, _ := base64.RawStdEncoding.Decode(r.buf[:], r.raw[:n])
	r.raw = r.raw[n:]
	m = min(m, r.left)
	r.left -= m
	r.pos, r.end = 0, m
	return m > 0
}

func (r *headReader) ReadByte() (byte, error) {
	if r.pos == r.end && !r.more() {
		return 0, io.EOF
	}
	c := r.buf[r.pos]
	r.pos++
	return c, nil
}

func (r *headReader) Read(p []byte) (int, error) {
	if r.pos == r.end && !r.more() {
		return 0, io.EOF
	}
	n := copy(p, r.buf[r.pos:r.end])
	r.pos += n
	return n, nil
}

// berichtNamespace is the namespace of an iWmo/iJw 3.x message's root, e.g.
// http://www.istandaarden.nl/iwmo/3_2/wmo301/schema.
var berichtNamespace = regexp.MustCompile(`^http://www\.istandaarden\.nl/(iwmo|ijw)/3_[0-9]+/[a-z]+[0-9]+/schema$`)

// BerichtHeader is what the payload check reads from an iWmo/iJw 3.x payload's Header.
type BerichtHeader struct {
	BerichtCode, Afzender, Ontvanger string
}

// readBerichtHeader reads the Header of an iWmo/iJw 3.x payload from the start of the decoded
// payload, token by token, and stops after the Header. ok is false for a payload that is not
// an iWmo/iJw 3.x message (its root is something else, or it is no XML the check can read
// before its root): that is left alone. problem says why the Header of an iWmo/iJw payload
// cannot be read.
func readBerichtHeader(head []byte, truncated bool) (h BerichtHeader, ok bool, problem string) {
	if h, ok, done := scanBerichtHeader(head); done {
		return h, ok, ""
	}
	return readBerichtHeaderFrom(bytes.NewReader(head), truncated)
}

// readBerichtHeaderFrom is readBerichtHeader reading the payload's start from r; an
// io.ByteReader spares encoding/xml its own buffer.
func readBerichtHeaderFrom(r io.Reader, truncated bool) (h BerichtHeader, ok bool, problem string) {
	cw := &controlWatch{r: r}
	if br, isBR := r.(io.ByteReader); isBR {
		cw.br = br
	}
	var src io.Reader = cw
	if cw.br != nil {
		src = byteWatch{cw}
	}
	d := xml.NewDecoder(src)
	d.Strict = true
	// Codes and namespaces are ASCII: any declared encoding that keeps ASCII reads the same.
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	readErr := func(err error) string {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "unexpected EOF") {
			if truncated {
				return fmt.Sprintf("de Header staat niet binnen de eerste %d KB van de payload", payloadHeadLen>>10)
			}
			return "de payload houdt op vóór het einde van de Header"
		}
		return "de Header is geen geldige XML: " + err.Error()
	}
	var root xml.StartElement
	for {
		tok, err := d.Token()
		if err != nil {
			if truncated && (errors.Is(err, io.EOF) || strings.Contains(err.Error(), "unexpected EOF")) && !cw.seen {
				// Whatever comes after is unknown: a payload must not hide its root behind
				// 16 KB of prologue to pass unchecked. But encoding/xml does not check the
				// characters inside a comment, a processing instruction or a <!...>
				// directive, so binary that happens to open with "<!" or "<?" also reads
				// as a prologue without end (about 1 in 400,000 random payloads: one
				// Afgekeurd run of the 40,000-envelope benchmark in 13). A head with a
				// control character XML forbids is no XML in any ASCII-based encoding:
				// left alone, like any other payload that is not an iWmo/iJw message.
				return h, true, fmt.Sprintf("het hoofdelement staat niet binnen de eerste %d KB van de payload", payloadHeadLen>>10)
			}
			return h, false, ""
		}
		if se, isStart := tok.(xml.StartElement); isStart {
			root = se
			break
		}
	}
	if root.Name.Local != "Bericht" || !berichtNamespace.MatchString(root.Name.Space) {
		return h, false, ""
	}
	ns := root.Name.Space
	depth := 0        // below the root
	inHeader := false // inside the root's first child, the Header
	var field *string // the Header child whose text is being read
	seen := map[string]bool{}
	for {
		tok, err := d.Token()
		if err != nil {
			return h, true, readErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1 && !inHeader:
				if t.Name.Space != ns || t.Name.Local != "Header" {
					return h, true, fmt.Sprintf("het eerste element in Bericht is %s, niet Header", t.Name.Local)
				}
				inHeader = true
			case depth == 2 && t.Name.Space == ns:
				switch t.Name.Local {
				case "BerichtCode":
					field = &h.BerichtCode
				case "Afzender":
					field = &h.Afzender
				case "Ontvanger":
					field = &h.Ontvanger
				}
				if field != nil {
					if seen[t.Name.Local] {
						return h, true, fmt.Sprintf("%s staat twee keer in de Header", t.Name.Local)
					}
					seen[t.Name.Local] = true
				}
			}
		case xml.CharData:
			if field != nil && depth == 2 {
				*field += string(t)
			}
		case xml.EndElement:
			depth--
			field = nil
			if depth == 0 {
				for _, f := range []string{"BerichtCode", "Afzender", "Ontvanger"} {
					if !seen[f] {
						return h, true, f + " ontbreekt in de Header"
					}
				}
				h.BerichtCode = strings.TrimSpace(h.BerichtCode)
				h.Afzender = strings.TrimSpace(h.Afzender)
				h.Ontvanger = strings.TrimSpace(h.Ontvanger)
				return h, true, ""
			}
		}
	}
}

// isControl tells whether c is a C0 control character other than tab, line feed and
// carriage return: XML 1.0 allows none of them, and in UTF-8 and every ASCII-based encoding
// such a byte is always that character, never part of another.
func isControl(c byte) bool { return c < 0x20 && c != '\t' && c != '\n' && c != '\r' }

// controlBeforeMarkup tells whether b has a control character XML forbids before its first
// '<': a payload start that encoding/xml reads as text it refuses.
func controlBeforeMarkup(b []byte) bool {
	for _, c := range b {
		if c == '<' {
			return false
		}
		if isControl(c) {
			return true
		}
	}
	return false
}

// controlWatch passes the payload's start to encoding/xml and notes whether a control
// character went by: at the end of a truncated head that tells binary from a long prologue.
type controlWatch struct {
	r    io.Reader
	br   io.ByteReader
	seen bool
}

func (w *controlWatch) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	for _, c := range p[:n] {
		if isControl(c) {
			w.seen = true
			break
		}
	}
	return n, err
}

// byteWatch is controlWatch for a source that reads byte by byte, which spares encoding/xml
// its own buffer.
type byteWatch struct{ *controlWatch }

func (w byteWatch) ReadByte() (byte, error) {
	c, err := w.br.ReadByte()
	if err == nil && isControl(c) {
		w.seen = true
	}
	return c, err
}

// BerichtHeader reads the Header of the iWmo/iJw 3.x message in the payload of the envelope p
// parsed last, from the start of the payload it kept. ok is false when the payload is not an
// iWmo/iJw 3.x message; problem says why the Header of one cannot be read.
func (ep *Parser) BerichtHeader() (h BerichtHeader, ok bool, problem string) {
	ph := &ep.p.head
	// The fast path looks at the first scanChars characters decoded (a Header ends within
	// about 1.3 KB); whatever it cannot decide there, encoding/xml reads from the start.
	// Its first 48 bytes come first: a payload that does not start with markup (after a BOM
	// and whitespace) is never the fast path's, and is then not decoded twice.
	raw := ph.raw[:min(len(ph.raw), scanChars)]
	m, _ := base64.RawStdEncoding.Decode(ep.scan[:], raw[:min(len(raw), 64)])
	start := bytes.TrimLeft(bytes.TrimPrefix(ep.scan[:m], bom), " \t\r\n")
	if controlBeforeMarkup(start) {
		// encoding/xml reads all before the first '<' as text and refuses the control
		// character in it, after it has passed: the verdict below would be "left alone" for
		// any length (binary payloads, as most non-XML payloads are, nearly always show one
		// in their first 48 bytes). Deciding it here spares the Decoder and its tokens,
		// about 3 µs per message.
		return h, false, ""
	}
	if len(start) == 0 || start[0] == '<' {
		if len(raw) > 64 {
			n, _ := base64.RawStdEncoding.Decode(ep.scan[48:], raw[64:])
			m = 48 + n
		}
		if h, ok, done := scanBerichtHeader(ep.scan[:m]); done {
			return h, ok, ""
		}
	}
	ep.hr.reset(ph)
	h, ok, problem = readBerichtHeaderFrom(&ep.hr, ph.truncated())
	ep.hr.raw = nil
	return h, ok, problem
}
