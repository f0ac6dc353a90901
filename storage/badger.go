package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/ristretto/v2/z"
)

// Badger is a KV on an embedded Badger database.
type Badger struct {
	db  *badger.DB
	dir string
	log *slog.Logger

	// Group commit: Badger runs without SyncWrites, and Update syncs after its commit. A
	// commit takes a ticket; a sync that starts after a commit covers it, so callers that
	// commit while one sync runs share the next one instead of each waiting for its own.
	syncMu    sync.Mutex
	syncCond  *sync.Cond
	committed uint64 // tickets handed out
	synced    uint64 // highest ticket known durable
	syncing   bool
	files     map[string]bool   // log files seen at the last sync: a new one needs a directory sync
	newest    map[string]uint64 // per extension, the newest log's number at the last sync
	stop      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
	closeErr  error

	seqs sequences
}

// OpenBadger opens (or creates) the database in dir, tuned for a small server: small
// memtables and caches keep the idle footprint low. Update is durable when it returns
// (a closed upload must survive a power cut); concurrent Updates share their fsyncs.
func OpenBadger(dir string, log *slog.Logger) (*Badger, error) {
	opts := badger.DefaultOptions(dir).
		WithSyncWrites(false).
		WithLogger(badgerLogger{log}).
		WithMemTableSize(16 << 20).
		WithNumMemtables(3).
		WithBlockCacheSize(16 << 20).
		WithIndexCacheSize(8 << 20).
		WithValueLogFileSize(MaxValueSize).
		WithValueThreshold(1 << 10).
		WithNumCompactors(2).
		// Level 0 compacts from 7 tables, not 3 (stall at 12, not 8): during a burst such as a
		// 1 GB upload of 40,000 envelopes, the compactions of 3 tables ran back to back with
		// the memtable flushes, and their table builders, which Badger pools and keeps with
		// their grown buffers, held 64-73 MB at the peak (issue 17 item 3: peak RSS growth
		// 139-151 MB against 194-219 MB, load 8-11). A read checks at most 12 level-0
		// tables' bloom filters instead of 8; hub CPU for the upload did not rise.
		WithNumLevelZeroTables(7).
		WithNumLevelZeroTablesStall(12).
		// Tables of 1 MB at every level (Badger: 2 MB, doubling per level): each compaction
		// table builder holds about twice its table in memory, and under load these builders
		// were the largest live item in the heap (~126 MB), which made the GC work hard.
		WithBaseTableSize(1 << 20)
	opts.TableSizeMultiplier = 1
	db, err := badger.Open(opts)
	if err != nil && strings.Contains(err.Error(), z.NewFile.Error()) {
		// A kill right after Badger created a value-log file leaves it empty. Badger's open
		// writes the file's header and then fails anyway with ristretto's "Create a new
		// file" (badger v4.9.6, logFile.open returns its z.NewFile); the file holds no data,
		// and a second open finds it complete. Seen in TestKillAndRestart under load.
		log.Warn("lege value-log van een onderbroken start of kill aangevuld; opslag opnieuw geopend", "map", dir, "err", err)
		db, err = badger.Open(opts)
	}
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, fmt.Errorf("%w (%s)", ErrLocked, dir)
		}
		return nil, fmt.Errorf("open badger in %s: %w", dir, err)
	}
	b := &Badger{db: db, dir: dir, log: log, stop: make(chan struct{}), stopped: make(chan struct{})}
	b.syncCond = sync.NewCond(&b.syncMu)
	go b.syncLazy()
	return b, nil
}

// lazyDelay bounds how long an UpdateLazy stays only in the page cache when no durable
// Update comes along to sync it.
const lazyDelay = 200 * time.Millisecond

func (b *Badger) syncLazy() {
	defer close(b.stopped)
	t := time.NewTicker(lazyDelay)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.syncMu.Lock()
			pending := b.committed > b.synced
			ticket := b.committed
			b.syncMu.Unlock()
			if pending {
				if err := b.waitSynced(ticket); err != nil {
					b.log.Error("opslag synchroniseren", "err", err)
				}
			}
		}
	}
}

// ticket marks a commit that has returned; a sync started afterwards covers it.
func (b *Badger) ticket() uint64 {
	b.syncMu.Lock()
	defer b.syncMu.Unlock()
	b.committed++
	return b.committed
}

// waitSynced returns once every commit up to ticket is on disk: it runs a sync itself when
// none is running, or waits for the running one and, if that started too early, the next.
func (b *Badger) waitSynced(ticket uint64) error {
	b.syncMu.Lock()
	defer b.syncMu.Unlock()
	for b.synced < ticket {
		if b.syncing {
			b.syncCond.Wait()
			continue
		}
		b.syncing = true
		target := b.committed
		b.syncMu.Unlock()
		err := b.syncFiles()
		b.syncMu.Lock()
		b.syncing = false
		if err == nil && target > b.synced {
			b.synced = target
		}
		b.syncCond.Broadcast()
		if err != nil {
			return fmt.Errorf("opslag synchroniseren: %w", err)
		}
	}
	return nil
}

