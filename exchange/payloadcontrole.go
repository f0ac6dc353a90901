package exchange

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"knooppunt/exchange/codes"
)

// The payload check: an iWmo/iJw 3.x message carries its own header (BerichtCode, Afzender,
// Ontvanger), and the recipient's software believes it. The hub routes on the envelope, so a
// payload whose header disagrees with the envelope would be delivered to one organisation
// as coming from another (issue 16: Ameland delivered a WMO301 whose header said Afzender
// 9999). The check reads only the header, from the first payloadHeadLen bytes of the decoded
// payload that the envelope parser keeps while it streams the base64 by; the payload is never
// decoded whole. Config.SkipPayloadCheck (serve --payload-check=false) turns it off.

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

// berichtHeader is what the check reads from an iWmo/iJw 3.x payload's Header.
type berichtHeader struct {
	BerichtCode, Afzender, Ontvanger string
}

// readBerichtHeader reads the Header of an iWmo/iJw 3.x payload from the start of the decoded
// payload, token by token, and stops after the Header. ok is false for a payload that is not
// an iWmo/iJw 3.x message (its root is something else, or it is no XML the check can read
// before its root): that is left alone. problem says why the Header of an iWmo/iJw payload
// cannot be read.
func readBerichtHeader(head []byte, truncated bool) (h berichtHeader, ok bool, problem string) {
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
			if truncated && (errors.Is(err, io.EOF) || strings.Contains(err.Error(), "unexpected EOF")) {
				// Whatever comes after is unknown: a payload must not hide its root behind
				// 16 KB of prologue to pass unchecked.
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

// payloadHeader is the outcome of reading a payload's header, kept beside the envelope until
// the business rules have run.
type payloadHeader struct {
	h       berichtHeader
	problem string
}

// readPayloadHeader reads the header from what ep kept of the payload it parsed last; nil
// when the payload is not an iWmo/iJw 3.x message.
func readPayloadHeader(ep *EnvelopeParser) *payloadHeader {
	ph := &ep.p.head
	h, ok, problem := readBerichtHeader(ph.buf[:ph.n], ph.truncated)
	if !ok {
		return nil
	}
	return &payloadHeader{h: h, problem: problem}
}

// payloadRule checks an iWmo/iJw payload's header against the envelope: the BerichtCode of
// the functie, and the organisations. A heen message's header names its own afzender and
// ontvanger; a retour message keeps the header of the message it answers (see the 3.2
// examples: JW302's Afzender is the gemeente), so there Afzender is the envelope's ontvanger
// and Ontvanger its zender. An organisation in the header agrees with one in the envelope
// when it is the same, or when one acts for the other (samenwerking, sameParty).
func (c *checker) payloadRule(ph *payloadHeader, env Envelope) *codes.Rejection {
	fail := func(format string, args ...any) *codes.Rejection {
		return &codes.Rejection{Code: codes.IB001, Detail: "payload-header: " + fmt.Sprintf(format, args...)}
	}
	if ph.problem != "" {
		return fail("%s", ph.problem)
	}
	f, ok := c.h.cat.Functie(c.u.Product, env.Functie)
	if !ok || f.BerichtCode == 0 {
		return nil
	}
	h := ph.h
	if h.BerichtCode != fmt.Sprint(f.BerichtCode) {
		return fail("BerichtCode is %s, maar functie %s in de envelop heeft BerichtCode %d", clip(h.BerichtCode, 20), f.Code, f.BerichtCode)
	}
	afz, afzRole, ont, ontRole, why := env.ZenderOrg, "zender", env.OntvangerOrg, "ontvanger", ""
	if f.Direction == Retour {
		afz, afzRole, ont, ontRole = env.OntvangerOrg, "ontvanger", env.ZenderOrg, "zender"
		why = fmt.Sprintf(" (de Header van retourbericht %s is die van het heenbericht %s)", f.Code, f.Answers)
	}
	if !c.sameParty(h.Afzender, afz) {
		return fail("Afzender is %s, maar de %s in de envelop is %s%s", clip(h.Afzender, 20), afzRole, afz, why)
	}
	if !c.sameParty(h.Ontvanger, ont) {
		return fail("Ontvanger is %s, maar de %s in de envelop is %s%s", clip(h.Ontvanger, 20), ontRole, ont, why)
	}
	return nil
}

// sameParty: the organisation in the header is the one in the envelope, or one of them acts
// for the other in a samenwerking (the envelope names the organisation that runs the product
// and the header the one it acts for, or the other way round). Two organisations that merely
// share a partner are not the same party.
func (c *checker) sameParty(header, envelope string) bool {
	return header == envelope || (header != "" && (c.actor(header) == envelope || c.actor(envelope) == header))
}
