package exchange

import (
	"bytes"
	"errors"

	"knooppunt/storage"
)

// migrateRref brings the referentienummer index from store version 2 (a key per organisation,
// idx/rref/<org>/<product>/<referentienummer>/<id>) to version 3 (a key per message,
// idx/rref2/<product>/<referentienummer>/<id> -> its organisations, berichtenlog_ref.go).
// Each transaction takes up to migrateChunk old keys, adds their organisation to the new
// key's value and deletes them: a message's old keys lie apart (one per organisation) and may
// fall in different transactions, and adding an organisation that is there already changes
// nothing, so a crash halfway only means the rest is done at the next start. The version
// moves on after the last. Nothing reads the index meanwhile: Open has not returned.
func migrateRref(kv storage.KV) error {
	for more := true; more; {
		var err error
		if more, err = migrateRrefStep(kv); err != nil {
			return err
		}
	}
	return nil
}

// migrateRrefStep converts up to migrateChunk version-2 keys in one transaction; more tells
// whether keys are left.
func migrateRrefStep(kv storage.KV) (more bool, err error) {
	err = kv.Update(func(t storage.Txn) error {
		ks, m, err := firstKeys(t, []byte(kRecvRefV2))
		if err != nil {
			return err
		}
		more = m
		// The new keys and the organisations they gain, in the order first met.
		var order []string
		add := map[string][]string{}
		for _, k := range ks {
			if err := t.Delete(k); err != nil {
				return err
			}
			org, nk, ok := rrefV2ToV3(k)
			if !ok {
				continue // not an entry of the index: nothing to keep
			}
			if _, seen := add[string(nk)]; !seen {
				order = append(order, string(nk))
			}
			add[string(nk)] = append(add[string(nk)], org)
		}
		nks := make([][]byte, len(order))
		for i, k := range order {
			nks[i] = []byte(k)
		}
		// One round trip for the values on PostgreSQL (a no-op on Badger).
		if err := storage.Prefetch(t, nks); err != nil {
			return err
		}
		for _, nk := range nks {
			v, err := t.Get(nk)
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			v = bytes.Clone(v)
			for _, org := range add[string(nk)] {
				v = refWithOrg(v, org)
			}
			if err := t.Set(nk, v); err != nil {
				return err
			}
		}
		return nil
	})
	return more, err
}

// rrefV2ToV3 reads a version-2 key idx/rref/<org>/<rest> into its organisation and the
// version-3 key idx/rref2/<rest>. An organisation code holds no slash (KindOf).
func rrefV2ToV3(k []byte) (org string, nk []byte, ok bool) {
	rest := k[len(kRecvRefV2):]
	i := bytes.IndexByte(rest, '/')
	if i <= 0 || len(rest) < i+1+8 {
		return "", nil, false
	}
	return string(rest[:i]), append([]byte(kRecvRef), rest[i+1:]...), true
}
