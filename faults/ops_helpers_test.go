package faults

import (
	"crypto/ed25519"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"knooppunt/exchange"
	"knooppunt/loadgen"
)

// needOpenSSH skips a test that drives the real OpenSSH clients when they are missing.
func needOpenSSH(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"ssh", "sftp", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s niet gevonden", tool)
		}
	}
}

// keyFile writes a's private key as OpenSSH reads it.
func keyFile(t *testing.T, dir string, a loadgen.Account) string {
	t.Helper()
	blk, err := ssh.MarshalPrivateKey(ed25519.NewKeyFromSeed(a.Seed), a.Name)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, a.Name+".key")
	if err := os.WriteFile(p, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// seedWithBeheerder makes the beheerder "beheer" (with a fresh key, returned as a key file)
// and the loadgen organisations in a new data directory.
func seedWithBeheerder(t *testing.T, dir, keys string, gemeenten, aanbieders int) (*loadgen.Setup, string) {
	t.Helper()
	key := filepath.Join(keys, "beheer")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	h, err := exchange.Open(exchange.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Bootstrap(strings.TrimSpace(string(pub))); err != nil {
		t.Fatal(err)
	}
	h.Close()
	setup, err := loadgen.Seed(dir, gemeenten, aanbieders)
	if err != nil {
		t.Fatal(err)
	}
	return setup, key
}

// opensshArgs are the options of ssh and sftp against a test server (its port given as
// -p or -P by the caller).
func opensshArgs(key string) []string {
	return []string{"-i", key, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes"}
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// sftpBatch runs OpenSSH sftp with a batch as user.
func sftpBatch(t *testing.T, addr, key, user, batch string, extra ...string) *exec.Cmd {
	t.Helper()
	args := append(opensshArgs(key), extra...)
	args = append(args, "-P", portOf(t, addr), "-b", "-", user+"@127.0.0.1")
	cmd := exec.Command("sftp", args...)
	cmd.Stdin = strings.NewReader(batch)
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	return cmd
}
