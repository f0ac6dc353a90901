// Copyright 2026 The knooppunt authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

// Added by knooppunt's fork of golang.org/x/crypto (see the README at the
// root of the fork): ChaCha20 (RFC 8439) with AVX2, eight blocks at a time.
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
