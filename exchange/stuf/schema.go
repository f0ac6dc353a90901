package stuf

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"knooppunt/exchange/codes"
)

// The ggk0210 envelope schema (ggk0210_msg_ggkberichten.xsd, ggk0210_stuf0301_msg_ggkberichten.xsd
// and the StUF 0301 types they use), written out as tables the streaming validator walks.

type declKind uint8

const (
	kindComplex declKind = iota // element-only content: a sequence of particles
	kindSimple                  // a string value checked by a rule
	kindBase64                  // xs:base64Binary, streamed
)

// decl is an element declaration.
type decl struct {
	ns    int
	local string
	field string // how details name it: "StUF:referentienummer"
	kind  declKind
	parts []particle
	rule  *rule
	set   func(e *Envelope, v string)
	// types lists the named types an xsi:type may select: the declared type and the ones
	// derived from it. Empty for an anonymous type, which no xsi:type can name.
	types []xsiType
	named bool // tekstBestand: the bestandsnaam attribute is required
}

// particle is one step of a sequence; alts holds more than one declaration for a choice.
// Every particle of this schema occurs at most once.
type particle struct {
	alts []*decl
	min  int
}

type xsiType struct {
	ns    int
	local string
	enum  []string // a derived type's enumeration, replacing the declared rule's
	attrs uint8    // StUF attributes the type adds
}

const (
	attrNoValue = 1 << iota
	attrExact
	attrIndOnvolledigeDatum
)

// rule is a simple type's facets: length in characters, a pattern and an enumeration.
type rule struct {
	min, max int // characters; max 0 = unbounded
	enum     []string
	pattern  func(v []byte) bool
	want     string // the pattern in words, for details
}

var (
	ruleBerichtDi01 = &rule{enum: []string{"Di01"}}
	ruleBerichtDu01 = &rule{enum: []string{"Du01"}}
	ruleOrganisatie = &rule{max: 200}
	ruleApplicatie  = &rule{min: 3, max: 50}
	ruleAdmin       = &rule{max: 50}
	ruleGebruiker   = &rule{max: 100}
	ruleFunctie     = &rule{max: 30}
	ruleRefnummer   = &rule{max: 40, pattern: isUUIDv4, want: "een UUID versie 4 in kleine letters zijn, zoals 9c0f7b90-5c69-41e5-a837-0800200c9a66"}
	ruleTijdstip    = &rule{pattern: func(v []byte) bool { return len(v) >= 8 && len(v) <= 17 && allDigits(v) }, want: "8 tot 17 cijfers zijn (jjjjMMddUUmmss…)"}
	ruleVersienr    = &rule{min: 4, max: 4, pattern: func(v []byte) bool { return len(v) == 4 && allDigits(v) }, want: "4 cijfers zijn, zoals 0003"}
)

