package exchange

import (
	"fmt"
	"regexp"
	"strings"
)

// Product is a berichtstroom, named by its folder: iwmo, ijw, ieb, pgb-wmo, pgb-jw.
type Product string

const (
	IWmo   Product = "iwmo"
	IJw    Product = "ijw"
	IEb    Product = "ieb"
	PGBWmo Product = "pgb-wmo"
	PGBJw  Product = "pgb-jw"
)

// Products lists every product in the order screens show them.
var Products = []Product{IWmo, IJw, IEb, PGBWmo, PGBJw}

// OrgKind is the kind of an organisation, which follows from its code.
type OrgKind string

const (
	Gemeente  OrgKind = "gemeente"
	Aanbieder OrgKind = "zorgaanbieder"
	CAK       OrgKind = "CAK"
	SVB       OrgKind = "SVB"
)

var (
	gemeentecode = regexp.MustCompile(`^[0-9]{4}$`)
	agbcode      = regexp.MustCompile(`^[0-9]{8}$`)
)

// KindOf tells the kind of organisation a code names, or an error a person can act on.
func KindOf(code string) (OrgKind, error) {
	switch {
	case gemeentecode.MatchString(code):
		return Gemeente, nil
	case agbcode.MatchString(code):
		return Aanbieder, nil
	case code == "CAK":
		return CAK, nil
	case code == "SVB":
		return SVB, nil
	}
	return "", fmt.Errorf("organisatiecode %q is ongeldig: gebruik een gemeentecode (4 cijfers), een AGB-code (8 cijfers), CAK of SVB", code)
}

// ProductInfo describes one berichtstroom.
type ProductInfo struct {
	Product  Product
	Name     string // as people write it: iWmo
	Release  string // payload release: 3.2
	StUF     string // envelope version shown on the routing page
	Envelope bool   // false for PGB 1.0 files, which may come without a StUF envelope
	Parties  [2]OrgKind
}

// Direction of a message type within its exchange.
type Direction string

const (
	Heen   Direction = "heen"
	Retour Direction = "retour"
)

// Functie is one message type, such as WMO301.
type Functie struct {
	Code         string // WMO301
	Product      Product
	Omschrijving string
	Direction    Direction
	From, To     OrgKind
	Exchange     string // the routing row it belongs to: "WMO 301/302"
	Answer       string // the retour functie of a heen message, if any
	Answers      string // the heen functie a retour message answers
	BerichtCode  int    // the payload header's BerichtCode, 0 where none
}

// Exchange is one routing row: a heen message and its retour.
type Exchange struct {
	Product Product
	Name    string // "WMO 301/302"
	Heen    string
	Retour  string // empty where the heen message has no retour
}

// Catalogue holds the products and message types the hub carries.
type Catalogue struct {
	products  map[Product]ProductInfo
	functies  map[string]Functie
	exchanges map[Product][]Exchange
}

// NewCatalogue builds the catalogue of DOMAIN.md.
func NewCatalogue() *Catalogue {
	c := &Catalogue{products: map[Product]ProductInfo{}, functies: map[string]Functie{}, exchanges: map[Product][]Exchange{}}
	c.products[IWmo] = ProductInfo{IWmo, "iWmo", "3.2", "2.1", true, [2]OrgKind{Gemeente, Aanbieder}}
	c.products[IJw] = ProductInfo{IJw, "iJw", "3.2", "2.1", true, [2]OrgKind{Gemeente, Aanbieder}}
	c.products[IEb] = ProductInfo{IEb, "iEb", "3.0", "2.1", true, [2]OrgKind{Gemeente, CAK}}
	c.products[PGBWmo] = ProductInfo{PGBWmo, "PGB-Wmo", "1.0", "2.1", false, [2]OrgKind{Gemeente, SVB}}
	c.products[PGBJw] = ProductInfo{PGBJw, "PGB-Jw", "1.0", "2.1", false, [2]OrgKind{Gemeente, SVB}}

	type pair struct {
		heen, retour      int
		omsHeen, omsRet   string
		from              OrgKind
		codeHeen, codeRet [2]int // berichtcodes WMO, JW
	}
	zorg := []pair{
		{301, 302, "Toewijzing ondersteuning", "Retourbericht toewijzing ondersteuning", Gemeente, [2]int{414, 436}, [2]int{415, 437}},
		{303, 304, "Declaratie/factuur (tot 01-01-2021)", "Retourbericht declaratie/factuur", Aanbieder, [2]int{0, 0}, [2]int{0, 0}},
		{305, 306, "Start ondersteuning", "Retourbericht start ondersteuning", Aanbieder, [2]int{418, 438}, [2]int{419, 439}},
		{307, 308, "Stop ondersteuning", "Retourbericht stop ondersteuning", Aanbieder, [2]int{420, 440}, [2]int{421, 441}},
		{315, 316, "Verzoek om toewijzing ondersteuning", "Retourbericht verzoek om toewijzing", Aanbieder, [2]int{444, 446}, [2]int{445, 447}},
		{317, 318, "Verzoek om wijziging ondersteuning", "Retourbericht verzoek om wijziging", Aanbieder, [2]int{480, 486}, [2]int{481, 487}},
		{319, 320, "Antwoordbericht", "Retourbericht antwoordbericht", Gemeente, [2]int{482, 488}, [2]int{483, 489}},
		{323, 0, "Declaratie (vanaf 01-01-2021)", "", Aanbieder, [2]int{484, 490}, [2]int{}},
		{325, 0, "Declaratie-antwoord (vanaf 01-01-2021)", "", Gemeente, [2]int{485, 491}, [2]int{}},
	}
	for i, prefix := range []string{"WMO", "JW"} {
		product := []Product{IWmo, IJw}[i]
		for _, p := range zorg {
			to := Aanbieder
			if p.from == Aanbieder {
				to = Gemeente
			}
			c.addPair(product, prefix, p.heen, p.retour, p.omsHeen, p.omsRet, p.from, to, p.codeHeen[i], p.codeRet[i])
		}
	}
	c.addPair(IEb, "WMO", 401, 402, "Start eigen bijdrage", "Retourbericht start eigen bijdrage", Gemeente, CAK, 0, 0)
	c.addPair(IEb, "WMO", 403, 404, "Stop eigen bijdrage", "Retourbericht stop eigen bijdrage", Gemeente, CAK, 0, 0)
	for _, p := range []Product{PGBWmo, PGBJw} {
		c.add(Functie{Code: "TKB", Product: p, Omschrijving: "Toekenningsbeschikking", Direction: Heen, From: Gemeente, To: SVB, Exchange: "TKB/BAB"})
		c.add(Functie{Code: "BAB", Product: p, Omschrijving: "Budget-afsluitingsbericht", Direction: Heen, From: SVB, To: Gemeente, Exchange: "TKB/BAB"})
		c.exchanges[p] = append(c.exchanges[p], Exchange{Product: p, Name: "TKB/BAB", Heen: "TKB", Retour: "BAB"})
	}
	return c
}

