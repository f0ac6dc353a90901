package stuf

import (
	"bytes"
	"strings"
)

// scanBerichtHeader is readBerichtHeader's fast path: a hand scanner for the plain shape of
// an iWmo/iJw payload's start (an XML declaration, a root with its namespace declarations,
// elements, attributes and ASCII text, no comments, entities, CDATA or redeclarations below
// the root). Within that shape it gives exactly readBerichtHeader's verdict for the two
// common outcomes, a complete Header or a payload that is no iWmo/iJw 3.x message; for
// anything else, including every problem, done is false and the caller asks encoding/xml,
// which stays the reference (FuzzScanBerichtHeader compares the two). encoding/xml costs tens
// of microseconds and about a hundred allocations for a 1.3 KB Header; this none.
func scanBerichtHeader(head []byte) (h BerichtHeader, ok, done bool) {
	s := headScanner{b: head}
	s.pos = len(bom) * boolInt(bytes.HasPrefix(head, bom))
	for _, decl := range xmlDecls {
		if bytes.HasPrefix(s.b[s.pos:], decl) {
			s.pos += len(decl)
			break
		}
	}
	if !s.space() || s.pos >= len(s.b) || s.b[s.pos] != '<' {
		return h, false, false
	}
	// The root, with the namespace declarations the elements below it resolve against.
	rootName, attrs, empty, good := s.startTag()
	if !good {
		return h, false, false
	}
	var defNS []byte
	var hasDef bool
	var prefixes, uris [8][]byte
	nPrefixed := 0
	rootPrefix, rootLocal, good := splitQName(rootName)
	if !good {
		return h, false, false
	}
	for _, a := range attrs {
		ap, al, good := splitQName(a.name)
		switch {
		case !good:
			return h, false, false
		case ap == nil && string(al) == "xmlns":
			if hasDef {
				return h, false, false
			}
			defNS, hasDef = a.value, true
		case string(ap) == "xmlns":
			// startTag refuses a repeated attribute, so each prefix is declared once here.
			prefixes[nPrefixed], uris[nPrefixed] = al, a.value
			nPrefixed++
		}
	}
	resolve := func(p []byte) ([]byte, bool) {
		switch {
		case p == nil:
			return defNS, true
		case string(p) == "xml" || string(p) == "xmlns":
			return nil, false
		}
		for i := range nPrefixed {
			if bytes.Equal(p, prefixes[i]) {
				return uris[i], true
			}
		}
		return nil, false
	}
	ns, good := resolve(rootPrefix)
	if !good {
		return h, false, false
	}
	if string(rootLocal) != "Bericht" || !berichtNamespace.Match(ns) {
		return h, false, true // no iWmo/iJw 3.x message: left alone
	}
	if empty {
		return h, false, false
	}
	// Below the root: the Header and its children, mirroring readBerichtHeader's walk.
	var stack [16][]byte
	depth := 0
	inHeader := false
	var field *string
	var seen [3]bool
	for {
		text, good := s.text()
		if !good {
			return h, false, false
		}
		if field != nil && depth == 2 {
			if bytes.IndexByte(text, '\r') >= 0 {
				return h, false, false // encoding/xml normalises line ends; leave it to it
			}
			*field += string(text)
		}
		if s.pos+1 >= len(s.b) {
			return h, false, false // the Header does not end within what was decoded
		}
		if s.b[s.pos+1] == '/' {
			name, good := s.endTag()
			if !good || depth == 0 || !bytes.Equal(name, stack[depth-1]) {
				return h, false, false
			}
			depth--
			field = nil
			if depth == 0 {
				if !seen[0] || !seen[1] || !seen[2] {
					return h, false, false
				}
				h.BerichtCode = strings.TrimSpace(h.BerichtCode)
				h.Afzender = strings.TrimSpace(h.Afzender)
				h.Ontvanger = strings.TrimSpace(h.Ontvanger)
				return h, true, true
			}
			continue
		}
		name, attrs, empty, good := s.startTag()
		if !good || depth+1 >= len(stack) {
			return h, false, false
		}
		depth++
		stack[depth-1] = name
		if depth <= 2 {
			p, local, good := splitQName(name)
			if !good {
				return h, false, false
			}
			for _, a := range attrs {
				if ap, al, _ := splitQName(a.name); string(ap) == "xmlns" || ap == nil && string(al) == "xmlns" {
					return h, false, false // a redeclaration: encoding/xml's
				}
			}
			ens, good := resolve(p)
			if !good {
				return h, false, false
			}
			inNS := bytes.Equal(ens, ns)
			switch {
			case depth == 1 && !inHeader:
				if !inNS || string(local) != "Header" {
					return h, false, false // a problem: encoding/xml words it
				}
				inHeader = true
			case depth == 2 && inNS:
				i := -1
				switch string(local) {
				case "BerichtCode":
					i, field = 0, &h.BerichtCode
				case "Afzender":
					i, field = 1, &h.Afzender
				case "Ontvanger":
					i, field = 2, &h.Ontvanger
				}
				if i >= 0 {
					if seen[i] {
						return h, false, false
					}
					seen[i] = true
				}
			}
		}
		if empty { // <x/> is a start and an end
			depth--
			field = nil
			if depth == 0 {
				return h, false, false
			}
		}
	}
}

