// The interpreter's handlers, shared by its two loops: the whole
// interpreter's (interpreter.cpp) and the filter loop (interpreter_filter.cpp).
// The handler ids are generated from isa.h's lists, and so are the bodies of
// the specialised handlers both loops run, written here once.
#pragma once

#include <cstdint>

#include "byte_order.h"
#include "netcpu/isa.h"

namespace netcpu {

inline uint64_t load_be(const uint8_t* p, unsigned width_log) {
  switch (width_log) {
    case 0:
      return p[0];
    case 1:
      return be::load16(p);
    case 2:
      return be::load32(p);
    default:
      return be::load64(p);
  }
}

inline bool in_bounds(uint64_t addr, uint64_t width, uint64_t size) {
  return addr <= size && width <= size - addr;
}

// The handlers, generated from isa.h's lists the way the kernel's
// BPF_INSN_MAP lists its opcodes once: one generic handler per opcode (any
// operand kinds), then specialised forms that skip operand decoding. Each
// arithmetic op (NETCPU_ALU) gets _RI (gpr, immediate) and _RR (gpr, gpr);
// each condition (NETCPU_CONDITIONS, NETCPU_BIT_CONDITIONS) gets _RI, _RR and
// _MI (mapped register, immediate); the loads get one handler per width, for
// a packet address that is a constant (_RP) or a gpr plus a displacement
// (_RX). The enum below, interpreter.cpp's selection and label tables, the
// filter loop's label table and the handlers all expand these lists.
// X(bits, log2 of bytes, extra arguments...)
#define NETCPU_WIDTHS(X, ...) \
  X(8, 0, __VA_ARGS__) X(16, 1, __VA_ARGS__) X(32, 2, __VA_ARGS__) X(64, 3, __VA_ARGS__)
#define NETCPU_MOVES(X) X(MOV_RI, Reg, Imm) X(MOV_RR, Reg, Reg) X(MOV_RM, Reg, Mapped)
#define NETCPU_CMPS(X) X(CMP_RI, Reg, Imm) X(CMP_MI, Mapped, Imm)
// Table ops on a number key (_N): a table whose functions take one (hash and
// lru tables with keys of at most 8 bytes, arrays) and values of at most 8
// bytes; the key a gpr, a constant or an 8-byte mapped register; the value
// (update, tadd) a gpr or a constant; lookup's destination a gpr.
#define NETCPU_TABLE_FORMS(X) X(LOOKUP) X(UPDATE) X(TADD)
// The same on a plain hash table (its probe Table::WordProbe) with the key in
// a gpr: the handler probes with no operand decoding and no test of the
// table's way. X(form, op, the kind of the other operand: lookup's
// destination, the value of update and tadd).
#define NETCPU_WORD_TABLE_FORMS(X) \
  X(LOOKUP_W, LOOKUP, Reg)         \
  X(UPDATE_WR, UPDATE, Reg) X(UPDATE_WI, UPDATE, Imm) X(TADD_WR, TADD, Reg) X(TADD_WI, TADD, Imm)

enum HandlerId : uint16_t {
#define NETCPU_H(name, mn, a, b, t, x, f, s) H_##name,
  NETCPU_OPCODES(NETCPU_H)
#undef NETCPU_H
#define NETCPU_ALU_ID(op, expr) H_##op##_RI, H_##op##_RR,
      NETCPU_ALU(NETCPU_ALU_ID)
#undef NETCPU_ALU_ID
#define NETCPU_COND_ID(op, jop, cond) H_##op##_RI, H_##op##_RR, H_##op##_MI,
          NETCPU_CONDITIONS(NETCPU_COND_ID)
#undef NETCPU_COND_ID
#define NETCPU_BIT_ID(op, cond) H_##op##_RI, H_##op##_RR, H_##op##_MI,
              NETCPU_BIT_CONDITIONS(NETCPU_BIT_ID)
#undef NETCPU_BIT_ID
#define NETCPU_LOAD_ID(bits, w, ...) H_MOV_RP##bits, H_MOV_RX##bits,
                  NETCPU_WIDTHS(NETCPU_LOAD_ID, )
#undef NETCPU_LOAD_ID
#define NETCPU_SIMPLE_ID(name, ka, kb) H_##name,
                      NETCPU_MOVES(NETCPU_SIMPLE_ID) NETCPU_CMPS(NETCPU_SIMPLE_ID)
#undef NETCPU_SIMPLE_ID
#define NETCPU_FUSED_ID(bits, w, op) H_MOV_RP##bits##_##op, H_MOV_RX##bits##_##op,
#define NETCPU_COND_FUSED_ID(op, jop, cond) NETCPU_WIDTHS(NETCPU_FUSED_ID, op)
#define NETCPU_BIT_FUSED_ID(op, cond) NETCPU_WIDTHS(NETCPU_FUSED_ID, op)
                          NETCPU_CONDITIONS(NETCPU_COND_FUSED_ID)
                              NETCPU_BIT_CONDITIONS(NETCPU_BIT_FUSED_ID)
#undef NETCPU_BIT_FUSED_ID
#undef NETCPU_COND_FUSED_ID
#undef NETCPU_FUSED_ID
#define NETCPU_TABLE_ID(op) H_##op##_N,
                                  NETCPU_TABLE_FORMS(NETCPU_TABLE_ID)
#undef NETCPU_TABLE_ID
#define NETCPU_WORD_TABLE_ID(form, op, other) H_##form,
                                      NETCPU_WORD_TABLE_FORMS(NETCPU_WORD_TABLE_ID)
#undef NETCPU_WORD_TABLE_ID
                                          H_Count
};

// The forms the filter loop runs: what classic BPF has (gpr arithmetic,
// packet loads, compares and branches of gprs, jumps, pass and drop), in
// their specialised handlers. A program made of nothing else touches no state
// but its gprs.
constexpr bool is_filter_form(uint16_t id) {
  switch (id) {
    case H_PASS:
    case H_DROP:
    case H_END:
    case H_JMP:
    case H_NOP:
    case H_MOV_RI:
    case H_MOV_RR:
#define NETCPU_ALU_CASE(op, expr) \
  case H_##op##_RI:               \
  case H_##op##_RR:
      NETCPU_ALU(NETCPU_ALU_CASE)
#undef NETCPU_ALU_CASE
#define NETCPU_COND_CASE(op, jop, cond) \
  case H_##op##_RI:                     \
  case H_##op##_RR:
      NETCPU_CONDITIONS(NETCPU_COND_CASE)
#undef NETCPU_COND_CASE
#define NETCPU_BIT_CASE(op, cond) \
  case H_##op##_RI:               \
  case H_##op##_RR:
      NETCPU_BIT_CONDITIONS(NETCPU_BIT_CASE)
#undef NETCPU_BIT_CASE
#define NETCPU_LOAD_CASE(bits, w, ...) \
  case H_MOV_RP##bits:                 \
  case H_MOV_RX##bits:
      NETCPU_WIDTHS(NETCPU_LOAD_CASE, )
#undef NETCPU_LOAD_CASE
#define NETCPU_FUSED_CASE(bits, w, op) \
  case H_MOV_RP##bits##_##op:          \
  case H_MOV_RX##bits##_##op:
#define NETCPU_COND_FUSED_CASE(op, jop, cond) NETCPU_WIDTHS(NETCPU_FUSED_CASE, op)
#define NETCPU_BIT_FUSED_CASE(op, cond) NETCPU_WIDTHS(NETCPU_FUSED_CASE, op)
      NETCPU_CONDITIONS(NETCPU_COND_FUSED_CASE)
      NETCPU_BIT_CONDITIONS(NETCPU_BIT_FUSED_CASE)
#undef NETCPU_BIT_FUSED_CASE
#undef NETCPU_COND_FUSED_CASE
#undef NETCPU_FUSED_CASE
      return true;
    default:
      return false;
  }
}

// The bodies of the filter forms but pass, drop, end and jmp, for a loop to
// expand with NETCPU_FILTER_FORM_HANDLERS. The loop names its gprs r, the
// decoded instruction d (DecodedInsn), the packet pkt and its length len,
// and its first (decoded), and defines DISPATCH() (count the instruction
// at d and go to its handler), STEP_TO_NEXT() (d to the next instruction,
// counted, without dispatching to it), SX(v) (signed) and a label
// packet_fault. d is the program counter: NEXT() goes on at the next
// instruction, JUMP_IF(cond) at d->target if cond holds.
#define NEXT()  \
  do {          \
    ++d;        \
    DISPATCH(); \
  } while (0)
#define JUMP_IF(cond)                         \
  do {                                        \
    d = (cond) ? decoded + d->target : d + 1; \
    DISPATCH();                               \
  } while (0)
// A load at the gpr b plus the displacement, whose sum may be anything, and
// at a constant offset, which fits() took only below 2^63: adding the width
// cannot wrap, so one compare checks it.
// Each leaves what it loaded in `loaded` too.
#define NETCPU_LOAD(at, w)                                   \
  do {                                                       \
    const uint64_t addr = (at);                              \
    if (!pkt || !in_bounds(addr, 1u << w, len)) [[unlikely]] \
      goto packet_fault;                                     \
    r[d->a] = loaded = load_be(pkt + addr, w);               \
  } while (0)
#define NETCPU_LOAD_CONSTANT(w)                        \
  do {                                                 \
    if (!pkt || d->imm + (1u << w) > len) [[unlikely]] \
      goto packet_fault;                               \
    r[d->a] = loaded = load_be(pkt + d->imm, w);       \
  } while (0)
#define NETCPU_ALU_FORMS(op, expr)           \
  L_##op##_RI : {                            \
    const uint64_t x = r[d->a], y = d->imm;  \
    r[d->a] = (expr);                        \
    NEXT();                                  \
  }                                          \
  L_##op##_RR : {                            \
    const uint64_t x = r[d->a], y = r[d->b]; \
    r[d->a] = (expr);                        \
    NEXT();                                  \
  }
