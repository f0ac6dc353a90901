package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestServeFlags(t *testing.T) {
	t.Setenv("KNOOPPUNT_DATA", "")
	t.Setenv("KNOOPPUNT_LISTEN", "")
	for _, tc := range []struct {
		args         []string
		env          map[string]string
		data, listen string
	}{
		{nil, nil, "./knooppunt-data", ":2222"},
		{[]string{"--demo"}, nil, "./knooppunt-data", "127.0.0.1:2222"},
		{[]string{"--demo", "--listen", ":2200"}, nil, "./knooppunt-data", ":2200"},
		{nil, map[string]string{"KNOOPPUNT_DATA": "/srv/kp", "KNOOPPUNT_LISTEN": "10.0.0.1:22"}, "/srv/kp", "10.0.0.1:22"},
		{[]string{"--data", "/x"}, map[string]string{"KNOOPPUNT_DATA": "/srv/kp"}, "/x", ":2222"},
	} {
		for k, v := range tc.env {
			t.Setenv(k, v)
		}
		f, err := parseServe(tc.args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if f.data != tc.data || f.listen != tc.listen {
			t.Errorf("%v %v: data %q listen %q, want %q %q", tc.args, tc.env, f.data, f.listen, tc.data, tc.listen)
		}
		for k := range tc.env {
			t.Setenv(k, "")
		}
	}
	if _, err := parseServe([]string{"extra"}, io.Discard); err == nil {
		t.Error("a stray argument was accepted")
	}
	var stderr bytes.Buffer
	if code := run([]string{"serve", "--bogus"}, io.Discard, &stderr); code != 2 {
		t.Errorf("unknown flag: exit %d, want 2", code)
	}
	if code := run([]string{"bogus"}, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), "onbekende opdracht") {
		t.Errorf("unknown command: exit %d, %q", code, stderr.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSecondProcessOnTheSameDataSaysWhatToDo(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runServer(ctx, serveFlags{data: dir, listen: "127.0.0.1:0", demo: true}, &out, slog.New(slog.DiscardHandler))
	}()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "sftp -i") {
		if time.Now().After(deadline) {
			t.Fatal("server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var stderr bytes.Buffer
	code := run([]string{"serve", "--data", dir, "--listen", "127.0.0.1:0", "--admin-key", "/dev/null"}, io.Discard, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "in gebruik") || !strings.Contains(stderr.String(), "ssh -p") || !strings.Contains(stderr.String(), "beheer@") {
		t.Fatalf("second serve: exit %d, %q", code, stderr.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The host keys outlive the server, and the hostkeys command shows them.
	var keys bytes.Buffer
	if code := run([]string{"hostkeys", "--data", dir}, &keys, io.Discard); code != 0 {
		t.Fatalf("hostkeys: exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(keys.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "SHA256:") || !strings.HasSuffix(lines[0], "(ED25519)") || !strings.HasPrefix(lines[1], "3072 SHA256:") {
		t.Fatalf("hostkeys printed %q", keys.String())
	}
	if code := run([]string{"hostkeys", "--data", t.TempDir()}, io.Discard, io.Discard); code != 1 {
		t.Fatalf("hostkeys without keys: exit %d, want 1", code)
	}
}

// TestBinary drives the real binary: demo start, an sftp session per the printed command,
// a restart that reuses everything, and SIGTERM.
func TestBinary(t *testing.T) {
	for _, tool := range []string{"sftp", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	bin := filepath.Join(t.TempDir(), "knooppunt")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v %s", err, out)
	}
	dir := t.TempDir()
	first := startBinary(t, bin, dir)
	second := startBinary(t, bin, dir)
	if first != second {
		t.Fatalf("a second start printed other demo commands:\n%s\n%s", first, second)
	}
}

func startBinary(t *testing.T, bin, dir string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "serve", "--demo", "--data", dir)
	cmd.Env = append(os.Environ(), "KNOOPPUNT_LISTEN="+addr)
	stdout, _ := cmd.StdoutPipe()
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var demo strings.Builder
	var sftpLine string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		demo.WriteString(line + "\n")
		if strings.HasPrefix(strings.TrimSpace(line), "sftp -i") && strings.Contains(line, "gemeente@") {
			sftpLine = strings.TrimSpace(line)
		}
		if strings.Contains(line, "beheer@") && strings.Contains(line, "help") {
			break
		}
	}
	if sftpLine == "" {
		t.Fatalf("no sftp command printed; stdout %q stderr %q", demo.String(), stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	args := append(strings.Fields(sftpLine)[1:len(strings.Fields(sftpLine))-1],
		"-F", "/dev/null", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-b", "-", strings.Fields(sftpLine)[len(strings.Fields(sftpLine))-1])
	sftp := exec.Command("sftp", args...)
	sftp.Stdin = strings.NewReader("ls -1 /\n")
	sftp.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	out, err := sftp.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "pgb-jw") {
		t.Fatalf("%s: %v %s\nserver: %s", sftpLine, err, out, stderr.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "knooppunt gestopt") || !strings.Contains(stderr.String(), "vingerafdruk=SHA256:") {
		t.Fatalf("log: %s", stderr.String())
	}
	_, port, _ := net.SplitHostPort(addr)
	return strings.ReplaceAll(demo.String(), port, "PORT")
}
