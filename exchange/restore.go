package exchange

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"knooppunt/storage"
)

// RestoreResult says what RestoreBackup found and checked.
type RestoreResult struct {
	Manifest BackupManifest
	Records  int
	Files    int
	Bytes    int64
	// Audit is 'audit verify' on the restored store; AuditMatches tells whether its head is
	// the one the backup's snapshot had.
	Audit        AuditCheck
	AuditMatches bool
	// FilesChecked and FilesBad are the integrity check at start, run on the restored store.
	FilesChecked, FilesBad int
}

// RestoreBackup fills the new, empty data directory cfg.DataDir from a backup read from r, checks
// every part against the manifest, and then runs the audit check and the integrity check on
// the result. Anything wrong (a flipped byte, a cut-off file, a part that does not belong)
// fails the restore with the name of the part, and removes what it wrote: a directory is
// either a whole, checked restore or left as it was.
//
// An incremental backup needs the backups it builds on as bases (in any order): from them
// only the files the incremental one lists under Basis are taken, each checked against the
// checksum in the incremental one's manifest.
func RestoreBackup(ctx context.Context, r io.Reader, cfg Config, bases ...io.Reader) (res RestoreResult, err error) {
	dir := cfg.DataDir
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	created, err := emptyDir(dir)
	if err != nil {
		return res, err
	}
	defer func() {
		if err == nil {
			return
		}
		// Only what this restore made: the directory was empty or did not exist. What
		// cannot be removed is named beside the restore's own error.
		err = errors.Join(err, os.RemoveAll(filepath.Join(dir, "db")), os.RemoveAll(filepath.Join(dir, "files")))
		if created {
			err = errors.Join(err, os.Remove(dir))
		}
	}()
	rr := &restoreReader{tr: tar.NewReader(bufio.NewReaderSize(r, 1<<20)), seen: map[string]BackupPart{}}
	hdr, err := rr.next()
	if err != nil {
		return res, err
	}
	if hdr.Name != backupMeta {
		return res, fmt.Errorf("dit is geen knooppunt-backup: het eerste deel heet %q, verwacht %s", hdr.Name, backupMeta)
	}
	var meta BackupMeta
	b, err := rr.readSmall(hdr, 1<<20)
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return res, fmt.Errorf("backupdeel %s is beschadigd: %v", backupMeta, err)
	}
	if meta.Format != backupFormat {
		return res, fmt.Errorf("backupformaat %d is onbekend voor deze knooppunt-versie (kent %d); gebruik de versie die de backup maakte", meta.Format, backupFormat)
	}
	if meta.StoreVersion > StoreVersion {
		return res, fmt.Errorf("%w: de backup heeft opslagversie %d, deze knooppunt kent ten hoogste %d; herstel met de nieuwere knooppunt-versie", ErrStoreTooNew, meta.StoreVersion, StoreVersion)
	}

	// Records: LoadBadger pulls them, part after part, until the first part that is not one.
	if hdr, err = rr.next(); err != nil {
		return res, err
	}
	var (
		cur     *bufio.Reader
		curName string
		curHash *hashingReader
	)
	nextRecord := func() ([]byte, []byte, error) {
		for {
			if cur == nil {
				if hdr == nil || !strings.HasPrefix(hdr.Name, backupRecords) {
					return nil, nil, io.EOF
				}
				curName = hdr.Name
				curHash = &hashingReader{r: rr.tr, h: sha256.New()}
				cur = bufio.NewReaderSize(curHash, 64<<10)
			}
			kl, err := binary.ReadUvarint(cur)
			if errors.Is(err, io.EOF) {
				if hdr.Size != curHash.n {
					return nil, nil, fmt.Errorf("backupdeel %s is afgekapt (%d van %d bytes)", curName, curHash.n, hdr.Size)
				}
				rr.seen[curName] = curHash.part(curName)
				cur = nil
				if hdr, err = rr.next(); err != nil {
					return nil, nil, err
				}
				continue
			}
			k, err := readField(cur, kl, err)
			if err == nil {
				var vl uint64
				vl, err = binary.ReadUvarint(cur)
				var v []byte
				if v, err = readField(cur, vl, err); err == nil {
					return k, v, nil
				}
			}
			return nil, nil, rr.damaged(curName, curHash.n, hdr.Size, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	n, err := storage.LoadBadger(filepath.Join(dir, "db"), cfg.Log, nextRecord)
	if err != nil {
		if curName != "" && !strings.Contains(err.Error(), curName) {
			err = fmt.Errorf("backupdeel %s: %w", curName, err)
		}
		return res, fmt.Errorf("records terugzetten: %w", err)
	}
	res.Records = n

	files, err := storage.OpenDisk(filepath.Join(dir, "files"))
	if err != nil {
		return res, err
	}
	buf := make([]byte, 256<<10)
	for hdr != nil && strings.HasPrefix(hdr.Name, backupFiles) {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if err := rr.restoreBlob(files, hdr, buf); err != nil {
			return res, err
		}
		res.Files++
		res.Bytes += hdr.Size
		if hdr, err = rr.next(); err != nil {
			return res, err
		}
	}
	if hdr == nil || hdr.Name != backupManifest {
		return res, rr.unexpected(hdr, backupManifest)
	}
	mj, err := rr.readSmall(hdr, 1<<30)
	if err != nil {
		return res, err
	}
	if hdr, err = rr.next(); err != nil {
		return res, err
	}
	if hdr == nil || hdr.Name != backupManiSum {
		return res, rr.unexpected(hdr, backupManiSum)
	}
	ms, err := rr.readSmall(hdr, 4096)
	if err != nil {
		return res, err
	}
	if sum := sha256.Sum256(mj); !strings.HasPrefix(string(ms), hex.EncodeToString(sum[:])) {
		return res, fmt.Errorf("backupdeel %s is beschadigd: SHA-256 klopt niet met %s", backupManifest, backupManiSum)
	}
	if hdr, err = rr.next(); err != nil {
		return res, err
	}
	if hdr != nil {
		return res, fmt.Errorf("de backup is beschadigd: na %s volgt nog %q", backupManiSum, hdr.Name)
	}
	if err := json.Unmarshal(mj, &res.Manifest); err != nil {
		return res, fmt.Errorf("backupdeel %s is beschadigd: %v", backupManifest, err)
	}
	m := res.Manifest
	listed := map[string]bool{}
	for _, p := range m.Parts {
		listed[p.Name] = true
		got, ok := rr.seen[p.Name]
		switch {
		case !ok:
			return res, fmt.Errorf("de backup is onvolledig: deel %s staat in het manifest maar ontbreekt", p.Name)
		case got.Size != p.Size:
			return res, fmt.Errorf("backupdeel %s is beschadigd: %d bytes, het manifest zegt %d", p.Name, got.Size, p.Size)
		case got.SHA256 != p.SHA256:
			return res, fmt.Errorf("backupdeel %s is beschadigd: SHA-256 klopt niet met het manifest", p.Name)
		}
	}
	for name := range rr.seen {
		if !listed[name] && name != backupManifest && name != backupManiSum {
			return res, fmt.Errorf("de backup is beschadigd: deel %s staat niet in het manifest", name)
		}
	}
	if n != m.Records {
		return res, fmt.Errorf("de backup is beschadigd: %d records gelezen, het manifest zegt %d", n, m.Records)
	}
	if len(m.Basis) > 0 {
		n, size, err := restoreBasis(ctx, files, m, bases, buf)
		if err != nil {
			return res, err
		}
		res.Files += n
		res.Bytes += size
	}
	// A blob that was damaged in the original is in the tar as it was read, but a record
	// pointing to it must find it missing, as the original's integrity check did.
	for _, name := range m.Missing {
		switch err := files.Remove(name); {
		case err == nil:
			res.Files-- // it was in the tar, damaged
		case !errors.Is(err, storage.ErrNotFound):
			return res, err
		}
	}

	// The proof: open the restored store as a server would, and check it.
	cfg.Workers = max(cfg.Workers, 1)
	h, err := Open(cfg)
	if err != nil {
		return res, fmt.Errorf("teruggezette opslag openen: %w", err)
	}
	defer func() {
		if cerr := h.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("teruggezette opslag sluiten: %w", cerr)
		}
	}()
	if res.Audit, err = h.CheckAudit(System, nil); err != nil {
		return res, err
	}
	res.AuditMatches = res.Audit.Intact() && res.Audit.HeadSeq == m.AuditSeq && res.Audit.HeadHash == m.AuditHash
	res.FilesChecked, res.FilesBad = h.CheckFiles(ctx)
	h.Audit(System, "restore", "", fmt.Sprintf("backup van %s: %d records, %d bestanden; auditlog %s; bestandscontrole %d gecontroleerd, %d beschadigd of ontbrekend",
		m.Moment.Format("2006-01-02T15:04:05Z07:00"), res.Records, res.Files, map[bool]string{true: "klopt", false: "KLOPT NIET"}[res.AuditMatches], res.FilesChecked, res.FilesBad))
	return res, nil
}

// emptyDir makes sure dir is empty or absent (then it creates it): a restore never mixes
// with what is there.
func emptyDir(dir string) (created bool, err error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return false, fmt.Errorf("map %s aanmaken: %w", dir, err)
		}
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("map %s lezen: %w", dir, err)
	}
	if len(ents) > 0 {
		return false, fmt.Errorf("de map %s is niet leeg (%d items, bijvoorbeeld %s); een restore schrijft alleen in een nieuwe of lege map, zodat er nooit iets wordt overschreven. Kies een andere map met --data",
			dir, len(ents), ents[0].Name())
	}
	return false, nil
}

