package exchange

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"knooppunt/storage"
)

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.TrimSpace(string(b))
}

// TestMeasureBackupRestore1M times a backup and a restore of a store with 1,000,000
// berichtenlog entries: 500,000 messages, each in the log of its zender and of its ontvanger,
// written with putNewMessage as the engine writes them (the message, its referentienummer
// index, and per log the time index, the four filter indexes with their summaries, the
// referentienummer entry and the count), plus KNOOPPUNT_MEASURE_BLOB_MB (default 256) MB of
// delivery files of 1 MB with their delivery records. It only runs with KNOOPPUNT_MEASURE=1
// (scripts/bench-backup.sh); it writes its store under KNOOPPUNT_MEASURE_DIR or a temp dir.
func TestMeasureBackupRestore1M(t *testing.T) {
	if os.Getenv("KNOOPPUNT_MEASURE") != "1" {
		t.Skip("a measurement: KNOOPPUNT_MEASURE=1 (scripts/bench-backup.sh)")
	}
	messages := 500_000
	if v, err := strconv.Atoi(os.Getenv("KNOOPPUNT_MEASURE_MESSAGES")); err == nil && v > 0 {
		messages = v
	}
	blobMB := 256
	if v, err := strconv.Atoi(os.Getenv("KNOOPPUNT_MEASURE_BLOB_MB")); err == nil && v >= 0 {
		blobMB = v
	}
	root := os.Getenv("KNOOPPUNT_MEASURE_DIR")
	if root == "" {
		root = t.TempDir()
	}
	e := newEngine(t, filepath.Join(root, "origineel"))
	h := e.h

	began := time.Now()
	start := e.clk.Now().Add(-30 * 24 * time.Hour)
	const batch = 500 // a Badger transaction holds at most ~10 MB
	for i := 0; i < messages; i += batch {
		err := h.kv.Update(func(tx storage.Txn) error {
			for j := i; j < min(i+batch, messages); j++ {
				zender, ontvanger := "0363", "12345678"
				if j%2 == 1 {
					ontvanger = "87654321"
				}
				m := Message{ID: msgID(2_000_000+uint64(j/100_000), j%100_000), Product: IWmo, Functie: "WMO301",
					Referentie: fmt.Sprintf("9c0f7b90-5c69-41e5-a837-%012x", j), Zender: zender, Uploader: zender,
					Ontvanger: ontvanger, Mailbox: ontvanger, UploadID: 2_000_000 + uint64(j/100_000), Entry: j % 100_000,
					File: fmt.Sprintf("%d.xml", j), Size: 1500, ReceivedAt: start.Add(time.Duration(j) * 5 * time.Second),
					Status: MsgAfgeleverd, History: []StatusEvent{{At: start.Add(time.Duration(j) * 5 * time.Second), Status: MsgAfgeleverd}}}
				if err := h.putNewMessage(tx, m, false, []string{zender, ontvanger}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	payload := make([]byte, 1<<20)
	for i := range blobMB {
		rand.Read(payload)
		blob := dlvBlob(3_000_000, i)
		w, err := h.files.Create(blob)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(payload)
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		d := Delivery{ID: dlvID(3_000_000, i), Org: "12345678", Product: IWmo, Name: fmt.Sprintf("meting_%04d.zip", i), Functie: "WMO301",
			From: "0363", UploadID: 3_000_000, Size: int64(len(payload)), Blob: blob, CreatedAt: start}
		if err := h.kv.Update(func(tx storage.Txn) error { return setJSON(tx, key(kDelivery, d.ID), d) }); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("opslag gemaakt in %s: %d berichten, %d berichtenlog-regels, %d MB bestanden; load %s",
		time.Since(began).Round(time.Millisecond), messages, 2*messages, blobMB, loadAvg())

	tarPath := filepath.Join(root, "backup.tar")
	f, err := os.Create(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	began = time.Now()
	m, err := h.Backup(context.Background(), System, bw, nil)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	st, _ := os.Stat(tarPath)
	t.Logf("backup: %d records, %d bestanden, tar %.1f MB in %s = %.1f MB/s (incl. fsync); load %s",
		m.Records, m.Files, float64(st.Size())/(1<<20), took.Round(time.Millisecond), float64(st.Size())/(1<<20)/took.Seconds(), loadAvg())

	in, err := os.Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	began = time.Now()
	res, err := RestoreBackup(context.Background(), in, Config{DataDir: filepath.Join(root, "terug"), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	took = time.Since(began)
	t.Logf("restore: %d records, %d bestanden in %s = %.1f MB/s, met audit verify (%v) en bestandscontrole (%d gecontroleerd, %d fout); load %s",
		res.Records, res.Files, took.Round(time.Millisecond), float64(st.Size())/(1<<20)/took.Seconds(), res.AuditMatches, res.FilesChecked, res.FilesBad, loadAvg())
	if !res.AuditMatches || res.FilesBad != 0 {
		t.Fatal("restore does not match")
	}
	// The restored store answers like the original.
	h2, err := Open(Config{DataDir: filepath.Join(root, "terug"), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	p := e.principal("12345678")
	_, n1, err := h.Messages(context.Background(), p, IWmo, MessageFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	ms, n2, err := h2.Messages(context.Background(), p, IWmo, MessageFilter{Limit: 100})
	if err != nil || n1 != n2 || len(ms) != 100 {
		t.Fatalf("berichtenlog of 12345678: original %d, restored %d (%v)", n1, n2, err)
	}
	t.Logf("teruggezette berichtenlog van 12345678: %d regels, nieuwste 100 in %s", n2, time.Since(began).Round(time.Microsecond))
}
