package exchange

import (
	"context"
	"errors"
	"testing"
	"time"

	"knooppunt/storage"
	"knooppunt/storage/storagetest"
)

func TestSweepDropsPendingFilesAfterTheirWait(t *testing.T) {
	h := acctWorld(t)
	clk := storagetest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
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
	// Litter is only litter after LitterGrace (another node may be about to record it).
	if _, err := h.files.Stat("aanleveren/9999/iwmo/dead01"); err != nil {
		t.Fatalf("unreferenced bytes removed at once: %v", err)
	}
	acctMust(t, h.sweepAanleveren(h.Now().Add(LitterGrace)))

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

// TestSweepKeepsAnotherNodesJustCommittedUpload: on a shared file store an upload at node A
// is written first and recorded a moment later, and node B's sweep does not see A's open
// spools; B took the bytes for litter and A's accepted upload ended Afgekeurd, "het
// aangeleverde bestand is niet meer aanwezig" (two-node load test, 5 Dec). Bytes nothing
// points to are kept for LitterGrace, and kept for good once their record appears.
func TestSweepKeepsAnotherNodesJustCommittedUpload(t *testing.T) {
	h := acctWorld(t)
	jan := acctAs(t, h, "jan")
	// Node A's upload between its commit and its record: bytes in the store, no spool here.
	const blob = "aanleveren/9999/iwmo/andere-node"
	w, err := h.files.Create(blob)
	acctMust(t, err)
	_, err = w.Write(aanlData(512))
	acctMust(t, err)
	acctMust(t, w.Commit())

	now := h.Now()
	acctMust(t, h.sweepAanleveren(now))
	acctMust(t, h.sweepAanleveren(now.Add(LitterGrace-time.Second)))
	if _, err := h.files.Stat(blob); err != nil {
		t.Fatalf("another node's upload removed within LitterGrace: %v", err)
	}
	// A records it: now it is referenced and stays, however late the next sweep comes.
	u, err := h.accept(jan, IWmo, "andere-node.xml", blob, 512, "", nil)
	acctMust(t, err)
	acctMust(t, h.sweepAanleveren(now.Add(LitterGrace+time.Second)))
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got, err := h.Upload(jan, u.ID)
		acctMust(t, err)
		if got.Status == Afgekeurd {
			t.Fatalf("the other node's upload: %s %+v", got.Status, got.Fouten)
		}
		if got.Status.Final() {
			break
		}
		if time.Now().After(deadline) {
			if _, err := h.files.Stat(blob); err != nil {
				t.Fatalf("the other node's recorded upload lost its bytes: %v", err)
			}
			break
		}
	}
	// Bytes that stay unreferenced go after LitterGrace.
	const dead = "aanleveren/9999/iwmo/nooit-vastgelegd"
	w, err = h.files.Create(dead)
	acctMust(t, err)
	acctMust(t, w.Commit())
	acctMust(t, h.sweepAanleveren(now.Add(2*LitterGrace)))
	acctMust(t, h.sweepAanleveren(now.Add(3*LitterGrace)))
	if _, err := h.files.Stat(dead); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("litter kept past LitterGrace: %v", err)
	}
}
