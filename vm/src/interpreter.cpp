// The interpreter: direct threaded dispatch (computed goto) over instructions
// decoded at load time, each with the address of its handler. Common forms
// (gpr/immediate and gpr/gpr arithmetic and branches, mapped registers,
// packet loads, a packet load fused with the branch after it) get handlers
// that skip operand decoding, generated from isa.h's lists; everything else
// runs through generic operand access. Packet, out buffer and indexed heap
// accesses are bounds-checked here; the verifier has proven the rest.
// Nothing here allocates. docs/architecture.md, "The interpreter".
#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>

#include "byte_order.h"
#include "instance_impl.h"
#include "interpreter_forms.h"
#include "interpreter_state.h"
#include "jit.h"
#include "jit_flow.h"
#include "netcpu/checksum.h"
#include "netcpu/clock.h"
#include "netcpu/vm.h"
#include "output.h"

namespace netcpu {

namespace {

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

}  // namespace

namespace {

// A specialised form: the opcode and operand kinds it takes. Packet loads
// (`address`) also need a network-order operand of that width whose address
// is a constant (Constant) or a gpr plus a displacement (GprBase).
enum class Address : uint8_t { Any, Constant, GprBase };
struct Shape {
  uint16_t id;
  Op op;
  Kind a, b;
  Address address = Address::Any;
  uint8_t width_log = 0;
};

constexpr Shape kShapes[] = {
#define NETCPU_ALU_SHAPE(op, expr) \
  {H_##op##_RI, Op::op, Kind::Reg, Kind::Imm}, {H_##op##_RR, Op::op, Kind::Reg, Kind::Reg},
    NETCPU_ALU(NETCPU_ALU_SHAPE)
#undef NETCPU_ALU_SHAPE
#define NETCPU_BRANCH_SHAPE(op)                                                             \
  {H_##op##_RI, Op::op, Kind::Reg, Kind::Imm}, {H_##op##_RR, Op::op, Kind::Reg, Kind::Reg}, \
      {H_##op##_MI, Op::op, Kind::Mapped, Kind::Imm},
#define NETCPU_COND_SHAPE(op, jop, cond) NETCPU_BRANCH_SHAPE(op)
#define NETCPU_BIT_SHAPE(op, cond) NETCPU_BRANCH_SHAPE(op)
        NETCPU_CONDITIONS(NETCPU_COND_SHAPE) NETCPU_BIT_CONDITIONS(NETCPU_BIT_SHAPE)
#undef NETCPU_BIT_SHAPE
#undef NETCPU_COND_SHAPE
#undef NETCPU_BRANCH_SHAPE
#define NETCPU_LOAD_SHAPE(bits, w, ...)                                     \
  {H_MOV_RP##bits, Op::MOV, Kind::Reg, Kind::PktMem, Address::Constant, w}, \
      {H_MOV_RX##bits, Op::MOV, Kind::Reg, Kind::PktMem, Address::GprBase, w},
            NETCPU_WIDTHS(NETCPU_LOAD_SHAPE, )
#undef NETCPU_LOAD_SHAPE
#define NETCPU_MOVE_SHAPE(name, ka, kb) {H_##name, Op::MOV, Kind::ka, Kind::kb},
                NETCPU_MOVES(NETCPU_MOVE_SHAPE)
#undef NETCPU_MOVE_SHAPE
#define NETCPU_CMP_SHAPE(name, ka, kb) {H_##name, Op::CMP, Kind::ka, Kind::kb},
                    NETCPU_CMPS(NETCPU_CMP_SHAPE)
#undef NETCPU_CMP_SHAPE
};

// A packet load into a gpr followed by a compare of that gpr with an
// immediate and branch (what every translated BPF filter is made of) runs as
// one handler that does both, without a second dispatch and without reading
// the gpr back: the load's handler becomes `fused` when the next
// instruction's is `branch` on the same gpr. The branch keeps its own
// handler for the jumps that land on it.
struct Fusion {
  uint16_t load, branch, fused;
};
constexpr Fusion kFusions[] = {
#define NETCPU_FUSION(bits, w, op)                      \
  {H_MOV_RP##bits, H_##op##_RI, H_MOV_RP##bits##_##op}, \
      {H_MOV_RX##bits, H_##op##_RI, H_MOV_RX##bits##_##op},
#define NETCPU_COND_FUSION(op, jop, cond) NETCPU_WIDTHS(NETCPU_FUSION, op)
#define NETCPU_BIT_FUSION(op, cond) NETCPU_WIDTHS(NETCPU_FUSION, op)
    NETCPU_CONDITIONS(NETCPU_COND_FUSION) NETCPU_BIT_CONDITIONS(NETCPU_BIT_FUSION)
#undef NETCPU_BIT_FUSION
#undef NETCPU_COND_FUSION
#undef NETCPU_FUSION
};
constexpr uint16_t kTableForms[][2] = {
#define NETCPU_TABLE_FORM(op) {static_cast<uint16_t>(Op::op), H_##op##_N},
    NETCPU_TABLE_FORMS(NETCPU_TABLE_FORM)
#undef NETCPU_TABLE_FORM
};
struct WordTableForm {
  Op op;
  Kind other;
  uint16_t id;
};
constexpr WordTableForm kWordTableForms[] = {
#define NETCPU_WORD_TABLE_FORM(form, op, other) {Op::op, Kind::other, H_##form},
    NETCPU_WORD_TABLE_FORMS(NETCPU_WORD_TABLE_FORM)
#undef NETCPU_WORD_TABLE_FORM
};
static_assert(std::size(kShapes) + std::size(kFusions) + std::size(kTableForms) +
                      std::size(kWordTableForms) ==
                  H_Count - kOpCount,
              "one shape, fusion or table form per specialised handler");

// A table op's number-keyed form (NETCPU_TABLE_FORMS) on t, its table,
// or 0: t has a way to reach a number key's slot (Table::NumberProbe).
uint16_t table_form(const Insn& in, const Table& t) {
  const auto* form =
      std::find_if(std::begin(kTableForms), std::end(kTableForms),
                   [&](const auto& f) { return f[0] == static_cast<uint16_t>(in.op); });
  if (form == std::end(kTableForms)) return 0;
  const bool number_keys = t.number_probe().way != Table::NumberProbe::Way::None;
  const Operand& key = in.op == Op::LOOKUP ? in.b : in.a;
  const Operand& other = in.op == Op::LOOKUP ? in.a : in.b;
  const bool number =
      key.kind == Kind::Reg || key.kind == Kind::Imm ||
      (key.kind == Kind::Mapped && mapped_info(static_cast<MappedReg>(key.reg)).bytes == 8);
  const bool other_fits =
      other.kind == Kind::Reg || (in.op != Op::LOOKUP && other.kind == Kind::Imm);
  return number_keys && t.decl().value_size <= 8 && number && other_fits ? (*form)[1] : 0;
}

// A number-keyed table op's (table_form's) form on a plain hash table
// (whose way is Word) with its key in a gpr (NETCPU_WORD_TABLE_FORMS), or 0.
uint16_t word_table_form(const Insn& in, const Table& t) {
  const Operand& key = in.op == Op::LOOKUP ? in.b : in.a;
  const Operand& other = in.op == Op::LOOKUP ? in.a : in.b;
  if (t.number_probe().way != Table::NumberProbe::Way::Word || key.kind != Kind::Reg) return 0;
  for (const WordTableForm& f : kWordTableForms)
    if (f.op == in.op && f.other == other.kind) return f.id;
  return 0;
}

bool fits(const Shape& shape, const Insn& in) {
  if (in.op != shape.op || in.a.kind != shape.a || in.b.kind != shape.b) return false;
  const uint8_t at = in.b.attr;
  switch (shape.address) {
    case Address::Any:
      return true;
    case Address::Constant:
      return (at & attr::kNoBase) && !(at & attr::kHostOrder) && in.b.imm >= 0 &&
             (at & attr::kWidthMask) == shape.width_log;
    case Address::GprBase:
      return !(at & (attr::kNoBase | attr::kBaseMapped | attr::kHostOrder | attr::kScaleMask)) &&
             (at & attr::kWidthMask) == shape.width_log;
  }
  return false;
}

uint16_t select_handler(const Insn& in) {
  for (const Shape& shape : kShapes)
    if (fits(shape, in)) return shape.id;
  return static_cast<uint16_t>(in.op);
}

// The gprs an operand names (as a value, a place or a memory base).
uint16_t gprs_of(const Operand& o) {
  switch (o.kind) {
    case Kind::Reg:
      return static_cast<uint16_t>(1u << o.reg);
    case Kind::HeapMem:
    case Kind::PktMem:
    case Kind::OutMem:
      return (o.attr & (attr::kNoBase | attr::kBaseMapped)) ? 0
                                                            : static_cast<uint16_t>(1u << o.reg);
    default:
      return 0;
  }
}

}  // namespace

void prepare_handlers(RunState& st, const Program& p, std::span<Table* const> tables) {
  st.decoded.resize(p.code.size());
  st.handlers_ready = false;
  st.filter_handlers_ready = false;
  st.gprs_used = 0;
  for (size_t i = 0; i < p.code.size(); ++i) {
    const Insn& in = p.code[i];
    DecodedInsn& d = st.decoded[i];
    d.id = select_handler(in);
    d.imm = static_cast<uint64_t>(in.b.imm);
    d.target = in.target;
    Table* t = in.aux < tables.size() ? tables[in.aux] : nullptr;  // if in is a table op
    if (const uint16_t form = t ? table_form(in, *t) : 0) {
      const uint16_t word = word_table_form(in, *t);
      d.id = word ? word : form;
      d.table = t;
    }
    d.a = in.a.reg;
    d.b = in.b.reg;
    st.gprs_used |= gprs_of(in.a) | gprs_of(in.b);
    if (in.op == Op::COPY && length_in_gpr(in.aux))
      st.gprs_used |= static_cast<uint16_t>(1u << in.aux);
  }
  for (size_t i = 0; i + 1 < st.decoded.size(); ++i)
    for (const Fusion& f : kFusions)
      if (st.decoded[i].id == f.load && st.decoded[i + 1].id == f.branch &&
          st.decoded[i].a == st.decoded[i + 1].a)
        st.decoded[i].id = f.fused;
  st.filter_program = std::all_of(st.decoded.begin(), st.decoded.end(),
                                  [](const DecodedInsn& d) { return is_filter_form(d.id); });
  st.filter_gprs_to_clear =
      st.filter_program ? static_cast<uint16_t>(Flow(p, p.text_pc).regs_read_unset()) : 0;
}

namespace {

// The RunResult of a run that ended as j says (Interpreter::run_to_end),
// len the packet's length after it.
RunResult result_of(const RunState& st, JitResult j, uint32_t len) {
  return j.plain() ? InstanceImpl::plain_result(j, len) : st.result;
}

}  // namespace

struct Interpreter {
  InstanceImpl& vm;
  RunState& st;
  const Program& prog;
  uint8_t* pkt;
  uint32_t& len;
  uint32_t cap;
  const PacketMeta& meta;

  void parse() {
    parse_headers({pkt, len}, vm.caps_.link, st.h);
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
    const auto reg = static_cast<MappedReg>(id);
    if (is_metadata(reg)) [[unlikely]]
      return metadata(reg);
    if (!st.parsed) parse();
    const uint64_t v = header_field(reg, {pkt, len}, st.h);
    st.field[id] = v;
    st.field_known |= uint64_t{1} << id;
    return v;
  }

  uint64_t metadata(MappedReg reg) {
    switch (reg) {
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
        return 0;
    }
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
    switch (in.op) {
      case Op::LOOKUP:
        number_table_run<Op::LOOKUP, false>(in, t, number);
        break;
      case Op::TADD:
        number_table_run<Op::TADD, false>(in, t, number);
        break;
      default:
        number_table_run<Op::UPDATE, false>(in, t, number);
    }
    return true;
  }

  // lookup, update or tadd of `number` in t, which has number-keyed
  // functions and values of at most 8 bytes: the slot probed inline where
  // the table allows (Table::NumberProbe). kForm: the instruction is one of
  // the number-keyed forms (table_form), whose other operand is a gpr, or
  // a constant value, which neither a read nor a write can fault on.
  template <Op kOp, bool kForm>
  __attribute__((always_inline)) void number_table_run(const Insn& in, Table& t, uint64_t number) {
    const Table::NumberProbe& probe = t.number_probe();
    const uint64_t mask = probe.value_mask;
    if constexpr (kOp == Op::LOOKUP) {
      const uint8_t* v = probe.lookup(t, number);
      if (!v) return set_found(false);
      uint64_t x;
      std::memcpy(&x, v, 8);
      if constexpr (kForm)
        st.r[in.a.reg] = x & mask;
      else
        write(in.a, x & mask);
      return set_found(true);
    }
    uint64_t x;
    if constexpr (kForm) {
      x = in.b.kind == Kind::Reg ? st.r[in.b.reg] : static_cast<uint64_t>(in.b.imm);
    } else {
      x = read(in.b);
      if (st.fault != AbortReason::None) return;  // an instruction that faults changes nothing
    }
    uint8_t* v = probe.find_or_insert(t, number);
    if (!v) return set_found(false);
    change_value<kOp>(v, x, mask);
  }

  // tadd's add of x to the value slot v, or update's store of x's value
  // bytes (mask) into it; found. One thread runs an instance at a time, so
  // it is the table's only writer: a plain add or store, no locked one.
  // Readers on other threads (a console's dump) see the value before or
  // after it.
  template <Op kOp>
  __attribute__((always_inline)) void change_value(uint8_t* v, uint64_t x, uint64_t mask) {
    std::atomic_ref<uint64_t> value(*reinterpret_cast<uint64_t*>(v));
    const uint64_t old = value.load(std::memory_order_relaxed);
    value.store(kOp == Op::TADD ? old + x : (old & ~mask) | (x & mask), std::memory_order_relaxed);
    set_found(true);
  }

  // number_table_run for a plain hash table's form (NETCPU_WORD_TABLE_FORMS),
  // its operands as prepare_handlers decoded them (r: the gprs): the probe
  // inline, a call only to insert a key a tadd or update does not find.
  template <Op kOp, Kind kOther>
  __attribute__((always_inline)) void word_table_run(const DecodedInsn& d, uint64_t* r) {
    Table& t = *d.table;
    const Table::NumberProbe& probe = t.number_probe();
    const uint64_t number = r[kOp == Op::LOOKUP ? d.b : d.a];
    uint8_t* v = probe.word.find(number);
    if constexpr (kOp == Op::LOOKUP) {
      if (!v) return set_found(false);
      uint64_t x;
      std::memcpy(&x, v, 8);
      r[d.a] = x & probe.value_mask;
      return set_found(true);
    }
    if (!v) [[unlikely]]
      return insert_then_change<kOp, kOther>(d, r);
    change_value<kOp>(v, kOther == Kind::Reg ? r[d.b] : d.imm, probe.value_mask);
  }
  // word_table_run's tadd or update of a key its probe did not find: out
  // of line, so that the probe keeps nothing for it in registers.
  template <Op kOp, Kind kOther>
  __attribute__((noinline, cold)) void insert_then_change(const DecodedInsn& d, uint64_t* r) {
    Table& t = *d.table;
    uint8_t* v = t.number_find_or_insert()(t, r[d.a]);  // inserts it, or fails on a full table
    if (!v) return set_found(false);
    change_value<kOp>(v, kOther == Kind::Reg ? r[d.b] : d.imm, t.number_probe().value_mask);
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
  // ends or `budget` instructions are counted: how it ended as native code
  // says it (jit_abi.h), a plain pass or drop in the exit word and anything
  // else JitExit::Ended with its RunResult in st.result. Nothing is counted.
  JitResult run_to_end(uint32_t entry, uint64_t budget, uint64_t start = 0) {
    return vm.profiling_ ? run_loop<true>(entry, budget, start)
                         : run_loop<false>(entry, budget, start);
  }
  RunResult run(uint32_t entry, uint64_t budget, uint64_t start = 0) {
    return result_of(st, run_to_end(entry, budget, start), len);
  }
  // The dispatch loop; with kProfile, counting each instruction's runs.
  template <bool kProfile>
  JitResult run_loop(uint32_t entry, uint64_t budget, uint64_t start);
};

template <bool kProfile>
JitResult Interpreter::run_loop(uint32_t entry, uint64_t budget, uint64_t start) {
  static const void* const kLabels[H_Count] = {
#define NETCPU_L(name, mn, a, b, t, x, f, s) &&L_##name,
      NETCPU_OPCODES(NETCPU_L)
#undef NETCPU_L
#define NETCPU_ALU_LABEL(op, expr) &&L_##op##_RI, &&L_##op##_RR,
          NETCPU_ALU(NETCPU_ALU_LABEL)
#undef NETCPU_ALU_LABEL
#define NETCPU_COND_LABEL(op, jop, cond) &&L_##op##_RI, &&L_##op##_RR, &&L_##op##_MI,
              NETCPU_CONDITIONS(NETCPU_COND_LABEL)
#undef NETCPU_COND_LABEL
#define NETCPU_BIT_LABEL(op, cond) &&L_##op##_RI, &&L_##op##_RR, &&L_##op##_MI,
                  NETCPU_BIT_CONDITIONS(NETCPU_BIT_LABEL)
#undef NETCPU_BIT_LABEL
#define NETCPU_LOAD_LABEL(bits, w, ...) &&L_MOV_RP##bits, &&L_MOV_RX##bits,
                      NETCPU_WIDTHS(NETCPU_LOAD_LABEL, )
#undef NETCPU_LOAD_LABEL
#define NETCPU_SIMPLE_LABEL(name, ka, kb) &&L_##name,
                          NETCPU_MOVES(NETCPU_SIMPLE_LABEL) NETCPU_CMPS(NETCPU_SIMPLE_LABEL)
#undef NETCPU_SIMPLE_LABEL
#define NETCPU_FUSED_LABEL(bits, w, op) &&L_MOV_RP##bits##_##op, &&L_MOV_RX##bits##_##op,
#define NETCPU_COND_FUSED_LABEL(op, jop, cond) NETCPU_WIDTHS(NETCPU_FUSED_LABEL, op)
#define NETCPU_BIT_FUSED_LABEL(op, cond) NETCPU_WIDTHS(NETCPU_FUSED_LABEL, op)
                              NETCPU_CONDITIONS(NETCPU_COND_FUSED_LABEL)
                                  NETCPU_BIT_CONDITIONS(NETCPU_BIT_FUSED_LABEL)
#undef NETCPU_BIT_FUSED_LABEL
#undef NETCPU_COND_FUSED_LABEL
#undef NETCPU_FUSED_LABEL
#define NETCPU_TABLE_LABEL(op) &&L_##op##_N,
                                      NETCPU_TABLE_FORMS(NETCPU_TABLE_LABEL)
#undef NETCPU_TABLE_LABEL
#define NETCPU_WORD_TABLE_LABEL(form, op, other) &&L_##form,
                                          NETCPU_WORD_TABLE_FORMS(NETCPU_WORD_TABLE_LABEL)
#undef NETCPU_WORD_TABLE_LABEL
  };
  if constexpr (!kProfile) {
    if (!st.handlers_ready) [[unlikely]] {
      for (DecodedInsn& x : st.decoded) x.handler = kLabels[x.id];
      st.handlers_ready = true;
    }
  }
  const Insn* const code = prog.code.data();
  const DecodedInsn* const decoded = st.decoded.data();
  uint64_t* const r = st.r;
  uint64_t* const prof = kProfile ? vm.profile_.data() : nullptr;
  uint64_t count = start;
  uint32_t sp = st.sp, csp = st.csp;
  // The instruction in progress: d is the program counter, its pc PC.
  const DecodedInsn* d = decoded + entry;
  Verdict verdict = Verdict::Pass;
  int32_t redirect_port = -1;
  AbortReason abort = AbortReason::None;

#define PC static_cast<uint32_t>(d - decoded)
// The instruction at d, for the generic handlers.
#define IN (&code[PC])
#define DISPATCH()                            \
  do {                                        \
    if (++count > budget) goto out_of_budget; \
    if constexpr (kProfile) {                 \
      ++prof[PC];                             \
      goto* kLabels[d->id];                   \
    } else {                                  \
      goto * d->handler;                      \
    }                                         \
  } while (0)
#define CHECK()                                      \
  do {                                               \
    if (st.fault != AbortReason::None) goto faulted; \
  } while (0)
#define SX(v) static_cast<int64_t>(v)

  DISPATCH();

L_NOP:
L_CASE:
L_DEFAULT:
L_ENDSWITCH:
  NEXT();
L_MOV : {
  uint64_t v = read(IN->b);
  CHECK();
  write(IN->a, v);
  CHECK();
  NEXT();
}
// The arithmetic, generic (the gpr forms are the filter forms below).
#define NETCPU_ALU_HANDLERS(op, expr) \
  L_##op : {                          \
    const uint64_t x = read(IN->a);   \
    const uint64_t y = read(IN->b);   \
    CHECK();                          \
    write(IN->a, (expr));             \
    CHECK();                          \
    NEXT();                           \
  }
  NETCPU_ALU(NETCPU_ALU_HANDLERS)
#undef NETCPU_ALU_HANDLERS
#define NETCPU_UNARY_HANDLER(op, expr) \
  L_##op : {                           \
    const uint64_t x = read(IN->a);    \
    CHECK();                           \
    write(IN->a, (expr));              \
    CHECK();                           \
    NEXT();                            \
  }
  NETCPU_UNARY(NETCPU_UNARY_HANDLER)
#undef NETCPU_UNARY_HANDLER

  // The conditions: compare-and-branch generic and on a mapped register
  // against an immediate (the gpr forms are the filter forms below); the
  // flag jump on the last compare's operands.
#define NETCPU_BRANCH_HANDLERS(op, cond)         \
  L_##op : {                                     \
    const uint64_t x = read(IN->a);              \
    const uint64_t y = read(IN->b);              \
    CHECK();                                     \
    JUMP_IF(cond);                               \
  }                                              \
  L_##op##_MI : {                                \
    const uint64_t x = mapped(d->a), y = d->imm; \
    JUMP_IF(cond);                               \
  }
#define NETCPU_COND_HANDLERS(op, jop, cond)    \
  NETCPU_BRANCH_HANDLERS(op, cond)             \
  L_##jop : {                                  \
    const uint64_t x = st.cmp_a, y = st.cmp_b; \
    JUMP_IF(cond);                             \
  }
  NETCPU_CONDITIONS(NETCPU_COND_HANDLERS)
  NETCPU_BIT_CONDITIONS(NETCPU_BRANCH_HANDLERS)
#undef NETCPU_COND_HANDLERS
#undef NETCPU_BRANCH_HANDLERS

L_CMP : {
  uint64_t x = read(IN->a), y = read(IN->b);
  CHECK();
  set_flags(x, y);
  NEXT();
}
L_TEST : {
  uint64_t x = read(IN->a), y = read(IN->b);
  CHECK();
  set_flags(x & y, 0);
  NEXT();
}
L_CMP16 : {
  uint8_t ta[16], tb[16];
  const uint8_t* a = key(IN->a, 16, ta);
  const uint8_t* b = key(IN->b, 16, tb);
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
  d = decoded + d->target;
  DISPATCH();
L_PUSH : {
  uint64_t v = read(IN->a);
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
  write(IN->a, st.stack[--sp]);
  CHECK();
  NEXT();
}
L_CALL:
  if (csp >= kMaxCallDepth) {
    fault(AbortReason::StackFault);
    goto faulted;
  }
  st.calls[csp++] = PC + 1;
  d = decoded + d->target;
  DISPATCH();
L_RET:
  if (csp == 0) {
    fault(AbortReason::StackFault);
    goto faulted;
  }
  d = decoded + st.calls[--csp];
  DISPATCH();
L_SWITCH : {
  uint64_t v = read(IN->a);
  CHECK();
  uint32_t dflt = kNoTarget;
  uint32_t c = IN->target;
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
  d = decoded + (code[c].op == Op::ENDSWITCH && dflt != kNoTarget ? dflt : c);
  DISPATCH();
}
L_BREAK:
  if (code[IN->target].op == Op::ENDFOR) {  // out of a foreach body: the walk ends
    end_walk(code[code[IN->target].target]);
    --sp;
    d = decoded + IN->target + 1;
    DISPATCH();
  }
  d = decoded + IN->target;
  DISPATCH();
L_FOREACH : {
  // The walk's cursor lives on the data stack while the body runs; the
  // verifier has proven the body leaves it there.
  if (sp >= kStackSlots) {
    fault(AbortReason::StackFault);
    goto faulted;
  }
  vm.tables_[IN->aux]->walk_begin();
  ++st.walks;
  st.stack[sp] = 0;
  if (!walk_step(*IN, &st.stack[sp])) {
    end_walk(*IN);
    d = decoded + IN->target + 1;
    DISPATCH();
  }
  ++sp;
  CHECK();
  NEXT();
}
L_ENDFOR : {
  const Insn& loop = code[IN->target];
  if (walk_step(loop, &st.stack[sp - 1])) {
    CHECK();
    d = decoded + IN->target + 1;
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
  uint64_t port = read(IN->a);
  CHECK();
  verdict = Verdict::Redirect;
  redirect_port = static_cast<int32_t>(port);
  goto finish;
}
L_MIRROR : {
  uint64_t port = read(IN->a);
  CHECK();
  st.mirror_port = static_cast<int32_t>(port);
  NEXT();
}
L_EMIT : {
  uint64_t port = read(IN->a);
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
  uint64_t n = read(IN->a);
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
  uint64_t n = read(IN->a);
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
  uint32_t n = copy_length(*IN);
  uint8_t* dst = address(IN->a, n);
  const uint8_t* src = dst ? address(IN->b, n) : nullptr;
  CHECK();
  std::memmove(dst, src, n);
  if (IN->a.kind == Kind::PktMem && n) packet_changed();
  NEXT();
}
L_FIND : {
  uint64_t start = read(IN->b);
  CHECK();
  if (!pkt) {
    fault(AbortReason::NoPacket);
    goto faulted;
  }
  const std::string& needle = prog.strings[IN->target];
  r[IN->a.reg] = find_in_packet(pkt, len, start, needle.data(), needle.size());
  NEXT();
}
L_CSUM:
  if (IN->aux & csum::kOut) {
    recompute_checksums({vm.out_.data(), vm.out_len_}, vm.caps_.link,
                        IN->aux & (csum::kIp | csum::kL4));
  } else if (pkt) {
    if (recompute_checksums({pkt, len}, vm.caps_.link, IN->aux)) st.modified = true;
  }
  NEXT();
L_REWRITE : {
  uint64_t v = read(IN->b);
  CHECK();
  if (!pkt) {
    fault(AbortReason::NoPacket);
    goto faulted;
  }
  if (!st.parsed) parse();
  bool ok = rewrite_field({pkt, len}, st.h, static_cast<MappedReg>(IN->a.reg), v);
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
  table_op(*IN);
  CHECK();
  NEXT();
  // The number-keyed forms: the key read and the slot probed with no
  // operand decoding (neither the key's read nor the value's can fault).
#define NETCPU_TABLE_HANDLER(op)                                                            \
  L_##op##_N : {                                                                            \
    const Operand& key = Op::op == Op::LOOKUP ? IN->b : IN->a;                              \
    number_table_run<Op::op, true>(*IN, *d->table,                                          \
                                   key.kind == Kind::Reg   ? r[key.reg]                     \
                                   : key.kind == Kind::Imm ? static_cast<uint64_t>(key.imm) \
                                                           : mapped(key.reg));              \
    NEXT();                                                                                 \
  }
  NETCPU_TABLE_FORMS(NETCPU_TABLE_HANDLER)
#undef NETCPU_TABLE_HANDLER
  // The forms on a plain hash table with the key in a gpr: d's a and b
  // the gprs (or b's constant in imm).
#define NETCPU_WORD_TABLE_HANDLER(form, op, other)       \
  L_##form : word_table_run<Op::op, Kind::other>(*d, r); \
  NEXT();
  NETCPU_WORD_TABLE_FORMS(NETCPU_WORD_TABLE_HANDLER)
#undef NETCPU_WORD_TABLE_HANDLER
L_TCLEAR:
  vm.tables_[IN->aux]->clear();
  NEXT();
L_PRINT:
L_LOG:
  output(*IN);
  CHECK();
  NEXT();
L_DUMP:
  dump(*IN);
  CHECK();
  NEXT();

  // Mapped registers moved and compared.
L_MOV_RM:
  r[d->a] = mapped(d->b);
  NEXT();
L_CMP_RI:
  set_flags(r[d->a], d->imm);
  NEXT();
L_CMP_MI:
  set_flags(mapped(d->a), d->imm);
  NEXT();
  // The specialised forms the filter loop runs too (interpreter_forms.h).
#define STEP_TO_NEXT()                        \
  do {                                        \
    ++d;                                      \
    if (++count > budget) goto out_of_budget; \
    if constexpr (kProfile) ++prof[PC];       \
  } while (0)
  NETCPU_FILTER_FORM_HANDLERS
#undef STEP_TO_NEXT

packet_fault:
  fault(pkt ? AbortReason::Fault : AbortReason::NoPacket);
  goto faulted;
out_of_budget:
  abort = AbortReason::Budget;
  verdict = vm.limits_.on_abort;
  --count;
  goto finish;
faulted:
  abort = st.fault;
  verdict = vm.fault_verdict();
finish:
  st.sp = sp, st.csp = csp;
  // (A mirror to a negative port is no mirror, but the RunResult says it.)
  if (abort == AbortReason::None && verdict != Verdict::Redirect && !st.modified &&
      st.mirror_port == -1 && !vm.emitted_count_) [[likely]]
    return {uint64_t{static_cast<uint8_t>(verdict)} << 32, count};
  {
    RunResult& res = st.result;
    res = RunResult{};
    res.verdict = verdict;
    res.aborted = abort != AbortReason::None;
    res.reason = abort;
    res.abort_pc = res.aborted ? PC : 0;
    res.redirect_port = redirect_port;
    res.mirror_port = st.mirror_port;
    res.instructions = static_cast<uint32_t>(count);
    res.length = len;
    res.modified = st.modified;
    res.emitted = static_cast<uint8_t>(vm.emitted_count_);
  }
  return {uint64_t{static_cast<uint8_t>(JitExit::Ended)} << 32, count};
#undef PC
#undef IN
#undef DISPATCH
#undef CHECK
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

namespace {

// A run from pc on a fresh state, as Interpreter::run_to_end says it ended:
// execute's, inlined into the packet path.
__attribute__((always_inline)) inline JitResult fresh_run(InstanceImpl& vm, uint32_t pc,
                                                          uint8_t* pkt, uint32_t& len,
                                                          uint32_t capacity,
                                                          const PacketMeta& meta) {
  RunState& st = *vm.state_;
  st.parsed = false;
  st.field_known = 0;
  st.modified = false;
  st.fault = AbortReason::None;
  st.cmp_a = st.cmp_b = 0;
  st.sp = st.csp = 0;
  st.mirror_port = -1;
  // Only the gprs the program names can be other than 0 (a memset of all
  // sixteen costs more than a filter's whole run).
  for (uint32_t used = st.gprs_used; used; used &= used - 1) st.r[std::countr_zero(used)] = 0;
  vm.emitted_count_ = 0;
  vm.out_len_ = 0;
  st.pkt = pkt, st.len = &len, st.capacity = capacity, st.meta = &meta;
  Interpreter it{vm, st, vm.program_, pkt, len, capacity, meta};
  const JitResult j = it.run_to_end(pc, vm.limits_.budget);
  if (st.walks) vm.close_walks();
  return j;
}

}  // namespace

// The interpreter standing in for native code where there is none (no JIT,
// JIT off, profiling) and where a leaf's native code hands a whole run over:
// a plain pass or drop is counted here, as native code counts it, so that
// Instance::run's inline path returns it; anything else is in st.result, for
// Instance::after_native to count.
JitResult interpreter_run(void* state, uint8_t* pkt, uint64_t, uint32_t* len_ptr, uint64_t capacity,
                          const void* meta) {
  InstanceImpl& vm = *static_cast<RunState*>(state)->vm;
  const JitResult j =
      fresh_run(vm, vm.program_.text_pc, pkt, *len_ptr, static_cast<uint32_t>(capacity),
                *static_cast<const PacketMeta*>(meta));
  if (j.plain()) [[likely]]
    vm.count_plain(j);
  return j;
}

RunResult InstanceImpl::execute(uint32_t pc, uint8_t* pkt, uint32_t& len, uint32_t capacity,
                                const PacketMeta& meta) {
  const JitResult j = fresh_run(*this, pc, pkt, len, capacity, meta);
  return result_of(*state_, j, len);
}

// A packet's run when no native code runs it and the packet path needs
// something first (timed tables' clock), or when there is no packet.
RunResult InstanceImpl::run_interpreted(uint8_t* pkt, uint32_t& len, uint32_t capacity,
                                        const PacketMeta& meta) {
  const RunResult r = execute(program_.text_pc, pkt, len, capacity, meta);
  account(r);
  return r;
}

// A run that ended inside foreach bodies (a verdict, a fault or the budget
// there) leaves their walks open: they end with it.
void InstanceImpl::close_walks() {
  for (auto& t : tables_) t->end_walks();
  state_->walks = 0;
}

}  // namespace netcpu
