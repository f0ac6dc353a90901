package exchange

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"
	"time"

	"knooppunt/storage"
)

// A backup is a tar stream, written and read front to back so that neither side ever holds
// it whole:
//
//	knooppunt-backup.json   what it is: format, moment, store version
//	records/000001.kv …     every record of one snapshot, in key order, in parts of ~4 MB:
//	                        uvarint key length, key, uvarint value length, value
//	files/<blob> …          exactly the blobs those records point to (delivery files in
//	                        ophalen/, uploads still in the queue), content without trailer
//	manifest.json           every part above with its size and SHA-256, the audit head of the
//	                        snapshot, and the blobs that were missing or damaged already
//	manifest.sha256         the SHA-256 of manifest.json
const (
	backupMeta      = "knooppunt-backup.json"
	backupManifest  = "manifest.json"
	backupManiSum   = "manifest.sha256"
	backupRecords   = "records/"
	backupFiles     = "files/"
	backupFormat    = 1
	backupChunkSize = 4 << 20
)

// BackupMeta is the first part of a backup.
type BackupMeta struct {
	Format       int       `json:"formaat"`
	Moment       time.Time `json:"moment"`
	StoreVersion int       `json:"opslagversie"`
}

// BackupPart is one part of a backup in its manifest.
type BackupPart struct {
	Name   string `json:"naam"`
	Size   int64  `json:"grootte"`
	SHA256 string `json:"sha256"`
}

// BackupManifest lists a backup's parts and what it holds.
type BackupManifest struct {
	BackupMeta
	Records   int          `json:"records"`
	Files     int          `json:"bestanden"`
	Bytes     int64        `json:"bytes_bestanden"`
	AuditSeq  uint64       `json:"audit_kop_seq"`
	AuditHash string       `json:"audit_kop_hash"`
	Parts     []BackupPart `json:"delen"`
	// Missing are blobs a record points to that were already missing or damaged in the
	// store (the integrity check at start reports them too); they are absent from the
	// backup, and a restored store reports them the same way.
	Missing []string `json:"ontbrekend,omitempty"`
	// Pending is how many files in aanleveren/ were not an aanlevering yet (being written,
	// or cut off and waiting for reput); they are not in the backup.
	Pending int `json:"niet_meegenomen_wachtend"`
	// Basis are the blobs an incremental backup leaves to the earlier backups it builds on
	// (the one of BasisMoment and, through its own Basis, those before it).
	Basis       []BackupPart `json:"uit_eerdere_backup,omitempty"`
	BasisMoment time.Time    `json:"basis_moment,omitzero"`
}

// sameBlob tells whether the committed blob name is the one an earlier backup holds as p.
func sameBlob(files storage.Files, name string, p BackupPart) (bool, error) {
	r, sum, err := files.OpenPinned(name)
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrDamaged) {
		return false, nil // copy reports it
	}
	if err != nil {
		return false, err
	}
	defer r.Close() // read only: its Close loses nothing
	return r.Size() == p.Size && hex.EncodeToString(sum) == p.SHA256, nil
}

// ReadManifest reads the manifest of an earlier backup, for an incremental one: either
// manifest.json itself (tar -xOf backup.tar manifest.json) or the whole backup, whose
// manifest it checks against manifest.sha256.
func ReadManifest(r io.Reader) (BackupManifest, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var m BackupManifest
	first, err := br.Peek(1)
	for err == nil && (first[0] == ' ' || first[0] == '\n' || first[0] == '\t' || first[0] == '\r') {
		_, _ = br.ReadByte() // the byte Peek just returned: cannot fail
		first, err = br.Peek(1)
	}
	if err != nil {
		return m, fmt.Errorf("manifest van de vorige backup lezen: %w", err)
	}
	if first[0] == '{' {
		dec := json.NewDecoder(io.LimitReader(br, 1<<30))
		if err := dec.Decode(&m); err != nil {
			return m, fmt.Errorf("manifest van de vorige backup is geen geldige JSON: %w", err)
		}
	} else {
		tr := tar.NewReader(br)
		var mj []byte
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return m, fmt.Errorf("vorige backup lezen: %w", err)
			}
			switch hdr.Name {
			case backupManifest:
				if mj, err = io.ReadAll(io.LimitReader(tr, 1<<30)); err != nil {
					return m, fmt.Errorf("vorige backup lezen: %w", err)
				}
			case backupManiSum:
				// A read error leaves b short: the checksum below then does not match, and
				// the backup is refused as damaged.
				b, _ := io.ReadAll(io.LimitReader(tr, 4096))
				sum := sha256.Sum256(mj)
				if mj == nil || !strings.HasPrefix(string(b), hex.EncodeToString(sum[:])) {
					return m, fmt.Errorf("het manifest van de vorige backup klopt niet met %s; maak een volledige backup", backupManiSum)
				}
			}
		}
		if mj == nil {
			return m, fmt.Errorf("de vorige backup heeft geen %s (afgekapt?); maak een volledige backup", backupManifest)
		}
		if err := json.Unmarshal(mj, &m); err != nil {
			return m, fmt.Errorf("manifest van de vorige backup: %w", err)
		}
	}
	if m.Format != backupFormat || m.Moment.IsZero() {
		return m, fmt.Errorf("dit is geen manifest van een knooppunt-backup (formaat %d)", m.Format)
	}
	return m, nil
}

