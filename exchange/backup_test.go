package exchange

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// state is what the doors show of a hub, for comparing an original with its restore.
func (e *testEngine) state(h *Hub, orgs ...string) string {
	e.t.Helper()
	var b strings.Builder
	for _, org := range orgs {
		p := storedPrincipal(e.t, h, e.principal(org))
		for _, prod := range []Product{"iwmo", "ijw"} {
			ups, _, err := h.Uploads(context.Background(), p, prod, ListOptions{Limit: 1000})
			if err != nil {
				e.t.Fatal(err)
			}
			for _, u := range ups {
				fmt.Fprintf(&b, "upload %s %d %s %s %+v\n", org, u.ID, u.Name, u.Status, u.Counts)
			}
			ms, _, err := h.Messages(context.Background(), p, prod, MessageFilter{Limit: 1000})
			if err != nil {
				e.t.Fatal(err)
			}
			for _, m := range ms {
				fmt.Fprintf(&b, "bericht %s %s %s %s→%s %s\n", org, m.Referentie, m.Functie, m.Zender, m.Ontvanger, m.Status)
			}
			ds, _, err := h.Inbox(context.Background(), p, prod, InboxOptions{Limit: 1000})
			if err != nil {
				e.t.Fatal(err)
			}
			for _, d := range ds {
				r, _, err := h.OpenDelivery(p, prod, d.Name)
				if err != nil {
					e.t.Fatalf("ophalen %s: %v", d.Name, err)
				}
				buf := make([]byte, r.Size())
				r.ReadAt(buf, 0)
				r.Close()
				fmt.Fprintf(&b, "ophalen %s %s %d %x\n", org, d.Name, len(buf), buf)
			}
			rs, err := h.Reports(context.Background(), p, prod)
			if err != nil {
				e.t.Fatal(err)
			}
			for _, r := range rs {
				_, txt, err := h.OpenReport(context.Background(), p, prod, r.Name)
				if err != nil {
					e.t.Fatal(err)
				}
				fmt.Fprintf(&b, "verslag %s %s %q\n", org, r.Name, txt)
			}
		}
	}
	return b.String()
}

