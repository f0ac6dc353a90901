package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"knooppunt/exchange"
	"knooppunt/hostkeys"
	"knooppunt/storage"
	"knooppunt/storage/storagetest"
)

func runNodes(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(append([]string{"nodes"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// knooppunt nodes --database lists a running node with its heartbeat; without a database it
// says what to give.
func TestNodesCommand(t *testing.T) {
	t.Setenv("KNOOPPUNT_DATABASE_URL", "")
	if code, _, stderr := runNodes(); code != 2 || !strings.Contains(stderr, "--database") {
		t.Fatalf("without a database: exit %d %q", code, stderr)
	}
	if code, _, stderr := runNodes("--database", "mysql://db/kp"); code != 2 || !strings.Contains(stderr, "postgres://") {
		t.Fatalf("a wrong database: exit %d %q", code, stderr)
	}

	url := storagetest.DatabaseURL(t)
	kv, err := storage.OpenPostgres(context.Background(), url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	h, err := exchange.Open(exchange.Config{DataDir: dir, KV: kv, Node: "knoop-1", Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	defer func() { cancel(); <-done; h.Close() }()

	var nodes []exchange.NodeInfo
	for end := time.Now().Add(time.Minute); len(nodes) == 0; time.Sleep(50 * time.Millisecond) {
		code, out, stderr := runNodes("--database", url, "--json")
		if code != 0 || json.Unmarshal([]byte(out), &nodes) != nil {
			t.Fatalf("nodes --json: exit %d %q %q", code, out, stderr)
		}
		if time.Now().After(end) {
			t.Fatal("no heartbeat after a minute")
		}
	}
	if len(nodes) != 1 || nodes[0].Name != "knoop-1" || !nodes[0].Reachable || nodes[0].Self {
		t.Fatalf("%+v", nodes)
	}
	code, out, stderr := runNodes("--database", url)
	if code != 0 || !strings.Contains(out, "knoop-1") || !strings.Contains(out, "actief") {
		t.Fatalf("nodes: exit %d %q %q", code, out, stderr)
	}
	if _, err := parseServe([]string{"--node", "a b"}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "--node") {
		t.Fatalf("serve --node 'a b': %v", err)
	}
}

// knooppunt hostkeys --database shows the keys the nodes share, as every node presents them;
// before any node started it says so and makes none (a command that shows must not create).
func TestHostkeysFromTheDatabase(t *testing.T) {
	url := storagetest.DatabaseURL(t)
	var out, errOut bytes.Buffer
	if code := run([]string{"hostkeys", "--database", url}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "eerste start van een knooppunt") {
		t.Fatalf("no node yet: exit %d %q %q", code, out.String(), errOut.String())
	}
	kv, err := storage.OpenPostgres(context.Background(), url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	if _, err := hostkeys.ReadShared(kv, "test"); err == nil {
		t.Fatal("hostkeys --database made keys")
	}
	keys, err := hostkeys.LoadShared(kv, "test") // what a node does at its start
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for _, k := range keys {
		want.WriteString(k.String() + "\n")
	}
	out.Reset()
	errOut.Reset()
	if code := run([]string{"hostkeys", "--database", url}, &out, &errOut); code != 0 || out.String() != want.String() {
		t.Fatalf("hostkeys --database: exit %d\n%s\nwant\n%s%s", code, out.String(), want.String(), errOut.String())
	}
}