// Backup writes a backup of one moment to w: every record of one snapshot of the store and
// exactly the blobs those records point to. The engine keeps running: the snapshot is a read
// transaction, and blobs removed while the copy runs are parked (storage Pin) rather than
// deleted until it ends. Only a beheerder (or System: the CLI on the machine) may make one.
//
// With prev (the manifest of an earlier backup of this hub), the backup is incremental: a
// blob that prev holds, or that prev took from a backup before it, with the same size and
// checksum, is not copied again but listed under Basis; the records are always complete.
// Blobs never change once committed, so the name, the size and the checksum recorded at
// Commit (read from the blob's trailer, not its content) decide.
func (h *Hub) Backup(ctx context.Context, by *Principal, w io.Writer, prev *BackupManifest) (BackupManifest, error) {
	if err := h.kv.View(func(t storage.Txn) error {
		_, err := authorize(t, by, ActionBackup, "")
		return err
	}); err != nil {
		h.Audit(by, "backup", "", err.Error())
		return BackupManifest{}, err
	}
	m, err := h.backup(ctx, w, prev)
	result := fmt.Sprintf("moment %s: %d records, %d bestanden (%d bytes), auditkop %d", m.Moment.Format(time.RFC3339), m.Records, m.Files, m.Bytes, m.AuditSeq)
	if prev != nil {
		result += fmt.Sprintf("; aanvulling op de backup van %s (%d bestanden daaruit)", prev.Moment.Format(time.RFC3339), len(m.Basis))
	}
	if err != nil {
		result = "afgebroken: " + err.Error()
	}
	h.Audit(by, "backup", "", result)
	return m, err
}