#define NETCPU_BRANCH_FORMS(op, cond)        \
  L_##op##_RI : {                            \
    const uint64_t x = r[d->a], y = d->imm;  \
    JUMP_IF(cond);                           \
  }                                          \
  L_##op##_RR : {                            \
    const uint64_t x = r[d->a], y = r[d->b]; \
    JUMP_IF(cond);                           \
  }
#define NETCPU_COND_FORMS(op, jop, cond) NETCPU_BRANCH_FORMS(op, cond)
// Packet loads, one handler per width: at a constant offset (RP), or at a
// gpr plus a displacement (RX); then each fused with the branch after it,
// which is the next instruction's dispatch written out in line.
#define NETCPU_LOAD_FORMS(bits, w, ...) \
  L_MOV_RP##bits : {                    \
    uint64_t loaded;                    \
    NETCPU_LOAD_CONSTANT(w);            \
    NEXT();                             \
  }                                     \
  L_MOV_RX##bits : {                    \
    uint64_t loaded;                    \
    NETCPU_LOAD(d->imm + r[d->b], w);   \
    NEXT();                             \
  }
// (The branch compares the gpr loaded: x is the value loaded.)
#define NETCPU_FUSED_FORMS(bits, w, op, cond) \
  L_MOV_RP##bits##_##op : {                   \
    uint64_t loaded;                          \
    NETCPU_LOAD_CONSTANT(w);                  \
    STEP_TO_NEXT();                           \
    const uint64_t x = loaded, y = d->imm;    \
    JUMP_IF(cond);                            \
  }                                           \
  L_MOV_RX##bits##_##op : {                   \
    uint64_t loaded;                          \
    NETCPU_LOAD(d->imm + r[d->b], w);         \
    STEP_TO_NEXT();                           \
    const uint64_t x = loaded, y = d->imm;    \
    JUMP_IF(cond);                            \
  }
#define NETCPU_COND_FUSED_FORMS(op, jop, cond) NETCPU_WIDTHS(NETCPU_FUSED_FORMS, op, cond)
#define NETCPU_BIT_FUSED_FORMS(op, cond) NETCPU_WIDTHS(NETCPU_FUSED_FORMS, op, cond)
#define NETCPU_FILTER_FORM_HANDLERS          \
  L_MOV_RI:                                  \
  r[d->a] = d->imm;                          \
  NEXT();                                    \
  L_MOV_RR:                                  \
  r[d->a] = r[d->b];                         \
  NEXT();                                    \
  NETCPU_ALU(NETCPU_ALU_FORMS)               \
  NETCPU_CONDITIONS(NETCPU_COND_FORMS)       \
  NETCPU_BIT_CONDITIONS(NETCPU_BRANCH_FORMS) \
  NETCPU_WIDTHS(NETCPU_LOAD_FORMS, )         \
  NETCPU_CONDITIONS(NETCPU_COND_FUSED_FORMS) \
  NETCPU_BIT_CONDITIONS(NETCPU_BIT_FUSED_FORMS)

}  // namespace netcpu
