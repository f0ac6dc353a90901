package sshserver

// The key stream of chacha20-poly1305@openssh.com comes from golang.org/x/crypto/chacha20,
// which go.mod replaces with the fork in third_party/golang.org/x/crypto: on amd64, AVX-512
// assembly for runs of sixteen blocks and AVX2 for runs of eight, as the CPU has them, the
// generic code for the rest. These tests run that package
// as the SSH layer uses it, in this module so that 'go test ./...' covers the fork: the
// vectors of RFC 8439, and a comparison with the block function written out below.

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math/bits"
	"math/rand"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/crypto/chacha20"
)

// refBlock is the ChaCha20 block function of RFC 8439 section 2.3, written for clarity.
func refBlock(key []byte, counter uint32, nonce []byte) [64]byte {
	var s [16]uint32
	s[0], s[1], s[2], s[3] = 0x61707865, 0x3320646e, 0x79622d32, 0x6b206574
	for i := range 8 {
		s[4+i] = binary.LittleEndian.Uint32(key[4*i:])
	}
	s[12] = counter
	for i := range 3 {
		s[13+i] = binary.LittleEndian.Uint32(nonce[4*i:])
	}
	x := s
	qr := func(a, b, c, d int) {
		x[a] += x[b]
		x[d] = bits.RotateLeft32(x[d]^x[a], 16)
		x[c] += x[d]
		x[b] = bits.RotateLeft32(x[b]^x[c], 12)
		x[a] += x[b]
		x[d] = bits.RotateLeft32(x[d]^x[a], 8)
		x[c] += x[d]
		x[b] = bits.RotateLeft32(x[b]^x[c], 7)
	}
	for range 10 {
		qr(0, 4, 8, 12)
		qr(1, 5, 9, 13)
		qr(2, 6, 10, 14)
		qr(3, 7, 11, 15)
		qr(0, 5, 10, 15)
		qr(1, 6, 11, 12)
		qr(2, 7, 8, 13)
		qr(3, 4, 9, 14)
	}
	var out [64]byte
	for i := range 16 {
		binary.LittleEndian.PutUint32(out[4*i:], x[i]+s[i])
	}
	return out
}

