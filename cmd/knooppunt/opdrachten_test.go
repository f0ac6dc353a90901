package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeWrongFlagAnswersInDutch: a wrong option of serve is named in Dutch, followed by
// the usage, with exit code 2; none of the flag package's English reaches the person.
func TestServeWrongFlagAnswersInDutch(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--bogus"}, "onbekende optie --bogus"},
		{[]string{"serve", "--listen"}, "optie --listen heeft een waarde nodig"},
		{[]string{"serve", "--demo=misschien"}, "ongeldige waarde"},
	} {
		var stderr bytes.Buffer
		code := run(tc.args, io.Discard, &stderr)
		out := stderr.String()
		if code != 2 || !strings.Contains(out, tc.want) || !strings.Contains(out, "Gebruik:\n  knooppunt serve") ||
			strings.Contains(out, "flag provided") || strings.Contains(out, "Usage") || strings.Contains(out, "needs an argument") {
			t.Errorf("%q: exit %d\n%s", tc.args, code, out)
		}
	}
	// --compat-libssh2 is still accepted (a no-op), --strict-crypto is an option.
	if _, err := parseServe([]string{"--compat-libssh2", "--strict-crypto"}, io.Discard); err != nil {
		t.Fatalf("--compat-libssh2 --strict-crypto: %v", err)
	}
}

// TestVersieShowsTheCommit builds the binary from a git checkout of this tree (a fresh
// repository from 'git ls-files', so that the worktree this test may run in does not matter)
// and checks that 'knooppunt versie' names the commit it was built from.
func TestVersieShowsTheCommit(t *testing.T) {
	for _, tool := range []string{"git", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	root, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	src := strings.TrimSpace(string(root))
	repo := t.TempDir()
	files, err := exec.Command("git", "-C", src, "ls-files", "-z").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Split(strings.TrimRight(string(files), "\x00"), "\x00") {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			continue // deleted in the working tree
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(repo, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=test", "-c", "user.email=test@example.org"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %q: %v %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-q", "-m", "versie")
	head := git("rev-parse", "HEAD")

	bin := filepath.Join(t.TempDir(), "knooppunt")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, "./cmd/knooppunt")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v %s", err, out)
	}
	out, err := exec.Command(bin, "versie").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "revisie "+head) {
		t.Fatalf("knooppunt versie: %v %q, want revisie %s", err, out, head)
	}

	// Built without version control information: "onbekend".
	plain := filepath.Join(t.TempDir(), "knooppunt")
	build = exec.Command("go", "build", "-buildvcs=false", "-o", plain, "./cmd/knooppunt")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v %s", err, out)
	}
	if out, err := exec.Command(plain, "versie").CombinedOutput(); err != nil || !strings.Contains(string(out), "revisie onbekend") {
		t.Fatalf("knooppunt versie without vcs: %v %q", err, out)
	}
}
