package exchange

import (
	"context"
	"errors"
	"testing"
	"time"

	"knooppunt/storage"
)

func TestSweepDropsPendingFilesAfterTheirWait(t *testing.T) {
	h := acctWorld(t)
	clk := &fakeClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	h.clock = clk
	jan := acctAs(t, h, "jan")

	staged, err := h.StartUpload(context.Background(), jan, IWmo, "oud.zip.filepart", false)
	acctMust(t, err)
	aanlWrite(t, staged, aanlData(4096))
	acctMust(t, staged.Close())
	clk.Add(PendingBewaartijd - time.Hour)
	young, err := h.StartUpload(context.Background(), jan, IWmo, "jong.zip.part", false)
	acctMust(t, err)
	aanlWrite(t, young, aanlData(100))
	acctMust(t, young.Close())

	clk.Add(2 * time.Hour)
	acctMust(t, h.sweepAanleveren(clk.Now()))

	left, err := h.Pending(jan, IWmo)
	acctMust(t, err)
	if len(left) != 1 || left[0].Name != "jong.zip.part" {
		t.Fatalf("pending after sweep: %+v, want only jong.zip.part", left)
	}
	if _, err := h.files.Append(staged.blob); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("expired staged bytes still there: %v", err)
	}
	if _, err := h.files.Append(young.blob); err != nil {
		t.Fatalf("young staged bytes gone: %v", err)
	}
}

func TestSweepRemovesLitterButNotOpenOrQueuedFiles(t *testing.T) {
	h := acctWorld(t)
	jan := acctAs(t, h, "jan")

	// Bytes a crash left between writing and recording: committed and uncommitted.
	for _, name := range []string{"aanleveren/9999/iwmo/dead01", "aanleveren/9999/iwmo/dead02"} {
		w, err := h.files.Create(name)
		acctMust(t, err)
		_, err = w.Write([]byte("<x/>"))
		acctMust(t, err)
		if name[len(name)-1] == '1' {
			acctMust(t, w.Commit())
		} else {
			acctMust(t, w.Keep())
		}
	}
	// An upload being written right now, and one queued for processing.
	open, err := h.StartUpload(context.Background(), jan, IWmo, "bezig.xml", false)
	acctMust(t, err)
	aanlWrite(t, open, aanlData(512))
	queued, err := h.StartUpload(context.Background(), jan, IWmo, "wacht.xml", false)
	acctMust(t, err)
	aanlWrite(t, queued, aanlData(512))
	acctMust(t, queued.Close())

	acctMust(t, h.sweepAanleveren(h.Now()))

	if _, err := h.files.Stat("aanleveren/9999/iwmo/dead01"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("committed litter kept: %v", err)
	}
	if _, err := h.files.Append("aanleveren/9999/iwmo/dead02"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("uncommitted litter kept: %v", err)
	}
	if _, err := h.files.Stat(queued.blob); err != nil {
		t.Fatalf("queued upload's file removed: %v", err)
	}
	acctMust(t, open.Close())
	us := aanlUploads(t, h, jan, IWmo)
	if len(us) != 2 {
		t.Fatalf("uploads after sweep: %d, want 2", len(us))
	}
	for _, u := range us {
		if _, err := h.files.Stat(u.Blob); err != nil {
			t.Fatalf("upload %s lost its file: %v", u.Name, err)
		}
	}
}

// TestSweepMovesPendingFilesUnderTheirAccount: a staged file recorded before pending files
// were per account (pend/<org>/<product>/<name>) moves under its account and stays its own.
func TestSweepMovesPendingFilesUnderTheirAccount(t *testing.T) {
	h := acctWorld(t)
	jan := acctAs(t, h, "jan")
	staged, err := h.StartUpload(context.Background(), jan, IWmo, "oud.zip.filepart", false)
	acctMust(t, err)
	aanlWrite(t, staged, aanlData(300))
	acctMust(t, staged.Close())
	acctMust(t, h.kv.Update(func(tx storage.Txn) error {
		var f PendingFile
		if err := getJSON(tx, pendingKey("9999", IWmo, "jan", "oud.zip.filepart"), &f); err != nil {
			return err
		}
		if err := tx.Delete(pendingKey("9999", IWmo, "jan", "oud.zip.filepart")); err != nil {
			return err
		}
		return setJSON(tx, key(kPending, "9999", IWmo, "oud.zip.filepart"), f)
	}))
	if left, _ := h.Pending(jan, IWmo); len(left) != 0 {
		t.Fatalf("old key listed before the sweep: %+v", left)
	}
	acctMust(t, h.sweepAanleveren(h.Now()))
	left, err := h.Pending(jan, IWmo)
	acctMust(t, err)
	if len(left) != 1 || left[0].Name != "oud.zip.filepart" || left[0].Size != 300 {
		t.Fatalf("pending after the sweep: %+v", left)
	}
}