func readField(r *bufio.Reader, n uint64, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	if n > 1<<30 {
		return nil, fmt.Errorf("lengte %d is onmogelijk", n)
	}
	b := make([]byte, n)
	_, err = io.ReadFull(r, b)
	return b, err
}

// restoreReader walks the tar and remembers what each part held.
type restoreReader struct {
	tr   *tar.Reader
	last string // the last part read, to name where a damage starts
	seen map[string]BackupPart
}

// next returns the next part's header, nil at the end of the tar.
func (rr *restoreReader) next() (*tar.Header, error) {
	hdr, err := rr.tr.Next()
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	where := "aan het begin"
	if rr.last != "" {
		where = "na deel " + rr.last
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("de backup is afgekapt %s", where)
	}
	if err != nil {
		return nil, fmt.Errorf("de backup is beschadigd %s: %v", where, err)
	}
	if !isBackupPart(hdr.Name) || hdr.Typeflag != tar.TypeReg {
		return nil, fmt.Errorf("de backup is beschadigd %s: onbekend deel %q", where, hdr.Name)
	}
	if _, dup := rr.seen[hdr.Name]; dup {
		return nil, fmt.Errorf("de backup is beschadigd: deel %s komt twee keer voor", hdr.Name)
	}
	rr.last = hdr.Name
	return hdr, nil
}

