// The interpreter: threaded dispatch (computed goto) over handlers chosen per
// instruction at load time. Common shapes (register/immediate ALU, compare and
// branch on registers, mapped registers and packet loads) get handlers that
// skip operand decoding; everything else runs through generic operand access.
// Packet, out buffer and indexed heap accesses are bounds-checked here; the
// verifier has proven the rest. Nothing here allocates.
#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>

#include "byte_order.h"
#include "instance_impl.h"
#include "interpreter_state.h"
#include "jit.h"
#include "netcpu/checksum.h"
#include "netcpu/clock.h"
#include "netcpu/vm.h"
#include "output.h"

namespace netcpu {

namespace {

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

inline uint64_t load_host(const uint8_t* p, unsigned width_log) {
  uint64_t v = 0;
  std::memcpy(&v, p, size_t{1} << width_log);  // little-endian hosts: low bytes
  return v;
}

inline void store_be(uint8_t* p, unsigned width_log, uint64_t v) {
  be::store_n(p, v, 1u << width_log);
}

inline void store_host(uint8_t* p, unsigned width_log, uint64_t v) {
  std::memcpy(p, &v, size_t{1} << width_log);
}

inline bool in_bounds(uint64_t addr, uint64_t width, uint64_t size) {
  return addr <= size && width <= size - addr;
}

}  // namespace

// The specialised shapes, defined once: X(NAME, opcode, kind of a, kind of
// b). An instruction of that opcode whose operands have those kinds gets
// the handler L_NAME below, which skips operand decoding; the first shape
// that matches wins. (MOV_RP, a register loaded from the packet at a
// constant offset in network order, adds its own condition in
// select_handler.) The enum, the selection and the label table are generated
// from this list, the way the kernel's BPF_INSN_MAP lists its opcodes once.
#define NETCPU_SHAPES(X)      \
  X(MOV_RI, MOV, Reg, Imm)    \
  X(MOV_RR, MOV, Reg, Reg)    \
  X(MOV_RM, MOV, Reg, Mapped) \
  X(MOV_RP, MOV, Reg, PktMem) \
  X(ADD_RI, ADD, Reg, Imm)    \
  X(SUB_RI, SUB, Reg, Imm)    \
  X(AND_RI, AND, Reg, Imm)    \
  X(OR_RI, OR, Reg, Imm)      \
  X(SHR_RI, SHR, Reg, Imm)    \
  X(SHL_RI, SHL, Reg, Imm)    \
  X(ADD_RR, ADD, Reg, Reg)    \
  X(BEQ_RI, BEQ, Reg, Imm)    \
  X(BNE_RI, BNE, Reg, Imm)    \
  X(BEQ_RR, BEQ, Reg, Reg)    \
  X(BNE_RR, BNE, Reg, Reg)    \
  X(BEQ_MI, BEQ, Mapped, Imm) \
  X(BNE_MI, BNE, Mapped, Imm) \
  X(BLTU_RI, BLTU, Reg, Imm)  \
  X(BGTU_RI, BGTU, Reg, Imm)  \
  X(BGEU_RI, BGEU, Reg, Imm)  \
  X(BLEU_RI, BLEU, Reg, Imm)  \
  X(BSET_RI, BSET, Reg, Imm)  \
  X(BCLR_RI, BCLR, Reg, Imm)  \
  X(CMP_RI, CMP, Reg, Imm)    \
  X(CMP_MI, CMP, Mapped, Imm)

// Handler ids: one generic handler per opcode, then the specialised shapes.
enum HandlerId : uint16_t {
#define NETCPU_H(name, mn, a, b, t, x, f, s) H_##name,
  NETCPU_OPCODES(NETCPU_H)
#undef NETCPU_H
#define NETCPU_SHAPE_ID(name, opcode, ka, kb) H_##name,
      NETCPU_SHAPES(NETCPU_SHAPE_ID)
#undef NETCPU_SHAPE_ID
          H_Count
};

static uint16_t select_handler(const Insn& in) {
#define NETCPU_SHAPE_MATCH(name, opcode, ka, kb)                                           \
  if (in.op == Op::opcode && in.a.kind == Kind::ka && in.b.kind == Kind::kb &&             \
      (H_##name != H_MOV_RP ||                                                             \
       ((in.b.attr & attr::kNoBase) && !(in.b.attr & attr::kHostOrder) && in.b.imm >= 0))) \
    return H_##name;
  NETCPU_SHAPES(NETCPU_SHAPE_MATCH)
#undef NETCPU_SHAPE_MATCH
  return static_cast<uint16_t>(in.op);
}

void prepare_handlers(RunState& st, const Program& p) {
  st.hid.resize(p.code.size());
  for (size_t i = 0; i < p.code.size(); ++i) st.hid[i] = select_handler(p.code[i]);
}

struct Interpreter {
  InstanceImpl& vm;
  RunState& st;
  const Program& prog;
  uint8_t* pkt;
  uint32_t& len;
  uint32_t cap;
  const PacketMeta& meta;

