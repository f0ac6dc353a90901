// Copyright 2026 The knooppunt authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

// Added by knooppunt's fork of golang.org/x/crypto (see the README at the
// root of the fork): ChaCha20 (RFC 8439) with AVX2, eight blocks at a time,
// and with AVX-512, sixteen blocks at a time (xorKeyStreamAVX512, below).
//
// Layout: register Yi holds state word i of eight consecutive blocks, one
// 32-bit lane per block (lane k has block counter counter+k). Sixteen state
// words and one temporary for the 12- and 7-bit rotations are one register
// too many, so one state word at a time lives in the stack slot SPILL: x15
// during the column round, x12 during most of the diagonal round. The 16- and
// 8-bit rotations are byte shuffles (VPSHUFB), the others two shifts and an OR.
// After the 20 rounds the initial state is added, the 16x8 matrix of words
// is transposed into eight 64-byte blocks and XORed with src.

//go:build gc && !purego

#include "textflag.h"

// Stack frame: the initial state of the eight blocks, one 32-byte vector per
// word (STATE+32*i), the spill slot, and room for words 8..15 while words
// 0..7 are written out.
#define STATE 0
#define SPILL 512
#define HIGH 544

// QR(a, b, c, d, t) is one quarter round on the registers a, b, c, d,
// using t as temporary.
#define QR(a, b, c, d, t) \
	VPADDD b, a, a; VPXOR a, d, d; VPSHUFB rol16<>(SB), d, d; \
	VPADDD d, c, c; VPXOR c, b, b; VPSLLD $12, b, t; VPSRLD $20, b, b; VPOR t, b, b; \
	VPADDD b, a, a; VPXOR a, d, d; VPSHUFB rol8<>(SB), d, d; \
	VPADDD d, c, c; VPXOR c, b, b; VPSLLD $7, b, t; VPSRLD $25, b, b; VPOR t, b, b

// TRANSPOSE(a, b, c, d, t0, t1, t2, t3) turns four registers holding words
// w..w+3 of blocks 0..7 into four whose low halves hold words w..w+3 of
// blocks 0, 1, 2, 3 and whose high halves hold those of blocks 4, 5, 6, 7.
#define TRANSPOSE(a, b, c, d, t0, t1, t2, t3) \
	VPUNPCKLDQ b, a, t0; VPUNPCKHDQ b, a, t1; \
	VPUNPCKLDQ d, c, t2; VPUNPCKHDQ d, c, t3; \
	VPUNPCKLQDQ t2, t0, a; VPUNPCKHQDQ t2, t0, b; \
	VPUNPCKLQDQ t3, t1, c; VPUNPCKHQDQ t3, t1, d

// OUT(lo, hi, off) XORs 32 bytes of block j (from the low halves of lo, hi)
// and of block j+4 (the high halves) with src and stores them; off is the
// offset of the block j's 32 bytes.
#define OUT(lo, hi, off) \
	VPERM2I128 $0x20, hi, lo, Y8; VPXOR off(SI), Y8, Y8; VMOVDQU Y8, off(DI); \
	VPERM2I128 $0x31, hi, lo, Y9; VPXOR (off+256)(SI), Y9, Y9; VMOVDQU Y9, (off+256)(DI)

// func xorKeyStreamAVX2(dst, src *byte, blocks int, key *[8]uint32, nonce *[3]uint32, counter *uint32)
TEXT ·xorKeyStreamAVX2(SB), 0, $800-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ blocks+16(FP), CX
	MOVQ key+24(FP), AX
	MOVQ nonce+32(FP), BX
	MOVQ counter+40(FP), DX

	// The initial state, each word broadcast to the eight lanes.
	VPBROADCASTD sigma<>+0(SB), Y0
	VMOVDQU Y0, (STATE+0)(SP)
	VPBROADCASTD sigma<>+4(SB), Y0
	VMOVDQU Y0, (STATE+32)(SP)
	VPBROADCASTD sigma<>+8(SB), Y0
	VMOVDQU Y0, (STATE+64)(SP)
	VPBROADCASTD sigma<>+12(SB), Y0
	VMOVDQU Y0, (STATE+96)(SP)
	VPBROADCASTD 0(AX), Y0
	VMOVDQU Y0, (STATE+128)(SP)
	VPBROADCASTD 4(AX), Y0
	VMOVDQU Y0, (STATE+160)(SP)
	VPBROADCASTD 8(AX), Y0
	VMOVDQU Y0, (STATE+192)(SP)
	VPBROADCASTD 12(AX), Y0
	VMOVDQU Y0, (STATE+224)(SP)
	VPBROADCASTD 16(AX), Y0
	VMOVDQU Y0, (STATE+256)(SP)
	VPBROADCASTD 20(AX), Y0
	VMOVDQU Y0, (STATE+288)(SP)
	VPBROADCASTD 24(AX), Y0
	VMOVDQU Y0, (STATE+320)(SP)
	VPBROADCASTD 28(AX), Y0
	VMOVDQU Y0, (STATE+352)(SP)
	VPBROADCASTD (DX), Y0
	VPADDD lanes<>(SB), Y0, Y0
	VMOVDQU Y0, (STATE+384)(SP)
	VPBROADCASTD 0(BX), Y0
	VMOVDQU Y0, (STATE+416)(SP)
	VPBROADCASTD 4(BX), Y0
	VMOVDQU Y0, (STATE+448)(SP)
	VPBROADCASTD 8(BX), Y0
	VMOVDQU Y0, (STATE+480)(SP)

