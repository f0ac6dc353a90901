package sshserver

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"knooppunt/exchange"
	"knooppunt/storage"
	"knooppunt/storage/storagetest"
)

// withSharedStores puts the hub on the given database schema and bucket prefix: nodes of
// one hub.
func withSharedStores(t *testing.T, url string, s3 storagetest.S3) hubOption {
	return func(s *hubSetup) {
		kv, err := storage.OpenPostgres(context.Background(), url, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		files, err := storage.OpenS3(context.Background(), storage.S3Config{Endpoint: s3.Endpoint, Bucket: s3.Bucket, Prefix: s3.Prefix,
			AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, SpoolDir: filepath.Join(t.TempDir(), "s3-spool")})
		if err != nil {
			kv.Close()
			t.Fatal(err)
		}
		s.hub.KV, s.hub.Files = kv, files
	}
}

// countAudited waits until the audit log holds at least n refused logins, as the servers
// record them when they see a failed connection end.
func countAudited(t *testing.T, h *exchange.Hub, n int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got := 0
		h.AuditLog(0, func(e exchange.AuditEntry) bool {
			if e.Action == "login" && strings.HasPrefix(e.Result, "geweigerd") {
				got++
			}
			return true
		})
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d refused logins audited, want %d", got, n)
		}
	}
}

// The failed-login limit of an address holds across nodes: two failures at node A and two
// at node B block the address (limit 4) at both, for every account, also with a right key.
func TestFailedLoginsBlockTheAddressAcrossNodes(t *testing.T) {
	url, s3 := storagetest.DatabaseURL(t), storagetest.S3Bucket(t)
	limit := withConfig(func(c *Config) { c.MaxAuthFailures = 4 })
	a := startHub(t, withSharedStores(t, url, s3), limit)
	b := startHub(t, withSharedStores(t, url, s3), limit)
	bad := demoSigner(t, a, "ameland") // a known key, but not gemeente's
	good := demoSigner(t, a, "aanbieder")
	if c, err := sshLogin(b, "aanbieder", good); err != nil {
		t.Fatalf("first login at B: %v", err)
	} else {
		c.Close()
	}
	for i, node := range []*testHub{a, a, b, b} {
		if c, err := sshLogin(node, "gemeente", bad); err == nil {
			c.Close()
			t.Fatalf("wrong key %d logged in", i)
		}
	}
	countAudited(t, a.hub, 4)
	for name, node := range map[string]*testHub{"A": a, "B": b} {
		if c, err := sshLogin(node, "aanbieder", good); err == nil {
			c.Close()
			t.Fatalf("the blocked address logged in at node %s", name)
		}
	}
}
