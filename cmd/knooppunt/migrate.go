package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"knooppunt/exchange"
	"knooppunt/hostkeys"
	"knooppunt/sshserver"
	"knooppunt/storage"
)

const migrateUsage = "gebruik: knooppunt migrate --data DIR --database postgres://… --files s3://BUCKET[/PREFIX] --s3-endpoint URL [--s3-credentials BESTAND]"

// migrateCmd copies a stopped hub's Badger store and file store into PostgreSQL and S3, and
// checks the copy: the records (their number, and one SHA-256 over all of them in key
// order), every blob against the checksum recorded with it, and the audit chain as a hub on
// the result sees it. The data directory is only read.
func migrateCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the flag package's own messages are English
	data := fs.String("data", envOr("KNOOPPUNT_DATA", defaultData), "gegevensmap (KNOOPPUNT_DATA) van de gestopte hub")
	readBackend := addBackendFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, migrateUsage)
			return 0
		}
		fmt.Fprintf(stderr, "fout: %v\n%s\n", dutchFlagError(err), migrateUsage)
		return 2
	}
	b, err := readBackend()
	if err == nil && (b.database == "" || b.files == "") {
		err = errors.New("geef zowel --database als --files: migrate kopieert records én bestanden")
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("onverwacht argument %q", fs.Arg(0))
	}
	if err != nil {
		fmt.Fprintf(stderr, "fout: %v\n%s\n", err, migrateUsage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := migrate(ctx, *data, b, stdout); err != nil {
		fmt.Fprintln(stderr, "fout:", err)
		return 1
	}
	return 0
}

func migrate(ctx context.Context, data string, b backendFlags, out io.Writer) error {
	began := time.Now()
	log := slog.New(slog.DiscardHandler)
	if _, err := os.Stat(filepath.Join(data, "db")); err != nil {
		return fmt.Errorf("geen hub in %s (%v); geef met --data de gegevensmap van de hub die over moet", data, err)
	}
	src, err := storage.OpenBadger(filepath.Join(data, "db"), log)
	if errors.Is(err, storage.ErrLocked) {
		return fmt.Errorf("de gegevensmap %s is in gebruik door een draaiende knooppunt-server; stop die eerst: migrate kopieert een gestopte hub", data)
	}
	if err != nil {
		return fmt.Errorf("opslag in %s openen: %w", data, err)
	}
	defer src.Close()
	srcFiles, err := storage.OpenDisk(filepath.Join(data, "files"))
	if err != nil {
		return fmt.Errorf("bestanden in %s openen: %w", data, err)
	}
	var cfg exchange.Config
	cfg.DataDir = data
	// migrate writes every blob once and reads none back through Open: copies kept for
	// reads would only fill the old hub's DIR/s3-spool.
	b.s3Cache = -1
	if err := b.apply(ctx, &cfg, log); err != nil {
		return err
	}
	dst := cfg.KV.(*storage.Postgres)
	dstFiles := cfg.Files
	closeDst := func() { dst.Close() }
	defer func() { closeDst() }()
	fmt.Fprintf(out, "migratie van %s naar PostgreSQL (%s) en S3 (%s op %s)\n", data, cfg.StoreName, b.files, b.s3Endpoint)

	// Blobs first, records last: the records are what make a hub see anything, and they go
	// in in one transaction, so a migration cut off before it leaves an empty database and
	// can simply run again (blobs already in the bucket with the right checksum are kept).
	bs, err := copyBlobs(ctx, srcFiles, dstFiles)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "bestanden: %d gekopieerd (%s), %d stonden er al; elk controlegetal in S3 nagerekend\n",
		bs.copied, exchange.FormatBytes(bs.bytes), bs.present)
	if bs.damaged > 0 {
		fmt.Fprintf(out, "let op: %d beschadigde bestanden niet gekopieerd (de hub leverde ze ook niet meer uit): %s\n", bs.damaged, bs.damagedNames)
	}
	if bs.uncommitted > 0 {
		fmt.Fprintf(out, "let op: %d onderbroken aanleveringen niet gekopieerd; de client levert die opnieuw aan\n", bs.uncommitted)
	}

	n, srcSum, err := copyRecords(ctx, src, dst)
	if errors.Is(err, storage.ErrNotEmpty) {
		return fmt.Errorf("de database %s bevat al records; migrate schrijft alleen in een lege database (maak een nieuwe, of een nieuw schema)", cfg.StoreName)
	}
	if err != nil {
		return err
	}
	dn, dstSum, err := digest(dst)
	if err != nil {
		return fmt.Errorf("records in de database nalopen: %w", err)
	}
	if dn != n || !bytes.Equal(srcSum, dstSum) {
		return fmt.Errorf("de records in de database wijken af van die in %s (%d tegen %d); start geen hub op deze database en meld het", data, dn, n)
	}
	fmt.Fprintf(out, "records: %d gekopieerd met COPY; aantal en inhoud gelijk (SHA-256 %x)\n", n, dstSum[:8])

	copied, err := hostkeys.Import(data, dst)
	switch {
	case err != nil && errors.Is(err, os.ErrNotExist):
		fmt.Fprintln(out, "hostsleutels: geen in de gegevensmap; de eerste hub op de database maakt nieuwe (clients zien een nieuwe vingerafdruk)")
	case err != nil:
		return err
	default:
		fmt.Fprintf(out, "hostsleutels: %d overgenomen; clients zien dezelfde vingerafdruk\n", copied)
	}

	// The audit chain, read by a hub on the result (which also brings the store's version
	// up to date, as the first node to start would).
	closeDst = func() {}
	hub, err := exchange.Open(cfg)
	if err != nil {
		dst.Close()
		return fmt.Errorf("hub op het resultaat openen: %w", err)
	}
	defer hub.Close()
	res, err := hub.CheckAudit(exchange.System, nil)
	if err != nil {
		return fmt.Errorf("auditlog nalopen: %w", err)
	}
	fmt.Fprintln(out, "auditlog:", sshserver.AuditCheckText(res))
	if !res.Intact() {
		return errors.New("het auditlog is na de migratie niet intact; start geen hub op deze database, bewaar de gegevensmap zoals hij is en meld het (zie SECURITY.md)")
	}
	fmt.Fprintf(out, "klaar in %s. Start de knooppunten met --database en --files zoals hier gegeven; %s is niet veranderd: bewaar de map tot de nieuwe opzet werkt.\n",
		time.Since(began).Round(time.Second), data)
	return nil
}

