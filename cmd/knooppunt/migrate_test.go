package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"knooppunt/exchange"
	"knooppunt/exchange/stuf"
	"knooppunt/hostkeys"
	"knooppunt/storage"
	"knooppunt/storage/storagetest"
)

// hubView is what the demo accounts see of a hub: aanleveringen, berichtenlog, ophalen and
// verslagen of iWmo, and the bytes of every file in ophalen.
func hubView(t *testing.T, h *exchange.Hub) string {
	t.Helper()
	var b strings.Builder
	for _, name := range []string{"gemeente", "aanbieder"} {
		acct, err := h.Account(name)
		if err != nil {
			t.Fatal(err)
		}
		p, err := h.Refresh(&exchange.Principal{Account: acct})
		if err != nil {
			t.Fatal(err)
		}
		ups, n, err := h.Uploads(context.Background(), p, exchange.IWmo, exchange.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s aanleveringen %d: %+v\n", name, n, ups)
		msgs, n, err := h.Messages(context.Background(), p, exchange.IWmo, exchange.MessageFilter{})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s berichtenlog %d: %+v\n", name, n, msgs)
		ds, n, err := h.Inbox(context.Background(), p, exchange.IWmo, exchange.InboxOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s ophalen %d: %+v\n", name, n, ds)
		for _, d := range ds {
			r, _, err := h.OpenDelivery(p, exchange.IWmo, d.Name)
			if err != nil {
				t.Fatalf("%s: %v", d.Name, err)
			}
			data, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "  %s: %d bytes %x\n", d.Name, len(data), data[:min(len(data), 64)])
		}
		reps, err := h.Reports(context.Background(), p, exchange.IWmo)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s verslagen: %+v\n", name, reps)
		for _, r := range reps {
			_, data, err := h.OpenReport(context.Background(), p, exchange.IWmo, r.Name)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "  %s: %q\n", r.Name, data)
		}
	}
	return b.String()
}