  void parse() {
    st.h = parse_headers({pkt, len}, vm.caps_.link);
    st.parsed = true;
  }

  // Header fields already read this run come from the memo without a call;
  // metadata and first reads take the slow path.
  __attribute__((always_inline)) uint64_t mapped(uint8_t id) {
    const uint64_t bit = uint64_t{1} << id;
    if (st.field_known & bit) return st.field[id];
    return mapped_slow(id);
  }

  __attribute__((noinline)) uint64_t mapped_slow(uint8_t id) {
    switch (static_cast<MappedReg>(id)) {
      case MappedReg::Mlen:
        return len;
      case MappedReg::Wlen:  // what a cut-short capture says the packet had, else mlen
        return meta.wire_len ? meta.wire_len : len;
      case MappedReg::Port:
        return meta.port;
      case MappedReg::Dir:
        return meta.dir;
      case MappedReg::Hook:
        return static_cast<uint64_t>(meta.hook);
      case MappedReg::Now:
        return meta.now_ms ? meta.now_ms : steady_ms();
      case MappedReg::Rand: {
        // An instruction stops reading at its first fault, as the native
        // code does: a later operand draws no number.
        if (st.fault != AbortReason::None) return 0;
        uint32_t x = vm.rand_state_;
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        return vm.rand_state_ = x;
      }
      default:
        break;
    }
    const uint64_t bit = uint64_t{1} << id;
    if (!st.parsed) parse();
    const uint64_t v = header_field(static_cast<MappedReg>(id), {pkt, len}, st.h);
    st.field[id] = v;
    st.field_known |= bit;
    return v;
  }

  // Address of a memory operand; sets fault and returns nullptr when any of
  // the `width` bytes lies outside its space.
  uint8_t* address(const Operand& o, uint64_t width) {
    uint64_t a = static_cast<uint64_t>(o.imm);
    if (!(o.attr & attr::kNoBase)) {
      uint64_t base = (o.attr & attr::kBaseMapped) ? mapped(o.reg) : st.r[o.reg];
      a += base << ((o.attr & attr::kScaleMask) >> attr::kScaleShift);
    }
    switch (o.kind) {
      case Kind::PktMem:
        if (!pkt) return fault(AbortReason::NoPacket), nullptr;
        if (!in_bounds(a, width, len)) return fault(AbortReason::Fault), nullptr;
        return pkt + a;
      case Kind::OutMem:
        if (!in_bounds(a, width, vm.out_len_)) return fault(AbortReason::Fault), nullptr;
        return vm.out_.data() + a;
      default:
        if (!in_bounds(a, width, vm.heap_.size())) return fault(AbortReason::HeapFault), nullptr;
        return vm.heap_.data() + a;
    }
  }

  void fault(AbortReason r) {
    if (st.fault == AbortReason::None) st.fault = r;
  }

  uint64_t read(const Operand& o) {
    switch (o.kind) {
      case Kind::Reg:
        return st.r[o.reg];
      case Kind::Imm:
        return static_cast<uint64_t>(o.imm);
      case Kind::Mapped:
        return mapped(o.reg);
      case Kind::Var: {
        uint64_t v;
        std::memcpy(&v, vm.heap_.data() + o.imm, 8);
        return v;
      }
      case Kind::HeapMem:
      case Kind::PktMem:
      case Kind::OutMem: {
        unsigned w = o.attr & attr::kWidthMask;
        const uint8_t* p = address(o, 1u << w);
        if (!p) return 0;
        return (o.attr & attr::kHostOrder) ? load_host(p, w) : load_be(p, w);
      }
      default:
        return 0;
    }
  }

  void write(const Operand& o, uint64_t v) {
    switch (o.kind) {
      case Kind::Reg:
        st.r[o.reg] = v;
        return;
      case Kind::Var:
        std::memcpy(vm.heap_.data() + o.imm, &v, 8);
        return;
      case Kind::HeapMem:
      case Kind::PktMem:
      case Kind::OutMem: {
        unsigned w = o.attr & attr::kWidthMask;
        uint8_t* p = address(o, 1u << w);
        if (!p) return;
        (o.attr & attr::kHostOrder) ? store_host(p, w, v) : store_be(p, w, v);
        if (o.kind == Kind::PktMem) packet_changed();
        return;
      }
      default:
        return;
    }
  }

  void packet_changed() {
    st.modified = true;
    st.parsed = false;
    st.field_known = 0;
  }

  void set_flags(uint64_t a, uint64_t b) { st.cmp_a = a, st.cmp_b = b; }
  void set_found(bool ok) { set_flags(ok ? 0 : 1, 0); }

