package exchange

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"knooppunt/storage"
)

// StoreVersion is the format of the records this binary writes. A store without a version
// key is version 0: everything written before versions existed.
const StoreVersion = 2

// ErrStoreTooNew is returned by Open for a store written by a newer knooppunt.
var ErrStoreTooNew = errors.New("de opslag is van een nieuwere knooppunt-versie")

// migrations[v] brings a store from version v to v+1, in one transaction with the new
// version key, so a crash leaves the old version or the new one and Open simply retries.
var migrations = []func(t storage.Txn) error{
	// 0 → 1: the records are unchanged; from now on the store says what it is.
	func(storage.Txn) error { return nil },
	// 1 → 2: the berichtenlog keeps groups instead of an entry per message; bulk[1] did the
	// work.
	func(storage.Txn) error { return nil },
}

// bulk[v], when set, runs before migrations[v]: work too large for one transaction, done in
// transactions of its own that may be redone (a crash before the version moves on runs it
// again at the next start).
var bulk = map[int]func(kv storage.KV) error{
	1: migrateLog2,
}

func readVersion(t storage.Txn) (int, bool, error) {
	v, err := t.Get([]byte(kVersion))
	if errors.Is(err, storage.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	n, err := strconv.Atoi(string(v))
	if err != nil || n < 0 {
		return 0, true, fmt.Errorf("opslagversie %q is onleesbaar", v)
	}
	return n, true, nil
}

// upgradeStore writes the version into a new store, migrates an older one (logged once, when
// it reaches this binary's version), and refuses a newer one.
func upgradeStore(kv storage.KV, dir string, log *slog.Logger) error {
	first := -1 // the version a migration started from
	for {
		var (
			from  int
			known bool
			empty = true
		)
		err := kv.View(func(t storage.Txn) error {
			var err error
			if from, known, err = readVersion(t); err != nil || known {
				return err
			}
			return t.Scan(nil, storage.ScanOptions{KeysOnly: true}, func(_, _ []byte) (bool, error) {
				empty = false
				return false, nil
			})
		})
		if err != nil {
			return fmt.Errorf("opslagversie lezen: %w", err)
		}
		switch {
		case from > StoreVersion:
			return fmt.Errorf("%w: de opslag in %s heeft versie %d, deze knooppunt kent ten hoogste versie %d. "+
				"Start de nieuwere knooppunt-versie die de opslag heeft bijgewerkt, of zet een backup terug die "+
				"met deze versie is gemaakt (knooppunt restore); de opslag is niet aangeraakt",
				ErrStoreTooNew, dir, from, StoreVersion)
		case from == StoreVersion:
			if first >= 0 {
				log.Info("opslag bijgewerkt", "van_versie", first, "naar_versie", from, "map", dir)
			}
			return nil
		case !known && empty:
			return kv.Update(func(t storage.Txn) error {
				return t.Set([]byte(kVersion), []byte(strconv.Itoa(StoreVersion)))
			})
		}
		if step := bulk[from]; step != nil {
			if err := step(kv); err != nil {
				return fmt.Errorf("opslag bijwerken van versie %d naar %d: %w", from, from+1, err)
			}
		}
		err = kv.Update(func(t storage.Txn) error {
			cur, _, err := readVersion(t)
			if err != nil {
				return err
			}
			if cur != from {
				return nil // someone else moved it meanwhile; look again
			}
			if err := migrations[from](t); err != nil {
				return err
			}
			return t.Set([]byte(kVersion), []byte(strconv.Itoa(from+1)))
		})
		if err != nil {
			return fmt.Errorf("opslag bijwerken van versie %d naar %d: %w", from, from+1, err)
		}
		if first < 0 {
			first = from
		}
	}
}
