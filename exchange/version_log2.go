package exchange

import (
	"bytes"
	"errors"

	"knooppunt/storage"
)

// migrateChunk is how many keys one transaction of a bulk migration visits: its reads and
// writes stay far below Badger's transaction limit whatever the store's size.
const migrateChunk = 500

// migrateLog2 brings the berichtenlog from store version 1 (an entry per message in each log
// and four value-index entries with its summary) to version 2 (groups, berichtenlog_groep.go).
// First every time-index entry of version 1 becomes a member of a group, made from its
// message as it is now; then the value-index entries of version 1 go. Each transaction
// handles migrateChunk keys and deletes what it converted, so a crash halfway only means the
// rest is done at the next start; the version moves on after both. Nothing reads the log
// meanwhile: Open has not returned.
func migrateLog2(kv storage.KV) error {
	for more := true; more; {
		var err error
		if more, err = migrateLog2Step(kv); err != nil {
			return err
		}
	}
	for more := true; more; {
		err := kv.Update(func(t storage.Txn) error {
			ks, m, err := firstKeys(t, []byte(kLogVV1))
			if err != nil {
				return err
			}
			more = m
			for _, k := range ks {
				if err := t.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// migrateLog2Step turns up to migrateChunk version-1 time-index entries into group members,
// in one transaction that also deletes them; more tells whether entries are left.
func migrateLog2Step(kv storage.KV) (more bool, err error) {
	err = kv.Update(func(t storage.Txn) error {
		ks, m, err := firstKeys(t, []byte(kLogV1))
		if err != nil {
			return err
		}
		more = m
		b := newLogBatch()
		for _, k := range ks {
			if err := t.Delete(k); err != nil {
				return err
			}
			org, ok := v1LogOrg(k)
			if !ok {
				continue // not a log entry: nothing to keep
			}
			id, err := idFromKey(k)
			if err != nil {
				return err
			}
			var m Message
			if err := getJSON(t, key(kMessage, id), &m); err != nil {
				if errors.Is(err, storage.ErrNotFound) {
					continue // purged: its entry was stray
				}
				return err
			}
			b.add(org, m)
		}
		return b.writeGroups(t)
	})
	return more, err
}

// v1LogOrg reads the organisation of a version-1 time-index key,
// idx/log/<org>/<product>/<time>/<id>.
func v1LogOrg(k []byte) (string, bool) {
	rest := k[len(kLogV1):]
	i := bytes.IndexByte(rest, '/')
	if i <= 0 || len(rest) < i+1+16 {
		return "", false
	}
	return string(rest[:i]), true
}

// firstKeys returns up to migrateChunk keys under prefix, and whether there are more.
func firstKeys(t storage.Txn, prefix []byte) (ks [][]byte, more bool, err error) {
	err = t.Scan(prefix, storage.ScanOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
		if len(ks) == migrateChunk {
			more = true
			return false, nil
		}
		ks = append(ks, bytes.Clone(k))
		return true, nil
	})
	return ks, more, err
}