var (
	bom      = []byte("\xEF\xBB\xBF")
	xmlDecls = [][]byte{
		[]byte(`<?xml version="1.0" encoding="UTF-8"?>`), []byte(`<?xml version="1.0" encoding="utf-8"?>`),
		[]byte(`<?xml version="1.0"?>`), []byte(`<?xml version='1.0' encoding='UTF-8'?>`),
	}
)

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

type headScanner struct {
	b   []byte
	pos int
}

type headAttr struct{ name, value []byte }

// space skips whitespace; false when it ends the input.
func (s *headScanner) space() bool {
	for s.pos < len(s.b) && isSpace(s.b[s.pos]) {
		s.pos++
	}
	return s.pos < len(s.b)
}

// name reads an ASCII XML name (letters, digits, '_', '-', '.', ':'; not starting with a
// digit, '-', '.' or ':').
func (s *headScanner) name() ([]byte, bool) {
	start := s.pos
	for s.pos < len(s.b) {
		c := s.b[s.pos]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' ||
			s.pos > start && (c >= '0' && c <= '9' || c == '-' || c == '.' || c == ':') {
			s.pos++
			continue
		}
		break
	}
	return s.b[start:s.pos], s.pos > start && s.pos < len(s.b)
}

// startTag reads <name attr="v" …> or <name …/> at pos.
func (s *headScanner) startTag() (name []byte, attrs []headAttr, empty, ok bool) {
	s.pos++ // '<'
	if name, ok = s.name(); !ok {
		return
	}
	for {
		sp := s.pos
		if !s.space() {
			return name, attrs, false, false
		}
		switch s.b[s.pos] {
		case '>':
			s.pos++
			return name, attrs, false, true
		case '/':
			if s.pos+1 < len(s.b) && s.b[s.pos+1] == '>' {
				s.pos += 2
				return name, attrs, true, true
			}
			return name, attrs, false, false
		}
		if s.pos == sp || len(attrs) == 8 {
			return name, attrs, false, false
		}
		an, good := s.name()
		if !good || !s.space() || s.b[s.pos] != '=' {
			return name, attrs, false, false
		}
		s.pos++
		if !s.space() || s.b[s.pos] != '"' && s.b[s.pos] != '\'' {
			return name, attrs, false, false
		}
		q := s.b[s.pos]
		s.pos++
		vs := s.pos
		for s.pos < len(s.b) && s.b[s.pos] != q {
			if c := s.b[s.pos]; c < 0x20 || c >= 0x7F || c == '&' || c == '<' {
				return name, attrs, false, false
			}
			s.pos++
		}
		if s.pos >= len(s.b) {
			return name, attrs, false, false
		}
		for _, a := range attrs {
			if bytes.Equal(a.name, an) {
				return name, attrs, false, false
			}
		}
		attrs = append(attrs, headAttr{an, s.b[vs:s.pos]})
		s.pos++
	}
}

// endTag reads </name S?> at pos.
func (s *headScanner) endTag() ([]byte, bool) {
	s.pos += 2
	name, ok := s.name()
	if !ok || !s.space() || s.b[s.pos] != '>' {
		return nil, false
	}
	s.pos++
	return name, true
}

// text reads character data up to the next '<': printable ASCII, tabs and line ends only.
func (s *headScanner) text() ([]byte, bool) {
	start := s.pos
	for s.pos < len(s.b) {
		c := s.b[s.pos]
		switch {
		case c == '<':
			return s.b[start:s.pos], true
		case c == '&' || c == ']' || c >= 0x7F || c < 0x20 && c != '\t' && c != '\n' && c != '\r':
			return nil, false
		}
		s.pos++
	}
	return nil, false
}

// splitQName splits prefix:local; a name with more than one ':' or an empty side is not
// taken.
func splitQName(q []byte) (prefix, local []byte, ok bool) {
	i := bytes.IndexByte(q, ':')
	if i < 0 {
		return nil, q, true
	}
	if i == 0 || i == len(q)-1 || bytes.IndexByte(q[i+1:], ':') >= 0 {
		return nil, nil, false
	}
	return q[:i], q[i+1:], true
}
