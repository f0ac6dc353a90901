package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"
)

// TestServeQuota runs the server with --quota 1MB: gemeente's second upload of the day
// is refused mid-write with the quota and the hour it resets, another organisation's goes
// through.
func TestServeQuota(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runServer(ctx, serveFlags{data: dir, listen: "127.0.0.1:0", demo: true, quota: 1 << 20, maxConns: 4},
			&out, slog.New(slog.DiscardHandler))
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	port := regexp.MustCompile(`-P (\d+) `)
	deadline := time.Now().Add(60 * time.Second)
	for !port.MatchString(out.String()) {
		if time.Now().After(deadline) {
			t.Fatal("server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	addr := "127.0.0.1:" + port.FindStringSubmatch(out.String())[1]
	put := func(account, name string, size int) error {
		b, err := os.ReadFile(filepath.Join(dir, "demo", account))
		if err != nil {
			t.Fatal(err)
		}
		signer, err := gossh.ParsePrivateKey(b)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := gossh.Dial("tcp", addr, &gossh.ClientConfig{User: account, Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
			HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		c, err := sftp.NewClient(conn)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		w, err := c.Create("/iwmo/aanleveren/" + name)
		if err != nil {
			return err
		}
		if _, err := w.ReadFrom(bytes.NewReader(make([]byte, size))); err != nil {
			w.Close()
			return err
		}
		return w.Close()
	}
	if err := put("gemeente", "a.zip", 700<<10); err != nil {
		t.Fatal(err)
	}
	err := put("gemeente", "b.zip", 700<<10)
	if err == nil || !strings.Contains(err.Error(), "dagquotum") || !strings.Contains(err.Error(), "1 MB") || !strings.Contains(err.Error(), "om 00:00") {
		t.Fatalf("second upload: %v, want the quota refusal", err)
	}
	if err := put("ameland", "c.zip", 700<<10); err != nil {
		t.Fatalf("another organisation: %v", err)
	}
}
