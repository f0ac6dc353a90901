package ebms

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// node is a small namespace-aware tree of an XML document, enough for the CPA and the SOAP
// envelope. Reading refuses any DTD (so no entity can be declared, let alone expanded) and bounds
// the depth and the number of elements.
type node struct {
	Space, Local string
	Attr         []xml.Attr
	Children     []*node
	textBuf      []byte // the character data directly inside, concatenated (appended, so text split by comments costs linear time)
	parent       *node
}

const (
	maxDepth    = 64
	maxElements = 200_000
)

var errDTD = errors.New("een DTD (<!DOCTYPE>) is niet toegestaan")

// parseTree reads one XML document. The error texts are Dutch.
func parseTree(data []byte) (*node, error) {
	if bytes.Contains(data, []byte("<!DOCTYPE")) || bytes.Contains(data, []byte("<!ENTITY")) {
		return nil, errDTD
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	dec.Entity = nil
	var root, cur *node
	count := 0
	depth := 0
	for {
		tok, err := dec.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("geen goed gevormde XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil, errDTD
		case xml.StartElement:
			count++
			depth++
			if count > maxElements {
				return nil, fmt.Errorf("te veel elementen (meer dan %d)", maxElements)
			}
			if depth > maxDepth {
				return nil, fmt.Errorf("te diep genest (meer dan %d niveaus)", maxDepth)
			}
			n := &node{Space: t.Name.Space, Local: t.Name.Local, Attr: append([]xml.Attr(nil), t.Attr...), parent: cur}
			if cur == nil {
				if root != nil {
					return nil, errors.New("geen goed gevormde XML: meer dan één hoofdelement")
				}
				root = n
			} else {
				cur.Children = append(cur.Children, n)
			}
			cur = n
		case xml.EndElement:
			if cur == nil {
				return nil, errors.New("geen goed gevormde XML: sluittag zonder begintag")
			}
			cur = cur.parent
			depth--
		case xml.CharData:
			if cur != nil {
				cur.textBuf = append(cur.textBuf, t...)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, errors.New("geen goed gevormde XML: tekst buiten het hoofdelement")
			}
		}
	}
	if root == nil {
		return nil, errors.New("geen XML: er is geen hoofdelement")
	}
	if cur != nil {
		return nil, errors.New("geen goed gevormde XML: het document houdt halverwege op")
	}
	resolveNamespaces(root, map[string]string{"xml": "http://www.w3.org/XML/1998/namespace"})
	return root, nil
}

// resolveNamespaces replaces prefixes (RawToken leaves them) by namespace URIs, in elements and
// attributes. An undeclared prefix stays as it is, which then matches no known namespace.
func resolveNamespaces(n *node, scope map[string]string) {
	local := scope
	for _, a := range n.Attr {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			cp := make(map[string]string, len(scope)+2)
			for k, v := range local {
				cp[k] = v
			}
			if a.Name.Space == "xmlns" {
				cp[a.Name.Local] = a.Value
			} else {
				cp[""] = a.Value
			}
			local = cp
		}
	}
	if uri, ok := local[n.Space]; ok {
		n.Space = uri
	}
	for i, a := range n.Attr {
		if a.Name.Space == "" || a.Name.Space == "xmlns" {
			continue
		}
		if uri, ok := local[a.Name.Space]; ok {
			n.Attr[i].Name.Space = uri
		}
	}
	for _, c := range n.Children {
		resolveNamespaces(c, local)
	}
}

// is says whether n is the element {space}local.
func (n *node) is(space, local string) bool {
	return n != nil && n.Space == space && n.Local == local
}

// child returns the first child {space}local, or nil.
func (n *node) child(space, local string) *node {
	if n == nil {
		return nil
	}
	for _, c := range n.Children {
		if c.Space == space && c.Local == local {
			return c
		}
	}
	return nil
}

// all returns the children {space}local.
func (n *node) all(space, local string) []*node {
	if n == nil {
		return nil
	}
	var out []*node
	for _, c := range n.Children {
		if c.Space == space && c.Local == local {
			out = append(out, c)
		}
	}
	return out
}

// text returns the trimmed character data of n ("" for nil).
func (n *node) text() string {
	if n == nil {
		return ""
	}
	return strings.TrimSpace(string(n.textBuf))
}

// attr returns the attribute {space}local; ok is false when absent.
func (n *node) attr(space, local string) (string, bool) {
	if n == nil {
		return "", false
	}
	for _, a := range n.Attr {
		if a.Name.Space == space && a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

// attrAny returns the attribute named local in the given namespace or without one: CPAs in the
// wild write CPPA attributes both qualified (tns:cpaid) and not.
func (n *node) attrAny(space, local string) string {
	if v, ok := n.attr(space, local); ok {
		return v
	}
	v, _ := n.attr("", local)
	return v
}

// path names n for an error location, with the conventional prefixes.
func (n *node) path() string {
	var parts []string
	for x := n; x != nil; x = x.parent {
		prefix := ""
		switch x.Space {
		case NamespaceSOAP:
			prefix = "SOAP:"
		case NamespaceEbMS:
			prefix = "eb:"
		case NamespaceDSig:
			prefix = "ds:"
		}
		parts = append([]string{prefix + x.Local}, parts...)
	}
	return strings.Join(parts, "/")
}
