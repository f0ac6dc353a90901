package stuf

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// The payload check's format half: an iWmo/iJw 3.x message carries its own header
// (BerichtCode, Afzender, Ontvanger). While Parser streams an xmlBestand's base64 by, it keeps
// the first payloadHeadLen decoded bytes; BerichtHeader reads the Header from them, so the
// payload is never decoded whole. Comparing the header with the envelope is a business rule and
// stays with the engine (exchange/payloadcontrole.go).

// payloadHeadLen is how much of an xmlBestand payload is kept decoded for the check. The
// header is the root's first child; in the 3.2 examples it ends within 1.3 KB.
const payloadHeadLen = 16 << 10

// payloadHead decodes the start of a base64 payload that the envelope parser has already
// validated: it only needs to skip whitespace and padding.
type payloadHead struct {
	buf       [payloadHeadLen]byte
	n         int
	acc       uint32
	nacc      int
	truncated bool // the payload is longer than buf
}

func (h *payloadHead) feed(b []byte) {
	for _, c := range b {
		if h.truncated {
			return
		}
		v := b64Value[c]
		if v >= 64 {
			continue // whitespace or '='
		}
		h.acc = h.acc<<6 | uint32(v)
		if h.nacc++; h.nacc == 4 {
			h.put(byte(h.acc>>16), byte(h.acc>>8), byte(h.acc))
			h.acc, h.nacc = 0, 0
		}
	}
}

func (h *payloadHead) put(bs ...byte) {
	for _, b := range bs {
		if h.n == len(h.buf) {
			h.truncated = true
			return
		}
		h.buf[h.n] = b
		h.n++
	}
}

// end decodes the last, padded group.
func (h *payloadHead) end() {
	switch h.nacc {
	case 2:
		h.put(byte(h.acc >> 4))
	case 3:
		h.put(byte(h.acc>>10), byte(h.acc>>2))
	}
	h.acc, h.nacc = 0, 0
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
	d := xml.NewDecoder(bytes.NewReader(head))
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
			if truncated && (errors.Is(err, io.EOF) || strings.Contains(err.Error(), "unexpected EOF")) && !hasControlBytes(head) {
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

// hasControlBytes reports whether b holds a C0 control character other than tab, line feed
// and carriage return: XML 1.0 allows none of them, and in UTF-8 and every ASCII-based
// encoding such a byte is always that character, never part of another.
func hasControlBytes(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return true
		}
	}
	return false
}

// BerichtHeader reads the Header of the iWmo/iJw 3.x message in the payload of the envelope p
// parsed last, from the start of the payload it kept. ok is false when the payload is not an
// iWmo/iJw 3.x message; problem says why the Header of one cannot be read.
func (ep *Parser) BerichtHeader() (h BerichtHeader, ok bool, problem string) {
	ph := &ep.p.head
	return readBerichtHeader(ph.buf[:ph.n], ph.truncated)
}
