package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Build compiles the knooppunt binary into dir and returns its path. moduleDir is the
// module's root (where go.mod is).
func Build(moduleDir, dir string) (string, error) {
	bin := dir + "/knooppunt"
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/knooppunt")
	cmd.Dir = moduleDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
}

// Server is a running knooppunt binary.
type Server struct {
	Addr string
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  bytes.Buffer
	done chan struct{}
}

var listening = regexp.MustCompile(`msg="knooppunt luistert" adres=(\S+)`)

// Start runs `knooppunt serve` on dataDir on a free loopback port, with extra flags if any,
// and waits until it listens.
func Start(bin, dataDir string, flags ...string) (*Server, error) {
	s := &Server{done: make(chan struct{})}
	s.cmd = exec.Command(bin, append([]string{"serve", "--data", dataDir, "--listen", "127.0.0.1:0"}, flags...)...)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	s.cmd.Stdout = io.Discard
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	addr := make(chan string, 1)
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.log.WriteString(line + "\n")
			s.mu.Unlock()
			if m := listening.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case s.Addr = <-addr:
		return s, nil
	case <-s.done:
		s.cmd.Wait()
		return nil, fmt.Errorf("knooppunt stopte bij het starten:\n%s", s.Log())
	case <-time.After(60 * time.Second):
		s.Kill()
		return nil, fmt.Errorf("knooppunt luistert na een minuut nog niet:\n%s", s.Log())
	}
}

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Log is what the server logged so far.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// WaitLog waits until the log has a line containing substr.
func (s *Server) WaitLog(substr string, timeout time.Duration) bool {
	end := time.Now().Add(timeout)
	for time.Now().Before(end) {
		if strings.Contains(s.Log(), substr) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// Kill ends the server with SIGKILL, as a power cut would.
func (s *Server) Kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.cmd.Wait()
}

// Signal sends sig to the server; Wait then waits for it to end.
func (s *Server) Signal(sig os.Signal) error { return s.cmd.Process.Signal(sig) }

// Wait waits for the server to end by itself (after a Signal) and returns how it ended.
func (s *Server) Wait() error {
	<-s.done
	return s.cmd.Wait()
}

// Stop ends the server with SIGTERM and waits for its clean stop.
func (s *Server) Stop() error {
	s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.done
	err := s.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("knooppunt: %w\n%s", err, s.Log())
	}
	return err
}

// LoadAverage is the machine's load average over the last minute, from /proc/loadavg: how
// busy the machine was besides the run being measured.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

// Usage is a process's resident memory and CPU time, from /proc.
type Usage struct {
	RSS, PeakRSS int64 // bytes
	CPU          time.Duration
}

// ProcUsage reads /proc/<pid>/status and /proc/<pid>/stat.
func ProcUsage(pid int) (Usage, error) {
	var u Usage
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	for _, line := range strings.Split(string(st), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			u.RSS = kb << 10
		case "VmHWM:":
			u.PeakRSS = kb << 10
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	rest := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(rest) > 12 {
		ut, _ := strconv.ParseInt(rest[11], 10, 64)
		stt, _ := strconv.ParseInt(rest[12], 10, 64)
		u.CPU = time.Duration(ut+stt) * time.Second / 100 // USER_HZ is 100 on Linux
	}
	return u, nil
}
