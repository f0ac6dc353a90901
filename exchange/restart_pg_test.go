package exchange

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"knooppunt/storage"
	"knooppunt/storage/storagetest"
)

// PostgreSQL stops and starts again while two nodes run (node A with the engine, node B
// serving): an upload being written at B when the database goes fails at its close with a
// Dutch message and is not recorded; once the database is back both nodes go on without a
// restart of their own: what was accepted before is all there, new uploads are processed,
// B's subscribers hear A's events again, and the interrupted upload goes through when the
// client puts it again.
func TestPostgresRestartWhileNodesRun(t *testing.T) {
	pg := storagetest.OwnPostgres(t)
	kvs, files := sharedStoresOn(t, pg.URL, 2)
	a := newEngineWith(t, "", Config{KV: kvs[0], Files: files[0]})
	b := openNode(t, kvs[1], files[1], a.clk)
	gem := a.principal("0363")
	gemB := storedPrincipal(t, b, &Principal{Account: gem.Account, Org: gem.Org})
	aanb := a.principal("12345678")

	env1 := envelope("WMO301", "0363", "12345678", newRef(), "")
	if u := a.process(gem, IWmo, "voor.xml", env1); u.Status != Afgeleverd {
		t.Fatalf("before the restart: %+v", u)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	events := b.Subscribe(ctx, "0363")

	env2 := envelope("WMO301", "0363", "12345678", newRef(), "")
	s, err := b.StartUpload(ctx, gemB, IWmo, "onderweg.xml", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteAt(env2, 0); err != nil {
		t.Fatal(err)
	}

	pg.Stop()
	err = s.Close()
	if !errors.Is(err, storage.ErrUnavailable) || !strings.Contains(err.Error(), "database is even niet bereikbaar") {
		t.Fatalf("closing an upload while the database is down: %v, want the Dutch 'niet bereikbaar'", err)
	}
	t.Logf("upload in flight: %v", err)
	pg.Start()

	// B hears that it may have missed events (its listener reconnected) ...
	for e := range events {
		if e.Kind == "reconnect" {
			break
		}
	}
	// ... and A's events again.
	env3 := envelope("WMO301", "0363", "12345678", newRef(), "")
	u3 := a.process(gem, IWmo, "na.xml", env3)
	if u3.Status != Afgeleverd {
		t.Fatalf("after the restart: %+v", u3)
	}
	for heard := false; !heard; {
		select {
		case e := <-events:
			heard = e.Kind == "upload" && e.UploadID == u3.ID
		case <-ctx.Done():
			t.Fatal("B did not hear A's upload after the restart")
		}
	}
	// The interrupted upload was not recorded; put again (at B), it goes through.
	if _, ok := b.RecentUpload(gemB, IWmo, "onderweg.xml"); ok {
		t.Fatal("the upload that failed at its close was recorded")
	}
	s, err = b.StartUpload(ctx, gemB, IWmo, "onderweg.xml", false)
	if err != nil {
		t.Fatal(err)
	}
	s.WriteAt(env2, 0)
	if err := s.Close(); err != nil {
		t.Fatalf("put again after the restart: %v", err)
	}
	u2, ok := b.RecentUpload(gemB, IWmo, "onderweg.xml")
	if !ok {
		t.Fatal("the upload put again is not recorded")
	}
	if u := a.wait(gem, u2.ID); u.Status != Afgeleverd {
		t.Fatalf("the upload put again: %+v", u)
	}
	// Nothing accepted is lost: all three messages are in 12345678's ophalen, once.
	var all [][]byte
	for _, entries := range a.inbox(aanb, IWmo) {
		for _, data := range entries {
			all = append(all, data)
		}
	}
	for i, env := range [][]byte{env1, env2, env3} {
		n := 0
		for _, d := range all {
			if bytes.Equal(d, env) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("message %d is %d times in ophalen, want once", i+1, n)
		}
	}
}
