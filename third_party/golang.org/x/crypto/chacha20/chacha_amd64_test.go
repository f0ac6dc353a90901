// Copyright 2026 The knooppunt authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

// Added by knooppunt's fork (see the README at the root of the fork).

//go:build gc && !purego

package chacha20

import (
	"bytes"
	"math/rand"
	"testing"
	"time"
)

// withAsm runs f with the AVX-512 code on or off (the AVX2 code on), and
// skips when the CPU lacks what that needs.
func withAsm(t testing.TB, avx512 bool, f func()) {
	if !useAVX2 || avx512 && !useAVX512 {
		t.Skip("CPU without AVX2 or AVX-512")
	}
	old := useAVX512
	useAVX512 = avx512
	defer func() { useAVX512 = old }()
	f()
}

// TestAsmMatchesGeneric compares xorKeyStreamBlocks (AVX-512 for runs of 16
// blocks, AVX2 for runs of 8, as the CPU has them) with
// xorKeyStreamBlocksGeneric over random keys, nonces and counters, whole
// buffers of 8..72 blocks, offsets that unalign src and dst, and in place.
func TestAsmMatchesGeneric(t *testing.T) {
	t.Run("avx512", func(t *testing.T) { withAsm(t, true, func() { asmMatchesGeneric(t) }) })
	t.Run("avx2", func(t *testing.T) { withAsm(t, false, func() { asmMatchesGeneric(t) }) })
}

func asmMatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 2000; i++ {
		key, nonce := make([]byte, KeySize), make([]byte, NonceSize)
		rng.Read(key)
		rng.Read(nonce)
		counter := rng.Uint32()
		blocks := 8 * (1 + rng.Intn(9))
		if i%4 == 0 {
			// Up to the last counter value, so that the counter wraps to 0 after.
			counter = uint32(1<<32 - blocks - rng.Intn(3))
		}
		off := rng.Intn(64)
		src := make([]byte, off+blocks*blockSize)[off:]
		rng.Read(src)
		a, _ := NewUnauthenticatedCipher(key, nonce)
		b, _ := NewUnauthenticatedCipher(key, nonce)
		a.counter, b.counter = counter, counter
		want := make([]byte, len(src))
		a.xorKeyStreamBlocksGeneric(want, src)
		got := make([]byte, len(src)+off+1)[off+1:]
		if i%2 == 0 {
			got = append(got[:0], src...) // in place
			b.xorKeyStreamBlocks(got, got)
		} else {
			b.xorKeyStreamBlocks(got, src)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("counter %#x, %d blocks: key streams differ", counter, blocks)
		}
		if a.counter != b.counter {
			t.Fatalf("counter %#x, %d blocks: counter after %#x, want %#x", counter, blocks, b.counter, a.counter)
		}
	}
}

func benchmarkBlocks(b *testing.B, generic bool) {
	c, _ := NewUnauthenticatedCipher(make([]byte, KeySize), make([]byte, NonceSize))
	buf := make([]byte, 32*1024)
	b.SetBytes(int64(len(buf)))
	for i := 0; i < b.N; i++ {
		c.counter = 0
		if generic {
			c.xorKeyStreamBlocksGeneric(buf, buf)
		} else {
			c.xorKeyStreamBlocks(buf, buf)
		}
	}
}

func BenchmarkBlocks32K(b *testing.B) {
	b.Run("generic", func(b *testing.B) { benchmarkBlocks(b, true) })
	b.Run("amd64", func(b *testing.B) { benchmarkBlocks(b, false) })
}

// BenchmarkBlocksSideBySide alternates the generic, the AVX2 and the AVX-512
// code on 32 KB and reports the fastest run of each, so that a loaded machine
// weighs on all three alike.
func BenchmarkBlocksSideBySide(b *testing.B) {
	if !useAVX2 || !useAVX512 {
		b.Skip("CPU without AVX2 or AVX-512")
	}
	c, _ := NewUnauthenticatedCipher(make([]byte, KeySize), make([]byte, NonceSize))
	buf := make([]byte, 32*1024)
	best := [3]time.Duration{1 << 62, 1 << 62, 1 << 62}
	defer func() { useAVX512 = true }()
	for i := 0; i < b.N; i++ {
		for k := range best {
			c.counter = 0
			useAVX512 = k == 2
			t0 := time.Now()
			if k == 0 {
				c.xorKeyStreamBlocksGeneric(buf, buf)
			} else {
				c.xorKeyStreamBlocks(buf, buf)
			}
			best[k] = min(best[k], time.Since(t0))
		}
	}
	mbs := func(d time.Duration) float64 { return float64(len(buf)) / d.Seconds() / 1e6 }
	b.ReportMetric(mbs(best[0]), "generic-MB/s")
	b.ReportMetric(mbs(best[1]), "avx2-MB/s")
	b.ReportMetric(mbs(best[2]), "avx512-MB/s")
}