func (rr *restoreReader) damaged(name string, got, size int64, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		if got < size {
			return fmt.Errorf("backupdeel %s is afgekapt (%d van %d bytes)", name, got, size)
		}
		return fmt.Errorf("backupdeel %s is beschadigd: het laatste record is onvolledig", name)
	}
	return fmt.Errorf("backupdeel %s is beschadigd: %v", name, err)
}

func (rr *restoreReader) unexpected(hdr *tar.Header, want string) error {
	if hdr == nil {
		return fmt.Errorf("de backup is onvolledig (afgekapt?): %s ontbreekt na deel %s", want, rr.last)
	}
	return fmt.Errorf("de backup is beschadigd: deel %s op de plaats van %s", hdr.Name, want)
}

func (rr *restoreReader) readSmall(hdr *tar.Header, most int64) ([]byte, error) {
	if hdr.Size > most {
		return nil, fmt.Errorf("backupdeel %s is beschadigd: %d bytes is te groot", hdr.Name, hdr.Size)
	}
	hr := &hashingReader{r: rr.tr, h: sha256.New()}
	b, err := io.ReadAll(hr)
	if err == nil && int64(len(b)) != hdr.Size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, rr.damaged(hdr.Name, hr.n, hdr.Size, err)
	}
	rr.seen[hdr.Name] = hr.part(hdr.Name)
	return b, nil
}

