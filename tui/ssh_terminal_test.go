package tui

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// sshPortal runs OpenSSH ssh against the portal with args before the destination and env
// added, types q after the first screen and returns what the server sent.
func sshPortal(t *testing.T, w *world, ln net.Listener, env []string, args ...string) string {
	t.Helper()
	port := ln.Addr().(*net.TCPAddr).Port
	argv := append([]string{"-F", "/dev/null", "-i", w.keyFile("gemeente"), "-p", fmt.Sprint(port), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"}, args...)
	argv = append(argv, "gemeente@127.0.0.1")
	cmd := exec.Command("ssh", argv...)
	cmd.Env = append(os.Environ(), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "afsluiten") && !strings.Contains(out.String(), "Welkom") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	io.WriteString(stdin, "q")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("ssh %v did not end after q:\n%q", args, out.String())
	}
	return out.String()
}

// TestSSHWithoutTerminal (issue 13, item 9), with OpenSSH ssh: -tt from a pipe asks for a
// 0×0 terminal and still gets the portal at 80×24; TERM=dumb gets no alternate screen;
// without a terminal the welcome says how to get one.
func TestSSHWithoutTerminal(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("ssh is not installed")
	}
	w := newWorld(t)
	ln := serveSSH(t, w, Options{HubName: "knooppunt-test"})

	out := sshPortal(t, w, ln, []string{"TERM=xterm-256color"}, "-tt")
	if !strings.Contains(out, "Aanleveren") || !strings.Contains(out, strings.Repeat("─", 80)) || strings.Contains(out, strings.Repeat("─", 81)) {
		t.Errorf("ssh -tt with a 0×0 terminal did not draw the portal at 80 columns:\n%q", out)
	}
	if !strings.Contains(out, "\x1b[?1049h") {
		t.Errorf("ssh -tt with TERM=xterm-256color got no alternate screen:\n%q", out)
	}

	out = sshPortal(t, w, ln, []string{"TERM=dumb"}, "-tt")
	if !strings.Contains(out, "Aanleveren") {
		t.Errorf("TERM=dumb did not get the portal:\n%q", out)
	}
	if strings.Contains(out, "\x1b[?1049h") {
		t.Errorf("TERM=dumb got the alternate screen:\n%q", out)
	}

	out = sshPortal(t, w, ln, nil, "-T")
	if !strings.Contains(out, "Welkom") || !strings.Contains(out, "ssh -t gemeente@") {
		t.Errorf("the welcome without a terminal does not mention ssh -t:\n%q", out)
	}
}

// syncBuffer is a bytes.Buffer safe for the writer goroutines of exec and a reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
