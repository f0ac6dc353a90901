// Package hostkeys keeps the hub's SSH host keys in its data directory: created once, reused
// on every start, so clients that pinned the fingerprint keep trusting the hub.
//
// Where each word lives: a host key (hostsleutel) and its fingerprint (Key, Fingerprint), the
// directory they live in (Dir), made or read at start (Load) or only read (Read, for
// knooppunt hostkeys), all in hostkeys.go.
package hostkeys