loop:
	VMOVDQU (STATE+0)(SP), Y0
	VMOVDQU (STATE+32)(SP), Y1
	VMOVDQU (STATE+64)(SP), Y2
	VMOVDQU (STATE+96)(SP), Y3
	VMOVDQU (STATE+128)(SP), Y4
	VMOVDQU (STATE+160)(SP), Y5
	VMOVDQU (STATE+192)(SP), Y6
	VMOVDQU (STATE+224)(SP), Y7
	VMOVDQU (STATE+256)(SP), Y8
	VMOVDQU (STATE+288)(SP), Y9
	VMOVDQU (STATE+320)(SP), Y10
	VMOVDQU (STATE+352)(SP), Y11
	VMOVDQU (STATE+384)(SP), Y12
	VMOVDQU (STATE+416)(SP), Y13
	VMOVDQU (STATE+448)(SP), Y14
	VMOVDQU (STATE+480)(SP), Y15
	VMOVDQU Y15, SPILL(SP)
	MOVQ $10, R8

rounds:
	// Column round; x15 is in SPILL, Y15 is free.
	QR(Y0, Y4, Y8, Y12, Y15)
	QR(Y1, Y5, Y9, Y13, Y15)
	QR(Y2, Y6, Y10, Y14, Y15)
	VMOVDQU SPILL(SP), Y15
	VMOVDQU Y12, SPILL(SP)
	QR(Y3, Y7, Y11, Y15, Y12)

	// Diagonal round; x12 is in SPILL, Y12 is free until the last quarter.
	QR(Y0, Y5, Y10, Y15, Y12)
	QR(Y2, Y7, Y8, Y13, Y12)
	QR(Y3, Y4, Y9, Y14, Y12)
	VMOVDQU SPILL(SP), Y12
	VMOVDQU Y15, SPILL(SP)
	QR(Y1, Y6, Y11, Y12, Y15)

	DECQ R8
	JNZ  rounds

	// Add the initial state.
	VPADDD (STATE+0)(SP), Y0, Y0
	VPADDD (STATE+32)(SP), Y1, Y1
	VPADDD (STATE+64)(SP), Y2, Y2
	VPADDD (STATE+96)(SP), Y3, Y3
	VPADDD (STATE+128)(SP), Y4, Y4
	VPADDD (STATE+160)(SP), Y5, Y5
	VPADDD (STATE+192)(SP), Y6, Y6
	VPADDD (STATE+224)(SP), Y7, Y7
	VPADDD (STATE+256)(SP), Y8, Y8
	VPADDD (STATE+288)(SP), Y9, Y9
	VPADDD (STATE+320)(SP), Y10, Y10
	VPADDD (STATE+352)(SP), Y11, Y11
	VPADDD (STATE+384)(SP), Y12, Y12
	VPADDD (STATE+416)(SP), Y13, Y13
	VPADDD (STATE+448)(SP), Y14, Y14
	VMOVDQU SPILL(SP), Y15
	VPADDD (STATE+480)(SP), Y15, Y15

	// Words 8..15 wait on the stack while words 0..7 are written.
	VMOVDQU Y8, (HIGH+0)(SP)
	VMOVDQU Y9, (HIGH+32)(SP)
	VMOVDQU Y10, (HIGH+64)(SP)
	VMOVDQU Y11, (HIGH+96)(SP)
	VMOVDQU Y12, (HIGH+128)(SP)
	VMOVDQU Y13, (HIGH+160)(SP)
	VMOVDQU Y14, (HIGH+192)(SP)
	VMOVDQU Y15, (HIGH+224)(SP)
	TRANSPOSE(Y0, Y1, Y2, Y3, Y8, Y9, Y10, Y11)
	TRANSPOSE(Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11)
	OUT(Y0, Y4, 0)
	OUT(Y1, Y5, 64)
	OUT(Y2, Y6, 128)
	OUT(Y3, Y7, 192)
	VMOVDQU (HIGH+0)(SP), Y0
	VMOVDQU (HIGH+32)(SP), Y1
	VMOVDQU (HIGH+64)(SP), Y2
	VMOVDQU (HIGH+96)(SP), Y3
	VMOVDQU (HIGH+128)(SP), Y4
	VMOVDQU (HIGH+160)(SP), Y5
	VMOVDQU (HIGH+192)(SP), Y6
	VMOVDQU (HIGH+224)(SP), Y7
	TRANSPOSE(Y0, Y1, Y2, Y3, Y8, Y9, Y10, Y11)
	TRANSPOSE(Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11)
	OUT(Y0, Y4, 32)
	OUT(Y1, Y5, 96)
	OUT(Y2, Y6, 160)
	OUT(Y3, Y7, 224)

	// The next eight blocks.
	VMOVDQU (STATE+384)(SP), Y0
	VPADDD  eight<>(SB), Y0, Y0
	VMOVDQU Y0, (STATE+384)(SP)
	ADDQ    $512, SI
	ADDQ    $512, DI
	SUBQ    $8, CX
	JNZ     loop

	MOVQ blocks+16(FP), CX
	ADDL CX, (DX)
	VZEROUPPER
	RET

