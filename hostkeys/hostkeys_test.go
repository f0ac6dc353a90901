package hostkeys

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadCreatesOnceAndReuses(t *testing.T) {
	dir := t.TempDir()
	first, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 2 || first[0].Type != "ED25519" || first[1].Type != "RSA" {
		t.Fatalf("keys = %+v", first)
	}
	if first[1].Bits < 3072 {
		t.Fatalf("RSA key has %d bits, want >= 3072", first[1].Bits)
	}
	for _, k := range first {
		st, err := os.Stat(k.Path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", k.Path, st.Mode().Perm())
		}
	}
	again, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range first {
		if first[i].Fingerprint() != again[i].Fingerprint() {
			t.Errorf("%s fingerprint changed on reload: %s -> %s", first[i].Type, first[i].Fingerprint(), again[i].Fingerprint())
		}
	}
}

func TestRSAOffersOnlySHA2(t *testing.T) {
	keys, err := Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	type algs interface{ Algorithms() []string }
	a, ok := keys[1].Signer.(algs)
	if !ok {
		t.Fatal("RSA signer does not restrict its algorithms")
	}
	for _, alg := range a.Algorithms() {
		if alg == "ssh-rsa" {
			t.Fatalf("RSA host key offers SHA-1 signatures: %v", a.Algorithms())
		}
	}
}

func TestFingerprintMatchesSSHKeygen(t *testing.T) {
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Skip("ssh-keygen not installed")
	}
	keys, err := Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		out, err := exec.Command(keygen, "-lf", k.Path).Output()
		if err != nil {
			t.Fatalf("ssh-keygen -lf %s: %v", k.Path, err)
		}
		if got := strings.TrimSpace(string(out)); got != k.String() {
			t.Errorf("ssh-keygen says %q, we say %q", got, k.String())
		}
	}
}

func TestUnreadableKeyIsNotReplaced(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(Dir(dir), 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(Dir(dir), "ssh_host_ed25519_key")
	if err := os.WriteFile(path, []byte("rommel"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "onleesbaar") {
		t.Fatalf("Load over a broken key: err = %v, want an 'onleesbaar' error", err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "rommel" {
		t.Fatal("a broken host key was overwritten")
	}
}

func TestReadWithoutKeys(t *testing.T) {
	if _, err := Read(t.TempDir()); err == nil {
		t.Fatal("Read of an empty data dir succeeded")
	}
}