func TestBackupRestoreShowsTheSame(t *testing.T) {
	e := newEngine(t, "")
	gem := e.principal("0363")
	for i := range 5 {
		e.process(gem, "iwmo", fmt.Sprintf("toewijzing%d.xml", i), envelope("WMO301", "0363", "12345678", newRef(), ""))
	}
	e.process(gem, "iwmo", "fout.xml", []byte("<geen envelop"))
	var buf bytes.Buffer
	m, err := e.h.Backup(context.Background(), System, &buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Files != 5 || m.Records == 0 || len(m.Missing) != 0 || m.StoreVersion != StoreVersion {
		t.Fatalf("manifest: %+v", m)
	}
	want := e.state(e.h, "0363", "12345678")

	dir := filepath.Join(t.TempDir(), "nieuw")
	res, err := RestoreBackup(context.Background(), bytes.NewReader(buf.Bytes()), Config{DataDir: dir, Clock: e.clk, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if !res.AuditMatches || res.FilesChecked != 5 || res.FilesBad != 0 || res.Records != m.Records {
		t.Fatalf("restore: %+v", res)
	}
	h2, err := Open(Config{DataDir: dir, Clock: e.clk, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	if got := e.state(h2, "0363", "12345678"); got != want {
		t.Fatalf("restored hub shows\n%s\nwant\n%s", got, want)
	}

	// Never into a directory that holds something.
	if _, err := RestoreBackup(context.Background(), bytes.NewReader(buf.Bytes()), Config{DataDir: e.dir}); err == nil || !strings.Contains(err.Error(), "niet leeg") {
		t.Fatalf("restore into a used directory: %v", err)
	}
}

// A flipped byte anywhere, or a cut-off file, is refused with the name of the part, and
// leaves the directory as it was.
func TestRestoreRefusesDamage(t *testing.T) {
	e := newEngine(t, "")
	gem := e.principal("0363")
	for i := range 3 {
		e.process(gem, "iwmo", fmt.Sprintf("t%d.xml", i), envelope("WMO301", "0363", "12345678", newRef(), ""))
	}
	var buf bytes.Buffer
	m, err := e.h.Backup(context.Background(), System, &buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	// Where each part's content starts, from the tar headers.
	offsets := partOffsets(t, good)
	restore := func(b []byte) error {
		dir := filepath.Join(t.TempDir(), "x")
		_, err := RestoreBackup(context.Background(), bytes.NewReader(b), Config{DataDir: dir, Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			if _, serr := os.Stat(dir); !os.IsNotExist(serr) {
				t.Errorf("failed restore left %s behind", dir)
			}
		}
		return err
	}
	for _, p := range m.Parts {
		off := offsets[p.Name] + p.Size/2
		bad := bytes.Clone(good)
		bad[off] ^= 0x20
		err := restore(bad)
		if err == nil || !strings.Contains(err.Error(), p.Name) {
			t.Errorf("flipped byte in %s: %v", p.Name, err)
		}
	}
	// A flipped byte in a tar header.
	bad := bytes.Clone(good)
	bad[offsets[m.Parts[1].Name]-512+10] ^= 1
	if err := restore(bad); err == nil || !strings.Contains(err.Error(), "beschadigd") {
		t.Errorf("flipped header byte: %v", err)
	}
	for _, cut := range []int64{offsets[m.Parts[1].Name] + 100, offsets[m.Parts[len(m.Parts)-1].Name], int64(len(good)) - 2048} {
		err := restore(good[:cut])
		if err == nil || !(strings.Contains(err.Error(), "afgekapt") || strings.Contains(err.Error(), "onvolledig")) {
			t.Errorf("cut at %d: %v", cut, err)
		}
	}
	if err := restore(good); err != nil {
		t.Fatalf("the undamaged backup: %v", err)
	}
}

func partOffsets(t *testing.T, b []byte) map[string]int64 {
	out := map[string]int64{}
	off := int64(0)
	for off+512 <= int64(len(b)) {
		hdr := b[off : off+512]
		name := string(bytes.TrimRight(hdr[:100], "\x00"))
		if name == "" {
			break
		}
		var size int64
		fmt.Sscanf(strings.TrimSpace(string(bytes.TrimRight(hdr[124:136], "\x00"))), "%o", &size)
		out[name] = off + 512
		off += 512 + (size+511)/512*512
	}
	if len(out) == 0 {
		t.Fatal("no tar parts found")
	}
	return out
}

// A backup taken while uploads are processed holds one moment: every delivery record has its
// file, and the restored store passes the integrity check.
func TestBackupDuringProcessing(t *testing.T) {
	e := newEngine(t, "")
	gem := e.principal("0363")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			e.put(gem, "iwmo", fmt.Sprintf("b%d.xml", i), envelope("WMO301", "0363", "12345678", newRef(), ""))
		}
	})
	// Let some finish first, so the backup sees final, running and queued uploads.
	e.process(gem, "iwmo", "eerste.xml", envelope("WMO301", "0363", "12345678", newRef(), ""))
	var bufs []*bytes.Buffer
	for range 3 {
		var buf bytes.Buffer
		if _, err := e.h.Backup(context.Background(), System, &buf, nil); err != nil {
			t.Fatal(err)
		}
		bufs = append(bufs, &buf)
	}
	close(stop)
	wg.Wait()
	for i, buf := range bufs {
		dir := filepath.Join(t.TempDir(), "x")
		res, err := RestoreBackup(context.Background(), buf, Config{DataDir: dir, Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatalf("backup %d: %v", i, err)
		}
		if res.FilesBad != 0 || !res.AuditMatches || len(res.Manifest.Missing) != 0 {
			t.Fatalf("backup %d restored with %d bad files, audit %v, missing %v", i, res.FilesBad, res.AuditMatches, res.Manifest.Missing)
		}
		t.Logf("backup %d: %d records, %d files", i, res.Records, res.Files)
	}
}

// A blob that is already damaged in the store is listed as missing in the backup, and the
// restored store's integrity check finds exactly that one, as the original's does.
func TestBackupOfADamagedBlob(t *testing.T) {
	badgerOnly(t, "it damages a file in DIR/files by hand")
	e := newEngine(t, "")
	gem := e.principal("0363")
	for i := range 3 {
		e.process(gem, "iwmo", fmt.Sprintf("t%d.xml", i), envelope("WMO301", "0363", "12345678", newRef(), ""))
	}
	var victim string
	filepath.WalkDir(filepath.Join(e.dir, "files", "blobs", "dlv"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && victim == "" {
			victim = p
		}
		return nil
	})
	b, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	b[10] ^= 0xff
	os.WriteFile(victim, b, 0o600)
	var buf bytes.Buffer
	m, err := e.h.Backup(context.Background(), System, &buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Missing) != 1 || m.Files != 2 {
		t.Fatalf("manifest: %d files, missing %v", m.Files, m.Missing)
	}
	res, err := RestoreBackup(context.Background(), &buf, Config{DataDir: filepath.Join(t.TempDir(), "x"), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if res.FilesChecked != 3 || res.FilesBad != 1 || res.Files != 2 || !res.AuditMatches {
		t.Fatalf("restore: checked %d, bad %d, files %d, audit %v", res.FilesChecked, res.FilesBad, res.Files, res.AuditMatches)
	}
}

// An incremental backup copies only the files the earlier backups do not hold; restored with
// them (in any order) it shows the same as the hub, and without them it is refused.
func TestIncrementalBackup(t *testing.T) {
	e := newEngine(t, "")
	gem := e.principal("0363")
	round := func(n int) {
		for range n {
			e.process(gem, "iwmo", newRef()+".xml", envelope("WMO301", "0363", "12345678", newRef(), ""))
		}
	}
	backup := func(prev *BackupManifest) (BackupManifest, []byte) {
		var buf bytes.Buffer
		m, err := e.h.Backup(context.Background(), System, &buf, prev)
		if err != nil {
			t.Fatal(err)
		}
		return m, buf.Bytes()
	}
	round(3)
	mA, a := backup(nil)
	round(2)
	// The manifest as an operator hands it over: from the tar.
	prevA, err := ReadManifest(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	mB, b := backup(&prevA)
	if mB.Files != 2 || len(mB.Basis) != 3 || !mB.BasisMoment.Equal(mA.Moment) {
		t.Fatalf("incremental B: %d files, %d from A", mB.Files, len(mB.Basis))
	}
	round(1)
	mj, _ := json.Marshal(mB) // and as manifest.json
	prevB, err := ReadManifest(bytes.NewReader(mj))
	if err != nil {
		t.Fatal(err)
	}
	mC, c := backup(&prevB)
	if mC.Files != 1 || len(mC.Basis) != 5 {
		t.Fatalf("incremental C: %d files, %d from before", mC.Files, len(mC.Basis))
	}
	want := e.state(e.h, "0363", "12345678")

	restore := func(main []byte, bases ...[]byte) (RestoreResult, string, error) {
		dir := filepath.Join(t.TempDir(), "x")
		var rs []io.Reader
		for _, b := range bases {
			rs = append(rs, bytes.NewReader(b))
		}
		res, err := RestoreBackup(context.Background(), bytes.NewReader(main), Config{DataDir: dir, Clock: e.clk, Log: slog.New(slog.DiscardHandler)}, rs...)
		return res, dir, err
	}
	res, dir, err := restore(c, a, b) // bases in any order
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 6 || res.FilesBad != 0 || !res.AuditMatches {
		t.Fatalf("restore C+A+B: %+v", res)
	}
	h2, err := Open(Config{DataDir: dir, Clock: e.clk, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	got := e.state(h2, "0363", "12345678")
	h2.Close()
	if got != want {
		t.Fatalf("restored from C on B on A shows\n%s\nwant\n%s", got, want)
	}
	if _, _, err := restore(c, b); err == nil || !strings.Contains(err.Error(), "aanvulling") || !strings.Contains(err.Error(), "--from") {
		t.Fatalf("C without A: %v", err)
	}
	// A damaged file in a base is refused by name.
	bad := bytes.Clone(a)
	i := bytes.Index(bad, []byte("files/dlv/"))
	bad[i-i%512+512+50] ^= 1
	if _, _, err := restore(b, bad); err == nil || !strings.Contains(err.Error(), "eerdere backup 1") {
		t.Fatalf("B on a damaged A: %v", err)
	}
}