// A Badger hub that took uploads over SFTP (one delivered, one afgekeurd) is stopped and
// migrated into PostgreSQL + S3; a hub on the result shows the same aanleveringen,
// berichtenlog, ophalen and verslagen, and a node started on it presents the old hub's host
// key. A second migrate into the same database is refused and changes nothing; a migrate of
// a directory without a hub, or without --files, says what to give.
func TestMigrateBadgerToPostgresAndS3(t *testing.T) {
	if _, err := exec.LookPath("sftp"); err != nil {
		t.Skip("sftp not installed")
	}
	db := storagetest.DatabaseURL(t)
	s3 := storagetest.S3Bucket(t)
	t.Setenv("AWS_ACCESS_KEY_ID", s3.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3.SecretKey)
	for _, k := range []string{"KNOOPPUNT_DATABASE_URL", "KNOOPPUNT_FILES", "KNOOPPUNT_S3_ENDPOINT"} {
		t.Setenv(k, "")
	}

	srv := serveInProcess(t, serveFlags{maxConns: -1})
	port := srv.ssh[strings.LastIndex(srv.ssh, ":")+1:]
	sftpRun := func(account, batch string) ([]byte, error) {
		c := exec.Command("sftp", "-F", "/dev/null", "-i", filepath.Join(srv.data, "demo", account), "-o", "IdentitiesOnly=yes",
			"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
			"-P", port, "-b", "-", account+"@127.0.0.1")
		c.Stdin = strings.NewReader(batch)
		c.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
		return c.CombinedOutput()
	}
	good := stuf.Build(stuf.Envelope{Functie: "WMO301", ZenderOrg: "9999", OntvangerOrg: "12345678",
		Referentie: "0b3c7e1a-5d2f-4e8b-9a61-7c4d2e9f1a36"}, []byte("<bericht/>"))
	up := t.TempDir()
	os.WriteFile(filepath.Join(up, "goed.xml"), good, 0o600)
	os.WriteFile(filepath.Join(up, "fout.xml"), []byte("geen envelop"), 0o600)
	if out, err := sftpRun("gemeente", "put "+up+"/goed.xml /iwmo/aanleveren/\nput "+up+"/fout.xml /iwmo/aanleveren/\n"); err != nil {
		t.Fatalf("sftp put: %v %s", err, out)
	}
	down := t.TempDir()
	for end := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		sftpRun("aanbieder", "get /iwmo/ophalen/*.ZIP "+down+"/\n")
		if got, _ := filepath.Glob(filepath.Join(down, "*.ZIP")); len(got) == 1 {
			break
		}
		if time.Now().After(end) {
			t.Fatal("nothing delivered within a minute")
		}
	}
	srv.stop()

	h, err := exchange.Open(exchange.Config{DataDir: srv.data, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	before := hubView(t, h)
	h.Close()
	for _, want := range []string{"Afgeleverd", "Afgekeurd", ".ZIP"} {
		if !strings.Contains(before, want) {
			t.Fatalf("the hub before migrating shows no %s:\n%s", want, before)
		}
	}

	files := "s3://" + s3.Bucket + "/" + s3.Prefix
	args := []string{"migrate", "--data", srv.data, "--database", db, "--files", files, "--s3-endpoint", s3.Endpoint}
	code, out, errOut := runCLI(args...)
	if code != 0 {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("migrate:\n%s", out)
	for _, want := range []string{"bestanden: ", "records: ", "aantal en inhoud gelijk", "hostsleutels: 2 overgenomen", "auditlog: ", "klaar in "} {
		if !strings.Contains(out, want) {
			t.Errorf("migrate output lacks %q:\n%s", want, out)
		}
	}

	kv, err := storage.OpenPostgres(t.Context(), db, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	fs, err := storage.OpenS3(t.Context(), storage.S3Config{Endpoint: s3.Endpoint, Bucket: s3.Bucket, Prefix: s3.Prefix,
		AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, SpoolDir: filepath.Join(t.TempDir(), "spool")})
	if err != nil {
		t.Fatal(err)
	}
	h, err = exchange.Open(exchange.Config{DataDir: t.TempDir(), KV: kv, Files: fs, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	after := hubView(t, h)
	n, sum, err := digest(kv)
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	if after != before {
		t.Fatalf("the hub on PostgreSQL + S3 shows\n%s\nthe Badger hub showed\n%s", after, before)
	}

	// Run again into the same database: refused, and the database is as it was.
	code, _, errOut = runCLI(args...)
	if code != 1 || !strings.Contains(errOut, "bevat al records") {
		t.Fatalf("second migrate: exit %d %s", code, errOut)
	}
	kv, err = storage.OpenPostgres(t.Context(), db, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if n2, sum2, err := digest(kv); err != nil || n2 != n || string(sum2) != string(sum) {
		t.Fatalf("after the refused migrate: %d records (%v), want %d unchanged", n2, err, n)
	}
	kv.Close()

	// A node on the result presents the host key the Badger hub had.
	keys, err := hostkeys.Read(srv.data)
	if err != nil {
		t.Fatal(err)
	}
	nd := startNode(t, backendFlags{database: db, files: files, s3Endpoint: s3.Endpoint})
	if got, want := presentedKey(t, nd.addr, gossh.KeyAlgoED25519), keys[0].Fingerprint(); got != want {
		t.Fatalf("node on the migrated database presents %s, the old hub %s", got, want)
	}
	nd.stop()

	// Bad input.
	if code, _, errOut := runCLI("migrate", "--data", srv.data, "--database", db); code != 2 || !strings.Contains(errOut, "--files") {
		t.Fatalf("without --files: exit %d %s", code, errOut)
	}
	if code, _, errOut := runCLI("migrate", "--data", t.TempDir(), "--database", db, "--files", files, "--s3-endpoint", s3.Endpoint); code != 1 || !strings.Contains(errOut, "geen hub in") {
		t.Fatalf("an empty directory: exit %d %s", code, errOut)
	}
}
