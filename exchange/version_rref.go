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
	var from []byte
	for more := true; more; {
		var err error
		if from, more, err = migrateRrefStep(kv, from); err != nil {
			return err
		}
	}
	return nil
}

// migrateRrefStep converts up to migrateChunk version-2 keys from key from on (nil: the
// first) in one transaction; it returns where the next step starts, and whether keys are
// left. Each step starts after the keys the ones before deleted: a scan from the start of
// the prefix would step over all their deletions again (Badger keeps them until compaction),
// which made a store of 100,000 keys take 138 µs a key instead of a few.
func migrateRrefStep(kv storage.KV, from []byte) (next []byte, more bool, err error) {
	err = kv.Update(func(t storage.Txn) error {
		var ks [][]byte
		more = false
		err := t.Scan([]byte(kRecvRefV2), storage.ScanOptions{KeysOnly: true, Start: from}, func(k, _ []byte) (bool, error) {
			if len(ks) == migrateChunk {
				more = true
				return false, nil
			}
			ks = append(ks, bytes.Clone(k))
			return true, nil
		})
		if err != nil {
			return err
		}
		next = from
		if len(ks) > 0 {
			next = ks[len(ks)-1]
		}
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
	return next, more, err
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
