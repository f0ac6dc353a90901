package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"knooppunt/hostkeys"
	"knooppunt/storage/storagetest"
)

// node is a serve process of a hub with several nodes, in this test process.
type node struct {
	addr string
	data string
	stop func()
}

// startNode runs serve on the given backend with a data directory of its own, and waits
// until it accepts connections.
func startNode(t *testing.T, b backendFlags) node {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	f := serveFlags{data: t.TempDir(), listen: addr, backend: b, maxConns: -1}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runServer(ctx, f, &syncBuffer{}, slog.New(slog.DiscardHandler)) }()
	for end := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("node did not start: %v", err)
		default:
		}
		if time.Now().After(end) {
			cancel()
			t.Fatal("node did not start within a minute")
		}
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(stop)
	return node{addr: addr, data: f.data, stop: stop}
}

// presentedKey is the host key addr shows for the algorithm, taken during the handshake.
func presentedKey(t *testing.T, addr, alg string) string {
	t.Helper()
	var got string
	errSeen := errors.New("host key seen")
	_, err := gossh.Dial("tcp", addr, &gossh.ClientConfig{User: "niemand", HostKeyAlgorithms: []string{alg},
		HostKeyCallback: func(_ string, _ net.Addr, key gossh.PublicKey) error {
			got = gossh.FingerprintSHA256(key)
			return errSeen
		}, Timeout: 20 * time.Second})
	if !errors.Is(err, errSeen) {
		t.Fatalf("%s at %s: %v", alg, addr, err)
	}
	return got
}

// Two nodes started at once on one database present the same host keys, and a node started
// later on it too; none of them keeps a key in its data directory.
func TestNodesShareHostKeys(t *testing.T) {
	db := storagetest.DatabaseURL(t)
	b := backendFlags{database: db}
	nodes := make([]node, 2)
	started := make(chan int, 2)
	for i := range nodes {
		go func() { nodes[i] = startNode(t, b); started <- i }()
	}
	<-started
	<-started
	nodes = append(nodes, startNode(t, b))
	for _, alg := range []string{gossh.KeyAlgoED25519, gossh.KeyAlgoRSASHA256} {
		want := presentedKey(t, nodes[0].addr, alg)
		for i, n := range nodes[1:] {
			if got := presentedKey(t, n.addr, alg); got != want {
				t.Errorf("%s: node %d presents %s, node 0 %s", alg, i+1, got, want)
			}
		}
	}
	for _, n := range nodes {
		if keys, err := hostkeysInDir(n.data); err == nil {
			t.Errorf("host keys in %s: %v", n.data, keys)
		}
	}
}

func hostkeysInDir(data string) ([]string, error) {
	keys, err := hostkeys.Read(data)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range keys {
		out = append(out, k.Path)
	}
	return out, nil
}