// refXOR encrypts src with the reference, starting at block counter; ok is false when the
// counter would pass 2^32-1 (where the package panics).
func refXOR(key, nonce []byte, counter uint32, src []byte) (out []byte, ok bool) {
	out = make([]byte, len(src))
	for i := 0; i < len(src); i += 64 {
		if uint64(counter)+uint64(i/64) > 1<<32-1 {
			return nil, false
		}
		ks := refBlock(key, counter+uint32(i/64), nonce)
		for j := i; j < min(i+64, len(src)); j++ {
			out[j] = src[j] ^ ks[j-i]
		}
	}
	return out, true
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// words turns the RFC's serialized-state notation (32-bit words in hex) into bytes.
func words(t *testing.T, s string) []byte {
	t.Helper()
	var out []byte
	for _, w := range strings.Fields(s) {
		b := unhex(t, w)
		out = binary.LittleEndian.AppendUint32(out, binary.BigEndian.Uint32(b))
	}
	return out
}

const keyCounting = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

var zeros32 = strings.Repeat("00", 32)

// rfc8439 holds the vectors of RFC 8439: the block function (2.3.2, A.1, as the key stream
// of one block) and encryption (2.4.2, A.2).
var rfc8439 = []struct {
	name, key, nonce string
	counter          uint32
	plain            string // hex; empty for the block vectors: 64 zero bytes
	want             string // hex, or words for the block vectors
	words            bool
}{
	{"2.3.2", keyCounting, "000000090000004a00000000", 1, "",
		`e4e7f110  15593bd1  1fdd0f50  c47120a3 c7f4d1c7  0368c033  9aaa2204  4e6cd4c3
		 466482d2  09aa9f07  05d7c214  a2028bd9 d19c12b5  b94e16de  e883d0cb  4e3c50a2`, true},
	{"A.1 #1", zeros32, "000000000000000000000000", 0, "",
		`ade0b876  903df1a0  e56a5d40  28bd8653 b819d2bd  1aed8da0  ccef36a8  c70d778b
		 7c5941da  8d485751  3fe02477  374ad8b8 f4b8436a  1ca11815  69b687c3  8665eeb2`, true},
	{"A.1 #2", zeros32, "000000000000000000000000", 1, "",
		`bee7079f  7a385155  7c97ba98  0d082d73 a0290fcb  6965e348  3e53c612  ed7aee32
		 7621b729  434ee69c  b03371d5  d539d874 281fed31  45fb0a51  1f0ae1ac  6f4d794b`, true},
	{"A.1 #3", zeros32[:62] + "01", "000000000000000000000000", 1, "",
		`2452eb3a  9249f8ec  8d829d9b  ddd4ceb1 e8252083  60818b01  f38422b8  5aaa49c9
		 bb00ca8e  da3ba7b4  c4b592d1  fdf2732f 4436274e  2561b3c8  ebdd4aa6  a0136c00`, true},
	{"A.1 #4", "00ff" + zeros32[:60], "000000000000000000000000", 2, "",
		`fb4dd572  4bc42ef1  df922636  327f1394 a78dea8f  5e269039  a1bebbc1  caf09aae
		 a25ab213  48a6b46c  1b9d9bcb  092c5be6 546ca624  1bec45d5  87f47473  96f0992e`, true},
	{"A.1 #5", zeros32, "000000000000000000000002", 0, "",
		`374dc6c2  3736d58c  b904e24a  cd3f93ef 88228b1a  96a4dfb3  5b76ab72  c727ee54
		 0e0e978a  f3145c95  1b748ea8  f786c297 99c28f5f  628314e8  398a19fa  6ded1b53`, true},
	{"2.4.2", keyCounting, "000000000000004a00000000", 1,
		hex.EncodeToString([]byte("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.")),
		`6e 2e 35 9a 25 68 f9 80 41 ba 07 28 dd 0d 69 81 e9 7e 7a ec 1d 43 60 c2 0a 27 af cc fd 9f ae 0b
		 f9 1b 65 c5 52 47 33 ab 8f 59 3d ab cd 62 b3 57 16 39 d6 24 e6 51 52 ab 8f 53 0c 35 9f 08 61 d8
		 07 ca 0d bf 50 0d 6a 61 56 a3 8e 08 8a 22 b6 5e 52 bc 51 4d 16 cc f8 06 81 8c e9 1a b7 79 37 36
		 5a f9 0b bf 74 a3 5b e6 b4 0b 8e ed f2 78 5e 42 87 4d`, false},
	{"A.2 #1", zeros32, "000000000000000000000000", 0, strings.Repeat("00", 64),
		`76 b8 e0 ad a0 f1 3d 90 40 5d 6a e5 53 86 bd 28 bd d2 19 b8 a0 8d ed 1a a8 36 ef cc 8b 77 0d c7
		 da 41 59 7c 51 57 48 8d 77 24 e0 3f b8 d8 4a 37 6a 43 b8 f4 15 18 a1 1c c3 87 b6 69 b2 ee 65 86`, false},
	{"A.2 #2", zeros32[:62] + "01", "000000000000000000000002", 1,
		hex.EncodeToString([]byte(`Any submission to the IETF intended by the Contributor for publication as all or part of an IETF Internet-Draft or RFC and any statement made within the context of an IETF activity is considered an "IETF Contribution". Such statements include oral statements in IETF sessions, as well as written and electronic communications made at any time or place, which are addressed to`)),
		`a3 fb f0 7d f3 fa 2f de 4f 37 6c a2 3e 82 73 70 41 60 5d 9f 4f 4f 57 bd 8c ff 2c 1d 4b 79 55 ec
		 2a 97 94 8b d3 72 29 15 c8 f3 d3 37 f7 d3 70 05 0e 9e 96 d6 47 b7 c3 9f 56 e0 31 ca 5e b6 25 0d
		 40 42 e0 27 85 ec ec fa 4b 4b b5 e8 ea d0 44 0e 20 b6 e8 db 09 d8 81 a7 c6 13 2f 42 0e 52 79 50
		 42 bd fa 77 73 d8 a9 05 14 47 b3 29 1c e1 41 1c 68 04 65 55 2a a6 c4 05 b7 76 4d 5e 87 be a8 5a
		 d0 0f 84 49 ed 8f 72 d0 d6 62 ab 05 26 91 ca 66 42 4b c8 6d 2d f8 0e a4 1f 43 ab f9 37 d3 25 9d
		 c4 b2 d0 df b4 8a 6c 91 39 dd d7 f7 69 66 e9 28 e6 35 55 3b a7 6c 5c 87 9d 7b 35 d4 9e b2 e6 2b
		 08 71 cd ac 63 89 39 e2 5e 8a 1e 0e f9 d5 28 0f a8 ca 32 8b 35 1c 3c 76 59 89 cb cf 3d aa 8b 6c
		 cc 3a af 9f 39 79 c9 2b 37 20 fc 88 dc 95 ed 84 a1 be 05 9c 64 99 b9 fd a2 36 e7 e8 18 b0 4b 0b
		 c3 9c 1e 87 6b 19 3b fe 55 69 75 3f 88 12 8c c0 8a aa 9b 63 d1 a1 6f 80 ef 25 54 d7 18 9c 41 1f
		 58 69 ca 52 c5 b8 3f a3 6f f2 16 b9 c1 d3 00 62 be bc fd 2d c5 bc e0 91 19 34 fd a7 9a 86 f6 e6
		 98 ce d7 59 c3 ff 9b 64 77 33 8f 3d a4 f9 cd 85 14 ea 99 82 cc af b3 41 b2 38 4d d9 02 f3 d1 ab
		 7a c6 1d d2 9c 6f 21 ba 5b 86 2f 37 30 e3 7c fd c4 fd 80 6c 22 f2 21`, false},
	{"A.2 #3", "1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0", "000000000000000000000002", 42,
		hex.EncodeToString([]byte("'Twas brillig, and the slithy toves\nDid gyre and gimble in the wabe:\nAll mimsy were the borogoves,\nAnd the mome raths outgrabe.")),
		`62 e6 34 7f 95 ed 87 a4 5f fa e7 42 6f 27 a1 df 5f b6 91 10 04 4c 0d 73 11 8e ff a9 5b 01 e5 cf
		 16 6d 3d f2 d7 21 ca f9 b2 1e 5f b1 4c 61 68 71 fd 84 c5 4f 9d 65 b2 83 19 6c 7f e4 f6 05 53 eb
		 f3 9c 64 02 c4 22 34 e3 2a 35 6b 3e 76 43 12 a6 1a 55 32 05 57 16 ea d6 96 25 68 f8 7d 3f 3f 77
		 04 c6 a8 d1 bc d1 bf 4d 50 d6 15 4b 6d a7 31 b1 87 b5 8d fd 72 8a fa 36 75 7a 79 7a c1 88 d1`, false},
}

func TestChaCha20RFC8439(t *testing.T) {
	for _, v := range rfc8439 {
		key, nonce := unhex(t, v.key), unhex(t, v.nonce)
		plain := make([]byte, 64)
		if v.plain != "" {
			plain = unhex(t, v.plain)
		}
		want := unhex(t, strings.Join(strings.Fields(v.want), ""))
		if v.words {
			want = words(t, v.want)
			if got := refBlock(key, v.counter, nonce); !bytes.Equal(got[:], want) {
				t.Fatalf("%s: the reference block function is wrong", v.name)
			}
		}
		if want2, _ := refXOR(key, nonce, v.counter, plain); !bytes.Equal(want2, want) {
			t.Fatalf("%s: the reference is wrong", v.name)
		}
		// Whole, byte by byte, and in place: each must give the vector.
		for _, mode := range []string{"whole", "bytes", "in place"} {
			c, err := chacha20.NewUnauthenticatedCipher(key, nonce)
			if err != nil {
				t.Fatal(err)
			}
			c.SetCounter(v.counter)
			got := make([]byte, len(plain))
			switch mode {
			case "whole":
				c.XORKeyStream(got, plain)
			case "bytes":
				for i := range plain {
					c.XORKeyStream(got[i:i+1], plain[i:i+1])
				}
			case "in place":
				copy(got, plain)
				c.XORKeyStream(got, got)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s (%s):\n got %x\nwant %x", v.name, mode, got, want)
			}
		}
	}
}

// xorChunks encrypts src with c in pieces of random size (the package buffers the unused
// key stream between calls), in place or not, and returns the result.
func xorChunks(rng *rand.Rand, c *chacha20.Cipher, src []byte, inPlace bool) []byte {
	off := rng.Intn(64) // dst unaligned against src and against the allocation
	dst := make([]byte, len(src)+off)[off:]
	if inPlace {
		copy(dst, src)
		src = dst
	}
	for i := 0; i < len(src); {
		n := len(src) - i
		switch rng.Intn(4) {
		case 0:
			n = min(n, rng.Intn(70))
		case 1:
			n = min(n, rng.Intn(1200))
		}
		c.XORKeyStream(dst[i:i+n], src[i:i+n])
		i += n
	}
	return dst
}

// TestChaCha20MatchesReference compares the package (on amd64 the assembly for runs of
// 8 and 16 blocks) with refXOR over every length up to 1100 bytes and larger ones, random keys,
// nonces and counters, split into random pieces, unaligned and in place.
func TestChaCha20MatchesReference(t *testing.T) {
	rng := rand.New(rand.NewSource(17))
	lengths := []int{4096, 32*1024 - 1, 32 * 1024, 32*1024 + 53, 255*1024 + 13, 1 << 20}
	for n := range 1101 {
		lengths = append(lengths, n)
	}
	for i, n := range lengths {
		key, nonce := make([]byte, 32), make([]byte, 12)
		rng.Read(key)
		rng.Read(nonce)
		counter := uint32(rng.Intn(1 << 20))
		if i%3 == 0 {
			counter = rng.Uint32() >> 8
		}
		src := make([]byte, n+1)[1:]
		rng.Read(src)
		want, _ := refXOR(key, nonce, counter, src)
		c, _ := chacha20.NewUnauthenticatedCipher(key, nonce)
		c.SetCounter(counter)
		if got := xorChunks(rng, c, src, i%2 == 0); !bytes.Equal(got, want) {
			t.Fatalf("length %d, counter %d: differs from the reference at byte %d", n, counter, firstDiff(got, want))
		}
	}
}

// TestChaCha20CounterWrap: up to the last block of the 32-bit counter the stream matches the
// reference, whether the last blocks go through the assembly or the generic code; one
// byte more panics, as upstream does.
func TestChaCha20CounterWrap(t *testing.T) {
	rng := rand.New(rand.NewSource(8439))
	key, nonce := make([]byte, 32), make([]byte, 12)
	rng.Read(key)
	rng.Read(nonce)
	for left := 1; left <= 40; left++ { // blocks left before the counter wraps
		counter := uint32(1<<32 - left)
		for _, n := range []int{64 * left, 64*left - 1, 64*(left-1) + 1, rng.Intn(64*left) + 1} {
			src := make([]byte, n)
			rng.Read(src)
			want, ok := refXOR(key, nonce, counter, src)
			if !ok {
				t.Fatalf("reference refused %d bytes at counter %#x", n, counter)
			}
			c, _ := chacha20.NewUnauthenticatedCipher(key, nonce)
			c.SetCounter(counter)
			if got := xorChunks(rng, c, src, n%2 == 0); !bytes.Equal(got, want) {
				t.Fatalf("%d bytes at counter %#x: differs at byte %d", n, counter, firstDiff(got, want))
			}
		}
		c, _ := chacha20.NewUnauthenticatedCipher(key, nonce)
		c.SetCounter(counter)
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%d bytes at counter %#x: no panic past the counter's end", 64*left+1, counter)
				}
			}()
			buf := make([]byte, 64*left+1)
			c.XORKeyStream(buf, buf)
		}()
	}
}

