package hostkeys

import (
	"errors"
	"fmt"

	"knooppunt/storage"
)

// kShared keys the host keys kept in a shared store: hostkeys/<file name>, the private key in
// OpenSSH PEM. The exchange keeps no key under this prefix.
const kShared = "hostkeys/"

// LoadShared reads the host keys from kv, the store every node of one hub shares, generating
// the missing ones: the first node to start makes them, the others load them, so every node
// presents the same fingerprints. Two nodes that start at once may both generate a key; the
// store's serializable transaction lets one of them write it and the other read it back.
// where names the store in messages (no password).
func LoadShared(kv storage.KV, where string) ([]Key, error) {
	keys := make([]Key, 0, len(specs))
	for _, s := range specs {
		k, err := loadOrCreateShared(kv, s, where)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// ReadShared reads the host keys the nodes keep in kv without making any: for a command that
// shows them, where a missing key means no node has started on this store yet.
func ReadShared(kv storage.KV, where string) ([]Key, error) {
	keys := make([]Key, 0, len(specs))
	for _, s := range specs {
		stored, err := getShared(kv, s)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("geen hostsleutel %s in %s: de hostsleutels ontstaan bij de eerste start van een knooppunt met deze database", s.typ, where)
		}
		if err != nil {
			return nil, fmt.Errorf("hostsleutel %s lezen uit %s: %w", s.typ, where, err)
		}
		k, err := parse(stored, where+" ("+kShared+s.file+")", s)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// getShared reads the stored PEM of key s; storage.ErrNotFound when no node made it yet.
func getShared(kv storage.KV, s spec) ([]byte, error) {
	var stored []byte
	err := kv.View(func(t storage.Txn) error {
		var err error
		stored, err = t.Get([]byte(kShared + s.file))
		return err
	})
	return stored, err
}

func loadOrCreateShared(kv storage.KV, s spec, where string) (Key, error) {
	name := []byte(kShared + s.file)
	label := where + " (" + kShared + s.file + ")"
	stored, err := getShared(kv, s)
	if err == nil {
		return parse(stored, label, s)
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return Key{}, fmt.Errorf("hostsleutel %s lezen uit %s: %w", s.typ, where, err)
	}
	// Generated outside the transaction: an RSA key takes a second, and a transaction may run
	// again after a conflict.
	mine, err := s.generate()
	if err != nil {
		return Key{}, err
	}
	err = kv.Update(func(t storage.Txn) error {
		v, err := t.Get(name)
		switch {
		case err == nil:
			stored = v // another node was first: its key is the hub's
			return nil
		case !errors.Is(err, storage.ErrNotFound):
			return err
		}
		stored = mine
		return t.Set(name, mine)
	})
	if err != nil {
		return Key{}, fmt.Errorf("hostsleutel %s opslaan in %s: %w", s.typ, where, err)
	}
	return parse(stored, label, s)
}

// Import copies the host keys of dataDir into kv, so that a hub moved onto a shared store
// keeps the fingerprints its clients pinned. A key already in kv is kept; it reports how many
// keys it copied.
func Import(dataDir string, kv storage.KV) (int, error) {
	keys, err := Read(dataDir)
	if err != nil {
		return 0, err
	}
	copied := 0
	for i, s := range specs {
		b, err := readFile(keys[i].Path)
		if err != nil {
			return copied, err
		}
		name := []byte(kShared + s.file)
		var did bool
		err = kv.Update(func(t storage.Txn) error {
			did = false
			if _, err := t.Get(name); err == nil {
				return nil
			} else if !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			did = true
			return t.Set(name, b)
		})
		if err != nil {
			return copied, fmt.Errorf("hostsleutel %s kopiëren: %w", s.typ, err)
		}
		if did {
			copied++
		}
	}
	return copied, nil
}