// syncFiles makes every committed write durable: it fsyncs every write-ahead log (.mem:
// the active memtable's and any rotated one not yet flushed) and value-log file, and the
// directory when it gained a file. Badger writes these logs through shared memory maps;
// fsync on the file writes the pages dirtied through the map as well, and costs far less
// than db.Sync's msync of the whole 16 MB map. Table files Badger syncs itself.
func (b *Badger) syncFiles() error {
	ents, err := os.ReadDir(b.dir)
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(ents))
	newest := map[string]uint64{}
	added := false
	for _, e := range ents {
		n := e.Name()
		ext := filepath.Ext(n)
		if ext != ".mem" && ext != ".vlog" {
			continue
		}
		num, _ := strconv.ParseUint(strings.TrimSuffix(n, ext), 10, 64)
		newest[ext] = max(newest[ext], num)
		seen[n] = true
		if !b.files[n] {
			added = true
		} else if num < b.newest[ext] {
			// Already rotated away when the last sync listed the directory, and synced by
			// it: Badger appends only to the newest log. Skipping it saves a disk flush, which
			// ext4 issues on every fsync even of a clean file.
			continue
		}
		f, err := os.OpenFile(filepath.Join(b.dir, n), os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue // flushed to a table (synced) or collected meanwhile
		}
		if err != nil {
			return err
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return err
		}
	}
	if added {
		d, err := os.Open(b.dir)
		if err != nil {
			return err
		}
		err = d.Sync()
		d.Close()
		if err != nil {
			return err
		}
	}
	b.files, b.newest = seen, newest
	return nil
}

func (b *Badger) View(fn func(Txn) error) error {
	return b.db.View(func(t *badger.Txn) error { return fn(badgerTxn{t}) })
}

func (b *Badger) Update(fn func(Txn) error) error {
	if err := b.commit(fn); err != nil {
		return err
	}
	return b.waitSynced(b.ticket())
}

func (b *Badger) UpdateLazy(fn func(Txn) error) error {
	if err := b.commit(fn); err != nil {
		return err
	}
	b.ticket()
	return nil
}

func (b *Badger) Sync() error {
	b.syncMu.Lock()
	t := b.committed
	b.syncMu.Unlock()
	return b.waitSynced(t)
}

func (b *Badger) commit(fn func(Txn) error) error {
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		err = b.db.Update(func(t *badger.Txn) error { return fn(badgerTxn{t}) })
		if !errors.Is(err, badger.ErrConflict) {
			return tooBig(err)
		}
		time.Sleep(time.Duration(attempt+1) * time.Millisecond)
	}
	return fmt.Errorf("transaction kept conflicting: %w: %w", ErrConflict, err)
}

func (b *Badger) Sequence(name string) (uint64, error) { return b.seqs.next(name, b.Update) }

// Close syncs what UpdateLazy left in memory and closes the database.
// Size returns the bytes the database takes on disk, as allocated (Badger preallocates its
// logs sparsely): its index (the LSM tree's .sst files), its value log (.vlog) and the rest
// (memtable logs, manifest). It lists the directory, a few dozen files: Badger's own Size is
// refreshed only once a minute and says 0 until then.
func (b *Badger) Size() (lsm, vlog, other int64) {
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		lsm, vlog = b.db.Size()
		return lsm, vlog, 0
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue
		}
		n := info.Size()
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			n = min(n, st.Blocks*512)
		}
		switch filepath.Ext(e.Name()) {
		case ".sst":
			lsm += n
		case ".vlog":
			vlog += n
		default:
			other += n
		}
	}
	return lsm, vlog, other
}

func (b *Badger) Close() error {
	b.closeOnce.Do(func() {
		close(b.stop)
		<-b.stopped
		b.closeErr = errors.Join(b.Sync(), b.db.Close())
	})
	return b.closeErr
}

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

func (x badgerTxn) Set(key, value []byte) error {
	if len(value) > MaxValueSize {
		// Badger's own message for this slices the key to 1 KB and panics on a shorter one.
		return fmt.Errorf("%w: waarde van %d bytes, ten hoogste %d", ErrTooBig, len(value), MaxValueSize)
	}
	return tooBig(x.t.Set(key, value))
}

func (x badgerTxn) Delete(key []byte) error { return tooBig(x.t.Delete(key)) }

// tooBig gives Badger's ErrTxnTooBig ("Txn is too big to fit into one request") and its
// key-size error as ErrTooBig, which callers can recognise and which says in Dutch what
// happened; Badger's own stays wrapped.
func tooBig(err error) error {
	if (errors.Is(err, badger.ErrTxnTooBig) || err != nil && strings.Contains(err.Error(), "exceeded")) && !errors.Is(err, ErrTooBig) {
		return fmt.Errorf("%w (%w)", ErrTooBig, err)
	}
	return err
}

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
