package ebms

import (
	"bytes"
	"sort"
	"strings"

	"github.com/beevik/etree"
)

// Inclusive Canonical XML 1.0 without comments (http://www.w3.org/TR/2001/REC-xml-c14n-20010315),
// for the two node sets an ebMS signature needs: a whole document (after the enveloped-signature
// and the ebMS XPath transforms have removed their subtrees from a copy) and an element with its
// descendants (ds:SignedInfo), whose in-scope namespaces and xml:* attributes are inherited
// from its ancestors.
//
// Written here rather than taken from goxmldsig because its canonicalizer orders attributes of
// different prefixes by local name instead of by namespace URI (etreeutils/sort.go), which C14N
// forbids and which changes the order of SOAP:mustUnderstand and eb:highestSeverity in an
// eb:ErrorList.

const namespaceXML = "http://www.w3.org/XML/1998/namespace"

// canonicalDocument canonicalizes doc's root element and the processing instructions around it
// (comments are dropped; there is no DTD, parseTree refused it).
func canonicalDocument(doc *etree.Document) []byte {
	var b bytes.Buffer
	seenRoot := false
	for _, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Element:
			c14nElement(&b, t, map[string]string{}, map[string]string{"": ""}, nil)
			seenRoot = true
		case *etree.ProcInst:
			if t.Target == "xml" {
				continue // the XML declaration is not a PI and is not in the data model
			}
			if seenRoot {
				b.WriteByte('\n')
			}
			writePI(&b, t)
			if !seenRoot {
				b.WriteByte('\n')
			}
		}
	}
	return b.Bytes()
}

// canonicalSubtree canonicalizes el and its descendants as a document subset: el gets every
// namespace in scope and the xml:* attributes of its ancestors that it does not set itself.
func canonicalSubtree(el *etree.Element) []byte {
	scope := map[string]string{"": ""}
	xmlAttrs := map[string]string{}
	var chain []*etree.Element
	for p := el.Parent(); p != nil; p = p.Parent() {
		chain = append(chain, p)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		for _, a := range chain[i].Attr {
			switch {
			case a.Space == "xmlns":
				scope[a.Key] = a.Value
			case a.Space == "" && a.Key == "xmlns":
				scope[""] = a.Value
			case a.Space == "xml":
				xmlAttrs[a.Key] = a.Value
			}
		}
	}
	var b bytes.Buffer
	c14nElementScoped(&b, el, scope, map[string]string{"": ""}, xmlAttrs)
	return b.Bytes()
}

// c14nElement writes el with the namespaces in scope of its parent (inherited) and those the
// parent's output already declared (rendered).
func c14nElement(b *bytes.Buffer, el *etree.Element, inherited, rendered map[string]string, xmlAttrs map[string]string) {
	scope := make(map[string]string, len(inherited)+2)
	for k, v := range inherited {
		scope[k] = v
	}
	if _, ok := scope[""]; !ok {
		scope[""] = ""
	}
	c14nElementScoped(b, el, scope, rendered, xmlAttrs)
}

type c14nAttr struct {
	uri, local, qname, value string
}

func c14nElementScoped(b *bytes.Buffer, el *etree.Element, scope, rendered map[string]string, xmlAttrs map[string]string) {
	// This element's own declarations extend the scope.
	own := make(map[string]string, len(scope))
	for k, v := range scope {
		own[k] = v
	}
	for _, a := range el.Attr {
		if a.Space == "xmlns" {
			own[a.Key] = a.Value
		} else if a.Space == "" && a.Key == "xmlns" {
			own[""] = a.Value
		}
	}
	// Namespace nodes to write: those whose value differs from what the output's nearest
	// ancestor declared.
	var prefixes []string
	for p, uri := range own {
		if p == "xml" {
			continue
		}
		// rendered always holds "" (the empty default namespace), so an empty default is
		// written (as xmlns="") only to undo a non-empty one of the output's parent.
		if r, seen := rendered[p]; seen && r == uri {
			continue
		}
		prefixes = append(prefixes, p)
	}
	sort.Strings(prefixes) // "" (the default namespace) sorts first, as C14N demands
	var attrs []c14nAttr
	for _, a := range el.Attr {
		if a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns") {
			continue
		}
		ca := c14nAttr{local: a.Key, qname: a.Key, value: a.Value}
		if a.Space != "" {
			ca.qname = a.Space + ":" + a.Key
			if a.Space == "xml" {
				ca.uri = namespaceXML
			} else {
				ca.uri = own[a.Space]
			}
		}
		attrs = append(attrs, ca)
	}
	for k, v := range xmlAttrs {
		present := false
		for _, a := range attrs {
			present = present || (a.uri == namespaceXML && a.local == k)
		}
		if !present {
			attrs = append(attrs, c14nAttr{uri: namespaceXML, local: k, qname: "xml:" + k, value: v})
		}
	}
	sort.Slice(attrs, func(i, j int) bool {
		if attrs[i].uri != attrs[j].uri {
			return attrs[i].uri < attrs[j].uri
		}
		return attrs[i].local < attrs[j].local
	})

	name := el.Tag
	if el.Space != "" {
		name = el.Space + ":" + el.Tag
	}
	b.WriteByte('<')
	b.WriteString(name)
	childRendered := rendered
	if len(prefixes) > 0 {
		childRendered = make(map[string]string, len(rendered)+len(prefixes))
		for k, v := range rendered {
			childRendered[k] = v
		}
	}
	for _, p := range prefixes {
		if p == "" {
			b.WriteString(` xmlns="`)
		} else {
			b.WriteString(` xmlns:` + p + `="`)
		}
		escapeAttr(b, own[p])
		b.WriteByte('"')
		childRendered[p] = own[p]
	}
	for _, a := range attrs {
		b.WriteString(" " + a.qname + `="`)
		escapeAttr(b, a.value)
		b.WriteByte('"')
	}
	b.WriteByte('>')
	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.Element:
			c14nElementScoped(b, t, own, childRendered, nil)
		case *etree.CharData:
			escapeText(b, t.Data)
		case *etree.ProcInst:
			writePI(b, t)
		}
	}
	b.WriteString("</" + name + ">")
}

func writePI(b *bytes.Buffer, p *etree.ProcInst) {
	b.WriteString("<?" + p.Target)
	if p.Inst != "" {
		b.WriteString(" " + p.Inst)
	}
	b.WriteString("?>")
}

var (
	textEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\r", "&#xD;")
	attrEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", `"`, "&quot;", "\t", "&#x9;", "\n", "&#xA;", "\r", "&#xD;")
)

func escapeText(b *bytes.Buffer, s string) { _, _ = textEscaper.WriteString(b, s) }
func escapeAttr(b *bytes.Buffer, s string) { _, _ = attrEscaper.WriteString(b, s) }
