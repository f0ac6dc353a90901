package exchange

import (
	"context"
	"encoding/binary"
	"slices"

	"knooppunt/storage"
)

// The referentienummer index has one key per message, idx/rref2/<product>/<referentienummer>/
// <message id>, whose value lists the organisations whose berichtenlog has the message
// (issues 14 and 17: a key per organisation was a row per organisation on PostgreSQL). A
// referentienummer is chosen by its sender and may be another sender's too, so every reader
// keeps only the entries that name its own organisation (scanRefs); an entry that names
// nobody, or whose value cannot be read, is nobody's.

// refOrgs is the value of an index entry: per organisation its uvarint length and its code.
func refOrgs(orgs []string) []byte {
	n := 0
	for _, o := range orgs {
		n += 1 + len(o)
	}
	b := make([]byte, 0, n)
	for _, o := range orgs {
		b = binary.AppendUvarint(b, uint64(len(o)))
		b = append(b, o...)
	}
	return b
}

// refHasOrg tells whether the entry value v names org. It reads v in place: a search walks
// every entry of its referentienummer prefix, of every organisation.
func refHasOrg(v []byte, org string) bool {
	for len(v) > 0 {
		l, w := binary.Uvarint(v)
		if w <= 0 || uint64(len(v)-w) < l {
			return false
		}
		if string(v[w:w+int(l)]) == org {
			return true
		}
		v = v[w+int(l):]
	}
	return false
}

// refOrgList decodes an entry value; what cannot be read ends the list.
func refOrgList(v []byte) []string {
	var out []string
	for len(v) > 0 {
		l, w := binary.Uvarint(v)
		if w <= 0 || uint64(len(v)-w) < l {
			break
		}
		out = append(out, string(v[w:w+int(l)]))
		v = v[w+int(l):]
	}
	return out
}

// refWithOrg is v with org added when it is not in it yet.
func refWithOrg(v []byte, org string) []byte {
	orgs := refOrgList(v)
	if slices.Contains(orgs, org) {
		return v
	}
	return refOrgs(append(orgs, org))
}

// refKey is m's entry in the referentienummer index.
func refKey(m Message) []byte { return key(kRecvRef, m.Product, m.Referentie, m.ID) }

// scanRefs calls fn with the id of each entry under prefix (an idx/rref2 key prefix) that is
// in org's berichtenlog, in key order, until fn says stop.
func scanRefs(ctx context.Context, t storage.Txn, prefix []byte, org string, fn func(id uint64) (bool, error)) error {
	return scanCtx(ctx, t, prefix, storage.ScanOptions{}, func(k, v []byte) (bool, error) {
		if !refHasOrg(v, org) {
			return true, nil
		}
		id, err := idFromKey(k)
		if err != nil {
			return false, err
		}
		return fn(id)
	})
}