// The constant words 0..3, "expand 32-byte k".
DATA sigma<>+0(SB)/4, $0x61707865
DATA sigma<>+4(SB)/4, $0x3320646e
DATA sigma<>+8(SB)/4, $0x79622d32
DATA sigma<>+12(SB)/4, $0x6b206574
GLOBL sigma<>(SB), RODATA|NOPTR, $16

// VPSHUFB masks that rotate each 32-bit word left by 16 and by 8 bits.
DATA rol16<>+0(SB)/8, $0x0504070601000302
DATA rol16<>+8(SB)/8, $0x0d0c0f0e09080b0a
DATA rol16<>+16(SB)/8, $0x0504070601000302
DATA rol16<>+24(SB)/8, $0x0d0c0f0e09080b0a
GLOBL rol16<>(SB), RODATA|NOPTR, $32

DATA rol8<>+0(SB)/8, $0x0605040702010003
DATA rol8<>+8(SB)/8, $0x0e0d0c0f0a09080b
DATA rol8<>+16(SB)/8, $0x0605040702010003
DATA rol8<>+24(SB)/8, $0x0e0d0c0f0a09080b
GLOBL rol8<>(SB), RODATA|NOPTR, $32

// The counter offsets of the eight lanes, and the step between passes.
DATA lanes<>+0(SB)/8, $0x0000000100000000
DATA lanes<>+8(SB)/8, $0x0000000300000002
DATA lanes<>+16(SB)/8, $0x0000000500000004
DATA lanes<>+24(SB)/8, $0x0000000700000006
GLOBL lanes<>(SB), RODATA|NOPTR, $32

DATA eight<>+0(SB)/8, $0x0000000800000008
DATA eight<>+8(SB)/8, $0x0000000800000008
DATA eight<>+16(SB)/8, $0x0000000800000008
DATA eight<>+24(SB)/8, $0x0000000800000008
GLOBL eight<>(SB), RODATA|NOPTR, $32

// xorKeyStreamAVX512 is xorKeyStreamAVX2 with AVX-512 (AVX512F): sixteen
// blocks per pass, one 32-bit lane of a Z register per block. With 32
// registers and VPROLD there is nothing to spill and every rotation is one
// instruction; the four quarter rounds of a round go step by step together.

// ARX4 is one step of four quarter rounds at once: x += y; z ^= x; z <<<= r
// for each of the four triples (x, y, z).
#define ARX4(x0, y0, z0, x1, y1, z1, x2, y2, z2, x3, y3, z3, r) \
	VPADDD y0, x0, x0; VPADDD y1, x1, x1; VPADDD y2, x2, x2; VPADDD y3, x3, x3; \
	VPXORD x0, z0, z0; VPXORD x1, z1, z1; VPXORD x2, z2, z2; VPXORD x3, z3, z3; \
	VPROLD $r, z0, z0; VPROLD $r, z1, z1; VPROLD $r, z2, z2; VPROLD $r, z3, z3

