package storage

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/ristretto/v2/z"
)

// loadBatch is how many bytes of records LoadBadger hands Badger at once.
const loadBatch = 4 << 20

// LoadBadger fills a new database in dir with records in strictly increasing key order, as
// a restore does: next returns one record at a time and io.EOF after the last. Badger's
// StreamWriter builds its tables directly, without memtables, write-ahead log or
// compactions, which is many times faster than transactions for millions of keys. It
// refuses a dir that already holds records. It returns how many records it wrote.
func LoadBadger(dir string, log *slog.Logger, next func() (key, value []byte, err error)) (int, error) {
	b, err := OpenBadger(dir, log)
	if err != nil {
		return 0, err
	}
	n, err := b.load(next)
	if cerr := b.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("opslag sluiten na laden: %w", cerr)
	}
	return n, err
}

func (b *Badger) load(next func() (key, value []byte, err error)) (int, error) {
	empty := true
	if err := b.View(func(t Txn) error {
		return t.Scan(nil, ScanOptions{KeysOnly: true}, func(_, _ []byte) (bool, error) {
			empty = false
			return false, nil
		})
	}); err != nil {
		return 0, err
	}
	if !empty {
		return 0, fmt.Errorf("de opslag in %s bevat al gegevens", b.dir)
	}
	sw := b.db.NewStreamWriter()
	if err := sw.Prepare(); err != nil {
		return 0, fmt.Errorf("opslag voorbereiden: %w", err)
	}
	buf := z.NewBuffer(loadBatch+loadBatch/4, "knooppunt.load")
	defer func() { buf.Release() }()
	n := 0
	var last []byte
	for {
		k, v, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			sw.Cancel()
			return n, err
		}
		if last != nil && string(k) <= string(last) {
			sw.Cancel()
			return n, fmt.Errorf("record %q komt na %q: de records zijn niet oplopend gesorteerd", k, last)
		}
		last = append(last[:0], k...)
		badger.KVToBuffer(&pb.KV{Key: k, Value: v, Version: 1}, buf)
		n++
		if buf.LenNoPadding() >= loadBatch {
			if err := sw.Write(buf); err != nil {
				sw.Cancel()
				return n, fmt.Errorf("records schrijven: %w", err)
			}
			buf.Release()
			buf = z.NewBuffer(loadBatch+loadBatch/4, "knooppunt.load")
		}
	}
	if err := sw.Write(buf); err != nil {
		sw.Cancel()
		return n, fmt.Errorf("records schrijven: %w", err)
	}
	if err := sw.Flush(); err != nil {
		return n, fmt.Errorf("records vastleggen: %w", err)
	}
	return n, nil
}