// TestChaCha20EachPath runs the tests above again in a child process with AVX-512 turned
// off (the AVX2 code does every run of eight blocks) and with AVX2 off too (the generic
// code does all): golang.org/x/sys/cpu, which the fork asks, reads GODEBUG.
func TestChaCha20EachPath(t *testing.T) {
	if os.Getenv("KNOOPPUNT_CHACHA_CHILD") != "" {
		t.Skip("in the child")
	}
	for _, godebug := range []string{"cpu.avx512f=off", "cpu.avx512f=off,cpu.avx2=off"} {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestChaCha20(RFC8439|MatchesReference|CounterWrap)$", "-test.v")
		cmd.Env = append(os.Environ(), "GODEBUG="+godebug, "KNOOPPUNT_CHACHA_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil || strings.Count(string(out), "--- PASS") != 3 {
			t.Fatalf("GODEBUG=%s: %v\n%s", godebug, err, out)
		}
	}
}

// FuzzChaCha20 is the comparison with the reference for inputs the fuzzer picks: the key and
// nonce come from seed, the plaintext is msg, split in two at split.
func FuzzChaCha20(f *testing.F) {
	f.Add(uint64(1), uint32(0), []byte("hello"), uint16(2))
	f.Add(uint64(2), uint32(1<<32-20), make([]byte, 20*64), uint16(1000))
	f.Add(uint64(3), uint32(7), make([]byte, 3000), uint16(1025))
	f.Fuzz(func(t *testing.T, seed uint64, counter uint32, msg []byte, split uint16) {
		rng := rand.New(rand.NewSource(int64(seed)))
		key, nonce := make([]byte, 32), make([]byte, 12)
		rng.Read(key)
		rng.Read(nonce)
		want, ok := refXOR(key, nonce, counter, msg)
		if !ok {
			return
		}
		c, _ := chacha20.NewUnauthenticatedCipher(key, nonce)
		c.SetCounter(counter)
		got := make([]byte, len(msg))
		k := min(int(split), len(msg))
		c.XORKeyStream(got[:k], msg[:k])
		c.XORKeyStream(got[k:], msg[k:])
		if !bytes.Equal(got, want) {
			t.Fatalf("%d bytes at counter %#x, split at %d: differs at byte %d", len(msg), counter, k, firstDiff(got, want))
		}
	})
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// BenchmarkChaCha20SSHPacket is the key stream of one chacha20-poly1305@openssh.com packet
// of 32 KB as x/crypto/ssh computes it: a new cipher per packet, 64 bytes for the poly1305
// key, then the packet.
func BenchmarkChaCha20SSHPacket(b *testing.B) {
	key, nonce := make([]byte, 32), make([]byte, 12)
	buf := make([]byte, 32*1024+8)
	b.SetBytes(int64(len(buf)))
	for i := 0; i < b.N; i++ {
		binary.BigEndian.PutUint32(nonce[8:], uint32(i))
		c, _ := chacha20.NewUnauthenticatedCipher(key, nonce)
		var polyKey [64]byte
		c.XORKeyStream(polyKey[:], polyKey[:])
		c.XORKeyStream(buf, buf)
	}
}