// QR4 is four quarter rounds on (a0, b0, c0, d0) .. (a3, b3, c3, d3).
#define QR4(a0, b0, c0, d0, a1, b1, c1, d1, a2, b2, c2, d2, a3, b3, c3, d3) \
	ARX4(a0, b0, d0, a1, b1, d1, a2, b2, d2, a3, b3, d3, 16); \
	ARX4(c0, d0, b0, c1, d1, b1, c2, d2, b2, c3, d3, b3, 12); \
	ARX4(a0, b0, d0, a1, b1, d1, a2, b2, d2, a3, b3, d3, 8); \
	ARX4(c0, d0, b0, c1, d1, b1, c2, d2, b2, c3, d3, b3, 7)

// TRANSPOSE512 is TRANSPOSE on Z registers: within each 128-bit lane L, words
// w..w+3 of blocks 4L..4L+3 end up in a, b, c, d (block 4L+0 in a, ...).
#define TRANSPOSE512(a, b, c, d, t0, t1, t2, t3) \
	VPUNPCKLDQ b, a, t0; VPUNPCKHDQ b, a, t1; \
	VPUNPCKLDQ d, c, t2; VPUNPCKHDQ d, c, t3; \
	VPUNPCKLQDQ t2, t0, a; VPUNPCKHQDQ t2, t0, b; \
	VPUNPCKLQDQ t3, t1, c; VPUNPCKHQDQ t3, t1, d

// OUT512(a, b, c, d, off): a, b, c, d hold words 0..3, 4..7, 8..11, 12..15 of
// blocks r, 4+r, 8+r, 12+r in their lanes 0..3; gather each block's four
// lanes, XOR it with src and store it (off is block r's offset).
#define OUT512(a, b, c, d, off) \
	VSHUFI32X4 $0x44, b, a, Z20; VSHUFI32X4 $0xee, b, a, Z21; \
	VSHUFI32X4 $0x44, d, c, Z22; VSHUFI32X4 $0xee, d, c, Z23; \
	VSHUFI32X4 $0x88, Z22, Z20, Z24; VPXORD off(SI), Z24, Z24; VMOVDQU32 Z24, off(DI); \
	VSHUFI32X4 $0xdd, Z22, Z20, Z25; VPXORD (off+256)(SI), Z25, Z25; VMOVDQU32 Z25, (off+256)(DI); \
	VSHUFI32X4 $0x88, Z23, Z21, Z26; VPXORD (off+512)(SI), Z26, Z26; VMOVDQU32 Z26, (off+512)(DI); \
	VSHUFI32X4 $0xdd, Z23, Z21, Z27; VPXORD (off+768)(SI), Z27, Z27; VMOVDQU32 Z27, (off+768)(DI)

// func xorKeyStreamAVX512(dst, src *byte, blocks int, key *[8]uint32, nonce *[3]uint32, counter *uint32)
TEXT ·xorKeyStreamAVX512(SB), 0, $1024-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ blocks+16(FP), CX
	MOVQ key+24(FP), AX
	MOVQ nonce+32(FP), BX
	MOVQ counter+40(FP), DX

	// The initial state on the stack, each word broadcast to the sixteen lanes.
	VPBROADCASTD sigma<>+0(SB), Z0
	VMOVDQU32 Z0, 0(SP)
	VPBROADCASTD sigma<>+4(SB), Z0
	VMOVDQU32 Z0, 64(SP)
	VPBROADCASTD sigma<>+8(SB), Z0
	VMOVDQU32 Z0, 128(SP)
	VPBROADCASTD sigma<>+12(SB), Z0
	VMOVDQU32 Z0, 192(SP)
	VPBROADCASTD 0(AX), Z0
	VMOVDQU32 Z0, 256(SP)
	VPBROADCASTD 4(AX), Z0
	VMOVDQU32 Z0, 320(SP)
	VPBROADCASTD 8(AX), Z0
	VMOVDQU32 Z0, 384(SP)
	VPBROADCASTD 12(AX), Z0
	VMOVDQU32 Z0, 448(SP)
	VPBROADCASTD 16(AX), Z0
	VMOVDQU32 Z0, 512(SP)
	VPBROADCASTD 20(AX), Z0
	VMOVDQU32 Z0, 576(SP)
	VPBROADCASTD 24(AX), Z0
	VMOVDQU32 Z0, 640(SP)
	VPBROADCASTD 28(AX), Z0
	VMOVDQU32 Z0, 704(SP)
	VPBROADCASTD (DX), Z0
	VPADDD lanes16<>(SB), Z0, Z0
	VMOVDQU32 Z0, 768(SP)
	VPBROADCASTD 0(BX), Z0
	VMOVDQU32 Z0, 832(SP)
	VPBROADCASTD 4(BX), Z0
	VMOVDQU32 Z0, 896(SP)
	VPBROADCASTD 8(BX), Z0
	VMOVDQU32 Z0, 960(SP)

