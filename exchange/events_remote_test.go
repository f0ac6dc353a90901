package exchange

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"knooppunt/storage"
	"knooppunt/storage/storagetest"
)

// sharedStores opens n pairs of stores on one database schema and one bucket prefix: the
// stores of n nodes of one hub.
func sharedStores(t *testing.T, n int) (kvs []storage.KV, files []storage.Files) {
	t.Helper()
	return sharedStoresOn(t, storagetest.DatabaseURL(t), n)
}

// sharedStoresOn is sharedStores on the database at url.
func sharedStoresOn(t *testing.T, url string, n int) (kvs []storage.KV, files []storage.Files) {
	t.Helper()
	s3 := storagetest.S3Bucket(t)
	for i := range n {
		kv, err := storage.OpenPostgres(context.Background(), url, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		f, err := storage.OpenS3(context.Background(), storage.S3Config{Endpoint: s3.Endpoint, Bucket: s3.Bucket, Prefix: s3.Prefix,
			AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, SpoolDir: filepath.Join(t.TempDir(), "s3-spool", string(rune('a'+i)))})
		if err != nil {
			kv.Close()
			t.Fatal(err)
		}
		kvs, files = append(kvs, kv), append(files, f)
	}
	return kvs, files
}

// openNode opens a hub on shared stores without running its engine: a node that serves
// sessions while another node processes.
func openNode(t *testing.T, kv storage.KV, files storage.Files, clk Clock) *Hub {
	t.Helper()
	h, err := Open(Config{DataDir: t.TempDir(), Clock: clk, KV: kv, Files: files, OIN: testHubOIN, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// An upload processed by node A: a subscriber on node B hears of it and, reading at B after
// each event only, sees it become Afgeleverd. Node B runs no engine, so all it learns comes
// through the database's notifications.
func TestEventsCrossNodes(t *testing.T) {
	kvs, files := sharedStores(t, 2)
	a := newEngineWith(t, "", Config{KV: kvs[0], Files: files[0]})
	b := openNode(t, kvs[1], files[1], a.clk)
	gem := a.principal("0363")
	gemAtB := storedPrincipal(t, b, &Principal{Account: gem.Account, Org: gem.Org})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	events := b.Subscribe(ctx, "0363")
	// B listens once its connection is up; until then an event from A is not heard. An
	// event published at B itself must not be the one that gets through.
	for heard := false; !heard; {
		a.h.publish(Event{Org: "0363", Kind: "probe"})
		select {
		case e := <-events:
			heard = e.Kind == "probe"
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("node B never heard node A")
		}
	}
	for len(events) > 0 {
		<-events
	}

	u := a.put(gem, IWmo, "los.xml", envelope("WMO301", "0363", "12345678", newRef(), ""))
	var seen []UploadStatus
	for {
		var e Event
		select {
		case e = <-events:
		case <-ctx.Done():
			t.Fatalf("upload %d not Afgeleverd at node B; statuses seen there: %v", u.ID, seen)
		}
		if e.Kind != "upload" || e.UploadID != u.ID {
			continue
		}
		got, err := b.Upload(gemAtB, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(seen) == 0 || seen[len(seen)-1] != got.Status {
			seen = append(seen, got.Status)
		}
		if got.Status == Afgeleverd {
			break
		}
	}
	t.Logf("statuses node B saw after events: %v", seen)

	// B's own events do not come back to it twice.
	b.publish(Event{Org: "0363", Kind: "eigen"})
	a.h.publish(Event{Org: "0363", Kind: "einde"})
	var kinds []string
	for len(kinds) == 0 || kinds[len(kinds)-1] != "einde" {
		select {
		case e := <-events:
			kinds = append(kinds, e.Kind)
		case <-ctx.Done():
			t.Fatalf("events at B: %v", kinds)
		}
	}
	if n := count(kinds, "eigen"); n != 1 {
		t.Fatalf("B heard its own event %d times: %v", n, kinds)
	}
}

func count(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}