func (h *Hub) backup(ctx context.Context, w io.Writer, prev *BackupManifest) (BackupManifest, error) {
	release := h.files.Pin()
	defer release()
	bw := &backupWriter{tw: tar.NewWriter(w)}
	m := BackupManifest{BackupMeta: BackupMeta{Format: backupFormat}}
	earlier := map[string]BackupPart{} // blobs in prev or in the backups it builds on
	if prev != nil {
		m.BasisMoment = prev.Moment
		for _, p := range slices.Concat(prev.Basis, prev.Parts) {
			if strings.HasPrefix(p.Name, backupFiles) {
				earlier[p.Name] = p
			}
		}
	}
	var blobs []string
	err := h.kv.View(func(t storage.Txn) error {
		m.Moment = h.clock.Now()
		v, _, err := readVersion(t)
		if err != nil {
			return err
		}
		m.StoreVersion = v
		var tip auditTip
		if err := getJSON(t, []byte(kAuditTip), &tip); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("kop van het auditlog lezen: %w", err)
		}
		m.AuditSeq, m.AuditHash = tip.Seq, tip.Hash
		if blobs, err = backupBlobs(ctx, t); err != nil {
			return err
		}
		meta, _ := json.MarshalIndent(m.BackupMeta, "", "  ") // plain fields: cannot fail
		if err := bw.part(backupMeta, meta, m.Moment); err != nil {
			return err
		}
		chunk := make([]byte, 0, backupChunkSize+64<<10)
		n := 0
		flush := func() error {
			if len(chunk) == 0 {
				return nil
			}
			n++
			err := bw.part(fmt.Sprintf("%s%06d.kv", backupRecords, n), chunk, m.Moment)
			chunk = chunk[:0]
			return err
		}
		err = t.Scan(nil, storage.ScanOptions{}, func(k, v []byte) (bool, error) {
			if bytes.HasPrefix(k, []byte(kPending)) {
				m.Pending++
				return true, nil
			}
			chunk = binary.AppendUvarint(chunk, uint64(len(k)))
			chunk = append(chunk, k...)
			chunk = binary.AppendUvarint(chunk, uint64(len(v)))
			chunk = append(chunk, v...)
			m.Records++
			if len(chunk) >= backupChunkSize {
				if err := ctx.Err(); err != nil {
					return false, err
				}
				return true, flush()
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		return flush()
	})
	if err != nil {
		return m, fmt.Errorf("records: %w", err)
	}
	buf := make([]byte, 256<<10)
	for _, name := range blobs {
		if err := ctx.Err(); err != nil {
			return m, err
		}
		if p, ok := earlier[backupFiles+name]; ok {
			if have, err := sameBlob(h.files, name, p); err != nil {
				return m, fmt.Errorf("bestand %s: %w", name, err)
			} else if have {
				m.Basis = append(m.Basis, p)
				continue
			}
		}
		size, ok, err := bw.blob(h.files, name, m.Moment, buf)
		if err != nil {
			return m, fmt.Errorf("bestand %s: %w", name, err)
		}
		if !ok {
			m.Missing = append(m.Missing, name)
			h.log.Warn("backup: bestand ontbreekt of is beschadigd in de opslag; niet in de backup", "bestand", name)
			continue
		}
		m.Files++
		m.Bytes += size
	}
	m.Parts = bw.parts
	mj, _ := json.MarshalIndent(m, "", "  ") // plain fields: cannot fail
	if err := bw.part(backupManifest, mj, m.Moment); err != nil {
		return m, err
	}
	sum := sha256.Sum256(mj)
	if err := bw.part(backupManiSum, []byte(hex.EncodeToString(sum[:])+"  "+backupManifest+"\n"), m.Moment); err != nil {
		return m, err
	}
	if err := bw.tw.Close(); err != nil {
		return m, fmt.Errorf("backup afsluiten: %w", err)
	}
	return m, nil
}

// backupBlobs lists the blobs records point to, as the integrity check at start does:
// delivery files and the uploads still in the queue. A final upload's blob is gone by design.
func backupBlobs(ctx context.Context, t storage.Txn) ([]string, error) {
	seen := map[string]bool{}
	err := t.Scan([]byte(kDelivery), storage.ScanOptions{}, func(k, v []byte) (bool, error) {
		var d struct {
			Blob string `json:"blob"`
		}
		if err := json.Unmarshal(v, &d); err != nil {
			return false, fmt.Errorf("aflevering %q lezen: %w", k, err)
		}
		if d.Blob != "" {
			seen[d.Blob] = true
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	err = scanUploads(ctx, t, []byte(kQueue), false, func(u Upload) (bool, error) {
		if u.Blob != "" {
			seen[u.Blob] = true
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(seen))
	for b := range seen {
		out = append(out, b)
	}
	slices.Sort(out)
	return out, nil
}

type backupWriter struct {
	tw    *tar.Writer
	parts []BackupPart
}

func (b *backupWriter) part(name string, data []byte, at time.Time) error {
	if err := b.tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), ModTime: at, Typeflag: tar.TypeReg}); err != nil {
		return fmt.Errorf("backup schrijven (%s): %w", name, err)
	}
	if _, err := b.tw.Write(data); err != nil {
		return fmt.Errorf("backup schrijven (%s): %w", name, err)
	}
	sum := sha256.Sum256(data)
	b.parts = append(b.parts, BackupPart{Name: name, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])})
	return nil
}

// blob copies one blob; ok is false when it was missing or damaged in the store already.
// Its checksum is compared with the one recorded at Commit after the copy, so a blob is read
// once; a damaged one is then in the tar but not restored (the manifest lists it missing).
func (b *backupWriter) blob(files storage.Files, name string, at time.Time, buf []byte) (int64, bool, error) {
	r, want, err := files.OpenPinned(name)
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrDamaged) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer r.Close() // read only: its Close loses nothing
	part := backupFiles + name
	if err := b.tw.WriteHeader(&tar.Header{Name: part, Mode: 0o600, Size: r.Size(), ModTime: at, Typeflag: tar.TypeReg}); err != nil {
		return 0, false, fmt.Errorf("backup schrijven: %w", err)
	}
	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(b.tw, h), r, buf)
	if err != nil {
		return 0, false, fmt.Errorf("kopiëren: %w", err)
	}
	sum := h.Sum(nil)
	b.parts = append(b.parts, BackupPart{Name: part, Size: n, SHA256: hex.EncodeToString(sum)})
	return n, bytes.Equal(sum, want), nil
}

// hashingReader hashes what passes through it.
type hashingReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (x *hashingReader) Read(p []byte) (int, error) {
	n, err := x.r.Read(p)
	x.h.Write(p[:n])
	x.n += int64(n)
	return n, err
}

func (x *hashingReader) part(name string) BackupPart {
	return BackupPart{Name: name, Size: x.n, SHA256: hex.EncodeToString(x.h.Sum(nil))}
}

func isBackupPart(name string) bool {
	return name == backupMeta || name == backupManifest || name == backupManiSum ||
		strings.HasPrefix(name, backupRecords) || strings.HasPrefix(name, backupFiles)
}
