package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"knooppunt/exchange/stuf"
	"knooppunt/storage"
	"knooppunt/storage/storagetest"
)

func TestBackendFlags(t *testing.T) {
	for _, k := range []string{"KNOOPPUNT_DATABASE_URL", "KNOOPPUNT_FILES", "KNOOPPUNT_S3_ENDPOINT", "KNOOPPUNT_S3_CREDENTIALS", "KNOOPPUNT_STORAGE_TIMEOUT", "KNOOPPUNT_S3_CACHE"} {
		t.Setenv(k, "")
	}
	f, err := parseServe(nil, io.Discard)
	if err != nil || f.backend != (backendFlags{timeout: storage.DefaultCallTimeout}) {
		t.Fatalf("default: %+v %v, want Badger and DIR/files", f.backend, err)
	}
	f, err = parseServe([]string{"--database", "postgres://kp:geheim@db/kp", "--files", "s3://bak/hub1", "--s3-endpoint", "https://s3.example.nl"}, io.Discard)
	if err != nil || f.backend.database != "postgres://kp:geheim@db/kp" || f.backend.files != "s3://bak/hub1" {
		t.Fatalf("%+v %v", f.backend, err)
	}
	if b, p, _ := parseS3Files("s3://bak/hub1/"); b != "bak" || p != "hub1/" {
		t.Fatalf("parseS3Files: %q %q", b, p)
	}
	t.Setenv("KNOOPPUNT_DATABASE_URL", "postgres://db/kp")
	if f, err := parseServe(nil, io.Discard); err != nil || f.backend.database != "postgres://db/kp" {
		t.Fatalf("from the environment: %+v %v", f.backend, err)
	}
	t.Setenv("KNOOPPUNT_DATABASE_URL", "")
	if f, err := parseServe([]string{"--storage-timeout", "5s"}, io.Discard); err != nil || f.backend.timeout != 5*time.Second {
		t.Fatalf("--storage-timeout 5s: %v %v", f.backend.timeout, err)
	}
	for arg, want := range map[string]int64{"64": 64 << 20, "0": -1} {
		if f, err := parseServe([]string{"--s3-cache", arg}, io.Discard); err != nil || f.backend.s3Cache != want {
			t.Fatalf("--s3-cache %s: %d %v, want %d", arg, f.backend.s3Cache, err, want)
		}
	}
	for _, bad := range [][]string{
		{"--s3-cache", "-1"},
		{"--s3-cache", "256MB"},
		{"--storage-timeout", "0"},
		{"--storage-timeout", "lang"},
		{"--database", "mysql://kp:geheim@db/kp"},
		{"--files", "s3://bak"},                                // no endpoint
		{"--files", "/srv/files", "--s3-endpoint", "http://x"}, // not s3://
		{"--files", "s3://", "--s3-endpoint", "http://x"},
	} {
		_, err := parseServe(bad, io.Discard)
		if err == nil {
			t.Errorf("%v accepted", bad)
		} else if strings.Contains(err.Error(), "geheim") {
			t.Errorf("%v: the password is in the message: %v", bad, err)
		}
	}
	cred := filepath.Join(t.TempDir(), "s3.env")
	os.WriteFile(cred, []byte("# sleutels\nAWS_ACCESS_KEY_ID=ak\nexport AWS_SECRET_ACCESS_KEY=\"sk\"\n"), 0o600)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	if a, s, err := s3Credentials(cred); a != "ak" || s != "sk" || err != nil {
		t.Fatalf("credentials file: %q %q %v", a, s, err)
	}
	if _, _, err := s3Credentials(""); err == nil {
		t.Fatal("no credentials accepted")
	}
}

// serve --database postgres://… --files s3://…: a message goes in by SFTP and comes out at
// the recipient, with DIR holding only host keys and demo keys.
func TestServeOnPostgresAndS3(t *testing.T) {
	if _, err := exec.LookPath("sftp"); err != nil {
		t.Skip("sftp not installed")
	}
	db := storagetest.DatabaseURL(t)
	s3 := storagetest.S3Bucket(t)
	t.Setenv("AWS_ACCESS_KEY_ID", s3.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3.SecretKey)
	srv := serveInProcess(t, serveFlags{backend: backendFlags{database: db, files: "s3://" + s3.Bucket + "/" + s3.Prefix, s3Endpoint: s3.Endpoint},
		maxConns: -1})
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
		Referentie: "0b3c7e1a-5d2f-4e8b-9a61-7c4d2e9f1a35"}, []byte("<bericht/>"))
	up := t.TempDir()
	os.WriteFile(filepath.Join(up, "goed.xml"), good, 0o600)
	if out, err := sftpRun("gemeente", "put "+up+"/goed.xml /iwmo/aanleveren/\n"); err != nil {
		t.Fatalf("sftp put: %v %s", err, out)
	}
	down := t.TempDir()
	var got []string
	for end := time.Now().Add(time.Minute); len(got) == 0 && time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		sftpRun("aanbieder", "get /iwmo/ophalen/*.ZIP "+down+"/\n")
		got, _ = filepath.Glob(filepath.Join(down, "*.ZIP"))
	}
	if len(got) != 1 {
		t.Fatalf("downloaded %v", got)
	}
	for _, local := range []string{"db", "files"} {
		if _, err := os.Stat(filepath.Join(srv.data, local)); err == nil {
			t.Errorf("DIR/%s exists: the default store was opened as well", local)
		}
	}
	srv.stop()
}

// With the hub's records in PostgreSQL, an offline audit says so instead of opening (and
// creating) an empty store in DIR and vouching for it.
func TestOfflineCommandsRefuseASharedStore(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("KNOOPPUNT_DATABASE_URL", "postgres://knooppunt@db.intern/knooppunt")
	code, _, stderr := runAudit("verify", "--data", dir)
	if code != 1 || !strings.Contains(stderr, "PostgreSQL of S3") || !strings.Contains(stderr, "audit verify") {
		t.Fatalf("audit verify: exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "db")); err == nil {
		t.Fatal("an empty store was made in DIR")
	}
}
