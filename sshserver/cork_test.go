package sshserver

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// writeLog is the network side of a corkConn in these tests: it keeps each write apart.
type writeLog struct {
	net.Conn
	writes [][]byte
}

func (w *writeLog) Write(p []byte) (int, error) {
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

func TestCorkGathersUntilTheLastUncork(t *testing.T) {
	log := &writeLog{}
	c := newCorkConn(log, newCorkBufs())
	c.delay = time.Hour // these tests are about gathering, not about the delay
	c.Write([]byte("los"))
	c.cork()
	c.cork() // a second session of the same connection
	c.Write([]byte("a"))
	c.Write([]byte("b"))
	c.uncork()
	c.Write([]byte("c"))
	if len(log.writes) != 1 {
		t.Fatalf("writes while corked reached the network: %q", log.writes)
	}
	c.uncork()
	if len(log.writes) != 2 || string(log.writes[1]) != "abc" {
		t.Fatalf("writes = %q, want los and one write abc", log.writes)
	}
	if c.buf != nil {
		t.Fatal("an uncorked connection keeps its buffer")
	}
	c.Write([]byte("d"))
	if len(log.writes) != 3 {
		t.Fatalf("an uncorked write waited: %q", log.writes)
	}
}

func TestCorkSendsWhatWouldNotFit(t *testing.T) {
	log := &writeLog{}
	c := newCorkConn(log, newCorkBufs())
	c.delay = time.Hour // these tests are about gathering, not about the delay
	c.cork()
	packet := make([]byte, 33<<10)
	for range corkMax / len(packet) {
		c.Write(packet)
	}
	if len(log.writes) != 0 {
		t.Fatalf("%d writes before the buffer was full", len(log.writes))
	}
	c.Write(packet)
	c.Write(make([]byte, corkMax+1))
	c.uncork()
	var sizes []int
	for _, w := range log.writes {
		sizes = append(sizes, len(w))
	}
	n := corkMax / len(packet) * len(packet)
	if len(sizes) != 3 || sizes[0] != n || sizes[1] != len(packet) || sizes[2] != corkMax+1 {
		t.Fatalf("write sizes = %v, want %d, %d, %d", sizes, n, len(packet), corkMax+1)
	}
}

// A corked writer that waits for the client (window space, a key exchange) must not keep
// from the client what it needs to see first: after corkDelay it gets it anyway, and later
// writes of that cork pass straight through. net.Pipe is unbuffered, so a write that is not
// gathered blocks until it is read.
func TestCorkLetsGoAfterTheDelay(t *testing.T) {
	server, client := net.Pipe()
	defer server.Close()
	defer client.Close()
	c := newCorkConn(server, newCorkBufs())
	c.cork()
	if _, err := c.Write([]byte("kexinit")); err != nil {
		t.Fatal(err)
	}
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, 7)
	if _, err := io.ReadFull(client, got); err != nil || string(got) != "kexinit" {
		t.Fatalf("read %q, %v: the gathered write never left", got, err)
	}
	done := make(chan error, 1)
	go func() { _, err := c.Write([]byte("more")); done <- err }()
	if _, err := io.ReadFull(client, got[:4]); err != nil || string(got[:4]) != "more" {
		t.Fatalf("read %q, %v after the delay", got[:4], err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.uncork()
}

func TestCorkReportsAFailedGatheredWrite(t *testing.T) {
	server, client := net.Pipe()
	c := newCorkConn(server, newCorkBufs())
	c.delay = time.Hour
	client.Close()
	c.cork()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatalf("a gathered write failed at once: %v", err)
	}
	c.uncork()
	if _, err := c.Write([]byte("y")); err == nil {
		t.Fatal("a write after a failed gathered one succeeded")
	}
}
