package main

import (
	"log/slog"
	"net"
	"testing"
)

// TestTUIOptions: the portal's sftp commands name the port the server really bound (also
// for --listen :0) and the host of --listen when it names one; a wildcard leaves the host to
// each session (the address its client reached).
func TestTUIOptions(t *testing.T) {
	bound := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 41234}
	for listen, host := range map[string]string{
		"127.0.0.1:0":         "127.0.0.1",
		"hub.example.nl:2222": "hub.example.nl",
		":2222":               "",
		"0.0.0.0:2222":        "",
		"[::]:2222":           "",
		"[2001:db8::1]:2222":  "2001:db8::1",
	} {
		o := tuiOptions(slog.Default(), listen, bound)
		if o.Port != 41234 || o.Host != host {
			t.Errorf("%s: host %q port %d, want %q 41234", listen, o.Host, o.Port, host)
		}
	}
}