func (rr *restoreReader) restoreBlob(files storage.Files, hdr *tar.Header, buf []byte) error {
	name := strings.TrimPrefix(hdr.Name, backupFiles)
	w, err := files.Create(name)
	if err != nil {
		return fmt.Errorf("backupdeel %s terugzetten: %w", hdr.Name, err)
	}
	hr := &hashingReader{r: rr.tr, h: sha256.New()}
	_, err = io.CopyBuffer(w, hr, buf)
	if err == nil && hr.n != hdr.Size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		err = errors.Join(err, w.Abort())
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return rr.damaged(hdr.Name, hr.n, hdr.Size, err)
		}
		return fmt.Errorf("backupdeel %s terugzetten: %w", hdr.Name, err)
	}
	if err := w.Commit(); err != nil {
		return fmt.Errorf("backupdeel %s terugzetten: %w", hdr.Name, err)
	}
	rr.seen[hdr.Name] = hr.part(hdr.Name)
	return nil
}

// restoreBasis takes the files an incremental backup left to earlier ones from those
// backups, checking each against the incremental backup's manifest.
func restoreBasis(ctx context.Context, files storage.Files, m BackupManifest, bases []io.Reader, buf []byte) (int, int64, error) {
	need := map[string]BackupPart{}
	for _, p := range m.Basis {
		need[p.Name] = p
	}
	var (
		n        int
		size     int64
		readErrs []error
	)
	for i, r := range bases {
		rr := &restoreReader{tr: tar.NewReader(bufio.NewReaderSize(r, 1<<20)), seen: map[string]BackupPart{}}
		for len(need) > 0 {
			if err := ctx.Err(); err != nil {
				return n, size, err
			}
			hdr, err := rr.tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				readErrs = append(readErrs, fmt.Errorf("eerdere backup %d (de %d. --from na de eerste): %v", i+1, i+1, err))
				break
			}
			p, ok := need[hdr.Name]
			if !ok {
				continue
			}
			if err := rr.restoreBlob(files, hdr, buf); err != nil {
				return n, size, fmt.Errorf("eerdere backup %d: %w", i+1, err)
			}
			if got := rr.seen[hdr.Name]; got.Size != p.Size || got.SHA256 != p.SHA256 {
				return n, size, errors.Join(fmt.Errorf("backupdeel %s in eerdere backup %d is beschadigd: SHA-256 klopt niet met het manifest van de aanvulling", hdr.Name, i+1),
					files.Remove(strings.TrimPrefix(hdr.Name, backupFiles)))
			}
			delete(need, hdr.Name)
			n++
			size += p.Size
		}
	}
	if len(need) > 0 {
		var example string
		for name := range need {
			if example == "" || name < example {
				example = name
			}
		}
		err := fmt.Errorf("deze backup is een aanvulling op de backup van %s; %d bestanden daaruit ontbreken (bijvoorbeeld %s): "+
			"geef die backup, en de backups waarop die zelf voortbouwt, mee met nog een --from",
			m.BasisMoment.Format("2006-01-02 15:04:05 MST"), len(need), example)
		return n, size, errors.Join(append([]error{err}, readErrs...)...)
	}
	return n, size, nil
}
