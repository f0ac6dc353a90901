package sshserver

import (
	"encoding/binary"
	"io"
)

// SFTP packet types and sizes the limits shim uses.
const (
	fxpInit          = 1
	fxpVersion       = 2
	fxpExtended      = 200
	fxpExtendedReply = 201

	// sftpMaxPacket is pkg/sftp's largest incoming packet; sftpMaxData the data of a read
	// or write that fits in it, as OpenSSH's own server offers (256 KB less 1 KB).
	sftpMaxPacket = 256 * 1024
	sftpMaxData   = sftpMaxPacket - 1024

	// sftpOpenHandles is what the limits reply offers as open handles. OpenSSH's sftp sizes
	// its pipeline by it (sftp-client.c: at most 64 requests, scaled down to the server's
	// handle limit), so it decides how far the hub may run ahead of that client: 4 reads of
	// 255 KB, 1 MB in flight. With 64 (OpenSSH's default) the hub fills the client's whole
	// 2 MB channel window, and the client's ssh then spends its time growing and moving its
	// buffer towards sftp instead of decrypting: 4× the page faults, get at 0.65–0.73× of
	// internal-sftp, which by being slower never gets that far ahead. With 4: get ≥ 1.0×,
	// put unchanged (BENCHMARKS.md). The hub does not refuse a fifth handle (no other client
	// here, pkg/sftp, rclone, lftp, curl, paramiko, reads the field); it refuses the 65th
	// (DefaultMaxHandlesPerSession, handles.go).
	sftpOpenHandles = 4
)

// limitsShim answers the start of an SFTP session itself: the INIT, with a VERSION that
// also offers limits@openssh.com, and that extension's request. pkg/sftp knows neither, and
// without limits OpenSSH's sftp reads and writes in 32 KB requests; with them it uses 255 KB
// ones, as against OpenSSH's own server, in far fewer SFTP and SSH packets. The first other
// packet goes to pkg/sftp unchanged and so does everything after it, so the shim never
// writes while pkg/sftp does.
type limitsShim struct {
	r       io.Reader // the channel
	w       io.Writer // where pkg/sftp writes too
	pending []byte    // a packet read here that is pkg/sftp's
	through bool
}

// sftpExtensionsOffered are pkg/sftp's own (v1.13.12), with limits@openssh.com.
var sftpExtensionsOffered = [][2]string{
	{"hardlink@openssh.com", "1"},
	{"posix-rename@openssh.com", "1"},
	{"statvfs@openssh.com", "2"},
	{"limits@openssh.com", "1"},
}

func (s *limitsShim) Read(p []byte) (int, error) {
	for !s.through && len(s.pending) == 0 {
		if err := s.next(); err != nil {
			return 0, err
		}
	}
	if len(s.pending) > 0 {
		n := copy(p, s.pending)
		s.pending = s.pending[n:]
		return n, nil
	}
	return s.r.Read(p)
}

// next reads one packet and answers it, or hands it on and stops looking.
func (s *limitsShim) next() error {
	var hdr [4]byte
	if _, err := io.ReadFull(s.r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > 4096 {
		// Not INIT or limits; pkg/sftp judges it.
		s.pending, s.through = hdr[:], true
		return nil
	}
	pkt := make([]byte, 4+n)
	copy(pkt, hdr[:])
	if _, err := io.ReadFull(s.r, pkt[4:]); err != nil {
		return err
	}
	body := pkt[4:]
	switch {
	case body[0] == fxpInit:
		_, err := s.w.Write(versionPacket())
		return err
	case body[0] == fxpExtended && len(body) >= 9:
		id := body[1:5]
		if name, ok := sftpString(body[5:]); ok && name == "limits@openssh.com" {
			_, err := s.w.Write(limitsReply(id))
			return err
		}
	}
	s.pending, s.through = pkt, true
	return nil
}

func sftpString(b []byte) (string, bool) {
	if len(b) < 4 {
		return "", false
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return "", false
	}
	return string(b[4 : 4+n]), true
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func framed(body []byte) []byte {
	binary.BigEndian.PutUint32(body, uint32(len(body)-4))
	return body
}

func versionPacket() []byte {
	b := []byte{0, 0, 0, 0, fxpVersion, 0, 0, 0, 3}
	for _, e := range sftpExtensionsOffered {
		b = appendString(appendString(b, e[0]), e[1])
	}
	return framed(b)
}

func limitsReply(id []byte) []byte {
	b := []byte{0, 0, 0, 0, fxpExtendedReply}
	b = append(b, id...)
	b = binary.BigEndian.AppendUint64(b, sftpMaxPacket)   // max packet length
	b = binary.BigEndian.AppendUint64(b, sftpMaxData)     // max read length
	b = binary.BigEndian.AppendUint64(b, sftpMaxData)     // max write length
	b = binary.BigEndian.AppendUint64(b, sftpOpenHandles) // open handles
	return framed(b)
}