func allDigits(v []byte) bool {
	for _, c := range v {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isUUIDv4(v []byte) bool {
	if len(v) != 36 {
		return false
	}
	for i, c := range v {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		case 14:
			if c != '4' {
				return false
			}
		case 19:
			if c != '8' && c != '9' && c != 'a' && c != 'b' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}

func stufType(local string) []xsiType { return []xsiType{{ns: nsStUF, local: local}} }

func simple(ns int, local string, r *rule, types []xsiType, set func(*Envelope, string)) *decl {
	return &decl{ns: ns, local: local, field: prefixOf(ns) + local, kind: kindSimple, rule: r, types: types, set: set}
}

func complexDecl(ns int, local string, types []xsiType, parts ...particle) *decl {
	return &decl{ns: ns, local: local, field: prefixOf(ns) + local, kind: kindComplex, parts: parts, types: types}
}

func one(d ...*decl) particle   { return particle{alts: d, min: 1} }
func optional(d *decl) particle { return particle{alts: []*decl{d}} }
func prefixOf(ns int) string {
	switch ns {
	case nsGGK:
		return "GGK:"
	case nsStUF:
		return "StUF:"
	case nsXSI:
		return "xsi:"
	case nsXML:
		return "xml:"
	}
	return ""
}

// systeem is StUF:Systeem_ggkberichten: organisatie, applicatie, administratie?, gebruiker?.
func systeem(local string, org, app func(*Envelope, string)) *decl {
	return complexDecl(nsStUF, local, stufType("Systeem_ggkberichten"),
		one(simple(nsStUF, "organisatie", ruleOrganisatie, stufType("Organisatie"), org)),
		one(simple(nsStUF, "applicatie", ruleApplicatie, stufType("Applicatie"), app)),
		optional(simple(nsStUF, "administratie", ruleAdmin, stufType("Administratie"), nil)),
		optional(simple(nsStUF, "gebruiker", ruleGebruiker, stufType("Gebruiker"), nil)),
	)
}

// tijdstipTypes: StUF:Tijdstip and the complex types stuf0301.xsd derives from it, which add
// the StUF attributes noValue, exact and indOnvolledigeDatum.
var tijdstipTypes = []xsiType{
	{ns: nsStUF, local: "Tijdstip"},
	{ns: nsStUF, local: "Tijdstip-e", attrs: attrNoValue | attrExact},
	{ns: nsStUF, local: "TijdstipMetIndicator", attrs: attrNoValue | attrExact | attrIndOnvolledigeDatum},
	{ns: nsStUF, local: "Tijdstip-r", attrs: attrExact},
}

// functieTypes: StUF:Functie and the Mutatiesoort enumerations derived from it.
var functieTypes = []xsiType{
	{ns: nsStUF, local: "Functie"},
	{ns: nsStUF, local: "Mutatiesoort", enum: []string{"T", "W", "V", "C", "F"}},
	{ns: nsStUF, local: "MutatiesoortT", enum: []string{"T"}},
	{ns: nsStUF, local: "MutatiesoortW", enum: []string{"W"}},
	{ns: nsStUF, local: "MutatiesoortV", enum: []string{"V"}},
	{ns: nsStUF, local: "MutatiesoortC", enum: []string{"C"}},
	{ns: nsStUF, local: "MutatiesoortF", enum: []string{"F"}},
	{ns: nsStUF, local: "MutatiesoortWijzigingInSynchronisatie", enum: []string{"W", "F"}},
}

func stuurgegevens(di01 bool) *decl {
	code, typ := ruleBerichtDi01, "StuurgegevensDi01-envelopHeenbericht"
	if !di01 {
		code, typ = ruleBerichtDu01, "StuurgegevensDu01-envelopRetourbericht"
	}
	parts := []particle{
		one(simple(nsStUF, "berichtcode", code, stufType("Berichtcode"+code.enum[0]), func(e *Envelope, v string) { e.Berichtcode = v })),
		one(systeem("zender", func(e *Envelope, v string) { e.ZenderOrg = v }, func(e *Envelope, v string) { e.ZenderApp = v })),
		one(systeem("ontvanger", func(e *Envelope, v string) { e.OntvangerOrg = v }, func(e *Envelope, v string) { e.OntvangerApp = v })),
		one(simple(nsStUF, "referentienummer", ruleRefnummer, nil, func(e *Envelope, v string) { e.Referentie = v })),
		one(simple(nsStUF, "tijdstipBericht", ruleTijdstip, tijdstipTypes, func(e *Envelope, v string) { e.Tijdstip = v })),
	}
	if !di01 {
		parts = append(parts, one(simple(nsStUF, "crossRefnummer", ruleRefnummer, nil, func(e *Envelope, v string) { e.CrossRef = v })))
	}
	parts = append(parts, one(simple(nsStUF, "functie", ruleFunctie, functieTypes, func(e *Envelope, v string) { e.Functie = v })))
	return complexDecl(nsGGK, "stuurgegevens", stufType(typ), parts...)
}

func parameters() *decl {
	versie := func(local string, set func(*Envelope, string)) particle {
		return one(simple(nsGGK, local, ruleVersienr, stufType("Versienr"), set))
	}
	tekst := &decl{ns: nsGGK, local: "tekstBestand", field: "GGK:tekstBestand", kind: kindBase64, named: true,
		types: stufType("BinaireInhoud-basis_ggkbericht_tekst")}
	xml := &decl{ns: nsGGK, local: "xmlBestand", field: "GGK:xmlBestand", kind: kindBase64,
		types: stufType("BinaireInhoud-basis_ggkbericht_xml")}
	bericht := complexDecl(nsGGK, "bericht", []xsiType{{ns: nsGGK, local: "BinaireInhoud-basis_ggkberichten"}}, one(tekst, xml))
	return complexDecl(nsGGK, "parameters", []xsiType{{ns: nsGGK, local: "Parameters_ggkberichten"}},
		versie("applicatieVersie", func(e *Envelope, v string) { e.ApplicatieVersie = v }),
		versie("applicatieSubversie", func(e *Envelope, v string) { e.ApplicatieSubversie = v }),
		versie("functieVersie", func(e *Envelope, v string) { e.FunctieVersie = v }),
		versie("functieSubversie", func(e *Envelope, v string) { e.FunctieSubversie = v }),
		one(bericht),
	)
}

var (
	rootDi01 = complexDecl(nsGGK, "envelopHeenbericht-ggk_Di01", nil, one(stuurgegevens(true)), one(parameters()))
	rootDu01 = complexDecl(nsGGK, "envelopRetourbericht-ggk_Du01", nil, one(stuurgegevens(false)), one(parameters()))
)

// ---- validator ----

type vframe struct {
	d     *decl
	pi, n int      // current particle and how often it matched
	xt    *xsiType // the type an xsi:type selected, if any
}

// schemaErr records the first schema violation; later ones follow from it or add nothing.
func (p *envParser) schemaErr(format string, args ...any) {
	p.schemaErrAt(p.line, format, args...)
}

func (p *envParser) schemaErrAt(line int, format string, args ...any) {
	if p.verr == nil {
		p.verr = &codes.Rejection{Code: codes.IB001, Detail: fmt.Sprintf(format, args...) + fmt.Sprintf(" (regel %d)", line)}
	}
}

// schemaErrIn is schemaErr for byte j of text b. The parser hands text over in chunks of
// any length and has counted the chunk's line ends when it does, so the line of byte j is
// found by counting back: the error names the same line however the upload was read.
func (p *envParser) schemaErrIn(b []byte, j int, format string, args ...any) {
	p.schemaErrAt(p.line-bytes.Count(b[j:], newline), format, args...)
}

// fmtName names an element or attribute in a detail, with the conventional prefix.
func (p *envParser) fmtName(ns int, local []byte) string {
	if ns >= nsOther {
		return fmt.Sprintf("{%s}%s", Clip(p.nsURI(ns), 80), local)
	}
	return prefixOf(ns) + string(local)
}

// Clip shortens s to at most n bytes, on a rune boundary, with "…" when it cut: a detail that
// quotes an untrusted value stays short and valid UTF-8.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func (p *envParser) vStart(ns int, local []byte) {
	if p.verr != nil {
		return
	}
	var d *decl
	if len(p.vstack) == 0 {
		switch {
		case ns == nsGGK && string(local) == rootDi01.local:
			d, p.env.Root = rootDi01, "Di01"
		case ns == nsGGK && string(local) == rootDu01.local:
			d, p.env.Root = rootDu01, "Du01"
		default:
			p.schemaErr("het root-element moet GGK:%s of GGK:%s zijn, gevonden: %s", rootDi01.local, rootDu01.local, p.fmtName(ns, local))
			return
		}
	} else {
		top := &p.vstack[len(p.vstack)-1]
		if top.d.kind != kindComplex {
			p.schemaErr("%s mag geen elementen bevatten, gevonden: %s", top.d.field, p.fmtName(ns, local))
			return
		}
		if d = p.matchChild(top, ns, local); d == nil {
			return
		}
	}
	fr := vframe{d: d}
	if !p.vAttrs(&fr) {
		return
	}
	p.vstack = append(p.vstack, fr)
	p.val, p.valOver, p.cdata = p.val[:0], false, false
	p.b64 = b64State{}
}

func (d *decl) matches(ns int, local []byte) bool { return d.ns == ns && d.local == string(local) }

func (pt particle) match(ns int, local []byte) *decl {
	for _, d := range pt.alts {
		if d.matches(ns, local) {
			return d
		}
	}
	return nil
}

func (pt particle) field() string {
	if len(pt.alts) == 1 {
		return pt.alts[0].field
	}
	s := ""
	for i, d := range pt.alts {
		if i > 0 {
			s += " of "
		}
		s += d.field
	}
	return s
}

// matchChild advances the parent's sequence to the particle the child matches.
func (p *envParser) matchChild(fr *vframe, ns int, local []byte) *decl {
	parts := fr.d.parts
	for fr.pi < len(parts) {
		pt := parts[fr.pi]
		if d := pt.match(ns, local); d != nil {
			if fr.n >= 1 {
				if len(pt.alts) > 1 {
					p.schemaErr("%s mag maar één van %s bevatten", fr.d.field, pt.field())
				} else {
					p.schemaErr("%s komt meer dan één keer voor in %s", d.field, fr.d.field)
				}
				return nil
			}
			fr.n++
			return d
		}
		if fr.n < pt.min {
			switch {
			case p.matchesAny(parts[:fr.pi], ns, local):
				p.schemaErr("%s: %s staat op de verkeerde plaats of komt te vaak voor; op deze plaats hoort %s", fr.d.field, p.fmtName(ns, local), pt.field())
			case p.matchesAny(parts[fr.pi+1:], ns, local):
				p.schemaErr("%s: %s ontbreekt (vóór %s)", fr.d.field, pt.field(), p.fmtName(ns, local))
			default:
				p.schemaErr("%s: element %s is hier niet toegestaan; op deze plaats hoort %s", fr.d.field, p.fmtName(ns, local), pt.field())
			}
			return nil
		}
		fr.pi, fr.n = fr.pi+1, 0
	}
	if p.matchesAny(parts, ns, local) {
		p.schemaErr("%s: %s staat op de verkeerde plaats of komt te vaak voor", fr.d.field, p.fmtName(ns, local))
	} else {
		p.schemaErr("%s: element %s is hier niet toegestaan", fr.d.field, p.fmtName(ns, local))
	}
	return nil
}

func (p *envParser) matchesAny(parts []particle, ns int, local []byte) bool {
	for _, pt := range parts {
		if pt.match(ns, local) != nil {
			return true
		}
	}
	return false
}

// vAttrs checks the attributes of a start tag against the declaration: xsi:type may select a
// derived type, xsi:schemaLocation hints are allowed, nothing here is nillable, and the only
// other attributes are tekstBestand's bestandsnaam and those a selected StUF type adds.
func (p *envParser) vAttrs(fr *vframe) bool {
	d := fr.d
	for i := range p.attrs {
		a := &p.attrs[i]
		if a.ns == nsXSI && string(p.attrLocal(a)) == "type" {
			if fr.xt = p.xsiType(d, a); fr.xt == nil {
				p.schemaErr("%s: xsi:type %q is hier niet toegestaan", d.field, Clip(string(p.abuf[a.vs:a.ve]), 80))
				return false
			}
		}
	}
	hasName := false
	for i := range p.attrs {
		a := &p.attrs[i]
		if a.ns < 0 {
			continue
		}
		local := p.attrLocal(a)
		v := p.abuf[a.vs:a.ve]
		switch {
		case a.ns == nsXSI && (string(local) == "type" || string(local) == "schemaLocation" || string(local) == "noNamespaceSchemaLocation"):
		case a.ns == nsXSI && string(local) == "nil":
			p.schemaErr("%s: xsi:nil is niet toegestaan, het element is niet nillable", d.field)
			return false
		case a.ns == nsNone && string(local) == "bestandsnaam" && d.named:
			hasName = true
			if a.over || !validBestandsnaam(v) {
				p.schemaErr("%s: bestandsnaam moet 4 tot 255 tekens uit A-Z, a-z, 0-9, '-', '.' en '_' zijn, gevonden: %q", d.field, Clip(string(v), 80))
				return false
			}
			p.env.Bestandsnaam = string(v)
		case a.ns == nsStUF && fr.xt != nil && fr.xt.attrs != 0 && p.stufAttr(fr.xt.attrs, local):
			if !validStufAttr(string(local), v) || a.over {
				p.schemaErr("%s: ongeldige waarde %q voor attribuut StUF:%s", d.field, Clip(string(v), 80), local)
				return false
			}
		default:
			p.schemaErr("%s: attribuut %s is niet toegestaan", d.field, p.fmtName(a.ns, local))
			return false
		}
	}
	if d.named && !hasName {
		p.schemaErr("%s: attribuut bestandsnaam ontbreekt", d.field)
		return false
	}
	return true
}

// xsiType resolves an xsi:type value, a QName taken literally as libxml2 does, to one of the
// types the declaration allows.
func (p *envParser) xsiType(d *decl, a *rawAttr) *xsiType {
	if a.over {
		return nil
	}
	v := p.abuf[a.vs:a.ve]
	colon, ok := qnameColon(v)
	if !ok || len(v) == 0 {
		return nil
	}
	ns, found := p.lookup(v[:max(colon, 0)])
	if !found {
		return nil
	}
	for i := range d.types {
		if t := &d.types[i]; t.ns == ns && t.local == string(v[colon+1:]) {
			return t
		}
	}
	return nil
}

func (p *envParser) stufAttr(mask uint8, local []byte) bool {
	switch string(local) {
	case "noValue":
		return mask&attrNoValue != 0
	case "exact":
		return mask&attrExact != 0
	case "indOnvolledigeDatum":
		return mask&attrIndOnvolledigeDatum != 0
	}
	return false
}

func validStufAttr(local string, v []byte) bool {
	switch local {
	case "noValue":
		switch string(v) {
		case "nietOndersteund", "nietGeautoriseerd", "geenWaarde", "waardeOnbekend", "vastgesteldOnbekend":
			return true
		}
	case "exact":
		switch string(bytes.Trim(v, " \t\n\r")) {
		case "true", "false", "1", "0":
			return true
		}
	case "indOnvolledigeDatum":
		switch string(v) {
		case "J", "M", "D", "V":
			return true
		}
	}
	return false
}

func validBestandsnaam(v []byte) bool {
	if len(v) < 4 || len(v) > 255 {
		return false
	}
	for _, c := range v {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

func (p *envParser) vCDATA() {
	if p.verr != nil {
		return
	}
	if top := &p.vstack[len(p.vstack)-1]; top.d.kind == kindComplex {
		// libxml2 counts any CDATA section, even an empty one, as character content.
		p.schemaErr("%s: tekst (CDATA) is hier niet toegestaan, alleen elementen", top.d.field)
	}
}

func (p *envParser) vText(b []byte) {
	if p.verr != nil || len(b) == 0 {
		return
	}
	top := &p.vstack[len(p.vstack)-1]
	switch top.d.kind {
	case kindComplex:
		for j, c := range b {
			if !isSpace(c) {
				p.schemaErrIn(b, j, "%s: tekst is hier niet toegestaan, alleen elementen", top.d.field)
				return
			}
		}
	case kindSimple:
		if p.valOver || len(p.val)+len(b) > maxValue {
			p.valOver = true
			return
		}
		p.val = append(p.val, b...)
	case kindBase64:
		if reason, j := p.b64.feed(b); reason != "" {
			p.schemaErrIn(b, j, "%s bevat geen geldige base64: %s", top.d.field, reason)
			return
		}
		if top.d.local == "xmlBestand" {
			p.head.feed(b)
		}
	}
}

func (p *envParser) vEnd() {
	if p.verr != nil {
		return
	}
	fr := p.vstack[len(p.vstack)-1]
	p.vstack = p.vstack[:len(p.vstack)-1]
	d := fr.d
	switch d.kind {
	case kindComplex:
		for pi := fr.pi; pi < len(d.parts); pi++ {
			n := 0
			if pi == fr.pi {
				n = fr.n
			}
			if n < d.parts[pi].min {
				p.schemaErr("%s ontbreekt in %s", d.parts[pi].field(), d.field)
				return
			}
		}
	case kindSimple:
		if detail := checkRule(d, fr.xt, p.val, p.valOver); detail != "" {
			p.schemaErr("%s", detail)
			return
		}
		if d.set != nil {
			d.set(&p.env, p.str(d, p.val))
		}
	case kindBase64:
		size, reason := p.b64.end()
		if reason != "" {
			p.schemaErr("%s bevat geen geldige base64: %s", d.field, reason)
			return
		}
		p.env.Kind, p.env.PayloadSize = d.local, size
	}
}

// Bounds of a reused Parser's table of repeated values.
const (
	maxInterned    = 64
	maxInternedLen = 64
)

// str is v as a string. Values that repeat from envelope to envelope (organisaties,
// applicaties, functie, versions) come from a reused Parser's small table, so a parse allocates
// only for what is new each time: the referentienummers and the tijdstip.
func (p *envParser) str(d *decl, v []byte) string {
	if p.intern == nil || d.rule == ruleRefnummer || d.rule == ruleTijdstip || len(v) > maxInternedLen {
		return string(v)
	}
	if s, ok := p.intern[string(v)]; ok {
		return s
	}
	if len(p.intern) >= maxInterned {
		clear(p.intern)
	}
	s := string(v)
	p.intern[s] = s
	return s
}

func checkRule(d *decl, xt *xsiType, v []byte, over bool) string {
	r := d.rule
	if over {
		return fmt.Sprintf("%s is te lang", d.field)
	}
	enum := r.enum
	if xt != nil && xt.enum != nil {
		enum = xt.enum
	}
	if enum != nil {
		for _, e := range enum {
			if string(v) == e {
				return ""
			}
		}
		if len(enum) == 1 {
			return fmt.Sprintf("%s moet %s zijn, gevonden: %q", d.field, enum[0], Clip(string(v), 60))
		}
		return fmt.Sprintf("%s moet een van %v zijn, gevonden: %q", d.field, enum, Clip(string(v), 60))
	}
	if r.pattern != nil {
		if len(v) == 0 {
			return fmt.Sprintf("%s: waarde ontbreekt; deze moet %s", d.field, r.want)
		}
		if !r.pattern(v) {
			return fmt.Sprintf("%s moet %s, gevonden: %q", d.field, r.want, Clip(string(v), 60))
		}
		return ""
	}
	n := utf8.RuneCount(v)
	switch {
	case n < r.min && r.min > 0 && n == 0:
		return fmt.Sprintf("%s: waarde ontbreekt; deze moet %d tot %d tekens lang zijn", d.field, r.min, r.max)
	case n < r.min:
		return fmt.Sprintf("%s moet %d tot %d tekens lang zijn, gevonden: %d", d.field, r.min, r.max, n)
	case r.max > 0 && n > r.max:
		return fmt.Sprintf("%s mag hoogstens %d tekens lang zijn, gevonden: %d", d.field, r.max, n)
	}
	return ""
}

// ---- base64 ----

// b64State validates xs:base64Binary as it streams by, the way libxml2 reads it: whitespace is
// ignored, then the alphabet, at most two '=' at the end with nothing after them, a length
// that is a multiple of 4 and zero bits in the unused part of the last character. Unlike
// libxml2, which skips them, any other character is refused: a payload with stray characters
// cannot be decoded by the recipient.
type b64State struct {
	n    int64 // alphabet characters
	pad  int
	last byte // value of the last alphabet character
}

const (
	b64Pad   = 64
	b64Space = 65
	b64Bad   = 0xFF
)

var b64Value = func() (t [256]byte) {
	for i := range t {
		t[i] = b64Bad
	}
	for i, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" {
		t[c] = byte(i)
	}
	t['='] = b64Pad
	for _, c := range " \t\r\n" {
		t[c] = b64Space
	}
	return t
}()

// feed takes the next text of a base64 element; a reason and the offending byte's index when
// it is not base64.
func (s *b64State) feed(b []byte) (string, int) {
	i := 0
	if s.pad == 0 {
		n := int64(0)
		for ; i < len(b); i++ {
			v := b64Value[b[i]]
			if v < 64 {
				n++
				s.last = v
				continue
			}
			if v != b64Space {
				break
			}
		}
		s.n += n
	}
	for ; i < len(b); i++ {
		switch v := b64Value[b[i]]; {
		case v < 64:
			return "tekens na de opvulling '='", i
		case v == b64Pad:
			if s.pad++; s.pad > 2 {
				return "meer dan twee '=' aan het einde", i
			}
		case v == b64Space:
		default:
			r, _ := utf8.DecodeRune(b[i:])
			return fmt.Sprintf("ongeldig teken %q", r), i
		}
	}
	return "", 0
}

func (s *b64State) end() (int64, string) {
	size := s.n / 4 * 3
	switch s.pad {
	case 0:
		if s.n%4 == 0 {
			return size, ""
		}
	case 1:
		if s.n%4 == 3 {
			if s.last&0x03 != 0 {
				return 0, "ongebruikte bits vóór de '=' zijn niet 0"
			}
			return size + 2, ""
		}
	case 2:
		if s.n%4 == 2 {
			if s.last&0x0F != 0 {
				return 0, "ongebruikte bits vóór de '==' zijn niet 0"
			}
			return size + 1, ""
		}
	}
	return 0, "het aantal tekens (zonder witruimte) is geen veelvoud van 4"
}