  // Key bytes of a table or cmp16 operand; nullptr when the packet lacks the
  // field (faults are recorded by address()).
  const uint8_t* key(const Operand& o, uint32_t size, uint8_t* tmp) {
    switch (o.kind) {
      case Kind::Mapped:
        if (mapped_info(static_cast<MappedReg>(o.reg)).bytes == 16) {
          if (!st.parsed) parse();
          return header_field16(static_cast<MappedReg>(o.reg), {pkt, len}, st.h);
        }
        break;
      case Kind::Bytes:
        return reinterpret_cast<const uint8_t*>(prog.strings[o.imm].data());
      case Kind::HeapMem:
      case Kind::PktMem:
      case Kind::OutMem:
        return address(o, size);
      default:
        break;
    }
    uint64_t v = read(o);
    for (uint32_t i = 0; i < size; ++i) tmp[i] = static_cast<uint8_t>(v >> (8 * (size - 1 - i)));
    return tmp;
  }

  uint32_t copy_length(const Insn& in) {
    if (in.aux == kLengthConst) return in.target;
    if (in.aux & kLengthMapped)
      return static_cast<uint32_t>(
          std::min<uint64_t>(mapped(in.aux & kLengthMappedMask), UINT32_MAX));
    return static_cast<uint32_t>(std::min<uint64_t>(st.r[in.aux], UINT32_MAX));
  }

  // Whether a key operand is a number or bytes in memory (not a string or
  // a 16-byte field): what a table's number-keyed functions can take.
  static bool number_key(const Operand& o) {
    switch (o.kind) {
      case Kind::Mapped:
        return mapped_info(static_cast<MappedReg>(o.reg)).bytes == 8;
      case Kind::Reg:
      case Kind::Imm:
      case Kind::Var:
      case Kind::HeapMem:
      case Kind::PktMem:
      case Kind::OutMem:
        return true;
      default:
        return false;
    }
  }

  // *number = the number such a key of `size` bytes makes (its bytes
  // big-endian: how the VM makes a key of a number); false when the memory
  // it is in lacks it (faults are recorded by address()).
  bool read_key_number(const Operand& o, uint32_t size, uint64_t* number) {
    if (o.kind != Kind::HeapMem && o.kind != Kind::PktMem && o.kind != Kind::OutMem) {
      *number = read(o);
      return true;
    }
    const uint8_t* p = address(o, size);
    if (!p) return false;
    uint64_t x = 0;
    for (uint32_t i = 0; i < size; ++i) x = x << 8 | p[i];
    *number = x;
    return true;
  }

  // lookup, update and tadd of a number key in a table that takes one (a
  // hash table with keys of at most 8 bytes, an array) with values of at
  // most 8 bytes: its number-keyed functions, as the native code calls
  // them; no key bytes built, no virtual call, no memcpy or memcmp. False
  // when the instruction is not one: table_op's general path runs it.
  bool number_table_op(const Insn& in, Table& t) {
    const TableDecl& d = t.decl();
    const Operand& ko = in.op == Op::LOOKUP ? in.b : in.a;
    if (!t.number_lookup() || d.value_size > 8 || in.op == Op::DELETE || !number_key(ko))
      return false;
    uint64_t number;
    if (!read_key_number(ko, d.key_size, &number)) {
      set_found(false);
      return true;
    }
    // Value slots are 8 bytes: the value is their low value_size bytes.
    const uint64_t mask = d.value_size < 8 ? (uint64_t{1} << 8 * d.value_size) - 1 : ~uint64_t{0};
    if (in.op == Op::LOOKUP) {
      const uint8_t* v = t.number_lookup()(t, number);
      if (!v) {
        set_found(false);
        return true;
      }
      uint64_t x;
      std::memcpy(&x, v, 8);
      write(in.a, x & mask);
      set_found(true);
      return true;
    }
    const uint64_t x = read(in.b);
    if (st.fault != AbortReason::None) return true;  // an instruction that faults changes nothing
    uint8_t* v = t.number_find_or_insert()(t, number);
    if (!v) {
      set_found(false);
      return true;
    }
    // One thread runs an instance at a time, so it is the table's only
    // writer: a plain add or store, no locked one. Readers on other
    // threads (a console's dump) see the value before or after it.
    std::atomic_ref<uint64_t> value(*reinterpret_cast<uint64_t*>(v));
    const uint64_t old = value.load(std::memory_order_relaxed);
    value.store(in.op == Op::TADD ? old + x : (old & ~mask) | (x & mask),
                std::memory_order_relaxed);
    set_found(true);
    return true;
  }