loop512:
	VMOVDQU32 0(SP), Z0
	VMOVDQU32 64(SP), Z1
	VMOVDQU32 128(SP), Z2
	VMOVDQU32 192(SP), Z3
	VMOVDQU32 256(SP), Z4
	VMOVDQU32 320(SP), Z5
	VMOVDQU32 384(SP), Z6
	VMOVDQU32 448(SP), Z7
	VMOVDQU32 512(SP), Z8
	VMOVDQU32 576(SP), Z9
	VMOVDQU32 640(SP), Z10
	VMOVDQU32 704(SP), Z11
	VMOVDQU32 768(SP), Z12
	VMOVDQU32 832(SP), Z13
	VMOVDQU32 896(SP), Z14
	VMOVDQU32 960(SP), Z15
	MOVQ $10, R8

rounds512:
	QR4(Z0, Z4, Z8, Z12, Z1, Z5, Z9, Z13, Z2, Z6, Z10, Z14, Z3, Z7, Z11, Z15)
	QR4(Z0, Z5, Z10, Z15, Z1, Z6, Z11, Z12, Z2, Z7, Z8, Z13, Z3, Z4, Z9, Z14)
	DECQ R8
	JNZ  rounds512

	VPADDD 0(SP), Z0, Z0
	VPADDD 64(SP), Z1, Z1
	VPADDD 128(SP), Z2, Z2
	VPADDD 192(SP), Z3, Z3
	VPADDD 256(SP), Z4, Z4
	VPADDD 320(SP), Z5, Z5
	VPADDD 384(SP), Z6, Z6
	VPADDD 448(SP), Z7, Z7
	VPADDD 512(SP), Z8, Z8
	VPADDD 576(SP), Z9, Z9
	VPADDD 640(SP), Z10, Z10
	VPADDD 704(SP), Z11, Z11
	VPADDD 768(SP), Z12, Z12
	VPADDD 832(SP), Z13, Z13
	VPADDD 896(SP), Z14, Z14
	VPADDD 960(SP), Z15, Z15
	TRANSPOSE512(Z0, Z1, Z2, Z3, Z16, Z17, Z18, Z19)
	TRANSPOSE512(Z4, Z5, Z6, Z7, Z16, Z17, Z18, Z19)
	TRANSPOSE512(Z8, Z9, Z10, Z11, Z16, Z17, Z18, Z19)
	TRANSPOSE512(Z12, Z13, Z14, Z15, Z16, Z17, Z18, Z19)
	OUT512(Z0, Z4, Z8, Z12, 0)
	OUT512(Z1, Z5, Z9, Z13, 64)
	OUT512(Z2, Z6, Z10, Z14, 128)
	OUT512(Z3, Z7, Z11, Z15, 192)

	VMOVDQU32 768(SP), Z0
	VPADDD    sixteen<>(SB), Z0, Z0
	VMOVDQU32 Z0, 768(SP)
	ADDQ      $1024, SI
	ADDQ      $1024, DI
	SUBQ      $16, CX
	JNZ       loop512

	MOVQ blocks+16(FP), CX
	ADDL CX, (DX)
	VZEROUPPER
	RET

DATA lanes16<>+0(SB)/8, $0x0000000100000000
DATA lanes16<>+8(SB)/8, $0x0000000300000002
DATA lanes16<>+16(SB)/8, $0x0000000500000004
DATA lanes16<>+24(SB)/8, $0x0000000700000006
DATA lanes16<>+32(SB)/8, $0x0000000900000008
DATA lanes16<>+40(SB)/8, $0x0000000b0000000a
DATA lanes16<>+48(SB)/8, $0x0000000d0000000c
DATA lanes16<>+56(SB)/8, $0x0000000f0000000e
GLOBL lanes16<>(SB), RODATA|NOPTR, $64

DATA sixteen<>+0(SB)/8, $0x0000001000000010
DATA sixteen<>+8(SB)/8, $0x0000001000000010
DATA sixteen<>+16(SB)/8, $0x0000001000000010
DATA sixteen<>+24(SB)/8, $0x0000001000000010
DATA sixteen<>+32(SB)/8, $0x0000001000000010
DATA sixteen<>+40(SB)/8, $0x0000001000000010
DATA sixteen<>+48(SB)/8, $0x0000001000000010
DATA sixteen<>+56(SB)/8, $0x0000001000000010
GLOBL sixteen<>(SB), RODATA|NOPTR, $64
