package tui

import (
	"bytes"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	gossh "golang.org/x/crypto/ssh"
)

// liveHeap is the Go heap in use after a collection: what the process keeps, not garbage
// waiting for the next cycle.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// rss is the process's resident set in bytes, from /proc (0 where there is none): reported
// beside the heap, which is what the test holds to its budget, since the runtime keeps
// freed memory for a while.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestHugePtyDoesNotGrowHub opens a terminal session of 5000×5000 through the real SSH
// server, as an attacker with one account did to grow the hub by 2.6 GB, resizes it to the
// same at window-change, and checks that the session keeps at most 10 MB of heap while it
// is open.
func TestHugePtyDoesNotGrowHub(t *testing.T) {
	w := newWorld(t)
	w.seed()
	ln := w.serveSSH()
	pem, err := os.ReadFile(w.keyFile("gemeente"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.ParsePrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := gossh.Dial("tcp", ln.Addr().String(), &gossh.ClientConfig{User: "gemeente",
		Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)}, HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	before, rssBefore := liveHeap(), rss()

	// Sample the heap while the session starts and redraws, for its peak.
	var peak uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()

	sess, err := conn.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out := &screenBuffer{}
	sess.Stdout = out
	stdin, err := sess.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestPty("xterm-256color", 5000, 5000, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	out.waitFor(t, "Aanleveren")
	if err := sess.WindowChange(4999, 4999); err != nil {
		t.Fatal(err)
	}
	// A key makes the portal draw again, at the size it was told last.
	drawn := out.len()
	stdin.Write([]byte("\t"))
	deadline := time.Now().Add(time.Minute)
	for out.len() == drawn {
		if time.Now().After(deadline) {
			t.Fatal("the portal did not draw again after a key")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	<-sampled
	open := liveHeap()
	const budget = 10 << 20
	grown := int64(open) - int64(before)
	t.Logf("5000×5000 pty: live heap %+.1f MB with the session open, peak %+.1f MB, process RSS %+.1f MB, %d bytes on the screen",
		float64(grown)/(1<<20), float64(int64(peak)-int64(before))/(1<<20), float64(rss()-rssBefore)/(1<<20), out.len())
	if grown > budget {
		t.Errorf("a 5000×5000 session keeps %.1f MB of heap, the budget is 10 MB", float64(grown)/(1<<20))
	}
	// The peak also holds garbage not yet collected, of this session and of the hub's own
	// work meanwhile (7 MB here, 10 MB under -race): it gets twice the budget, which still
	// catches the 236 MB of a 1000×1000 window drawn as asked.
	if p := int64(peak) - int64(before); p > 2*budget {
		t.Errorf("a 5000×5000 session peaked at %.1f MB of heap, more than twice the budget of 10 MB", float64(p)/(1<<20))
	}
	stdin.Write([]byte("q"))
}

// screenBuffer collects what a session writes, for a test to wait for a text.
type screenBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *screenBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *screenBuffer) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

func (s *screenBuffer) waitFor(t *testing.T, text string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		s.mu.Lock()
		found := bytes.Contains(s.b.Bytes(), []byte(text))
		s.mu.Unlock()
		if found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the screen never showed %q", text)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var _ io.Writer = (*screenBuffer)(nil)

// TestInBandWindowSizeIsBoundedToo: a client can report its size in its input (the in-band
// resize of mode 2048) instead of a window-change; the filter bounds every size message.
func TestInBandWindowSizeIsBoundedToo(t *testing.T) {
	got := sessionFilter(nil, tea.WindowSizeMsg{Width: 5000, Height: 5000})
	if got != (tea.WindowSizeMsg{Width: maxWidth, Height: maxHeight}) {
		t.Fatalf("5000×5000 became %v", got)
	}
	if got := sessionFilter(nil, tea.WindowSizeMsg{Width: 80, Height: 24}); got != (tea.WindowSizeMsg{Width: 80, Height: 24}) {
		t.Fatalf("80×24 became %v", got)
	}
	if _, ok := sessionFilter(nil, tea.SuspendMsg{}).(tea.ResumeMsg); !ok {
		t.Fatal("a suspend is not turned into a resume")
	}
}
