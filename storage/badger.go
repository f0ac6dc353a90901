package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Badger is a KV on an embedded Badger database.
type Badger struct {
	db  *badger.DB
	log *slog.Logger

	seqMu sync.Mutex
	seqs  map[string]*lease
}

// OpenBadger opens (or creates) the database in dir, tuned for a small server: small
// memtables and caches keep the idle footprint low, and every commit is synced to disk
// because a closed upload must survive a power cut.
func OpenBadger(dir string, log *slog.Logger) (*Badger, error) {
	opts := badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithLogger(badgerLogger{log}).
		WithMemTableSize(16 << 20).
		WithNumMemtables(3).
		WithBlockCacheSize(16 << 20).
		WithIndexCacheSize(8 << 20).
		WithValueLogFileSize(64 << 20).
		WithValueThreshold(1 << 10).
		WithNumCompactors(2).
		WithNumLevelZeroTables(3).
		WithNumLevelZeroTablesStall(8)
	db, err := badger.Open(opts)
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, fmt.Errorf("%w (%s)", ErrLocked, dir)
		}
		return nil, fmt.Errorf("open badger in %s: %w", dir, err)
	}
	return &Badger{db: db, log: log, seqs: map[string]*lease{}}, nil
}

func (b *Badger) View(fn func(Txn) error) error {
	return b.db.View(func(t *badger.Txn) error { return fn(badgerTxn{t}) })
}

func (b *Badger) Update(fn func(Txn) error) error {
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		err = b.db.Update(func(t *badger.Txn) error { return fn(badgerTxn{t}) })
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * time.Millisecond)
	}
	return fmt.Errorf("transaction kept conflicting: %w", err)
}

// seqLease is how many numbers one synced write reserves: a busy server hands out ids from
// memory instead of waiting for the disk on each one. The stored value is the highest number
// reserved, so numbers reserved but not handed out before a stop are skipped, never reused.
const seqLease = 64

type lease struct{ next, last uint64 }

func (b *Badger) Sequence(name string) (uint64, error) {
	b.seqMu.Lock()
	defer b.seqMu.Unlock()
	l := b.seqs[name]
	if l == nil {
		l = &lease{}
		b.seqs[name] = l
	}
	if l.next == 0 || l.next > l.last {
		key := []byte("seq/" + name)
		var last uint64
		err := b.Update(func(t Txn) error {
			v, err := t.Get(key)
			switch {
			case errors.Is(err, ErrNotFound):
				last = 0
			case err != nil:
				return err
			default:
				last = binary.BigEndian.Uint64(v)
			}
			return t.Set(key, binary.BigEndian.AppendUint64(nil, last+seqLease))
		})
		if err != nil {
			return 0, err
		}
		l.next, l.last = last+1, last+seqLease
	}
	n := l.next
	l.next++
	return n, nil
}

func (b *Badger) Close() error { return b.db.Close() }

// RunGC reclaims value-log space until ctx ends; Badger never does this by itself.
func (b *Badger) RunGC(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for b.db.RunValueLogGC(0.5) == nil {
				if ctx.Err() != nil {
					return
				}
			}
		}
	}
}

type badgerTxn struct{ t *badger.Txn }

func (x badgerTxn) Get(key []byte) ([]byte, error) {
	item, err := x.t.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}

func (x badgerTxn) Set(key, value []byte) error { return x.t.Set(key, value) }

func (x badgerTxn) Delete(key []byte) error { return x.t.Delete(key) }

func (x badgerTxn) Scan(prefix []byte, opts ScanOptions, fn func(key, value []byte) (bool, error)) error {
	io := badger.DefaultIteratorOptions
	io.Prefix = prefix
	io.Reverse = opts.Reverse
	io.PrefetchValues = !opts.KeysOnly
	io.PrefetchSize = 64
	it := x.t.NewIterator(io)
	defer it.Close()
	start := opts.Start
	if start == nil {
		start = prefix
		if opts.Reverse {
			// Seek in reverse lands on the last key <= start; 0xff past the prefix covers
			// every key under it.
			start = append(append([]byte{}, prefix...), 0xff, 0xff, 0xff, 0xff)
		}
	}
	for it.Seek(start); it.ValidForPrefix(prefix); it.Next() {
		item := it.Item()
		var val []byte
		if !opts.KeysOnly {
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			val = v
		}
		more, err := fn(item.Key(), val)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error(strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}
func (b badgerLogger) Infof(f string, a ...any) {
	b.l.Debug(strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}
func (b badgerLogger) Debugf(f string, a ...any) {}