func (c *Catalogue) addPair(product Product, prefix string, heen, retour int, omsHeen, omsRet string, from, to OrgKind, codeHeen, codeRet int) {
	h := fmt.Sprintf("%s%d", prefix, heen)
	name := fmt.Sprintf("%s %d", prefix, heen)
	ex := Exchange{Product: product, Heen: h}
	if retour != 0 {
		ex.Retour = fmt.Sprintf("%s%d", prefix, retour)
		name = fmt.Sprintf("%s %d/%d", prefix, heen, retour)
	}
	ex.Name = name
	c.exchanges[product] = append(c.exchanges[product], ex)
	c.add(Functie{Code: h, Product: product, Omschrijving: omsHeen, Direction: Heen, From: from, To: to, Exchange: name, Answer: ex.Retour, BerichtCode: codeHeen})
	if retour != 0 {
		c.add(Functie{Code: ex.Retour, Product: product, Omschrijving: omsRet, Direction: Retour, From: to, To: from, Exchange: name, Answers: h, BerichtCode: codeRet})
	}
}

func (c *Catalogue) add(f Functie) {
	// TKB and BAB exist in both PGB products; key them per product.
	c.functies[string(f.Product)+"/"+f.Code] = f
}

// Product returns a product's description.
func (c *Catalogue) Product(p Product) (ProductInfo, bool) {
	info, ok := c.products[p]
	return info, ok
}

// ParseProduct accepts a product by folder name or display name, any case.
func (c *Catalogue) ParseProduct(s string) (Product, error) {
	for _, p := range Products {
		if strings.EqualFold(s, string(p)) || strings.EqualFold(s, c.products[p].Name) {
			return p, nil
		}
	}
	return "", fmt.Errorf("onbekend product %q: kies uit iwmo, ijw, ieb, pgb-wmo, pgb-jw", s)
}

// Functie looks a message type up within a product.
func (c *Catalogue) Functie(p Product, code string) (Functie, bool) {
	f, ok := c.functies[string(p)+"/"+code]
	return f, ok
}

// FunctieAnywhere finds which product a message type belongs to, for IB004 versus a
// functie uploaded into the wrong product folder.
func (c *Catalogue) FunctieAnywhere(code string) (Functie, bool) {
	for _, p := range Products {
		if f, ok := c.Functie(p, code); ok {
			return f, true
		}
	}
	return Functie{}, false
}

// Exchanges lists a product's routing rows in catalogue order.
func (c *Catalogue) Exchanges(p Product) []Exchange { return c.exchanges[p] }

// Functies lists a product's message types in catalogue order.
func (c *Catalogue) Functies(p Product) []Functie {
	var out []Functie
	for _, ex := range c.exchanges[p] {
		if f, ok := c.Functie(p, ex.Heen); ok {
			out = append(out, f)
		}
		if f, ok := c.Functie(p, ex.Retour); ok {
			out = append(out, f)
		}
	}
	return out
}
