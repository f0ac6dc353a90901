package exchange

import (
	"encoding/binary"
	"errors"
	"time"

	"knooppunt/storage"
)

// kAuthFail keys the failed-login counts kept in a shared store:
// authfail/<table>/<key> -> since (unix ns), count, until (unix ns), 8 bytes each.
const kAuthFail = "authfail/"

// SharedStore tells whether other nodes use this hub's store at the same time, so that
// limits that must hold for all of them together (failed logins) are kept in the store.
func (h *Hub) SharedStore() bool { return sharedStore(h.kv) }

// CountFailure counts one failed login for key in table (an address, an account, a pair of
// both) in the shared store, in a window that begins with the first failure; it tells
// whether this failure brought the count to max. Every node counts in the same record.
func (h *Hub) CountFailure(table, key string, max int, window time.Duration) (reached bool, err error) {
	now := h.clock.Now()
	k := authFailKey(table, key)
	err = h.kv.Update(func(t storage.Txn) error {
		since, n, _, err := readAuthFail(t, k)
		if err != nil {
			return err
		}
		if n == 0 || now.Sub(since) >= window {
			since, n = now, 0
		}
		n++
		reached = n == max
		return t.Set(k, authFailValue(since, n, since.Add(window)))
	})
	if err == nil && h.authFailCount.Add(1)%256 == 0 {
		h.pruneAuthFail(now)
	}
	return reached, err
}

// FailuresBlocked tells whether key in table has max failures within the window that began
// with its first.
func (h *Hub) FailuresBlocked(table, key string, max int, window time.Duration) (bool, error) {
	now := h.clock.Now()
	var blocked bool
	err := h.kv.View(func(t storage.Txn) error {
		since, n, _, err := readAuthFail(t, authFailKey(table, key))
		blocked = err == nil && n >= max && now.Sub(since) < window
		return err
	})
	return blocked, err
}

// pruneAuthFail drops counts whose window has passed (at most a thousand at a time), so
// that addresses that failed once and never came back do not stay for ever.
func (h *Hub) pruneAuthFail(now time.Time) {
	err := h.kv.Update(func(t storage.Txn) error {
		var old [][]byte
		err := t.Scan([]byte(kAuthFail), storage.ScanOptions{}, func(k, v []byte) (bool, error) {
			if len(v) == 24 && now.UnixNano() >= int64(binary.BigEndian.Uint64(v[16:])) {
				old = append(old, append([]byte(nil), k...))
			}
			return len(old) < 1000, nil
		})
		if err != nil {
			return err
		}
		for _, k := range old {
			if err := t.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		h.log.Warn("verlopen tellingen van mislukte aanmeldingen opruimen", "err", err)
	}
}

func authFailKey(table, key string) []byte { return []byte(kAuthFail + table + "/" + key) }

func authFailValue(since time.Time, n int, until time.Time) []byte {
	v := binary.BigEndian.AppendUint64(nil, uint64(since.UnixNano()))
	v = binary.BigEndian.AppendUint64(v, uint64(n))
	return binary.BigEndian.AppendUint64(v, uint64(until.UnixNano()))
}

func readAuthFail(t storage.Txn, k []byte) (since time.Time, n int, until time.Time, err error) {
	v, err := t.Get(k)
	if errors.Is(err, storage.ErrNotFound) {
		return time.Time{}, 0, time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, 0, time.Time{}, err
	}
	if len(v) != 24 {
		return time.Time{}, 0, time.Time{}, nil // unreadable: start afresh
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))), int(binary.BigEndian.Uint64(v[8:])),
		time.Unix(0, int64(binary.BigEndian.Uint64(v[16:]))), nil
}