  void table_op(const Insn& in) {
    Table& t = *vm.tables_[in.aux];
    if (number_table_op(in, t)) return;
    const TableDecl& d = t.decl();
    uint8_t tmp[16];
    const Operand& ko = in.op == Op::LOOKUP ? in.b : in.a;
    const uint8_t* k = key(ko, d.key_size, tmp);
    if (!k) return set_found(false);
    size_t nv = std::min<size_t>(d.value_size, 8);
    switch (in.op) {
      case Op::LOOKUP: {
        uint8_t* v = t.lookup(k);
        if (!v) return set_found(false);
        copy_out(in.a, v, d.value_size, false);
        return set_found(true);
      }
      case Op::UPDATE: {
        uint8_t val[kMaxValueSize] = {};
        if (d.value_size > 8) {
          const uint8_t* src = address(in.b, d.value_size);
          if (!src) return;
          std::memcpy(val, src, d.value_size);
        } else {
          uint64_t x = read(in.b);
          if (st.fault != AbortReason::None) return;  // an instruction that faults changes nothing
          std::memcpy(val, &x, nv);
        }
        uint32_t full = d.kind == TableKind::Lpm4 ? 32 : d.kind == TableKind::Lpm6 ? 128 : 0;
        return set_found(t.update(k, val, full));
      }
      case Op::DELETE: {
        uint32_t full = d.kind == TableKind::Lpm4 ? 32 : d.kind == TableKind::Lpm6 ? 128 : 0;
        return set_found(t.erase(k, full));
      }
      case Op::TADD: {
        uint64_t delta = read(in.b);
        if (st.fault != AbortReason::None) return;
        uint8_t* v = t.find_or_insert(k);
        if (!v) return set_found(false);
        // One thread runs an instance at a time, so it is the table's only
        // writer: a plain add, no locked one. Readers on other threads (a
        // console's dump) see the value before or after it.
        std::atomic_ref<uint64_t> value(*reinterpret_cast<uint64_t*>(v));
        value.store(value.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
        return set_found(true);
      }
      default:
        return;
    }
  }

  // One step of foreach's walk over its table from *cursor: the next
  // entry's key into a and value into b (as lookup writes them). False at
  // the end of the walk; a fault writing them is recorded as any other.
  bool walk_step(const Insn& loop, uint64_t* cursor) {
    Table& t = *vm.tables_[loop.aux];
    const TableDecl& d = t.decl();
    Table::Entry e;
    if (!t.walk_next(cursor, &e)) return false;
    copy_out(loop.a, e.key, d.key_size, true);
    if (st.fault == AbortReason::None) copy_out(loop.b, e.value, d.value_size, false);
    return true;
  }

  // Stores n table bytes into o: bytes over 8 into memory, whole; else the
  // number they make (a key big-endian, as keys are made of numbers; a
  // value in host order, as tables store numbers).
  void copy_out(const Operand& o, const uint8_t* bytes, uint32_t n, bool key) {
    if (n > 8) {
      if (uint8_t* dst = address(o, n)) {
        std::memcpy(dst, bytes, n);
        if (o.kind == Kind::PktMem) packet_changed();
      }
      return;
    }
    uint64_t x = 0;
    if (key) {
      for (uint32_t i = 0; i < n; ++i) x = x << 8 | bytes[i];
    } else {
      std::memcpy(&x, bytes, n);
    }
    write(o, x);
  }

  void end_walk(const Insn& loop) {
    vm.tables_[loop.aux]->walk_end();
    --st.walks;
  }

  void output(const Insn& in) {
    uint64_t vals[2];
    int n = 0;
    if (in.a.kind != Kind::None) vals[n++] = read(in.a);
    if (in.b.kind != Kind::None) vals[n++] = read(in.b);
    if (st.fault == AbortReason::None) output_values(vm, prog, in, vals, n);
  }

  void dump(const Insn& in) {
    uint64_t max = read(in.a);
    if (st.fault == AbortReason::None) dump_packet(vm, pkt, len, max);
  }

  // From entry with `start` instructions already counted, until the run
  // ends or `budget` instructions are counted.
  RunResult run(uint32_t entry, uint64_t budget, uint64_t start = 0);

  // A whole run of .text from the start.
  static RunResult whole(InstanceImpl& vm, uint8_t* pkt, uint32_t& len, uint32_t capacity,
                         const PacketMeta& meta) {
    return vm.execute(vm.program_.text_pc, pkt, len, capacity, meta);
  }
};

RunResult Interpreter::run(uint32_t entry, uint64_t budget, uint64_t start) {
  static const void* const kLabels[H_Count] = {
#define NETCPU_L(name, mn, a, b, t, x, f, s) &&L_##name,
      NETCPU_OPCODES(NETCPU_L)
#undef NETCPU_L
#define NETCPU_SHAPE_LABEL(name, opcode, ka, kb) &&L_##name,
          NETCPU_SHAPES(NETCPU_SHAPE_LABEL)
#undef NETCPU_SHAPE_LABEL
  };
  const Insn* const code = prog.code.data();
  const uint16_t* const hid = st.hid.data();
  uint64_t* const r = st.r;
  uint64_t* const prof = vm.profiling_ ? vm.profile_.data() : nullptr;
  uint64_t count = start;
  uint32_t pc = entry;
  uint32_t sp = st.sp, csp = st.csp;
  const Insn* in = nullptr;
  RunResult res;
  Verdict verdict = Verdict::Pass;

#define DISPATCH()                            \
  do {                                        \
    if (++count > budget) goto out_of_budget; \
    in = &code[pc];                           \
    if (prof) ++prof[pc];                     \
    goto* kLabels[hid[pc]];                   \
  } while (0)
#define NEXT()  \
  do {          \
    ++pc;       \
    DISPATCH(); \
  } while (0)
#define JUMP_IF(cond)                  \
  do {                                 \
    pc = (cond) ? in->target : pc + 1; \
    DISPATCH();                        \
  } while (0)
#define CHECK()                                      \
  do {                                               \
    if (st.fault != AbortReason::None) goto faulted; \
  } while (0)
#define ALU(expr)             \
  do {                        \
    uint64_t x = read(in->a); \
    uint64_t y = read(in->b); \
    CHECK();                  \
    write(in->a, (expr));     \
    CHECK();                  \
    NEXT();                   \
  } while (0)
#define UNARY(expr)           \
  do {                        \
    uint64_t x = read(in->a); \
    CHECK();                  \
    write(in->a, (expr));     \
    CHECK();                  \
    NEXT();                   \
  } while (0)
#define BRANCH(cond)          \
  do {                        \
    uint64_t x = read(in->a); \
    uint64_t y = read(in->b); \
    CHECK();                  \
    JUMP_IF(cond);            \
  } while (0)
#define SX(v) static_cast<int64_t>(v)

  DISPATCH();

L_NOP:
L_CASE:
L_DEFAULT:
L_ENDSWITCH:
  NEXT();
L_MOV : {
  uint64_t v = read(in->b);
  CHECK();
  write(in->a, v);
  CHECK();
  NEXT();
}
L_ADD:
  ALU(x + y);
L_SUB:
  ALU(x - y);
L_MUL:
  ALU(x * y);
L_DIV:
  ALU(y ? x / y : 0);
L_SDIV:
  ALU(y == 0 ? 0 : (SX(x) == INT64_MIN && SX(y) == -1) ? x : static_cast<uint64_t>(SX(x) / SX(y)));
L_MOD:
  ALU(y ? x % y : x);
L_AND:
  ALU(x & y);
L_OR:
  ALU(x | y);
L_XOR:
  ALU(x ^ y);
L_SHL:
  ALU(y >= 64 ? 0 : x << y);
L_SHR:
  ALU(y >= 64 ? 0 : x >> y);
L_SAR:
  ALU(static_cast<uint64_t>(SX(x) >> (y >= 64 ? 63 : y)));
L_NOT:
  UNARY(~x);
L_NEG:
  UNARY(0 - x);
L_BSWAP16:
  UNARY(static_cast<uint64_t>(__builtin_bswap16(static_cast<uint16_t>(x))));
L_BSWAP32:
  UNARY(static_cast<uint64_t>(__builtin_bswap32(static_cast<uint32_t>(x))));
L_BSWAP64:
  UNARY(__builtin_bswap64(x));
L_CMP : {
  uint64_t x = read(in->a), y = read(in->b);
  CHECK();
  set_flags(x, y);
  NEXT();
}
L_TEST : {
  uint64_t x = read(in->a), y = read(in->b);
  CHECK();
  set_flags(x & y, 0);
  NEXT();
}
L_CMP16 : {
  uint8_t ta[16], tb[16];
  const uint8_t* a = key(in->a, 16, ta);
  const uint8_t* b = key(in->b, 16, tb);
  CHECK();
  if (!a || !b) {
    set_flags(1, 0);  // a missing field equals nothing
  } else {
    int c = std::memcmp(a, b, 16);
    set_flags(c < 0 ? 0 : c > 0 ? 2 : 1, 1);
  }
  NEXT();
}
L_JMP:
  JUMP_IF(true);
L_JE:
  JUMP_IF(st.cmp_a == st.cmp_b);
L_JNE:
  JUMP_IF(st.cmp_a != st.cmp_b);
L_JL:
  JUMP_IF(SX(st.cmp_a) < SX(st.cmp_b));
L_JLE:
  JUMP_IF(SX(st.cmp_a) <= SX(st.cmp_b));
L_JG:
  JUMP_IF(SX(st.cmp_a) > SX(st.cmp_b));
L_JGE:
  JUMP_IF(SX(st.cmp_a) >= SX(st.cmp_b));
L_JB:
  JUMP_IF(st.cmp_a < st.cmp_b);
L_JBE:
  JUMP_IF(st.cmp_a <= st.cmp_b);
L_JA:
  JUMP_IF(st.cmp_a > st.cmp_b);
L_JAE:
  JUMP_IF(st.cmp_a >= st.cmp_b);
L_BEQ:
  BRANCH(x == y);
L_BNE:
  BRANCH(x != y);
L_BLT:
  BRANCH(SX(x) < SX(y));
L_BLE:
  BRANCH(SX(x) <= SX(y));
L_BGT:
  BRANCH(SX(x) > SX(y));
L_BGE:
  BRANCH(SX(x) >= SX(y));
L_BLTU:
  BRANCH(x < y);
L_BLEU:
  BRANCH(x <= y);
L_BGTU:
  BRANCH(x > y);
L_BGEU:
  BRANCH(x >= y);
L_BSET:
  BRANCH((x & y) != 0);
L_BCLR:
  BRANCH((x & y) == 0);
L_PUSH : {
  uint64_t v = read(in->a);
  CHECK();
  if (sp >= kStackSlots) {
    fault(AbortReason::StackFault);
    goto faulted;
  }
  st.stack[sp++] = v;
  NEXT();
}
L_POP : {
  if (sp == 0) {
    fault(AbortReason::StackFault);
    goto faulted;
  }
  write(in->a, st.stack[--sp]);
  CHECK();
  NEXT();
}
L_CALL:
  if (csp >= kMaxCallDepth) {
    fault(AbortReason::StackFault);
    goto faulted;
  }
  st.calls[csp++] = pc + 1;
  pc = in->target;
  DISPATCH();
L_RET:
  if (csp == 0) {
    fault(AbortReason::StackFault);
    goto faulted;
  }
  pc = st.calls[--csp];
  DISPATCH();
L_SWITCH : {
  uint64_t v = read(in->a);
  CHECK();
  uint32_t dflt = kNoTarget;
  uint32_t c = in->target;
  // Walk the case chain; each label visited counts against the budget.
  while (code[c].op != Op::ENDSWITCH) {
    if (++count > budget) goto out_of_budget;
    if (code[c].op == Op::DEFAULT) {
      dflt = c;
    } else if (static_cast<uint64_t>(code[c].a.imm) == v) {
      break;
    }
    c = code[c].target;
  }
  pc = code[c].op == Op::ENDSWITCH && dflt != kNoTarget ? dflt : c;
  DISPATCH();
}
L_BREAK:
  if (code[in->target].op == Op::ENDFOR) {  // out of a foreach body: the walk ends
    end_walk(code[code[in->target].target]);
    --sp;
    pc = in->target + 1;
    DISPATCH();
  }
  pc = in->target;
  DISPATCH();
L_FOREACH : {
  // The walk's cursor lives on the data stack while the body runs; the
  // verifier has proven the body leaves it there.
  if (sp >= kStackSlots) {
    fault(AbortReason::StackFault);
    goto faulted;
  }
  vm.tables_[in->aux]->walk_begin();
  ++st.walks;
  st.stack[sp] = 0;
  if (!walk_step(*in, &st.stack[sp])) {
    end_walk(*in);
    pc = in->target + 1;
    DISPATCH();
  }
  ++sp;
  CHECK();
  NEXT();
}
L_ENDFOR : {
  const Insn& loop = code[in->target];
  if (walk_step(loop, &st.stack[sp - 1])) {
    CHECK();
    pc = in->target + 1;
    DISPATCH();
  }
  end_walk(loop);
  --sp;
  NEXT();
}
L_END:
  goto finish;
L_PASS:
  verdict = Verdict::Pass;
  goto finish;
L_DROP:
  verdict = Verdict::Drop;
  goto finish;
L_REDIRECT : {
  uint64_t port = read(in->a);
  CHECK();
  verdict = Verdict::Redirect;
  res.redirect_port = static_cast<int32_t>(port);
  goto finish;
}
L_MIRROR : {
  uint64_t port = read(in->a);
  CHECK();
  st.mirror_port = static_cast<int32_t>(port);
  NEXT();
}
L_EMIT : {
  uint64_t port = read(in->a);
  CHECK();
  if (vm.emitted_count_ < vm.emitted_.size()) {
    EmittedPacket& e = vm.emitted_[vm.emitted_count_++];
    e.port = static_cast<int32_t>(port);
    e.length = vm.out_len_;
    std::memcpy(e.data.data(), vm.out_.data(), vm.out_len_);
  } else {
    vm.stats_.errors.fetch_add(1, std::memory_order_relaxed);
  }
  NEXT();
}
L_OUTLEN : {
  uint64_t n = read(in->a);
  CHECK();
  if (n > vm.out_.size()) {
    fault(AbortReason::Fault);
    goto faulted;
  }
  if (n > vm.out_len_) std::memset(vm.out_.data() + vm.out_len_, 0, n - vm.out_len_);
  vm.out_len_ = static_cast<uint32_t>(n);
  NEXT();
}
L_RESIZE : {
  uint64_t n = read(in->a);
  CHECK();
  if (!pkt) {
    fault(AbortReason::NoPacket);
    goto faulted;
  }
  if (n > std::min(cap, vm.caps_.max_packet)) {
    fault(AbortReason::Fault);
    goto faulted;
  }
  if (n > len) std::memset(pkt + len, 0, n - len);
  if (n != len) packet_changed();
  len = static_cast<uint32_t>(n);
  NEXT();
}
L_COPY : {
  uint32_t n = copy_length(*in);
  uint8_t* dst = address(in->a, n);
  const uint8_t* src = dst ? address(in->b, n) : nullptr;
  CHECK();
  std::memmove(dst, src, n);
  if (in->a.kind == Kind::PktMem && n) packet_changed();
  NEXT();
}
L_FIND : {
  uint64_t start = read(in->b);
  CHECK();
  if (!pkt) {
    fault(AbortReason::NoPacket);
    goto faulted;
  }
  const std::string& needle = prog.strings[in->target];
  r[in->a.reg] = find_in_packet(pkt, len, start, needle.data(), needle.size());
  NEXT();
}
L_CSUM:
  if (in->aux & csum::kOut) {
    recompute_checksums({vm.out_.data(), vm.out_len_}, vm.caps_.link,
                        in->aux & (csum::kIp | csum::kL4));
  } else if (pkt) {
    if (recompute_checksums({pkt, len}, vm.caps_.link, in->aux)) st.modified = true;
  }
  NEXT();
L_REWRITE : {
  uint64_t v = read(in->b);
  CHECK();
  if (!pkt) {
    fault(AbortReason::NoPacket);
    goto faulted;
  }
  if (!st.parsed) parse();
  bool ok = rewrite_field({pkt, len}, st.h, static_cast<MappedReg>(in->a.reg), v);
  if (ok) {
    st.modified = true;
    st.field_known = 0;  // same offsets, new values
  }
  set_found(ok);
  NEXT();
}
L_LOOKUP:
L_UPDATE:
L_DELETE:
L_TADD:
  table_op(*in);
  CHECK();
  NEXT();
L_TCLEAR:
  vm.tables_[in->aux]->clear();
  NEXT();
L_PRINT:
L_LOG:
  output(*in);
  CHECK();
  NEXT();
L_DUMP:
  dump(*in);
  CHECK();
  NEXT();

  // Specialised shapes.
L_MOV_RI:
  r[in->a.reg] = static_cast<uint64_t>(in->b.imm);
  NEXT();
L_MOV_RR:
  r[in->a.reg] = r[in->b.reg];
  NEXT();
L_MOV_RM:
  r[in->a.reg] = mapped(in->b.reg);
  NEXT();
L_MOV_RP : {
  unsigned w = in->b.attr & attr::kWidthMask;
  uint64_t off = static_cast<uint64_t>(in->b.imm);
  if (!pkt) {
    fault(AbortReason::NoPacket);
    goto faulted;
  }
  if (!in_bounds(off, 1u << w, len)) {
    fault(AbortReason::Fault);
    goto faulted;
  }
  r[in->a.reg] = load_be(pkt + off, w);
  NEXT();
}
L_ADD_RI:
  r[in->a.reg] += static_cast<uint64_t>(in->b.imm);
  NEXT();
L_SUB_RI:
  r[in->a.reg] -= static_cast<uint64_t>(in->b.imm);
  NEXT();
L_AND_RI:
  r[in->a.reg] &= static_cast<uint64_t>(in->b.imm);
  NEXT();
L_OR_RI:
  r[in->a.reg] |= static_cast<uint64_t>(in->b.imm);
  NEXT();
L_SHR_RI : {
  uint64_t y = static_cast<uint64_t>(in->b.imm);
  r[in->a.reg] = y >= 64 ? 0 : r[in->a.reg] >> y;
  NEXT();
}
L_SHL_RI : {
  uint64_t y = static_cast<uint64_t>(in->b.imm);
  r[in->a.reg] = y >= 64 ? 0 : r[in->a.reg] << y;
  NEXT();
}
L_ADD_RR:
  r[in->a.reg] += r[in->b.reg];
  NEXT();
L_BEQ_RI:
  JUMP_IF(r[in->a.reg] == static_cast<uint64_t>(in->b.imm));
L_BNE_RI:
  JUMP_IF(r[in->a.reg] != static_cast<uint64_t>(in->b.imm));
L_BEQ_RR:
  JUMP_IF(r[in->a.reg] == r[in->b.reg]);
L_BNE_RR:
  JUMP_IF(r[in->a.reg] != r[in->b.reg]);
L_BEQ_MI:
  JUMP_IF(mapped(in->a.reg) == static_cast<uint64_t>(in->b.imm));
L_BNE_MI:
  JUMP_IF(mapped(in->a.reg) != static_cast<uint64_t>(in->b.imm));
L_BLTU_RI:
  JUMP_IF(r[in->a.reg] < static_cast<uint64_t>(in->b.imm));
L_BGTU_RI:
  JUMP_IF(r[in->a.reg] > static_cast<uint64_t>(in->b.imm));
L_BGEU_RI:
  JUMP_IF(r[in->a.reg] >= static_cast<uint64_t>(in->b.imm));
L_BLEU_RI:
  JUMP_IF(r[in->a.reg] <= static_cast<uint64_t>(in->b.imm));
L_BSET_RI:
  JUMP_IF((r[in->a.reg] & static_cast<uint64_t>(in->b.imm)) != 0);
L_BCLR_RI:
  JUMP_IF((r[in->a.reg] & static_cast<uint64_t>(in->b.imm)) == 0);
L_CMP_RI:
  set_flags(r[in->a.reg], static_cast<uint64_t>(in->b.imm));
  NEXT();
L_CMP_MI:
  set_flags(mapped(in->a.reg), static_cast<uint64_t>(in->b.imm));
  NEXT();

out_of_budget:
  res.aborted = true;
  res.reason = AbortReason::Budget;
  res.abort_pc = pc;
  verdict = vm.limits_.on_abort;
  --count;
  goto finish;
faulted:
  res.aborted = true;
  res.reason = st.fault;
  res.abort_pc = pc;
  verdict = vm.fault_verdict();
finish:
  st.sp = sp, st.csp = csp;
  res.mirror_port = st.mirror_port;
  res.verdict = verdict;
  res.instructions = static_cast<uint32_t>(count);
  res.length = len;
  res.modified = st.modified;
  res.emitted = static_cast<uint8_t>(vm.emitted_count_);
  if (verdict != Verdict::Redirect) res.redirect_port = -1;
  return res;
#undef DISPATCH
#undef NEXT
#undef JUMP_IF
#undef CHECK
#undef ALU
#undef UNARY
#undef BRANCH
#undef SX
}

// glibc's memmem (two-way, vectorised): several times std::search.
uint64_t find_in_packet(const uint8_t* pkt, uint64_t len, uint64_t start, const char* needle,
                        uint64_t size) {
  if (start >= len) return ~uint64_t{0};
  const void* hit = memmem(pkt + start, len - start, needle, size);
  return hit ? static_cast<uint64_t>(static_cast<const uint8_t*>(hit) - pkt) : ~uint64_t{0};
}

namespace {

// An interpreter over the run the JIT's code has in progress (the state's
// packet, length and metadata, which its prologue stored).
Interpreter run_in_progress(void* state) {
  auto& st = *static_cast<RunState*>(state);
  return Interpreter{*st.vm, st, st.vm->program(), st.pkt, *st.len, st.capacity, *st.meta};
}

}  // namespace

void interpreter_parse(void* state) { run_in_progress(state).parse(); }

uint64_t interpreter_mapped(void* state, uint32_t id) {
  return run_in_progress(state).mapped_slow(static_cast<uint8_t>(id));
}

// A budget of one stops the run at the next instruction: what the one
// instruction did is then exactly what the interpreter would have done,
// and the pc it stopped at is where the run goes on.
uint64_t interpreter_branch(void* state, uint32_t pc) {
  auto& st = *static_cast<RunState*>(state);
  const RunResult r = run_in_progress(state).run(pc, 1);
  if (r.aborted && r.reason == AbortReason::Budget) return r.abort_pc;
  st.result = r;
  return kNoTarget;
}

uint64_t interpreter_step(void* state, uint32_t pc) {
  return interpreter_branch(state, pc) == kNoTarget;
}

uint64_t interpreter_resume(void* state, uint32_t pc, uint64_t count) {
  auto& st = *static_cast<RunState*>(state);
  st.result = run_in_progress(state).run(pc, st.budget, count);
  return st.result.instructions;
}

uint64_t interpreter_operand(void* state, uint32_t pc, uint32_t which) {
  Interpreter it = run_in_progress(state);
  const Insn& in = it.prog.code[pc];
  return it.read(which == 0 ? in.a : in.b);
}

JitResult interpreter_run(void* state, uint8_t* pkt, uint64_t, uint32_t* len_ptr, uint64_t capacity,
                          const void* meta) {
  auto& st = *static_cast<RunState*>(state);
  st.result = Interpreter::whole(*st.vm, pkt, *len_ptr, static_cast<uint32_t>(capacity),
                                 *static_cast<const PacketMeta*>(meta));
  return {uint64_t{static_cast<uint8_t>(JitExit::Ended)} << 32, st.result.instructions};
}

RunResult InstanceImpl::execute(uint32_t pc, uint8_t* pkt, uint32_t& len, uint32_t capacity,
                                const PacketMeta& meta) {
  RunState& st = *state_;
  st.parsed = false;
  st.field_known = 0;
  st.modified = false;
  st.fault = AbortReason::None;
  st.cmp_a = st.cmp_b = 0;
  st.sp = st.csp = 0;
  st.mirror_port = -1;
  std::memset(st.r, 0, sizeof st.r);
  emitted_count_ = 0;
  out_len_ = 0;
  st.pkt = pkt, st.len = &len, st.capacity = capacity, st.meta = &meta;
  Interpreter it{*this, st, program_, pkt, len, capacity, meta};
  RunResult r = it.run(pc, limits_.budget);
  if (st.walks) close_walks();
  return r;
}

// A run that ended inside foreach bodies (a verdict, a fault or the budget
// there) leaves their walks open: they end with it.
void InstanceImpl::close_walks() {
  for (auto& t : tables_) t->end_walks();
  state_->walks = 0;
}

}  // namespace netcpu