type blobStats struct {
	copied, present, damaged, uncommitted int
	bytes                                 int64
	damagedNames                          []string
}

// copyBlobs copies every committed blob of src into dst, four at a time, hashing what it
// reads against the checksum src recorded, and then has dst check what it stored.
func copyBlobs(ctx context.Context, src *storage.Disk, dst storage.Files) (blobStats, error) {
	var (
		st    blobStats
		mu    sync.Mutex
		names = make(chan string)
		errs  = make(chan error, 4)
		total atomic.Int64
	)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for name := range names {
				copied, present, damaged, n, err := copyBlob(src, dst, name)
				if err != nil {
					errs <- err
					for range names {
					}
					return
				}
				total.Add(n)
				mu.Lock()
				switch {
				case damaged:
					st.damaged++
					st.damagedNames = append(st.damagedNames, name)
				case present:
					st.present++
				case copied:
					st.copied++
				}
				mu.Unlock()
			}
		})
	}
	walkErr := src.Walk("", func(name string, _ int64) error {
		select {
		case names <- name:
			return nil
		case err := <-errs:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(names)
	wg.Wait()
	close(errs)
	if walkErr == nil {
		walkErr = <-errs
	}
	if walkErr != nil {
		return st, fmt.Errorf("bestanden kopiëren: %w", walkErr)
	}
	st.bytes = total.Load()
	src.WalkUncommitted("", func(string) error { st.uncommitted++; return nil })
	return st, nil
}

// copyBlob copies one blob. A blob dst already holds with the same checksum is kept (a
// migration run again); one whose bytes do not match its own checksum in src is left out.
func copyBlob(src *storage.Disk, dst storage.Files, name string) (copied, present, damaged bool, n int64, err error) {
	r, want, err := src.OpenPinned(name)
	if errors.Is(err, storage.ErrDamaged) {
		return false, false, true, 0, nil
	}
	if err != nil {
		return false, false, false, 0, err
	}
	defer r.Close()
	if dr, sum, err := dst.OpenPinned(name); err == nil {
		dr.Close()
		if bytes.Equal(sum, want) && dst.Verify(name) == nil {
			return false, true, false, 0, nil
		}
	}
	w, err := dst.Create(name)
	if err != nil {
		return false, false, false, 0, err
	}
	h := sha256.New()
	n, err = io.Copy(io.MultiWriter(w, h), r)
	if err != nil {
		w.Abort()
		return false, false, false, 0, fmt.Errorf("%s: %w", name, err)
	}
	if !bytes.Equal(h.Sum(nil), want) {
		w.Abort()
		return false, false, true, 0, nil
	}
	if err := w.Commit(); err != nil {
		return false, false, false, 0, fmt.Errorf("%s: %w", name, err)
	}
	// Read back in full from the bucket and compared with the checksum stored with it.
	if err := dst.Verify(name); err != nil {
		return false, false, false, 0, fmt.Errorf("%s na het kopiëren: %w", name, err)
	}
	return true, false, false, n, nil
}

// copyRecords streams every record of src, in key order, into dst with COPY, and returns
// their number and digest.
func copyRecords(ctx context.Context, src storage.KV, dst *storage.Postgres) (int64, []byte, error) {
	type rec struct{ k, v []byte }
	recs := make(chan rec, 256)
	scanCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	d := newDigest()
	scanErr := make(chan error, 1)
	go func() {
		defer close(recs)
		scanErr <- src.View(func(t storage.Txn) error {
			return t.Scan(nil, storage.ScanOptions{}, func(k, v []byte) (bool, error) {
				r := rec{bytes.Clone(k), bytes.Clone(v)}
				d.add(r.k, r.v)
				select {
				case recs <- r:
					return true, nil
				case <-scanCtx.Done():
					return false, scanCtx.Err()
				}
			})
		})
	}()
	n, err := dst.Load(ctx, func() ([]byte, []byte, error) {
		r, ok := <-recs
		if !ok {
			if err := <-scanErr; err != nil {
				return nil, nil, fmt.Errorf("records lezen: %w", err)
			}
			return nil, nil, io.EOF
		}
		return r.k, r.v, nil
	})
	cancel()
	for range recs {
	}
	if err != nil {
		return 0, nil, err
	}
	return n, d.sum(), nil
}

// digest is one SHA-256 over every record of kv in key order, and their number.
func digest(kv storage.KV) (int64, []byte, error) {
	d := newDigest()
	err := kv.View(func(t storage.Txn) error {
		return t.Scan(nil, storage.ScanOptions{}, func(k, v []byte) (bool, error) {
			d.add(k, v)
			return true, nil
		})
	})
	return d.n, d.sum(), err
}

type recordDigest struct {
	h hash.Hash
	n int64
}

func newDigest() *recordDigest { return &recordDigest{h: sha256.New()} }

// add hashes a record with the lengths in front, so that no two record sets hash alike by
// moving bytes between key and value.
func (d *recordDigest) add(k, v []byte) {
	var l [16]byte
	binary.BigEndian.PutUint64(l[:8], uint64(len(k)))
	binary.BigEndian.PutUint64(l[8:], uint64(len(v)))
	d.h.Write(l[:])
	d.h.Write(k)
	d.h.Write(v)
	d.n++
}

func (d *recordDigest) sum() []byte { return d.h.Sum(nil) }
