package sshserver

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"testing"
)

func sftpPacket(typ byte, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(1+len(body)))
	return append(append(b, typ), body...)
}

func TestLimitsShimAnswersInitAndLimits(t *testing.T) {
	init := sftpPacket(fxpInit, []byte{0, 0, 0, 3})
	limits := sftpPacket(fxpExtended, appendString([]byte{0, 0, 0, 7}, "limits@openssh.com"))
	open := sftpPacket(3, bytes.Repeat([]byte{9}, 40))
	var out bytes.Buffer
	s := &limitsShim{r: bytes.NewReader(bytes.Join([][]byte{init, limits, open, open}, nil)), w: &out}
	got, err := io.ReadAll(s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, append(bytes.Clone(open), open...)) {
		t.Fatalf("pkg/sftp got %x", got)
	}
	o := out.Bytes()
	v := o[:4+binary.BigEndian.Uint32(o)]
	if v[4] != fxpVersion || !bytes.Contains(v, []byte("limits@openssh.com")) || !bytes.Contains(v, []byte("posix-rename@openssh.com")) {
		t.Fatalf("version %x", v)
	}
	r := o[len(v):]
	if len(r) != 4+1+4+32 || r[4] != fxpExtendedReply || binary.BigEndian.Uint32(r[5:]) != 7 ||
		binary.BigEndian.Uint64(r[9:]) != sftpMaxPacket || binary.BigEndian.Uint64(r[17:]) != sftpMaxData ||
		binary.BigEndian.Uint64(r[33:]) != sftpOpenHandles {
		t.Fatalf("limits reply %x", r)
	}
}

// A client that starts otherwise reaches pkg/sftp untouched, limits request and all.
func TestLimitsShimPassesOtherStarts(t *testing.T) {
	open := sftpPacket(3, []byte{1, 2, 3})
	limits := sftpPacket(fxpExtended, appendString([]byte{0, 0, 0, 7}, "limits@openssh.com"))
	in := append(bytes.Clone(open), limits...)
	var out bytes.Buffer
	got, err := io.ReadAll(&limitsShim{r: bytes.NewReader(in), w: &out})
	if err != nil || !bytes.Equal(got, in) || out.Len() != 0 {
		t.Fatalf("got %x, wrote %x, err %v", got, out.Bytes(), err)
	}
}

// OpenSSH's sftp takes the hub's limits: 255 KB blocks, and a pipeline of as many requests
// as the hub offers handles (sftp -vvv says so).
func TestOpenSSHSftpTakesLimits(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t)
	out, err := th.sftpCmd("aanbieder", th.keys["aanbieder"], "ls /\n", "-vvv").CombinedOutput()
	if err != nil {
		t.Fatalf("sftp: %v\n%s", err, out)
	}
	for _, want := range []string{
		fmt.Sprintf("using %d / %d", sftpMaxData, sftpMaxData),
		fmt.Sprintf("server handle limit %d; using %d", sftpOpenHandles, sftpOpenHandles),
	} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("sftp -vvv does not say %q", want)
		}
	}
}
