// Copyright 2026 The knooppunt authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

// This file and chacha_amd64.s are not part of upstream golang.org/x/crypto:
// they were added by knooppunt's fork (third_party/golang.org/x/crypto), see
// the README there.

//go:build gc && !purego

package chacha20

import "golang.org/x/sys/cpu"

// bufSize is eight blocks, what xorKeyStreamAVX2 computes in one pass.
const bufSize = 8 * blockSize

// useAVX2 reports whether the CPU and the OS support AVX2; without it the
// generic code computes every block.
var useAVX2 = cpu.X86.HasAVX2

// useAVX512 reports whether the CPU and the OS support AVX-512 (AVX512F);
// GODEBUG=cpu.avx512f=off turns it off.
var useAVX512 = cpu.X86.HasAVX512F

// xorKeyStreamAVX2 XORs blocks*64 bytes of src with the key stream of key,
// nonce and the counter *counter, writes them to dst and adds blocks to
// *counter. blocks must be a positive multiple of 8; dst and src must overlap
// entirely or not at all. The counter wraps as in xorKeyStreamBlocksGeneric;
// callers ensure that no block is computed past the counter's end. Only call
// it when useAVX2 is set. Implemented in chacha_amd64.s.
//
//go:noescape
func xorKeyStreamAVX2(dst, src *byte, blocks int, key *[8]uint32, nonce *[3]uint32, counter *uint32)

// xorKeyStreamAVX512 is xorKeyStreamAVX2 for a positive multiple of 16 blocks,
// with AVX-512. Only call it when useAVX512 is set.
//
//go:noescape
func xorKeyStreamAVX512(dst, src *byte, blocks int, key *[8]uint32, nonce *[3]uint32, counter *uint32)

func (c *Cipher) xorKeyStreamBlocks(dst, src []byte) {
	if len(dst) != len(src) || len(dst)%blockSize != 0 {
		panic("chacha20: internal error: wrong dst and/or src length")
	}
	if n := len(src) - len(src)%(2*bufSize); useAVX512 && n > 0 {
		xorKeyStreamAVX512(&dst[0], &src[0], n/blockSize, &c.key, &c.nonce, &c.counter)
		dst, src = dst[n:], src[n:]
	}
	if n := len(src) - len(src)%bufSize; useAVX2 && n > 0 {
		xorKeyStreamAVX2(&dst[0], &src[0], n/blockSize, &c.key, &c.nonce, &c.counter)
		dst, src = dst[n:], src[n:]
	}
	if len(src) > 0 {
		c.xorKeyStreamBlocksGeneric(dst, src)
	}
}
