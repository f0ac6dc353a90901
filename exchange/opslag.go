package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"knooppunt/storage"
)

// The store helpers every file of the engine uses: records are JSON under the keys of
// sleutels.go.

// getJSON reads the record at k into v; storage.ErrNotFound when there is none.
func getJSON(t storage.Txn, k []byte, v any) error {
	b, err := t.Get(k)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// setJSON writes v as the record at k.
func setJSON(t storage.Txn, k []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return t.Set(k, b)
}

// txRecord reads the record of the what called name at k. A missing one is ErrNotFound with
// the sentence a person reads: `organisatie "0363" bestaat niet; bekijk de organisaties met
// 'org list'` (list says where to look).
func txRecord[T any](t storage.Txn, k []byte, what, name, list string) (T, error) {
	var x T
	err := getJSON(t, k, &x)
	if errors.Is(err, storage.ErrNotFound) {
		return x, fmt.Errorf("%w: %s %q bestaat niet; bekijk %s", ErrNotFound, what, name, list)
	}
	if err != nil {
		return x, fmt.Errorf("%s %s lezen: %w", what, name, err)
	}
	return x, nil
}

// eachJSON calls fn with every record under prefix, in key order; what names the records in
// an error ("organisatie", "account").
func eachJSON[T any](t storage.Txn, prefix []byte, what string, fn func(T)) error {
	return t.Scan(prefix, storage.ScanOptions{}, func(_, v []byte) (bool, error) {
		var x T
		if err := json.Unmarshal(v, &x); err != nil {
			return false, fmt.Errorf("%s lezen: %w", what, err)
		}
		fn(x)
		return true, nil
	})
}

// page applies offset and limit to a running index: it tells whether item n (0-based) is on the
// page and whether the scan may stop.
func page(n, offset, limit int) (in bool, stop bool) {
	if n < offset {
		return false, false
	}
	if limit > 0 && n >= offset+limit {
		return false, true
	}
	return true, false
}

// txMessage reads message id; found is false when it is gone (purged after its bewaartijd),
// which the lists that still name it skip.
func txMessage(t storage.Txn, id uint64) (m Message, found bool, err error) {
	err = getJSON(t, key(kMessage, id), &m)
	if errors.Is(err, storage.ErrNotFound) {
		return Message{}, false, nil
	}
	return m, err == nil, err
}

// addHistory appends ev to each message's history and makes it the current status. When
// onlyIf is set, only messages whose status is onlyIf change.
func addHistory(t storage.Txn, ids []uint64, ev StatusEvent, onlyIf MessageStatus) error {
	var c logChanges
	for _, id := range ids {
		m, found, err := txMessage(t, id)
		if err != nil {
			return err
		}
		if !found || onlyIf != "" && m.Status != onlyIf {
			continue
		}
		old := m
		m.History = append(m.History, ev)
		m.Status = ev.Status
		if ev.Status == MsgOngelezen {
			m.Status = MsgAfgeleverd
		}
		if err := setJSON(t, key(kMessage, id), m); err != nil {
			return err
		}
		if err := c.updateLogEntries(t, old, m); err != nil {
			return err
		}
	}
	return c.flush(t)
}

// scanCtx is t.Scan for a read a door waits on: it stops when ctx ends (the session closed,
// the person gave up), looking every scanCheckEvery keys so the check costs nothing.
func scanCtx(ctx context.Context, t storage.Txn, prefix []byte, opts storage.ScanOptions, fn func(k, v []byte) (bool, error)) error {
	n := 0
	return t.Scan(prefix, opts, func(k, v []byte) (bool, error) {
		if n++; n%scanCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return false, err
			}
		}
		return fn(k, v)
	})
}

const scanCheckEvery = 256
