// The x86-64 back end of the JIT (see jit.h for what it compiles and how
// the interpreter takes over what it does not).
//
// Entered as JitResult f(State* state, uint8_t* pkt, uint64_t len, uint32_t* len_ptr,
// uint64_t capacity, const PacketMeta* meta) (System V ABI). The header-field memo, the
// compare flags and the stacks stay in the state, so the interpreter can be called at any
// point. Pinned registers:
//                       state  packet  length  count  gprs
//   calls out:          r15    r12     r13     r14    rbx, rbp, r11   (r11 kept across calls)
//   does not (a leaf):  rdi    rsi     r8      r9     r10, r11
// The most used gprs get the registers in the last column (uses in loops
// count more); the others stay in the state. rax, rcx and rdx are scratch.
// Counting is per basic block: entering a block adds its length, and a
// fault in the middle of one subtracts what did not run, so counts match
// the interpreter's exactly. Code with loops or functions counts down
// instead: r14 holds what is left of the budget, so a loop's check is one
// compare with a constant; its exits turn that back into the count.
// Functions of the program are native functions (call, ret), one frame
// each, 16 bytes with the padding that keeps rsp aligned for calls out.
#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstring>
#include <functional>
#include <vector>

#include "jit.h"
#include "jit_flow.h"
#include "jit_x86_64_asm.h"
#include "netcpu/packet_view.h"
#include "netcpu/protocols.h"

namespace netcpu {

#if defined(__x86_64__)

namespace {

using namespace x86;

constexpr int8_t kInState = -1;  // a gpr without a host register

// The frames a copy of a program is compiled for, checked for once on entry
// (Compiler::dispatch_shapes): untagged IPv4 with a 20-byte header (Ip4,
// what a program that reads only the network layer's fields needs), and
// such frames, not fragments, carrying TCP with its whole header or UDP.
enum class Shape : uint8_t { General, Ip4, Tcp4, Udp4 };
// Programs with at most this many instructions reached get their copies.
constexpr uint32_t kMostCopied = 256;

// Whether an instruction may change the packet's bytes (the headers parsed
// before it may no longer hold) and, more widely, whether it may change a
// run's result beyond its verdict: packet, mirror, emits, redirect.
bool writes_packet(const Insn& in) {
  const OpInfo& info = op_info(in.op);
  return (info.flags & flag::kWritesPacket) ||
         (in.a.kind == Kind::PktMem && (info.a == Slot::Write || in.op == Op::COPY));
}
// A foreach counts: a run may end inside its body, with its walk open,
// which the instance closes after the run (native_outcome).
bool has_effects(const Insn& in) {
  const OpInfo& info = op_info(in.op);
  return writes_packet(in) || in.op == Op::CSUM || in.op == Op::OUTLEN || in.op == Op::FOREACH ||
         (info.flags & (flag::kMirror | flag::kEmit | flag::kRedirect)) ||
         in.a.kind == Kind::OutMem || in.b.kind == Kind::OutMem;
}

class Compiler {
 public:
  // previous: the same program assembled before, for short jumps.
  Compiler(const Program& p, const Flow& flow, const JitLayout& l, const Asm* previous)
      : p_(p),
        flow_(flow),
        l_(l),
        a_(previous),
        entry_(flow.entry()),
        no_packet_(flow.entry() != p.text_pc) {}

  const Asm& assembly() const { return a_; }

  bool assemble(std::string* why) {
    const size_t n = p_.code.size();
    if (entry_ >= n) return fail(why, "no entry point");
    survey();
    counts_down_ = full_ && loops_or_functions_;
    read_regs_ = flow_.regs_read_unset();  // the prologue zeroes those, and leaves the rest
    live_after_ = live_after();
    assign_host_registers();
    const std::vector<bool> parsed = parsed_on_entry();
    const std::vector<bool> unparsed = unparsed_on_entry();
    const std::vector<uint32_t> known = flags_on_entry();
    for (uint32_t pc = 0; pc < n; ++pc) pc_label_.push_back(a_.new_label());
    for (size_t c = 0; c < copies_.size(); ++c)
      for (uint32_t pc = 0; pc < n; ++pc) copy_labels_[c].push_back(a_.new_label());
    exit_ = a_.new_label(), text_body_ = a_.new_label(), bail_ = a_.new_label();
    exit_counted_ = a_.new_label();
    whole_run_ = a_.new_label();
    if (full_) {
      state_ = R15, pkt_ = R12, len_ = R13, count_ = R14;
      for (uint8_t r = 0; r < kGprCount; ++r)  // r11: the callee's, saved around calls
        if (host_[r] == R11) a_.keep_across_calls(R11, state_, l_.regs + 8 * r);
    } else {
      state_ = RDI, pkt_ = RSI, len_ = R8, count_ = R9;
    }

    exit_without_ip4();
    prologue();
    if (full_) budget_check(entry_);
    if (!copies_.empty()) {  // the frames of each copy's shape on to it
      const int other = a_.new_label();
      dispatch_shapes(other);
      a_.bind(other);
    }
    // On to the entry, unless its code comes next.
    uint32_t first = 0;
    while (!flow_.reached(first)) ++first;
    if (first != entry_ || targeted_[entry_]) a_.jmp(text_body_);
    uint32_t block_end = 0;  // last pc of the current block
    auto emit_at = [&](uint32_t pc) {
      pc_ = pc;
      if (flow_.leader(pc)) {
        block_end = flow_.block_end(pc);
        if (!uncounted_) count_instructions(static_cast<int32_t>(block_end - pc + 1));
      }
      not_run_ = block_end - pc;
      // (A copy reads what its shape gives from the frame and parses
      // nothing itself: what else it reads tests whether the run parsed.)
      parsed_ = shape_ == Shape::General && parsed[pc];
      unparsed_ = shape_ == Shape::General && unparsed[pc];
      known_ = known[pc];
      emit(p_.code[pc]);
      // The frame may no longer have its copy's shape: on in the general code.
      if (shape_ != Shape::General && writes_packet(p_.code[pc]) && pc + 1 < n &&
          flow_.reached(pc + 1))
        a_.jmp(pc_label_[pc + 1]);
    };
    auto emit_program = [&] {
      for (uint32_t pc = 0; pc < n; ++pc) {
        if (!flow_.reached(pc)) continue;
        if (only_fallen_into(pc))
          a_.bind_fallen_into(label_of(pc));
        else
          a_.bind(label_of(pc));
        if (const std::optional<CountedLoop> loop = fast_loop(pc)) {
          // Twice: first a copy without budget checks or bounds checks on the
          // counted reads, taken when the entry check covers the whole loop,
          // then the loop as it is.
          const int checked = a_.new_label();
          pc_ = pc;
          uncounted_ = counted_up_front(*loop);
          counted_loop_entry(*loop, checked);
          loop_ = *loop, loop_head_ = a_.new_label(), fast_ = true;
          const std::optional<uint32_t> sum = uncounted_ ? summing_loop(*loop) : std::nullopt;
          const int combine = a_.new_label();
          if (sum) unrolled_sum(*loop, *sum, combine);
          a_.align(32);
          a_.bind(loop_head_);
          for (uint32_t q = pc; q <= loop->end; ++q) emit_at(q);
          if (sum) {
            a_.bind(combine);
            for (uint8_t r : kSumPartials)
              a_.alu(Alu::Add, static_cast<uint8_t>(host_[p_.code[*sum].a.reg]), r);
          }
          a_.jmp(label_of(loop->end + 1));
          a_.bind(loop_head_ = checked), fast_ = uncounted_ = false;
          budget_check(pc);
          for (uint32_t q = pc; q <= loop->end; ++q) {
            if (q != pc) a_.bind(label_of(q));
            emit_at(q);
          }
          loop_head_ = -1;
          pc = loop->end;
          continue;
        }
        if (flow_.checkpoint(pc) && (pc != entry_ || targeted_[pc])) budget_check(pc);
        if (pc == entry_ && shape_ == Shape::General) a_.bind(text_body_);
        emit_at(pc);
      }
    };
    emit_program();
    // The same again for the frames of each shape, with its own labels.
    for (size_t c = 0; c < copies_.size(); ++c) {
      shape_ = copies_[c], copy_ = c, flags_set_at_ = fallen_silently_into_ = kNoTarget;
      emit_program();
    }
    shape_ = Shape::General;
    // Exits of the run from inside a block, one per site: the instructions after it did not run.
    for (const auto& s : sites_) {
      a_.bind(s.label);
      if (s.not_run) count_instructions(-static_cast<int32_t>(s.not_run));
      a_.mov_imm(RAX, s.exit);
      a_.jmp(exit_);
    }
    // Hand-overs to the interpreter where the budget may run out (esi: the pc).
    for (const auto& b : bails_) {
      a_.bind(b.label);
      a_.mov_imm(RSI, b.pc);
      a_.jmp(bail_);
    }
    if (!bails_.empty()) {
      a_.bind(bail_);
      if (frames_) a_.load(RSP, state_, l_.native_sp);  // leaves the program's native frames
      spill();
      a_.mov(RDI, state_);
      finish_count();
      a_.mov(RDX, count_);
      a_.call(reinterpret_cast<const void*>(l_.resume));
      a_.mov(count_, RAX);
      a_.mov_imm(RAX, exit_word(JitExit::Ended));
      a_.jmp(exit_counted_);
    }
    a_.bind(exit_);
    finish_count();
    a_.bind(exit_counted_);
    epilogue();
    // A leaf's whole run to the interpreter, as entered: the budget is below
    // what the run may need.
    if (!full_) {
      a_.bind(whole_run_);
      a_.mov_imm(RAX, reinterpret_cast<uint64_t>(l_.run));
      a_.jmp_rax();
    }
    if (!a_.resolve()) return fail(why, "internal: unbound label or short jump out of reach");
    return true;
  }

  const std::vector<uint8_t>& code() const { return a_.code; }
  bool effects() const { return effects_; }

 private:
  // An exit from inside a block: the exit word, and the instructions of the
  // block after pc that did not run.
  struct ExitSite {
    int label;
    uint64_t exit;
    uint32_t not_run;
  };
  struct BailSite {
    int label;
    uint32_t pc;
  };

  static bool fail(std::string* why, std::string reason) {
    if (why) *why = std::move(reason);
    return false;
  }

  static uint64_t exit_word(JitExit kind, uint8_t detail = 0, uint32_t pc = 0) {
    return uint64_t{static_cast<uint8_t>(kind)} << 32 | uint64_t{detail} << 40 | pc;
  }

  // What the reached code needs: which prologue, which state to reset.
  void survey() {
    const size_t n = p_.code.size();
    targeted_.assign(n, false);
    std::vector<FlowEdge> out;
    bool leaf = true, reads_fields = false, writes = false;
    uint32_t reached = 0;
    frame_fields_only_ = true;
    for (uint32_t pc = 0; pc < n; ++pc) {
      if (!flow_.reached(pc)) continue;
      ++reached;
      const Insn& in = p_.code[pc];
      flow_.edges(pc, out);
      for (const FlowEdge& e : out)
        if (e.kind != FlowEdge::Fall && e.to < n) targeted_[e.to] = true;
      for (const Operand* o : {&in.a, &in.b}) {
        calls_out_ |= calls(*o);
        reads_wlen_ |= mapped_read(*o) == static_cast<int>(MappedReg::Wlen);
        if (parses(*o) && !frame_field_read(*o)) frame_fields_only_ = false;
        reads_fields |= parses(*o) || mapped_read(*o) == static_cast<int>(MappedReg::EthType);
      }
      writes |= writes_packet(in);
      if (steps(in) || walks(in)) frame_fields_only_ = false;  // the interpreter's handler parses
      if (steps(in) || walks(in) || op_info(in.op).aux == Aux::Table || in.op == Op::FIND ||
          calls_helper(in))
        calls_out_ = true;
      effects_ |= has_effects(in);
      reported_ |= in.op == Op::FOREACH || (op_info(in.op).flags & (flag::kMirror | flag::kEmit));
      flags_ |= is_flag_jump(in.op);
      stack_ |= in.op == Op::PUSH || in.op == Op::POP || in.op == Op::CALL || in.op == Op::FOREACH;
      frames_ |= in.op == Op::CALL;
      resizes_ |= in.op == Op::RESIZE;
    }
    // A leaf has no budget checks past its entry: no loops, no functions.
    for (uint32_t pc = 0; pc < n; ++pc)
      if (flow_.reached(pc) && flow_.checkpoint(pc) && (pc != entry_ || targeted_[pc]))
        leaf = false, loops_or_functions_ = true;
    // Without a packet, nothing is counted as a packet's verdict: every exit
    // is one the instance reads.
    effects_ |= no_packet_;
    reported_ |= no_packet_;
    full_ = calls_out_ || !leaf || effects_ || flags_ || stack_ || frames_;
    // Copies of the program for the frames a switch forwards most, where
    // the header fields it reads are loads from the frame at known offsets
    // or constants, the frame's shape checked for once on entry: for a
    // program that reads header fields and calls no functions of its own;
    // where it changes the packet (a rewrite), the copy goes on in the
    // general code, unless a loop could come back (a counted loop's copy
    // counts its iterations once). One that reads only the network
    // layer's needs its IPv4 header alone.
    if (reads_fields && l_.ethernet && !no_packet_ && !(writes && loops_or_functions_) &&
        !frames_ && reached <= kMostCopied) {
      if (frame_fields_only_)
        copies_ = {Shape::Ip4};
      else
        copies_ = {Shape::Tcp4, Shape::Udp4};
    }
    copy_labels_.resize(copies_.size());
  }

  // print, log, dump and rewrite, when the code runs them: it reads their
  // operands and calls jit_calls.h's functions (not interpreter_step).
  bool calls_helper(const Insn& in) const {
    return !steps(in) &&
           (in.op == Op::PRINT || in.op == Op::LOG || in.op == Op::DUMP || in.op == Op::REWRITE);
  }

  // foreach, endfor and a break out of a foreach body: they walk a table
  // and pick one of two ways on (walk_step).
  bool walks(const Insn& in) const {
    return in.op == Op::FOREACH || in.op == Op::ENDFOR ||
           (in.op == Op::BREAK && p_.code[in.target].op == Op::ENDFOR);
  }

  // Whether the instruction runs through the interpreter's handler.
  bool steps(const Insn& in) const {
    if (walks(in)) return false;  // through it too, but on to where it says (walk_step)
    // Without a packet, what would touch one is the interpreter's NoPacket.
    if (no_packet_ && (op_info(in.op).flags & flag::kPacket)) return true;
    switch (in.op) {
      case Op::NOP:
      case Op::CASE:
      case Op::DEFAULT:
      case Op::ENDSWITCH:
      case Op::JMP:
      case Op::BREAK:
      case Op::CALL:
      case Op::RET:
      case Op::PASS:
      case Op::DROP:
      case Op::END:
        return false;
      case Op::SWITCH:
      case Op::MIRROR:
      case Op::PUSH:
      case Op::CMP:
      case Op::TEST:
        return false;  // operands read natively or through interpreter_operand
      case Op::POP:
        return !writable(in.a);
      case Op::LOOKUP:
      case Op::UPDATE:
      case Op::TADD:
        return !number_keyed(in) && !heap_keyed(in);
      case Op::FIND:
        return false;  // calls find_in_packet, as the interpreter does
      case Op::PRINT:
      case Op::LOG:
      case Op::DUMP:
      case Op::REWRITE:
        return false;  // operands read natively, then jit_calls.h
      default:
        break;
    }
    if (is_branch(in.op) || is_flag_jump(in.op)) return false;
    if (is_alu(in.op)) return !writable(in.a);
    return true;
  }

  // A table instruction whose key is a heap buffer at a constant offset
  // (a flow key a program builds, say), in bounds: the code passes its
  // address to the table's lookup or find_or_insert (Table::lookup_bytes)
  // and handles a value of at most 8 bytes as for a number key.
  bool heap_keyed(const Insn& in) const {
    const Table* t = in.aux < l_.tables.size() ? l_.tables[in.aux] : nullptr;
    if (!t || t->decl().value_size > 8 || number_keyed(in)) return false;
    if (in.op == Op::LOOKUP && !writable(in.a)) return false;
    const Operand& key = in.op == Op::LOOKUP ? in.b : in.a;
    return key.kind == Kind::HeapMem && (key.attr & attr::kNoBase) && key.imm >= 0 &&
           static_cast<uint64_t>(key.imm) + t->decl().key_size <= l_.heap_size;
  }

  // A table instruction the code runs through the table's number-keyed
  // functions: a hash table with keys of at most 8 bytes or an array, a
  // value of at most 8 bytes, and a key that is a number (a key from the
  // packet is its bytes: a number when read in network order at its width).
  bool number_keyed(const Insn& in) const {
    const Table* t = in.aux < l_.tables.size() ? l_.tables[in.aux] : nullptr;
    if (!t || !t->number_lookup() || t->decl().value_size > 8) return false;
    if (in.op == Op::LOOKUP && !writable(in.a)) return false;
    const Operand& key = in.op == Op::LOOKUP ? in.b : in.a;
    switch (key.kind) {
      case Kind::Reg:
      case Kind::Imm:
      case Kind::Var:
        return true;
      case Kind::Mapped:
        return mapped_info(static_cast<MappedReg>(key.reg)).bytes == 8;
      case Kind::PktMem:
        return !(key.attr & attr::kHostOrder) &&
               (1u << (key.attr & attr::kWidthMask)) == t->decl().key_size;
      default:
        return false;
    }
  }

  // A place the code writes natively: a gpr, a variable or heap memory (not
  // at a mapped register's offset: the interpreter reads that register again
  // to write, and `rand` would draw another number).
  bool writable(const Operand& o) const {
    if (o.kind == Kind::HeapMem) return inline_read(o) && !(o.attr & attr::kBaseMapped);
    return o.kind == Kind::Reg || o.kind == Kind::Var;
  }

  // Whether the code reads o inline (else through interpreter_operand).
  bool inline_read(const Operand& o) const {
    switch (o.kind) {
      case Kind::Reg:
      case Kind::Imm:
      case Kind::Var:
      case Kind::PktMem:
        return true;
      case Kind::Mapped:
        return mapped_info(static_cast<MappedReg>(o.reg)).bytes == 8;
      case Kind::HeapMem: {  // a constant address in bounds, or one checked at run time
        const uint64_t w = 1u << (o.attr & attr::kWidthMask);
        return !(o.attr & attr::kNoBase) ||
               (o.imm >= 0 && static_cast<uint64_t>(o.imm) + w <= l_.heap_size);
      }
      default:
        return false;
    }
  }

  // Heap memory at a computed address: read and written inline, bounds
  // checked as the interpreter checks them (a HeapFault where it faults).
  static bool indexed_heap(const Operand& o) {
    return o.kind == Kind::HeapMem && !(o.attr & attr::kNoBase);
  }
  // A variable, or an 8-byte word of heap memory in host order at a
  // computed address: what an op into memory changes as it is.
  static bool heap_word(const Operand& o) {
    return o.kind == Kind::Var ||
           (indexed_heap(o) && (o.attr & attr::kWidthMask) == 3 && (o.attr & attr::kHostOrder));
  }

  // Bit r: some path after pc may read gpr r before writing it; kFlagsLive:
  // some path may reach a flag jump before a cmp, test or other instruction
  // that sets the flags. A run's gprs and flags are dead after it, and the
  // interpreter, where it takes over, reads only what the program does.
  static constexpr uint32_t kFlagsLive = 1u << kGprCount;
  std::vector<uint32_t> live_after() const {
    return flow_.backward<uint32_t>(
        0, ~0u,
        [](const Insn& in, uint32_t after) {
          uint32_t before = (after & ~regs_written(in)) | regs_read(in);
          if (op_info(in.op).flags & flag::kSetsFlags) before &= ~kFlagsLive;
          if (is_flag_jump(in.op)) before |= kFlagsLive;
          return before;
        },
        std::bit_or<>());
  }
  // A lookup into a gpr nothing reads afterwards: only its found flag counts.
  bool dead_destination(uint32_t pc) const {
    const Insn& in = p_.code[pc];
    return in.op == Op::LOOKUP && in.a.kind == Kind::Reg && !(live_after_[pc] & (1u << in.a.reg));
  }

  // The most used gprs live in host registers: the caller-saved r10 and
  // r11 in a leaf; when the code calls out, the callee-saved rbx and rbp
  // and r11, which every call out keeps in the state meanwhile
  // (Asm::keep_across_calls). A use inside a loop counts 16 times one
  // outside it, per loop around it. The rest stay in the state. A run's
  // gprs are dead after it, so nothing is written back, except before the
  // interpreter reads them.
  void assign_host_registers() {
    const size_t n = p_.code.size();
    std::vector<uint32_t> depth(n, 0);  // loops around each pc (a backward edge's span)
    std::vector<FlowEdge> out;
    for (uint32_t pc = 0; pc < n; ++pc) {
      if (!flow_.reached(pc)) continue;
      flow_.edges(pc, out);
      for (const FlowEdge& e : out)
        if (e.kind == FlowEdge::Jump && e.to <= pc)
          for (uint32_t q = e.to; q <= pc; ++q) ++depth[q];
    }
    std::vector<std::pair<uint64_t, uint8_t>> uses(kGprCount);
    for (uint8_t r = 0; r < kGprCount; ++r) uses[r] = {0, r};
    for (uint32_t pc = 0; pc < n; ++pc) {
      if (!flow_.reached(pc)) continue;
      const uint64_t weight = uint64_t{1} << 4 * std::min<uint32_t>(depth[pc], 8);
      for (const Operand* o : {&p_.code[pc].a, &p_.code[pc].b})
        if (regs_in(*o, true) && !(o == &p_.code[pc].a && dead_destination(pc)))
          uses[o->reg].first += weight;
    }
    std::stable_sort(uses.begin(), uses.end(), [](auto& x, auto& y) { return x.first > y.first; });
    std::fill(std::begin(host_), std::end(host_), kInState);
    const std::vector<uint8_t> free =
        full_ ? std::vector<uint8_t>{RBX, RBP, R11} : std::vector<uint8_t>{R10, R11};
    for (size_t i = 0; i < free.size() && uses[i].first; ++i)
      host_[uses[i].second] = static_cast<int8_t>(free[i]);
    if (!full_) return;
    saved_ = {R12, R13, R14, R15};
    for (uint8_t r : {RBX, RBP})
      if (std::find(std::begin(host_), std::end(host_), r) != std::end(host_)) saved_.push_back(r);
    // An odd number of pushes keeps rsp 16-byte aligned: rbp pads (one
    // byte each way) where it is not pushed anyway.
    if (saved_.size() % 2 == 0 && std::find(saved_.begin(), saved_.end(), RBP) == saved_.end())
      saved_.push_back(RBP);
  }

  // Before the interpreter reads the gprs, and after it may have written them.
  void spill() {
    for (uint8_t r = 0; r < kGprCount; ++r)
      if (host_[r] != kInState) a_.store(state_, l_.regs + 8 * r, static_cast<uint8_t>(host_[r]));
  }
  void reload() {
    for (uint8_t r = 0; r < kGprCount; ++r)
      if (host_[r] != kInState) a_.load(static_cast<uint8_t>(host_[r]), state_, l_.regs + 8 * r);
  }

  // Entered with state, pkt, len, len_ptr, capacity and meta in rdi, rsi,
  // rdx, rcx, r8 and r9. Code that calls out hands the interpreter the run first.
  void prologue() {
    // A budget below the most a leaf's run may count: the interpreter runs
    // the packet, entered with the arguments as they came. (Code that calls
    // out checks once its state is set up, and hands over from there.)
    if (!full_) {
      a_.mov_imm(RAX, flow_.reach_from(entry_));
      a_.cmp_memory(RAX, RDI, l_.budget);
      a_.jcc(kA, whole_run_);
    }
    // wlen is meta->wire_len, or the length when that is 0: worked out once
    // here, while rdx and r9 still hold them (a leaf's count takes r9), and
    // kept in wlen's memo slot, which only this code reads.
    if (reads_wlen_ && !resizes_) {
      const int whole = a_.new_label();
      a_.load_sized(R9, static_cast<int32_t>(offsetof(PacketMeta, wire_len)), 2, true);
      a_.test(RAX, RAX);
      a_.jcc(kNE, whole);
      a_.mov(RAX, RDX);
      a_.bind(whole);
      a_.store(RDI, wlen_slot(), RAX);
    }
    if (full_ || read_regs_) a_.alu(Alu::Xor, RAX, RAX);
    if (full_) {
      // The callee-saved registers the code uses, pushed after the return
      // address, and 8 bytes more for an even number (all six): rsp is
      // 16-byte aligned for calls.
      for (uint8_t r : saved_) a_.push(r);
      if (saved_.size() % 2 == 0) a_.alu_imm(Alu::Sub, RSP, 8);
      a_.mov(R15, RDI);
      a_.mov(R12, RSI);
      a_.mov(R13, RDX);
      a_.store(state_, l_.run_pkt, RSI);
      a_.store(state_, l_.run_len, RCX);
      a_.store(state_, l_.run_capacity, R8, 4);
      a_.store(state_, l_.run_meta, R9);
      a_.store(state_, l_.parsed, RAX, 1);
      a_.store(state_, l_.field_known, RAX);
      a_.store(state_, l_.fault, RAX, 1);
      if (effects_) {
        a_.store(state_, l_.modified, RAX, 1);
        a_.store_imm32(state_, l_.mirror_port, -1);
        a_.mov_imm(RCX, reinterpret_cast<uint64_t>(l_.emitted_count));
        a_.store(RCX, 0, RAX, 4);
        a_.mov_imm(RCX, reinterpret_cast<uint64_t>(l_.out_len));
        a_.store(RCX, 0, RAX, 4);
      }
      if (flags_) {
        a_.store(state_, l_.cmp_a, RAX);
        a_.store(state_, l_.cmp_b, RAX);
      }
      if (stack_) {
        a_.store(state_, l_.sp, RAX, 4);
        a_.store(state_, l_.csp, RAX, 4);
      }
      if (frames_) a_.store(state_, l_.native_sp, RSP);
    } else {
      a_.mov(R8, RDX);
    }
    if (counts_down_)
      a_.load(count_, state_, l_.budget);  // what is left of it
    else
      a_.alu(Alu::Xor, count_, count_);
    for (uint8_t r = 0; r < kGprCount; ++r) {
      if (!(read_regs_ & (1u << r))) continue;
      if (host_[r] != kInState)
        a_.mov(static_cast<uint8_t>(host_[r]), RAX);
      else
        a_.store(state_, l_.regs + 8 * r, RAX);
    }
  }

  // Where a jump to pc goes: inside a counted loop's copy, its head is that copy's.
  int target_label(uint32_t pc) const {
    return loop_head_ >= 0 && pc == loop_.head ? loop_head_ : label_of(pc);
  }
  // The label of pc's code in the copy being compiled.
  int label_of(uint32_t pc) const {
    return shape_ == Shape::General ? pc_label_[pc] : copy_labels_[copy_][pc];
  }

  // A counted loop (jit_flow.h) at pc, in code that counts down (the
  // budget left is one register) and has a packet.
  std::optional<CountedLoop> fast_loop(uint32_t pc) const {
    if (!counts_down_ || no_packet_) return std::nullopt;
    std::optional<CountedLoop> loop = counted_loop(flow_, pc);
    if (!loop || !flow_.reached(loop->end + 1) || flow_.reach_from(pc) > INT32_MAX ||
        loop->end - pc >= INT32_MAX)
      return std::nullopt;
    for (uint32_t q = pc; q < loop->end; ++q)
      if (steps(p_.code[q])) return std::nullopt;
    return loop;
  }

  // A counted loop whose iterations only add a read of the packet at the
  // counter to one gpr (`add gpr1, pkt[gpr0]`, then the step: a checksum, a
  // byte sum), both gprs in host registers, in a copy that counted its
  // iterations on entry (no budget check or fault can stop it half way):
  // the pc of that add. Addition wraps the same in any order, so the sum
  // may be split.
  std::optional<uint32_t> summing_loop(const CountedLoop& loop) const {
    const Insn& add = p_.code[loop.head];
    if (loop.end != loop.head + 2 || add.op != Op::ADD || add.a.kind != Kind::Reg ||
        add.a.reg == loop.counter || !counted_read(loop, add.b) ||
        (loop.bound.kind == Kind::Reg && loop.bound.reg == add.a.reg) ||
        host_[add.a.reg] == kInState || host_[loop.counter] == kInState)
      return std::nullopt;
    return loop.head;
  }

  // The loop of summing_loop(), a round of iterations at a time while a
  // round's are due: reads at fixed distances from the counter into
  // partial sums (the gpr and kSumPartials, zeroed here), so no sum waits
  // for the one before; then the loop as compiled for the rest, and the
  // partial sums added to the gpr at `combine` (the caller's). Single bytes
  // one after the other (`pkt.u8[gpr0]`, a step of 1) are summed 8 at a
  // time from one 8-byte load: the bytes added pairwise into four 16-bit
  // lanes, which one multiply adds into its top 16 bits (at most 2040:
  // nothing carries out). Other widths and steps: 8 reads a round into
  // four sums.
  static constexpr uint8_t kSumPartials[] = {R8, R9, RSI};
  void unrolled_sum(const CountedLoop& loop, uint32_t pc, int combine) {
    const Operand& term = p_.code[pc].b;  // the read added
    const unsigned w = term.attr & attr::kWidthMask;
    const bool bytes = w == 0 && loop.step_log == 0;
    const int round = bytes ? 16 : 8;
    const auto counter = static_cast<uint8_t>(host_[loop.counter]);
    const uint8_t sums[] = {static_cast<uint8_t>(host_[p_.code[pc].a.reg]), R8, R9, RSI};
    const int32_t step = 1 << loop.step_log;
    const int head = a_.new_label();
    read(loop.bound);
    a_.mov(R10, RAX);  // the bound: the loop never changes it
    for (uint8_t r : kSumPartials) a_.alu(Alu::Xor, r, r);
    if (bytes) {  // r9 and rsi: the lanes' mask and the multiplier, not sums
      a_.mov_imm(R9, 0x00ff00ff00ff00ffull);
      a_.mov_imm(RSI, 0x0001000100010001ull);
    }
    a_.align(32);
    a_.bind(head);
    a_.mov(RDX, counter);
    a_.alu_imm(Alu::Add, RDX, (round - 1) * step);  // the round's last counter: below the bound?
    a_.alu(Alu::Cmp, RDX, R10);
    const int rest = bytes ? a_.new_label() : loop_head_;  // fewer due: one at a time
    a_.jcc(kAE, rest);
    for (int i = 0; i < round; i += bytes ? 8 : 1) {
      const auto at = static_cast<int32_t>(term.imm + int64_t{i} * step);
      if (!bytes) {
        a_.load_packet(pkt_, w, term.attr & attr::kHostOrder, at, counter);
        a_.alu(Alu::Add, sums[i % 4], RAX);
        continue;
      }
      a_.load_packet(pkt_, 3, true, at, counter);  // 8 bytes, in any order
      a_.mov(RCX, RAX);
      a_.alu(Alu::And, RAX, R9);  // bytes 0, 2, 4, 6
      a_.shift_imm(Shift::Shr, RCX, 8);
      a_.alu(Alu::And, RCX, R9);  // bytes 1, 3, 5, 7
      a_.alu(Alu::Add, RAX, RCX);
      a_.imul(RAX, RSI);  // the four lanes summed into bits 48-63
      a_.shift_imm(Shift::Shr, RAX, 48);
      a_.alu(Alu::Add, sums[i / 8], RAX);
    }
    a_.alu_imm(Alu::Add, counter, round * step);
    a_.alu(Alu::Cmp, counter, R10);
    a_.jcc(kB, head);
    if (!bytes) return a_.jmp(combine);
    for (int way : {combine, loop_head_}) {  // r8 the only partial sum
      if (way == loop_head_) a_.bind(rest);
      a_.alu(Alu::Xor, R9, R9);
      a_.alu(Alu::Xor, RSI, RSI);
      a_.jmp(way);
    }
  }

  // On to `checked` (the loop as it is) unless the whole loop, run to its
  // end from here, stays within the budget and its counted reads within the
  // packet; when it does and uncounted_ is set, all its iterations are
  // counted here. With c the counter, b the bound and s the step (both below
  // 2^32, so nothing wraps): it runs n = 1 + ((b - c - 1) >> log s) times
  // when c < b, else once; the budget must cover (n - 1) iterations and what
  // the check at its head covers; the last iteration starts at
  // c + (n - 1) * s, and reads up to packet_reach bytes past that.
  void counted_loop_entry(const CountedLoop& loop, int checked) {
    read(loop.bound);
    a_.mov(RCX, RAX);
    read_gpr(loop.counter);
    a_.mov(RDX, RAX);  // both below 2^32
    a_.alu(Alu::Or, RDX, RCX);
    a_.shift_imm(Shift::Shr, RDX, 32);
    a_.jcc(kNE, checked);
    const int once = a_.new_label(), counted = a_.new_label();
    a_.alu(Alu::Sub, RCX, RAX);  // b - c
    a_.jcc(kBE, once);
    a_.alu_imm(Alu::Sub, RCX, 1);
    if (loop.step_log) a_.shift_imm(Shift::Shr, RCX, loop.step_log);  // n - 1
    a_.jmp(counted);
    a_.bind(once);
    a_.alu(Alu::Xor, RCX, RCX);
    a_.bind(counted);
    const uint64_t block = loop.end - loop.head + 1, head = flow_.reach_from(loop.head);
    a_.imul_imm(RDX, RCX, static_cast<int32_t>(block));  // (n - 1) * block, below 2^63
    a_.alu_imm(Alu::Add, RDX, static_cast<int32_t>(head));
    a_.alu(Alu::Cmp, count_, RDX);
    a_.jcc(kB, checked);
    if (loop.packet_reach > 0) {
      if (loop.step_log) a_.shift_imm(Shift::Shl, RCX, loop.step_log);
      a_.alu(Alu::Add, RAX, RCX);
      a_.alu_imm(Alu::Add, RAX, static_cast<int32_t>(loop.packet_reach));
      a_.alu(Alu::Cmp, RAX, len_);
      a_.jcc(kA, checked);
    }
    if (!uncounted_) return;
    a_.alu_imm(Alu::Sub, RDX, static_cast<int32_t>(head - block));  // n * block
    a_.alu(Alu::Sub, count_, RDX);
  }

  // Whether no run can leave the loop before its end (nothing in it
  // faults), so its copy without checks can count all its iterations on
  // entry rather than each as it starts.
  bool counted_up_front(const CountedLoop& loop) const {
    for (uint32_t pc = loop.head; pc < loop.end; ++pc)
      for (const Operand* o : {&p_.code[pc].a, &p_.code[pc].b})
        if (o->kind != Kind::None && o->kind != Kind::Reg && o->kind != Kind::Imm &&
            o->kind != Kind::Var && !counted_read(loop, *o))
          return false;
    return true;
  }

  // n instructions counted (n < 0: not run after all): the count goes up,
  // or what is left of the budget down.
  void count_instructions(int32_t n) {
    if (n == 0) return;
    const Alu op = counts_down_ == (n > 0) ? Alu::Sub : Alu::Add;
    // A block entered only by falling in from one that counted just before
    // (a branch decided when compiling): one add for both.
    if (!a_.merge_into_last_imm(op, count_, n > 0 ? n : -n)) a_.alu_imm(op, count_, n > 0 ? n : -n);
  }

  // Where the code counts down, the count from what is left: budget - r14.
  // Every way out of the code does this first (the pc it ends at is past
  // every block it counted).
  void finish_count() {
    if (!counts_down_) return;
    a_.unary(Unary::Neg, count_);
    a_.add_memory(count_, state_, l_.budget);
  }

  // Where a run may loop, enter or return from a function: on to the
  // interpreter when the budget would not cover the most it can count
  // before the next check.
  void budget_check(uint32_t pc) {
    const uint64_t most = flow_.reach_from(pc);
    const int bail = a_.new_label();
    bails_.push_back({bail, pc});
    if (counts_down_) {  // what is left (r14) below the most: cmp r14, most
      if (most <= INT32_MAX) {
        a_.alu_imm(Alu::Cmp, count_, static_cast<int32_t>(most));
      } else {
        a_.mov_imm(RCX, most);
        a_.alu(Alu::Cmp, count_, RCX);
      }
      return a_.jcc(kB, bail);
    }
    a_.mov(RAX, count_);
    if (most <= INT32_MAX) {
      a_.alu_imm(Alu::Add, RAX, static_cast<int32_t>(most));
    } else {
      a_.mov_imm(RCX, most);
      a_.alu(Alu::Add, RAX, RCX);
    }
    a_.cmp_memory(RAX, state_, l_.budget);
    a_.jcc(kA, bail);
  }

  // A pass or a drop. Without effects it counts itself (packets,
  // instructions and the verdict) and returns; with them, the instance
  // reads what else changed from the state and counts it.
  void verdict_exit(Verdict v) {
    if (effects_ && !reported_) return counted_exit_with_modified(v);
    if (effects_) {
      a_.mov_imm(RAX, exit_word(JitExit::Done, static_cast<uint8_t>(v)));
      return a_.jmp(exit_);
    }
    finish_count();
    count_verdict(v, count_);
    a_.mov_imm(RAX, exit_word(v == Verdict::Drop ? JitExit::Drop : JitExit::Pass));
    epilogue();
  }

  // A pass or drop the code counts itself in the instance's Stats: the
  // packet, the instructions in `count`, the verdict. rcx = the Stats.
  void count_verdict(Verdict v, uint8_t count) {
    a_.mov_imm(RCX, reinterpret_cast<uintptr_t>(l_.stats));
    a_.add_to_memory(RCX, l_.packets, 1);
    a_.add_register_to_memory(RCX, l_.instructions, count);
    a_.add_to_memory(RCX, v == Verdict::Drop ? l_.dropped : l_.passed, 1);
  }

  // Code whose only effect beyond its verdict is the packet changed
  // (rewrites, stores into it, checksums; no mirror, emits or walks):
  // counts the run as account() would, modified when the state says so, and
  // returns the verdict with kModified then.
  void counted_exit_with_modified(Verdict v) {
    finish_count();
    count_verdict(v, count_);
    a_.load_sized(state_, l_.modified, 0, true);  // movzx eax: 0 or 1
    a_.add_register_to_memory(RCX, l_.modified_packets, RAX);
    static_assert(kModified == 1);
    a_.shift_imm(Shift::Shl, RAX, 40);  // kModified, or 0
    if (v == Verdict::Drop) {
      a_.mov_imm(RDX, exit_word(JitExit::Drop));
      a_.alu(Alu::Or, RAX, RDX);
    }
    epilogue();
  }

  // Returns {rax, count}.
  void epilogue() {
    a_.mov(RDX, count_);
    if (frames_) a_.load(RSP, state_, l_.native_sp);  // from inside a function, too
    if (full_ && saved_.size() % 2 == 0) a_.alu_imm(Alu::Add, RSP, 8);
    for (auto r = saved_.rbegin(); r != saved_.rend(); ++r) a_.pop(*r);
    a_.ret();
  }

  void read_gpr(uint8_t r) {
    if (host_[r] != kInState) return a_.mov(RAX, static_cast<uint8_t>(host_[r]));
    a_.load(RAX, state_, l_.regs + 8 * r);
  }

  // A label that leaves the run at this instruction: a fault (reason 0: the
  // state's) or the interpreter's end of the run.
  int exit_label(JitExit kind, AbortReason reason = AbortReason::None) {
    int l = a_.new_label();
    sites_.push_back({l, exit_word(kind, static_cast<uint8_t>(reason), pc_), not_run_});
    return l;
  }
  int fault_label(AbortReason reason = AbortReason::Fault) {
    return exit_label(JitExit::Fault, reason);
  }

  // Runs the instruction with the interpreter's handler, then goes on.
  void step(const Insn& in) {
    spill();
    a_.mov(RDI, state_);
    a_.mov_imm(RSI, pc_);
    a_.call(reinterpret_cast<const void*>(l_.step));
    reload();
    a_.test(RAX, RAX);
    a_.jcc(kNE, exit_label(JitExit::Ended));
    if (in.op == Op::RESIZE) {  // the length may have changed
      a_.load(RAX, state_, l_.run_len);
      a_.load32(len_, RAX, 0);
    }
    // Whatever the handler read or changed, the memo and the parse stay in
    // the state as it left them; nothing here assumes otherwise.
    parsed_ = unparsed_ = false;
  }

  // An instruction that walks a table through the interpreter's handler,
  // which says where the run goes on: one of the instruction's ways on
  // (Flow::edges), or nowhere (it ended there).
  void walk_step() {
    spill();
    a_.mov(RDI, state_);
    a_.mov_imm(RSI, pc_);
    a_.call(reinterpret_cast<const void*>(l_.branch));
    reload();
    parsed_ = unparsed_ = false;
    std::vector<FlowEdge> out;
    flow_.edges(pc_, out);
    for (const FlowEdge& e : out) {
      a_.alu_imm(Alu::Cmp, RAX, static_cast<int32_t>(e.to));  // the way's pc
      a_.jcc(kE, label_of(e.to));
    }
    a_.jmp(exit_label(JitExit::Ended));
  }

  // The mapped register an operand reads (as a value or as a packet
  // offset's base), or -1.
  static int mapped_read(const Operand& o) {
    const bool memory = o.kind == Kind::PktMem || o.kind == Kind::HeapMem || o.kind == Kind::OutMem;
    const bool read = o.kind == Kind::Mapped ||
                      (memory && !(o.attr & attr::kNoBase) && (o.attr & attr::kBaseMapped));
    return read ? o.reg : -1;
  }

  // Whether reading o may call out: any mapped register but mlen, which the
  // code keeps in a host register, wlen, which the prologue works out, and
  // eth.type where read_eth_type() reads it from the frame; any operand the
  // code reads through the interpreter.
  bool calls(const Operand& o) const {
    if (o.kind != Kind::None && !inline_read(o)) return true;
    const int m = mapped_read(o);
    return m >= 0 && m != static_cast<int>(MappedReg::Mlen) &&
           m != static_cast<int>(MappedReg::Wlen) && !eth_type_from_frame(m);
  }
  // Whether eth.type is read from the frame itself where the headers are
  // not parsed yet (read_eth_type): a program that only tells EtherTypes
  // apart (ARP, a switch on eth.type) need not parse through to the
  // transport header.
  bool eth_type_from_frame(int mapped) const {
    return mapped == static_cast<int>(MappedReg::EthType) && l_.ethernet;
  }

  int32_t wlen_slot() const { return l_.field + 8 * static_cast<int32_t>(MappedReg::Wlen); }

  void read_mapped(uint8_t id) {
    if (id == static_cast<uint8_t>(MappedReg::Mlen)) return a_.mov(RAX, len_);
    if (id == static_cast<uint8_t>(MappedReg::Wlen)) {
      if (!resizes_) return a_.load(RAX, state_, wlen_slot());
      // The length may have changed since the prologue: meta->wire_len, or mlen now.
      const int whole = a_.new_label();
      a_.load(RDX, state_, l_.run_meta);
      a_.load_sized(RDX, static_cast<int32_t>(offsetof(PacketMeta, wire_len)), 2, true);
      a_.test(RAX, RAX);
      a_.jcc(kNE, whole);
      a_.mov(RAX, len_);
      return a_.bind(whole);
    }
    if (eth_type_from_frame(id)) return read_eth_type();
    if (auto loc = field_location(static_cast<MappedReg>(id))) return read_located(*loc);
    // Header fields are memoised per run; metadata (port, now, rand...) is not.
    const bool memo = !is_metadata(static_cast<MappedReg>(id));
    int slow = a_.new_label(), done = a_.new_label();
    if (memo) {
      a_.load(RAX, state_, l_.field_known);
      a_.bt(RAX, id);
      a_.jcc(kAE, slow);  // carry clear: not read yet
      a_.load(RAX, state_, l_.field + 8 * id);
      a_.jmp(done);
    }
    a_.bind(slow);
    a_.mov(RDI, state_);
    a_.mov_imm(RSI, id);
    a_.call(reinterpret_cast<const void*>(l_.mapped));
    a_.bind(done);
    if (memo) parsed_ = true;  // a header field in the memo was parsed for
  }

  // rax = eth.type, as parse_headers gives it: the EtherType after any VLAN
  // tags (0 for a frame shorter than an Ethernet header or a tag cut short,
  // within the first kMaxParsed bytes), read from the frame where the
  // headers are not parsed yet. That path parses nothing and calls nothing:
  // a program that only tells EtherTypes apart (ARP, a switch on eth.type)
  // is a leaf, and afterwards the headers are as parsed as they were.
  void read_eth_type() {
    const auto loc = field_location(MappedReg::EthType);
    static_assert(std::size(kVlanTpids) == 3);
    if (shape_ != Shape::General) return a_.mov_imm(RAX, kTypeIp4);  // untagged IPv4 frames
    if (parsed_) return read_located(*loc);
    const int from_frame = a_.new_label(), tagged = a_.new_label(), tag = a_.new_label();
    const int cut_short = a_.new_label(), walked = a_.new_label(), done = a_.new_label();
    if (!unparsed_) {  // parsed on some path: the parsed headers say
      a_.cmp_byte(state_, l_.parsed, 0);
      a_.jcc(kE, from_frame);
      a_.load_sized(state_, l_.headers + loc->offset, loc->width_log, true);
      a_.jmp(done);
      a_.bind(from_frame);
    }
    a_.alu(Alu::Xor, RAX, RAX);  // no EtherType
    a_.alu_imm(Alu::Cmp, len_, kEthHeader);
    a_.jcc(kB, done);
    auto to_if_tag = [&](int label) {  // on to label when rax is a VLAN tag's TPID
      for (const uint16_t tpid : kVlanTpids) {
        a_.alu_imm(Alu::Cmp, RAX, tpid);
        a_.jcc(kE, label);
      }
    };
    a_.load_sized(pkt_, kEthHeader - 2, 1, false);
    to_if_tag(tagged);
    a_.jmp(done);
    // A read that calls nothing changes no register but rax (read_pair
    // keeps the other operand in rcx): the walk's two are kept on the
    // stack, which nothing else touches before they are back.
    a_.bind(tagged);
    a_.push(RCX);
    a_.push(RDX);
    a_.mov_imm(RCX, kEthHeader - 2);  // rcx: where the tag's TPID is
    a_.bind(tag);
    a_.mov(RDX, RCX);
    a_.alu_imm(Alu::Add, RDX, 2 + kVlanTag);  // rdx: the end of the tag
    a_.alu(Alu::Cmp, RDX, len_);
    a_.jcc(kA, cut_short);
    a_.alu_imm(Alu::Cmp, RDX, kMaxParsed);
    a_.jcc(kA, cut_short);
    a_.alu_imm(Alu::Add, RCX, kVlanTag);
    a_.load_packet(pkt_, 1, false, 0, RCX);  // the EtherType after the tag
    to_if_tag(tag);
    a_.jmp(walked);
    a_.bind(cut_short);
    a_.alu(Alu::Xor, RAX, RAX);
    a_.bind(walked);
    a_.pop(RDX);
    a_.pop(RCX);
    a_.bind(done);
  }

  // rax = operand a or b of this instruction, read by the interpreter; a
  // fault there ends the run with the interpreter's reason.
  void read_through_interpreter(const Operand& o) {
    spill();
    a_.mov(RDI, state_);
    a_.mov_imm(RSI, pc_);
    a_.mov_imm(RDX, &o == &p_.code[pc_].a ? 0 : 1);
    a_.call(reinterpret_cast<const void*>(l_.operand));
    a_.cmp_byte(state_, l_.fault, 0);
    a_.jcc(kNE, fault_label(AbortReason::None));
    parsed_ = unparsed_ = false;  // it may or may not have parsed
  }

  // Whether a read of this operand may parse the headers (any header field
  // does, through field_location or the memo, but eth.type read from the
  // frame; metadata does not).
  bool parses(const Operand& o) const {
    const int m = mapped_read(o);
    return m >= 0 && !is_metadata(static_cast<MappedReg>(m)) && !eth_type_from_frame(m);
  }
  // Whether it parses them on every path: not a field read_from_frame()
  // takes from the frame itself where it can.
  bool surely_parses(const Operand& o) const {
    return parses(o) && !(frame_fields_only_ && frame_field_read(o));
  }
  // Whether o reads a header field a frame gives (frame_field).
  bool frame_field_read(const Operand& o) const {
    const int m = mapped_read(o);
    if (m < 0) return false;
    const auto loc = field_location(static_cast<MappedReg>(m));
    return loc && frame_field(*loc);
  }

  // Per pc, whether no path from the entry to it has done anything that
  // could have parsed the headers: there the state says "not parsed", as
  // the prologue left it, and the code parses without testing.
  std::vector<bool> unparsed_on_entry() const {
    return flow_.forward<bool>(
        true, false,
        [this](const Insn& in, bool unparsed, bool) {
          return unparsed && !parses(in.a) && !parses(in.b) && !calls(in.a) && !calls(in.b) &&
                 !steps(in);
        },
        std::logical_and<>());
  }

  // Per pc, whether every path from .text to it has parsed the headers
  // (since the packet last changed): the code there needs no test.
  std::vector<bool> parsed_on_entry() const {
    return flow_.forward<bool>(
        false, false,
        [&](const Insn& in, bool parsed, bool) {
          // foreach writes its operands only for an entry: past the walk's
          // end (an empty table, say) nothing read them.
          const bool operands_read = in.op != Op::FOREACH;
          return !writes_packet(in) &&
                 (parsed || (operands_read && (surely_parses(in.a) || surely_parses(in.b))));
        },
        std::logical_and<>());
  }

  // The has:: bit a beq/bne of a has.* field against 0 or 1 tests, or 0;
  // *jump_if_set: whether it jumps when the bit is set.
  static uint32_t flag_test(const Insn& in, bool* jump_if_set) {
    if ((in.op != Op::BEQ && in.op != Op::BNE) || in.a.kind != Kind::Mapped ||
        in.b.kind != Kind::Imm || (in.b.imm != 0 && in.b.imm != 1))
      return 0;
    const auto loc = field_location(static_cast<MappedReg>(in.a.reg));
    if (!loc || loc->from != FieldLocation::From::Flags) return 0;
    *jump_if_set = (in.op == Op::BEQ) == (in.b.imm == 1);
    return loc->when;
  }

  // Per pc, the has:: bits every path from .text to it has tested set, and
  // what they imply (a transport protocol implies kL4), so that reads of
  // the fields they vouch for need no test. An instruction that changes the
  // packet forgets them.
  std::vector<uint32_t> flags_on_entry() const {
    return flow_.forward<uint32_t>(
        0, 0,
        [](const Insn& in, uint32_t known, bool taken) -> uint32_t {
          if (writes_packet(in)) return 0;
          bool jump_if_set = false;
          uint32_t tested = flag_test(in, &jump_if_set);
          if (std::popcount(tested) != 1) tested = 0;  // "one of several": no single bit known
          if (tested & (has::kTcp | has::kUdp | has::kSctp | has::kIcmp)) tested |= has::kL4;
          return known | (taken == jump_if_set ? tested : 0);
        },
        std::bit_and<>());
  }

  void ensure_parsed() {
    if (parsed_) return;
    parsed_ = true;  // for the rest of this instruction
    const int parsed = a_.new_label(), call = a_.new_label();
    if (!unparsed_) {  // (where nothing could have parsed yet, the prologue's 0 holds)
      a_.cmp_byte(state_, l_.parsed, 0);
      a_.jcc(kNE, parsed);
    }
    if (shape_ != Shape::General) {
      parse_in_shape(call, parsed);
    } else if (l_.ethernet && !parses_inline_) {
      // Inline once: a later site where some path has not parsed yet is rare.
      parse_common(call, parsed);
      parses_inline_ = true;
    }
    a_.bind(call);
    a_.mov(RDI, state_);
    a_.call(reinterpret_cast<const void*>(l_.parse));
    a_.bind(parsed);
  }

  // What parse_headers gives an IPv4 frame without options, not a
  // fragment, or an IPv6 frame without extension headers, with a whole TCP,
  // UDP or ICMP header, untagged or in one 802.1Q tag (`tag`: its 4 bytes),
  // and an untagged ARP frame (transport 0): the frames a switch forwards
  // most. The code checks for one and writes these bytes itself; anything
  // else jumps to `call`, the parser. Only the flags, ip_proto, ip_id, the
  // payload and the tag's TCI vary.
  static std::array<uint8_t, sizeof(Headers)> common_headers(uint16_t type, uint32_t transport,
                                                             int32_t tag) {
    std::array<uint8_t, sizeof(Headers)> b{};
    auto put = [&](size_t at, auto v) { std::memcpy(&b[at], &v, sizeof v); };
    const bool v6 = type == kTypeIp6, arp = type == kTypeArp;
    const uint32_t network = arp ? 0 : (v6 ? has::kIp6 : has::kIp4) | has::kL4;
    put(offsetof(Headers, flags), has::kEth | (tag ? has::kVlan : 0) | network | transport);
    put(offsetof(Headers, l3), static_cast<uint16_t>(14 + tag));
    if (!arp) put(offsetof(Headers, l4), static_cast<uint16_t>((v6 ? 54 : 34) + tag));
    put(offsetof(Headers, eth_type), type);
    if (!arp) put(offsetof(Headers, ip_hlen), static_cast<uint16_t>(v6 ? 40 : 20));
    return b;
  }
  static uint64_t word(const std::array<uint8_t, sizeof(Headers)>& b, size_t at) {
    uint64_t w = 0;
    std::memcpy(&w, &b[at], std::min(sizeof w, b.size() - at));
    return w;
  }

  // The parser's own registers are free here (the code calls out): rax,
  // rcx, rdx, rsi, rdi and r8; the state, packet and length registers stay.
  void parse_common(int call, int parsed) {
    const int store = a_.new_label(), store_tagged = a_.new_label(), tagged = a_.new_label();
    a_.alu_imm(Alu::Cmp, len_, 42);  // Ethernet, IPv4 and 8 transport bytes; a whole ARP body
    a_.jcc(kB, call);
    const int not_ip = a_.new_label();
    common_network(0, call, store, not_ip);
    a_.bind(not_ip);
    // ARP: its has:: bit for 6-byte hardware and 4-byte protocol addresses.
    const int odd_arp = a_.new_label();
    a_.cmp_word(pkt_, 12, 0x0608);  // EtherType 0x0806
    a_.jcc(kNE, tagged);
    a_.alu(Alu::Xor, RCX, RCX);  // no protocol, payload, id
    a_.alu(Alu::Xor, RDX, RDX);
    a_.alu(Alu::Xor, RDI, RDI);
    a_.mov_imm(RSI, word(common_headers(kTypeArp, 0, 0), 8));
    a_.mov_imm(RAX, word(common_headers(kTypeArp, 0, 0), 0));
    a_.cmp_word(pkt_, 18, 0x0406);  // hardware and protocol address lengths 6 and 4
    a_.jcc(kNE, odd_arp);
    a_.alu_imm(Alu::Or, RAX, has::kArp);  // (64 bits: the word holds l3 too)
    a_.bind(odd_arp);
    a_.jmp(store);
    // One 802.1Q tag: its TCI in r8, where the second word of Headers has it.
    a_.bind(tagged);
    a_.cmp_word(pkt_, 12, 0x0081);  // TPID 0x8100
    a_.jcc(kNE, call);
    a_.alu_imm(Alu::Cmp, len_, 46);
    a_.jcc(kB, call);
    a_.load_sized(pkt_, 14, 1, false);
    a_.mov(R8, RAX);
    a_.shift_imm(Shift::Shl, R8, 8 * (offsetof(Headers, vlan_tci) - 8));
    common_network(4, call, store_tagged, call);
    a_.bind(store_tagged);
    a_.alu(Alu::Or, RSI, R8);
    a_.bind(store);
    store_headers(parsed);
  }

  // The parse in a copy: its frames are untagged IPv4 with a 20-byte
  // header (dispatch_shapes), so only what the shape leaves open is checked.
  void parse_in_shape(int call, int parsed) {
    const int store = a_.new_label();
    if (shape_ == Shape::Ip4) {
      a_.alu_imm(Alu::Cmp, len_, kEthHeader + kIp4MinHeader + 8);  // 8 transport bytes
      a_.jcc(kB, call);
    }
    common_ip4_transport(0, call, store);
    a_.bind(store);
    store_headers(parsed);
  }

  // The words common_transport leaves in rax, rsi, rcx, rdx and rdi
  // written to the state's Headers, the run marked parsed, on to `parsed`.
  void store_headers(int parsed) {
    const int32_t h = l_.headers;
    static_assert(sizeof(Headers) == 28 && offsetof(Headers, ip_proto) == 16 &&
                  offsetof(Headers, ip_id) == 24 && offsetof(Headers, vlan_tci) == 12);
    a_.store(state_, h, RAX);
    a_.store(state_, h + 8, RSI);
    a_.alu(Alu::Xor, RAX, RAX);
    a_.store(state_, h + 16, RAX);
    a_.store(state_, h + static_cast<int32_t>(offsetof(Headers, ip_proto)), RCX, 1);
    a_.store(state_, h + static_cast<int32_t>(offsetof(Headers, payload)), RDX, 2);
    a_.store(state_, h + static_cast<int32_t>(offsetof(Headers, ip_id)), RDI, 4);
    a_.mov_imm(RAX, 1);
    a_.store(state_, l_.parsed, RAX, 1);
    a_.jmp(parsed);
  }

  // An IPv4 or IPv6 header after the EtherType at 12 + tag, with 42 + tag
  // bytes in the frame: on to `store` as common_transport says; to `call`
  // for any other such header, to `other` for any other EtherType.
  void common_network(int32_t tag, int call, int store, int other) {
    const int v6 = a_.new_label();
    a_.cmp_word(pkt_, 12 + tag, 0x0008);  // EtherType 0x0800, as the bytes read little-endian
    a_.jcc(kNE, v6);
    a_.cmp_byte(pkt_, 14 + tag, 0x45);  // version 4, 20-byte header
    a_.jcc(kNE, call);
    common_ip4_transport(tag, call, store);
    a_.bind(v6);
    a_.cmp_word(pkt_, 12 + tag, 0xdd86);  // EtherType 0x86dd
    a_.jcc(kNE, other);
    a_.alu_imm(Alu::Cmp, len_, 62 + tag);  // Ethernet, IPv6 and 8 transport bytes
    a_.jcc(kB, call);
    a_.load_sized(pkt_, 14 + tag, 0, true);
    a_.and_imm32(RAX, 0xf0);
    a_.alu_imm(Alu::Cmp, RAX, 0x60);  // version 6
    a_.jcc(kNE, call);
    a_.alu(Alu::Xor, RDI, RDI);              // no fragment header: id 0
    a_.load_sized(pkt_, 20 + tag, 0, true);  // next header: the transport
    common_transport(true, tag, call, store);
  }

  // After an IPv4 header of 20 bytes at 14 + tag, with 42 + tag bytes in
  // the frame: on to `store` as common_transport says when it is no
  // fragment, to `call` otherwise.
  void common_ip4_transport(int32_t tag, int call, int store) {
    a_.test_memory(pkt_, 20 + tag, 0xff3f);  // MF and the fragment offset
    a_.jcc(kNE, call);
    a_.load_sized(pkt_, 18 + tag, 1, false);  // the IPv4 id
    a_.mov(RDI, RAX);
    a_.load_sized(pkt_, 23 + tag, 0, true);  // protocol
    common_transport(false, tag, call, store);
  }

  // With the protocol in rax and 8 bytes after the network header checked:
  // rax = the first word of Headers, rsi the second, rcx the protocol, rdx
  // the payload's offset, then on to `store`; to `call` for anything else.
  void common_transport(bool v6, int32_t tag, int call, int store) {
    const uint16_t type = v6 ? kTypeIp6 : kTypeIp4;
    const int32_t l4 = (v6 ? 54 : 34) + tag;
    const int tcp = a_.new_label(), icmp = a_.new_label();
    a_.mov(RCX, RAX);
    a_.mov_imm(RSI, word(common_headers(type, 0, tag), 8));  // the same for every protocol
    a_.mov_imm(RDX, static_cast<uint64_t>(l4 + 8));  // UDP's and ICMP's payload, after 8 bytes
    a_.alu_imm(Alu::Cmp, RCX, kProtoTcp);
    a_.jcc(kE, tcp);
    a_.alu_imm(Alu::Cmp, RCX, v6 ? kProtoIcmp6 : kProtoIcmp);
    a_.jcc(kE, icmp);
    a_.alu_imm(Alu::Cmp, RCX, kProtoUdp);
    a_.jcc(kNE, call);
    a_.mov_imm(RAX, word(common_headers(type, has::kUdp, tag), 0));
    a_.jmp(store);
    a_.bind(icmp);
    a_.mov_imm(RAX, word(common_headers(type, has::kIcmp, tag), 0));
    a_.jmp(store);
    a_.bind(tcp);
    check_tcp_header(l4, call);
    a_.mov(RDX, RAX);
    a_.mov_imm(RAX, word(common_headers(type, has::kTcp, tag), 0));
    a_.jmp(store);
  }

  // ZF clear when the parsed headers have one of the has:: bits in mask.
  void test_header_flags(uint32_t mask) {
    a_.test_memory(state_, l_.headers + static_cast<int32_t>(offsetof(Headers, flags)), mask);
  }

  // rax = a header field field_location() places: no call once parsed. The
  // packet reads need no bounds check: the `when` bits vouch for them.
  void read_located(const FieldLocation& loc) {
    using From = FieldLocation::From;
    if (loc.from == From::Flags && (known_ & loc.when)) return a_.mov_imm(RAX, 1);
    if (read_in_shape(loc)) return;
    if (!parsed_ && from_frame(loc)) return read_from_frame(loc);
    ensure_parsed();
    if (loc.from == From::Flags) {
      test_header_flags(loc.when);
      a_.mov_imm(RAX, 0);  // mov eax, 0 leaves the flags alone
      return a_.setne_al();
    }
    const int absent = a_.new_label();
    const bool test = loc.when && !(known_ & loc.when);
    if (test) {
      a_.alu(Alu::Xor, RAX, RAX);  // 0 when absent
      test_header_flags(loc.when);
      a_.jcc(kE, absent);
    }
    if (loc.from == From::Headers) {
      a_.load_sized(state_, l_.headers + loc.offset, loc.width_log, true);
    } else {
      const size_t base = loc.from == From::L3 ? offsetof(Headers, l3) : offsetof(Headers, l4);
      a_.load_sized(state_, l_.headers + static_cast<int32_t>(base), 1, true);
      a_.load_packet(pkt_, loc.width_log, false, loc.offset);
    }
    if (test) a_.bind(absent);
  }

  // Whether read_located() takes the field from the frame itself where the
  // headers are not parsed yet and the frame is untagged IPv4 with a
  // 20-byte header (read_from_frame): in a program that reads no header
  // field but these (frame_fields_only_), so that such a frame is never
  // parsed (ip_pair; rate_limit's has.ip4 and ip.src). Where another read
  // parses anyway, testing the frame before it costs more than it saves.
  bool from_frame(const FieldLocation& loc) const { return frame_fields_only_ && frame_field(loc); }
  // The fields such a frame gives: ip.src and ip.dst (bytes of that
  // header), ip.proto (its byte 9), and has.eth, has.vlan, has.arp,
  // has.ip4, has.ip6 and has.ip (what such a frame has, and has not).
  bool frame_field(const FieldLocation& loc) const {
    using From = FieldLocation::From;
    if (!l_.ethernet || no_packet_) return false;
    constexpr uint32_t kNetwork = has::kEth | has::kVlan | has::kArp | has::kIp4 | has::kIp6;
    switch (loc.from) {
      case From::L3:
        return loc.when == has::kIp4 && loc.offset + (1u << loc.width_log) <= kIp4MinHeader;
      case From::Flags:
        return (loc.when & ~kNetwork) == 0;
      case From::Headers:
        return loc.offset == offsetof(Headers, ip_proto);
      default:
        return false;
    }
  }
  // Such a flag's value in such a frame.
  static bool frame_flag(uint32_t when) { return (when & (has::kEth | has::kIp4)) != 0; }

  // On to `parse` unless the frame is untagged IPv4 with a 20-byte header
  // (and at least min_len bytes), the frames a switch forwards most: for
  // them parse_headers gives kEth and kIp4 (the whole header is in the
  // frame), l3 = 14, and no kVlan, kArp or kIp6.
  void check_common_ip4(int parse, int32_t min_len = kEthHeader + kIp4MinHeader) {
    a_.alu_imm(Alu::Cmp, len_, min_len);
    a_.jcc(kB, parse);
    a_.cmp_word(pkt_, 12, 0x0008);  // EtherType 0x0800, as the bytes read little-endian
    a_.jcc(kNE, parse);
    a_.cmp_byte(pkt_, kEthHeader, 0x45);  // version 4, 20-byte header
    a_.jcc(kNE, parse);
  }

  // On to `absent` where the frame's EtherType (14 bytes at least) is
  // neither IPv4 nor a VLAN tag's TPID: the parser finds no IPv4 header
  // there. Else on (rax changed).
  void no_ip4_in_frame(int absent) {
    const int walk = a_.new_label();
    on_unless_no_ip4(walk, pkt_, len_);
    a_.jmp(absent);
    a_.bind(walk);
  }
  // On past this code for a frame no_ip4_in_frame() says has no IPv4
  // header, to `maybe` for any other (short, IPv4, tagged); pkt and len
  // the registers that hold the packet and its length.
  void on_unless_no_ip4(int maybe, uint8_t pkt, uint8_t len) {
    a_.alu_imm(Alu::Cmp, len, kEthHeader);
    a_.jcc(kB, maybe);
    a_.load_sized(pkt, 12, 1, false);  // the EtherType
    a_.alu_imm(Alu::Cmp, RAX, kTypeIp4);
    a_.jcc(kE, maybe);
    for (uint16_t tpid : kVlanTpids) {
      a_.alu_imm(Alu::Cmp, RAX, tpid);
      a_.jcc(kE, maybe);
    }
  }

  // On to the copy of each shape the frame has (copies_), else on.
  void dispatch_shapes(int other) {
    const auto copy = [&](Shape shape) {
      const size_t c = std::find(copies_.begin(), copies_.end(), shape) - copies_.begin();
      return copy_labels_[c][entry_];
    };
    if (copies_ == std::vector<Shape>{Shape::Ip4}) {
      check_common_ip4(other);
      return a_.jmp(copy(Shape::Ip4));
    }
    constexpr int32_t l4 = kEthHeader + kIp4MinHeader;
    check_common_ip4(other, l4 + 8);               // and 8 transport bytes
    a_.test_memory(pkt_, kEthHeader + 6, 0xff3f);  // MF and the fragment offset
    a_.jcc(kNE, other);
    a_.load_sized(pkt_, kEthHeader + 9, 0, true);  // protocol
    a_.alu_imm(Alu::Cmp, RAX, kProtoUdp);
    a_.jcc(kE, copy(Shape::Udp4));
    a_.alu_imm(Alu::Cmp, RAX, kProtoTcp);
    a_.jcc(kNE, other);
    check_tcp_header(l4, other);
    a_.jmp(copy(Shape::Tcp4));
  }
  // rax = where the data of a TCP header at l4 starts: its data offset in words.
  void tcp_payload(int32_t l4) {
    a_.load_sized(pkt_, l4 + 12, 0, true);
    a_.shift_imm(Shift::Shr, RAX, 4);
    a_.shift_imm(Shift::Shl, RAX, 2);
    a_.alu_imm(Alu::Add, RAX, l4);
  }
  // On to `fail` unless the TCP header at l4 is as the parser needs it:
  // its 20 bytes in the frame, a data offset of 5 words at least, and the
  // header with its options inside the frame. rax = tcp_payload().
  void check_tcp_header(int32_t l4, int fail) {
    a_.alu_imm(Alu::Cmp, len_, l4 + 20);
    a_.jcc(kB, fail);
    tcp_payload(l4);
    a_.alu(Alu::Cmp, RAX, len_);
    a_.jcc(kA, fail);
    a_.alu_imm(Alu::Cmp, RAX, l4 + 20);
    a_.jcc(kB, fail);
  }

  // What a field is in every frame of the copy's shape where it is one
  // value: a has bit, a member of the parsed headers but the IPv4 id and a
  // TCP payload's offset, and 0 for a field such a frame lacks (an ARP, an
  // ICMP or, in a UDP frame, a TCP field). Ip4 knows only the network
  // layer's bits (read_from_frame's).
  std::optional<uint64_t> shape_value(const FieldLocation& loc) const {
    using From = FieldLocation::From;
    if (shape_ == Shape::General) return std::nullopt;
    if (shape_ == Shape::Ip4) {
      if (loc.from == From::Flags && frame_field(loc)) return frame_flag(loc.when);
      return std::nullopt;
    }
    const bool tcp = shape_ == Shape::Tcp4;
    const std::array<uint8_t, sizeof(Headers)> b =
        common_headers(kTypeIp4, tcp ? has::kTcp : has::kUdp, 0);
    uint32_t flags;
    std::memcpy(&flags, &b[offsetof(Headers, flags)], sizeof flags);
    if (loc.from == From::Flags) return (flags & loc.when) != 0;
    if (loc.when && !(flags & loc.when)) return 0;       // absent
    if (loc.from != From::Headers) return std::nullopt;  // in the frame
    switch (loc.offset) {
      case offsetof(Headers, ip_proto):
        return tcp ? kProtoTcp : kProtoUdp;
      case offsetof(Headers, ip_id):
        return std::nullopt;
      case offsetof(Headers, payload):
        if (tcp) return std::nullopt;
        return kEthHeader + kIp4MinHeader + 8;
      default: {
        uint64_t v = 0;
        std::memcpy(&v, &b[loc.offset], size_t{1} << loc.width_log);
        return v;
      }
    }
  }

  // rax = a field in a copy for frames of one shape (shape_value, else its
  // bytes at their place in such a frame); false where the copy reads it as
  // the general code does.
  bool read_in_shape(const FieldLocation& loc) {
    using From = FieldLocation::From;
    if (shape_ == Shape::General) return false;
    if (const std::optional<uint64_t> v = shape_value(loc)) return a_.mov_imm(RAX, *v), true;
    constexpr int32_t l3 = kEthHeader, l4 = kEthHeader + kIp4MinHeader;
    // A table key of the field's width: its bytes as they are (table_op).
    const bool raw = loc.from != From::Headers && raw_key_bytes_ == 1u << loc.width_log;
    if (shape_ == Shape::Ip4) {  // the network layer's: in the IPv4 header
      if (!frame_field(loc)) return false;
      load_ip4_field(loc, raw_key_read_ = raw);
      return true;
    }
    if (loc.from == From::L3 || loc.from == From::L4) {
      a_.load_sized(pkt_, (loc.from == From::L3 ? l3 : l4) + loc.offset, loc.width_log,
                    raw_key_read_ = raw);
      return true;
    }
    if (loc.offset == offsetof(Headers, ip_id)) {
      a_.load_sized(pkt_, l3 + 4, 1, false);
      return true;
    }
    tcp_payload(l4);  // (the entry checked it is inside the frame)
    return true;
  }

  // rax = an IPv4 header's field frame_field() names (not a has bit) in a
  // frame check_common_ip4 passed: its bytes at 14 + their offset, in
  // network order unless `raw`, or ip.proto.
  void load_ip4_field(const FieldLocation& loc, bool raw) {
    if (loc.from == FieldLocation::From::L3)
      a_.load_sized(pkt_, static_cast<int32_t>(kEthHeader + loc.offset), loc.width_log, raw);
    else  // ip.proto
      a_.load_sized(pkt_, static_cast<int32_t>(kEthHeader + 9), 0, true);
  }

  // rax = a field from_frame() names, from the frame where check_common_ip4
  // passes; any other frame is parsed and the field read as parsed. Either
  // way the headers may still be unparsed after it: so nothing after this
  // read assumes they are parsed (surely_parses).
  void read_from_frame(const FieldLocation& loc) {
    using From = FieldLocation::From;
    const int parse = a_.new_label(), done = a_.new_label();
    check_common_ip4(parse);
    if (loc.from == From::Flags)
      a_.mov_imm(RAX, frame_flag(loc.when));
    else
      load_ip4_field(loc, false);
    a_.jmp(done);
    a_.bind(parse);
    ensure_parsed();
    read_located(loc);
    a_.bind(done);
    parsed_ = unparsed_ = false;  // parsed on one way here, not on the other
  }

  // rax = the value of o.
  void read(const Operand& o) {
    if (!inline_read(o)) return read_through_interpreter(o);
    switch (o.kind) {
      case Kind::Reg:
        return read_gpr(o.reg);
      case Kind::Imm:
        return a_.mov_imm(RAX, static_cast<uint64_t>(o.imm));
      case Kind::Mapped:
        return read_mapped(o.reg);
      case Kind::Var:
        a_.load(RDX, state_, l_.heap);
        return a_.load(RAX, RDX, static_cast<int32_t>(o.imm));
      case Kind::HeapMem:
        if (indexed_heap(o)) {
          heap_address(o);
          a_.load(RDX, state_, l_.heap);
          return a_.load_packet(RDX, o.attr & attr::kWidthMask, o.attr & attr::kHostOrder);
        }
        // A constant address, proven in bounds by inline_read().
        a_.load(RDX, state_, l_.heap);
        return a_.load_sized(RDX, static_cast<int32_t>(o.imm), o.attr & attr::kWidthMask,
                             o.attr & attr::kHostOrder);
      case Kind::PktMem: {
        if (no_packet_) {  // the base is read (a rand draws), then NoPacket
          if (!(o.attr & attr::kNoBase) && (o.attr & attr::kBaseMapped)) read_mapped(o.reg);
          return a_.jmp(fault_label(AbortReason::NoPacket));
        }
        const unsigned w = o.attr & attr::kWidthMask;
        if ((o.attr & attr::kNoBase) && o.imm >= 0 && o.imm + (1 << w) <= INT32_MAX) {
          // A constant offset: in bounds when len >= offset + width.
          a_.alu_imm(Alu::Cmp, len_, static_cast<int32_t>(o.imm + (1 << w)));
          a_.jcc(kB, fault_label());
          return a_.load_sized(pkt_, static_cast<int32_t>(o.imm), w, o.attr & attr::kHostOrder);
        }
        const int base = o.attr & (attr::kNoBase | attr::kBaseMapped | attr::kScaleMask)
                             ? -1
                             : value_register({.kind = Kind::Reg, .reg = o.reg});
        if (fast_ && counted_read(loop_, o)) {  // in bounds: counted_loop_entry() checked
          if (base >= 0)
            return a_.load_packet(pkt_, w, o.attr & attr::kHostOrder, static_cast<int32_t>(o.imm),
                                  static_cast<uint8_t>(base));
          read_gpr(o.reg);
          return a_.load_packet(pkt_, w, o.attr & attr::kHostOrder, static_cast<int32_t>(o.imm));
        }
        const int fault = fault_label();
        if (base >= 0 && o.imm == 0 && w == 0) {               // pkt.u8[gpr] of a gpr in a register
          a_.alu(Alu::Cmp, static_cast<uint8_t>(base), len_);  // below is in bounds
          a_.jcc(kAE, fault);
          return a_.load_packet(pkt_, w, o.attr & attr::kHostOrder, 0, static_cast<uint8_t>(base));
        }
        if (o.attr & attr::kNoBase)
          a_.mov_imm(RAX, static_cast<uint64_t>(o.imm));
        else
          computed_offset(o);
        if (w == 0) {  // one byte: in bounds when offset < len
          a_.alu(Alu::Cmp, RAX, len_);
          a_.jcc(kAE, fault);
          return a_.load_packet(pkt_, w, o.attr & attr::kHostOrder);
        }
        // In bounds when len >= width and offset <= len - width (unsigned).
        a_.mov(RDX, len_);
        a_.alu_imm(Alu::Sub, RDX, 1 << w);
        a_.jcc(kB, fault);
        a_.alu(Alu::Cmp, RAX, RDX);
        a_.jcc(kA, fault);
        return a_.load_packet(pkt_, w, o.attr & attr::kHostOrder);
      }
      default:
        return read_through_interpreter(o);
    }
  }

  static bool imm32(const Operand& o) {
    return o.kind == Kind::Imm && o.imm >= INT32_MIN && o.imm <= INT32_MAX;
  }

  // Whether reading o draws from the random sequence (as a value or as a
  // packet offset's base): the one read with an effect besides a fault.
  static bool draws_random(const Operand& o) {
    return mapped_read(o) == static_cast<int>(MappedReg::Rand);
  }

  // rax = a, rcx = b (b first when a's read may call the parser, which
  // clobbers rcx; the state's scratch slot keeps b meanwhile). With `rand` in either, or one the
  // interpreter reads, a first, as the interpreter reads them: which reads
  // happen before a fault, which fault is reported and which number each
  // gets depend on the order.
  void read_pair(const Operand& a, const Operand& b) {
    if (b.kind == Kind::Imm) {
      read(a);
      a_.mov_imm(RCX, static_cast<uint64_t>(b.imm));
    } else if (draws_random(a) || draws_random(b) || !inline_read(a) || !inline_read(b) ||
               indexed_heap(a) || indexed_heap(b)) {
      read(a);
      a_.store(state_, l_.scratch, RAX);
      read(b);
      a_.mov(RCX, RAX);
      a_.load(RAX, state_, l_.scratch);
    } else if (!calls(a)) {
      read(b);
      a_.mov(RCX, RAX);
      read(a);
    } else {
      read(b);
      a_.store(state_, l_.scratch, RAX);
      read(a);
      a_.load(RCX, state_, l_.scratch);
    }
  }

  // rax = a memory operand's offset from its base: base << scale + disp,
  // wrapping as the interpreter's.
  void computed_offset(const Operand& o) {
    if (o.attr & attr::kBaseMapped)
      read_mapped(o.reg);
    else
      read_gpr(o.reg);
    if (unsigned scale = (o.attr & attr::kScaleMask) >> attr::kScaleShift)
      a_.shift_imm(Shift::Shl, RAX, static_cast<uint8_t>(scale));
    if (o.imm >= INT32_MIN && o.imm <= INT32_MAX) {
      if (o.imm != 0) a_.alu_imm(Alu::Add, RAX, static_cast<int32_t>(o.imm));
    } else {
      a_.mov_imm(RDX, static_cast<uint64_t>(o.imm));
      a_.alu(Alu::Add, RAX, RDX);
    }
  }

  // rax = the address of heap memory at a computed offset (base << scale +
  // disp, wrapping as the interpreter's), or a heap fault.
  void heap_address(const Operand& o) {
    const unsigned w = 1u << (o.attr & attr::kWidthMask);
    computed_offset(o);
    const int fault = fault_label(AbortReason::HeapFault);
    if (l_.heap_size < w) return a_.jmp(fault);
    if (l_.heap_size - w <= INT32_MAX) {
      a_.alu_imm(Alu::Cmp, RAX, static_cast<int32_t>(l_.heap_size - w));
    } else {
      a_.mov_imm(RDX, l_.heap_size - w);
      a_.alu(Alu::Cmp, RAX, RDX);
    }
    a_.jcc(kA, fault);  // above is out of bounds
  }

  void write(const Operand& o) {
    if (o.kind == Kind::Reg) {
      if (host_[o.reg] != kInState) return a_.mov(static_cast<uint8_t>(host_[o.reg]), RAX);
      return a_.store(state_, l_.regs + 8 * o.reg, RAX);
    }
    if (o.kind == Kind::HeapMem) {
      const unsigned w = o.attr & attr::kWidthMask;
      if (indexed_heap(o)) {
        a_.store(state_, l_.scratch, RAX);  // the value, while the address is worked out
        heap_address(o);
        a_.mov(RCX, RAX);
        a_.load(RAX, state_, l_.scratch);
      } else {
        a_.mov_imm(RCX, static_cast<uint64_t>(o.imm));
      }
      if (!(o.attr & attr::kHostOrder)) {
        if (w == 1) a_.rol_ax_8();
        if (w == 2) a_.bswap32_rax();
        if (w == 3) a_.bswap64_rax();
      }
      a_.load(RDX, state_, l_.heap);
      return a_.store_indexed(RDX, RCX, 0, 0, RAX, 1u << w);
    }
    a_.load(RDX, state_, l_.heap);  // Var: proven in bounds by the verifier
    a_.store(RDX, static_cast<int32_t>(o.imm), RAX);
  }

  // Shifts of 64 or more give 0 (sar: the sign), where x86 would mask the count.
  void shift(Shift op) {
    int big = a_.new_label(), done = a_.new_label();
    a_.alu_imm(Alu::Cmp, RCX, 63);
    a_.jcc(kA, big);
    a_.shift_cl(op, RAX);
    a_.jmp(done);
    a_.bind(big);
    if (op == Shift::Sar)
      a_.shift_imm(Shift::Sar, RAX, 63);
    else
      a_.alu(Alu::Xor, RAX, RAX);
    a_.bind(done);
  }

  void divide(bool remainder) {
    int zero = a_.new_label(), done = a_.new_label();
    a_.test(RCX, RCX);
    a_.jcc(kE, zero);
    a_.alu(Alu::Xor, RDX, RDX);
    a_.unary(Unary::Div, RCX);  // rdx:rax / rcx
    if (remainder) a_.mov(RAX, RDX);
    a_.jmp(done);
    a_.bind(zero);
    if (!remainder) a_.alu(Alu::Xor, RAX, RAX);  // b == 0: div gives 0, mod leaves a
    a_.bind(done);
  }

  // rax = rax / d, or rax % d, for a constant d > 0, as a compiler divides
  // by one (no div: 10-18 cycles of latency on Zen 4, more on older cores;
  // rcx and rdx are free): a power of two by a shift or a mask, any other d
  // by the high half of a multiply (Granlund and Montgomery), l = ceil(log2
  // d). Where m = ceil(2^(63 + l) / d) (below 2^64) is close enough, m * d -
  // 2^(63 + l) <= 2^(l - 1), q = mulhi(x, m) >> (l - 1) (d = 10: m =
  // 0xcccccccccccccccd, a shift of 3); else m = floor(2^64 * (2^l - d) / d)
  // + 1 and q = (t + ((x - t) >> 1)) >> (l - 1) with t = mulhi(x, m). Both
  // exact for every 64-bit x; the remainder x - q * d.
  void divide_by_constant(uint64_t d, bool remainder) {
    if (std::has_single_bit(d)) {
      const auto l = static_cast<uint8_t>(std::countr_zero(d));
      if (!remainder) return l ? a_.shift_imm(Shift::Shr, RAX, l) : void();
      a_.mov_imm(RCX, d - 1);
      return a_.alu(Alu::And, RAX, RCX);
    }
    const int l = 64 - std::countl_zero(d - 1);  // ceil(log2 d): 2 ..= 64
    using u128 = unsigned __int128;
    const u128 top = u128{1} << (63 + l);
    const auto near = static_cast<uint64_t>((top + d - 1) / d);
    const bool close = u128{near} * d - top <= (u128{1} << (l - 1));
    if (remainder || !close) a_.mov(RCX, RAX);  // x
    if (close) {
      a_.mov_imm(RDX, near);
      a_.mul_rdx();
      a_.mov(RAX, RDX);
    } else {
      a_.mov_imm(RDX, static_cast<uint64_t>(((u128{1} << l) - d) * (u128{1} << 64) / d + 1));
      a_.mul_rdx();  // rdx = t
      a_.mov(RAX, RCX);
      a_.alu(Alu::Sub, RAX, RDX);
      a_.shift_imm(Shift::Shr, RAX, 1);
      a_.alu(Alu::Add, RAX, RDX);
    }
    a_.shift_imm(Shift::Shr, RAX, static_cast<uint8_t>(l - 1));  // q
    if (!remainder) return;
    if (d <= INT32_MAX) {
      a_.imul_imm(RAX, RAX, static_cast<int32_t>(d));
    } else {
      a_.mov_imm(RDX, d);
      a_.imul(RAX, RDX);
    }
    a_.alu(Alu::Sub, RCX, RAX);
    a_.mov(RAX, RCX);
  }

  // Signed division as the interpreter's: b == 0 gives 0, INT64_MIN / -1 gives a.
  void signed_divide() {
    int zero = a_.new_label(), done = a_.new_label(), divide = a_.new_label();
    a_.test(RCX, RCX);
    a_.jcc(kE, zero);
    a_.alu_imm(Alu::Cmp, RCX, -1);
    a_.jcc(kNE, divide);
    a_.unary(Unary::Neg, RAX);  // a / -1 is -a, which leaves INT64_MIN as it is
    a_.jmp(done);
    a_.bind(divide);
    a_.cqo();
    a_.unary(Unary::Idiv, RCX);
    a_.jmp(done);
    a_.bind(zero);
    a_.alu(Alu::Xor, RAX, RAX);
    a_.bind(done);
  }

  void emit(const Insn& in) {
    if (steps(in)) return step(in);
    if (walks(in)) return walk_step();
    switch (in.op) {
      case Op::NOP:
      case Op::CASE:
      case Op::DEFAULT:
      case Op::ENDSWITCH:
        return;
      case Op::JMP:
      case Op::BREAK:
        return a_.jmp(target_label(in.target));
      case Op::PASS:
      case Op::END:
        return verdict_exit(Verdict::Pass);
      case Op::DROP:
        return verdict_exit(Verdict::Drop);
      case Op::MOV:
        if (const int to = in.a.kind == Kind::Reg ? value_register(in.a) : -1; to >= 0) {
          // straight into its register
          const int from = value_register(in.b);
          if (from >= 0) return a_.mov(static_cast<uint8_t>(to), static_cast<uint8_t>(from));
          if (in.b.kind == Kind::Imm)
            return a_.mov_imm(static_cast<uint8_t>(to), static_cast<uint64_t>(in.b.imm));
        }
        read(in.b);
        return write(in.a);
      case Op::NOT:
      case Op::NEG:
      case Op::BSWAP16:
      case Op::BSWAP32:
      case Op::BSWAP64:
        read(in.a);
        if (in.op == Op::NOT || in.op == Op::NEG)
          a_.unary(in.op == Op::NOT ? Unary::Not : Unary::Neg, RAX);
        if (in.op == Op::BSWAP16) a_.bswap16_rax();
        if (in.op == Op::BSWAP32) a_.bswap32_rax();
        if (in.op == Op::BSWAP64) a_.bswap64_rax();
        return write(in.a);
      case Op::CMP:
      case Op::TEST:
        return compare(in);
      case Op::PUSH:
        return push(in);
      case Op::POP:
        return pop(in);
      case Op::CALL:
        return call(in);
      case Op::RET:
        return ret();
      case Op::SWITCH:
        return switch_(in);
      case Op::MIRROR:
        read(in.a);
        return a_.store(state_, l_.mirror_port, RAX, 4);
      case Op::LOOKUP:
      case Op::UPDATE:
      case Op::TADD:
        return table_op(in);
      case Op::PRINT:
      case Op::LOG:
        return output(in);
      case Op::DUMP:
        read(in.a);
        a_.mov(RSI, RAX);
        a_.mov(RDI, state_);
        return a_.call(reinterpret_cast<const void*>(l_.dump));
      case Op::REWRITE:
        return rewrite(in);
      case Op::FIND: {
        read(in.b);
        const std::string& needle = p_.strings[in.target];
        a_.mov(RDX, RAX);
        a_.mov(RDI, pkt_);
        a_.mov(RSI, len_);
        a_.mov_imm(RCX, reinterpret_cast<uint64_t>(needle.data()));
        a_.mov_imm(R8, needle.size());
        a_.call(reinterpret_cast<const void*>(l_.find));
        return write(in.a);
      }
      default:
        break;
    }
    if (is_flag_jump(in.op)) return flag_jump(in);
    // With a 32-bit immediate b: the instruction's imm32 form, rax = a only.
    static constexpr struct {
      Op op;
      Alu alu;
    } kImmForms[] = {{Op::ADD, Alu::Add},
                     {Op::OR, Alu::Or},
                     {Op::AND, Alu::And},
                     {Op::SUB, Alu::Sub},
                     {Op::XOR, Alu::Xor},
#define NETCPU_CMP_IMM_FORM(branch, jump, test) {Op::branch, Alu::Cmp},  // then the branch's jcc
                     NETCPU_CONDITIONS(NETCPU_CMP_IMM_FORM)
#undef NETCPU_CMP_IMM_FORM
    };
    if (flag_branch(in) || known_branch(in)) return;
    if (in.op == Op::AND && in.b.kind == Kind::Imm && in.b.imm > INT32_MAX &&
        in.b.imm <= UINT32_MAX) {
      // A 32-bit mask: the 32-bit and, which clears the upper half as the mask does.
      const bool in_place = in.a.kind == Kind::Reg && host_[in.a.reg] != kInState;
      const uint8_t dst = in_place ? static_cast<uint8_t>(host_[in.a.reg]) : RAX;
      if (!in_place) read(in.a);
      a_.and_imm32(dst, static_cast<uint32_t>(in.b.imm));
      if (!in_place) write(in.a);
      return;
    }
    if (imm32(in.b)) {
      for (const auto& f : kImmForms) {
        if (f.op != in.op) continue;
        if (in.a.kind == Kind::Reg && host_[in.a.reg] != kInState) {  // op r, imm32 in place
          a_.alu_imm(f.alu, static_cast<uint8_t>(host_[in.a.reg]), static_cast<int32_t>(in.b.imm));
          if (f.alu == Alu::Cmp) a_.jcc(condition(in.op), target_label(in.target));
          return;
        }
        if (f.alu != Alu::Cmp && into_heap_word(in, f.alu, -1)) return;
        read(in.a);
        a_.alu_imm(f.alu, RAX, static_cast<int32_t>(in.b.imm));
        if (f.alu != Alu::Cmp) return write(in.a);
        return a_.jcc(condition(in.op), target_label(in.target));
      }
    }
    if (register_form(in) || shift_by_constant(in)) return;
    if ((in.op == Op::DIV || in.op == Op::MOD) && in.b.kind == Kind::Imm && in.b.imm != 0) {
      read(in.a);
      divide_by_constant(static_cast<uint64_t>(in.b.imm), in.op == Op::MOD);
      return write(in.a);
    }
    read_pair(in.a, in.b);
    switch (in.op) {
      case Op::ADD:
        a_.alu(Alu::Add, RAX, RCX);
        return write(in.a);
      case Op::SUB:
        a_.alu(Alu::Sub, RAX, RCX);
        return write(in.a);
      case Op::AND:
        a_.alu(Alu::And, RAX, RCX);
        return write(in.a);
      case Op::OR:
        a_.alu(Alu::Or, RAX, RCX);
        return write(in.a);
      case Op::XOR:
        a_.alu(Alu::Xor, RAX, RCX);
        return write(in.a);
      case Op::MUL:
        a_.imul(RAX, RCX);
        return write(in.a);
      case Op::SHL:
        shift(Shift::Shl);
        return write(in.a);
      case Op::SHR:
        shift(Shift::Shr);
        return write(in.a);
      case Op::SAR:
        shift(Shift::Sar);
        return write(in.a);
      case Op::DIV:
      case Op::MOD:
        divide(in.op == Op::MOD);
        return write(in.a);
      case Op::SDIV:
        signed_divide();
        return write(in.a);
      case Op::BSET:
      case Op::BCLR:
        a_.test(RAX, RCX);
        return a_.jcc(condition(in.op), target_label(in.target));
      default:
        break;
    }
    a_.alu(Alu::Cmp, RAX, RCX);
    a_.jcc(condition(in.op), target_label(in.target));
  }

  // The host register that holds o's value as it is (a gpr that lives in
  // one, or mlen), or -1.
  int value_register(const Operand& o) const {
    if (o.kind == Kind::Reg && host_[o.reg] != kInState) return host_[o.reg];
    if (o.kind == Kind::Mapped && o.reg == static_cast<uint8_t>(MappedReg::Mlen)) return len_;
    return -1;
  }

  // op a, b (add ... xor) as one op into a's memory where a is a heap word
  // (a variable, or a host-order 8-byte word at a computed address: the
  // address worked out and checked once) and b is in register rb, or a
  // constant that fits 32 bits (rb < 0); false, with nothing emitted,
  // otherwise. Reading a has no effect, so nothing is lost by not reading
  // it first.
  bool into_heap_word(const Insn& in, Alu alu, int rb) {
    if (!heap_word(in.a) || (rb < 0 && !imm32(in.b))) return false;
    int32_t disp = 0;
    if (in.a.kind == Kind::Var) {  // (the verifier proved a in bounds)
      a_.load(RDX, state_, l_.heap);
      disp = static_cast<int32_t>(in.a.imm);
    } else {
      heap_address(in.a);  // rax = the offset, or a heap fault
      a_.load(RDX, state_, l_.heap);
      a_.alu(Alu::Add, RDX, RAX);
    }
    if (rb >= 0)
      a_.alu_to_memory(alu, RDX, disp, static_cast<uint8_t>(rb));
    else
      a_.alu_imm_to_memory(alu, RDX, disp, static_cast<int32_t>(in.b.imm));
    return true;
  }

  // add, sub, and, or, xor and mul into a gpr, and the compare-and-branch
  // instructions, with a register operand in place: `add rbp, rax` rather
  // than moves through rax and rcx; add ... xor of a register into a heap
  // word, into its memory (into_heap_word). a is then a gpr, mlen or heap
  // memory, whose read has no effect (an address out of bounds faults
  // before anything is read or written, either way), so reading b first
  // changes nothing.
  bool register_form(const Insn& in) {
    static constexpr struct {
      Op op;
      Alu alu;  // op r/m64, r64
    } kForms[] = {{Op::ADD, Alu::Add},
                  {Op::SUB, Alu::Sub},
                  {Op::AND, Alu::And},
                  {Op::OR, Alu::Or},
                  {Op::XOR, Alu::Xor}};
    // mul: imul (0f af, the other way round); bset and bclr: test; the
    // other branches: cmp.
    const bool branch = is_branch(in.op);
    const bool bit_test = in.op == Op::BSET || in.op == Op::BCLR;
    Alu alu = Alu::Cmp;
    if (!branch && in.op != Op::MUL) {
      const auto* f = std::find_if(std::begin(kForms), std::end(kForms),
                                   [&](const auto& x) { return x.op == in.op; });
      if (f == std::end(kForms)) return false;
      alu = f->alu;
    }
    int rb = value_register(in.b);
    if (!branch && in.op != Op::MUL && rb >= 0 && into_heap_word(in, alu, rb)) return true;
    if (!branch && in.a.kind != Kind::Reg) return false;
    const int ra = value_register(in.a);
    if (ra < 0 && rb < 0) return false;
    if (ra < 0 && in.a.kind != Kind::Reg) return false;  // (a's read may have effects)
    if (rb < 0) {  // b into rax (rcx when a comes into rax next)
      read(in.b);
      rb = RAX;
    }
    uint8_t dst = static_cast<uint8_t>(ra);
    if (ra < 0) {
      if (rb == RAX) a_.mov(RCX, RAX), rb = RCX;
      read_gpr(in.a.reg);
      dst = RAX;
    }
    if (in.op == Op::MUL)
      a_.imul(dst, static_cast<uint8_t>(rb));
    else if (bit_test)
      a_.test(dst, static_cast<uint8_t>(rb));
    else
      a_.alu(alu, dst, static_cast<uint8_t>(rb));
    if (branch) {
      return a_.jcc(condition(in.op), target_label(in.target)), true;
    }
    if (dst == RAX) write(in.a);
    return true;
  }

  // shl, shr and sar by a constant below 64 (`shl gpr1, 2`, a header
  // length in words to bytes): one shift by an immediate, in place where
  // a lives in a register. (64 or more: shift() gives 0 or the sign.)
  bool shift_by_constant(const Insn& in) {
    if ((in.op != Op::SHL && in.op != Op::SHR && in.op != Op::SAR) || in.b.kind != Kind::Imm ||
        in.b.imm < 0 || in.b.imm > 63)
      return false;
    const Shift op = in.op == Op::SHL ? Shift::Shl : in.op == Op::SHR ? Shift::Shr : Shift::Sar;
    const auto n = static_cast<uint8_t>(in.b.imm);
    if (const int ra = in.a.kind == Kind::Reg ? value_register(in.a) : -1; ra >= 0)
      return a_.shift_imm(op, static_cast<uint8_t>(ra), n), true;
    read(in.a);
    a_.shift_imm(op, RAX, n);
    write(in.a);
    return true;
  }

  // print and log: the operands read as the interpreter reads them (a fault
  // ends the run before any line), then jit_output with their values.
  void output(const Insn& in) {
    const bool a = in.a.kind != Kind::None, b = in.b.kind != Kind::None;
    if (a && b) {
      read_pair(in.a, in.b);
    } else if (a || b) {
      read(a ? in.a : in.b);
      a_.mov(RCX, RAX);  // (either: jit_output takes the values the instruction has)
    }
    a_.mov(RDX, RAX);
    a_.mov(RDI, state_);
    a_.mov_imm(RSI, reinterpret_cast<uint64_t>(&in));
    a_.call(reinterpret_cast<const void*>(l_.output));
  }

  // rewrite: b read (a fault, or no packet, ends the run as the
  // interpreter's), the headers parsed, then jit_rewrite, whose result sets
  // the flags as the interpreter's set_found.
  void rewrite(const Insn& in) {
    read(in.b);
    if (!parsed_) {
      a_.store(state_, l_.scratch, RAX);
      ensure_parsed();
      a_.load(RAX, state_, l_.scratch);
    }
    const auto field = static_cast<MappedReg>(in.a.reg);
    if (field == MappedReg::IpSrc || field == MappedReg::IpDst) {
      a_.mov(RSI, RAX);
      a_.and_imm32(RSI, 0xffffffffu);  // the new address: b's low 32 bits
      rewrite_address(field == MappedReg::IpSrc ? 12 : 16);
    } else if (field == MappedReg::L4Sport || field == MappedReg::L4Dport) {
      a_.mov(RSI, RAX);
      a_.and_imm32(RSI, 0xffff);  // the new port: b's low 16 bits
      rewrite_port(field == MappedReg::L4Sport ? 0 : 2);
    } else {
      a_.mov(RDX, RAX);
      a_.mov(RDI, state_);
      a_.mov_imm(RSI, in.a.reg);
      a_.call(reinterpret_cast<const void*>(l_.rewrite));
      a_.alu32_imm(Alu::Xor, RAX, 1);  // equal (0) when rewritten
    }
    found_flags();
  }

  // rewrite ip.src or ip.dst (the IPv4 header's bytes at `offset`) to the
  // address in rsi, as rewrite_field() (checksum.cpp) does: the address
  // stored, then the IPv4 header checksum and the TCP or UDP checksum (the
  // address is in their pseudo-header) updated by RFC 1624's
  // HC' = ~(~HC + ~m + m'), over the address's two 16-bit words.
  // rax = 0 when rewritten, 1 when the packet has no IPv4 header.
  void rewrite_address(int32_t offset) {
    const int absent = a_.new_label();
    if (!(known_ & has::kIp4)) {  // (a beq has.ip4, 0 before it tested)
      test_header_flags(has::kIp4);
      a_.jcc(kE, absent);
    }
    header_in_packet(headers_member(offsetof(Headers, l3)), 20, absent);
    a_.load_sized(RDI, offset, 2, false);  // the old address
    // The delta, ~m + m' a word at a time: 2 * 0xffff - the old words + the new.
    a_.mov_imm(RDX, 2 * 0xffff);
    add_words(RAX, Alu::Sub);
    add_words(RSI, Alu::Add);
    a_.mov(RAX, RSI);
    a_.bswap32_rax();
    a_.store(RDI, offset, RAX, 4);
    apply_checksum_delta(10, false, -1);
    update_l4_checksum();
    rewritten(absent);
  }

  // rewrite l4.sport or l4.dport (the transport header's bytes at `offset`)
  // to the port in rsi, as rewrite_field() does: TCP and UDP only (SCTP's
  // CRC32c is not incremental), the TCP or UDP checksum updated.
  void rewrite_port(int32_t offset) {
    const int absent = a_.new_label();
    if (!(known_ & has::kL4)) {
      test_header_flags(has::kL4);
      a_.jcc(kE, absent);
    }
    if (!(known_ & (has::kTcp | has::kUdp))) {
      test_header_flags(has::kTcp | has::kUdp);
      a_.jcc(kE, absent);
    }
    header_in_packet(headers_member(offsetof(Headers, l4)), 8, absent);
    a_.load_sized(RDI, offset, 1, false);  // the old port
    a_.mov_imm(RDX, 0xffff);               // the delta, ~m + m'
    a_.alu(Alu::Sub, RDX, RAX);
    a_.alu(Alu::Add, RDX, RSI);
    a_.mov(RAX, RSI);
    a_.bswap16_rax();
    a_.store(RDI, offset, RAX, 2);
    update_l4_checksum();
    rewritten(absent);
  }

  // The TCP or UDP checksum updated by the delta in rdx, where the packet
  // has one (l4_checksum() in checksum.cpp): a UDP checksum of 0 (none)
  // stays 0, and a result of 0 is written 0xffff.
  void update_l4_checksum() {
    const int udp = a_.new_label(), done = a_.new_label();
    test_header_flags(has::kL4);
    a_.jcc(kE, done);
    test_header_flags(has::kTcp);
    a_.jcc(kE, udp);
    header_in_packet(headers_member(offsetof(Headers, l4)), 18, udp);
    apply_checksum_delta(16, false, done);
    a_.jmp(done);
    a_.bind(udp);
    test_header_flags(has::kUdp);
    a_.jcc(kE, done);
    header_in_packet(headers_member(offsetof(Headers, l4)), 8, done);
    apply_checksum_delta(6, true, done);
    a_.bind(done);
  }

  // The end of an inline rewrite: rewritten, the packet is modified and the
  // memoised header fields go (same offsets, new values), rax = 0; at
  // `absent` (no such field in the packet) rax = 1: the flags' operand, as
  // the interpreter's set_found.
  void rewritten(int absent) {
    const int done = a_.new_label();
    a_.mov_imm(RAX, 1);
    a_.store(state_, l_.modified, RAX, 1);
    a_.alu(Alu::Xor, RAX, RAX);
    a_.store(state_, l_.field_known, RAX);
    a_.jmp(done);
    a_.bind(absent);
    a_.mov_imm(RAX, 1);
    a_.bind(done);
  }

  int32_t headers_member(size_t offset) const { return l_.headers + static_cast<int32_t>(offset); }

  // rdi = the packet's address of the header whose offset the parsed
  // headers hold at `at`, when `bytes` of it fit in the packet; else on to `short_packet`.
  void header_in_packet(int32_t at, int32_t bytes, int short_packet) {
    a_.load_sized(state_, at, 1, true);
    a_.mov(RDI, RAX);
    a_.alu_imm(Alu::Add, RAX, bytes);
    a_.alu(Alu::Cmp, RAX, len_);
    a_.jcc(kA, short_packet);
    a_.alu(Alu::Add, RDI, pkt_);
  }

  // rdx +=, or -= (op Add or Sub), the two 16-bit words of the 32-bit value in src.
  void add_words(uint8_t src, Alu op) {
    a_.mov(RCX, src);
    a_.shift_imm(Shift::Shr, RCX, 16);
    a_.alu(op, RDX, RCX);
    a_.mov(RCX, src);
    a_.and_imm32(RCX, 0xffff);
    a_.alu(op, RDX, RCX);
  }

  // The checksum at [rdi + at] updated by the delta in rdx (apply_delta in
  // checksum.cpp): ~(~HC + delta), folded to 16 bits. UDP: a checksum of 0
  // stays (on to `none`), a result of 0 is written 0xffff.
  void apply_checksum_delta(int32_t at, bool udp, int none) {
    a_.load_sized(RDI, at, 1, false);
    if (udp) {
      a_.test(RAX, RAX);
      a_.jcc(kE, none);
    }
    a_.alu32_imm(Alu::Xor, RAX, 0xffff);  // ~HC
    a_.alu(Alu::Add, RAX, RDX);
    for (int fold = 0; fold < 2; ++fold) {  // at most 0x4fffb: twice leaves 16 bits
      a_.mov(RCX, RAX);
      a_.shift_imm(Shift::Shr, RCX, 16);
      a_.and_imm32(RAX, 0xffff);
      a_.alu(Alu::Add, RAX, RCX);
    }
    a_.alu32_imm(Alu::Xor, RAX, 0xffff);  // ~, in 16 bits
    if (udp) {
      const int store = a_.new_label();
      a_.jcc(kNE, store);
      a_.mov_imm(RAX, 0xffff);
      a_.bind(store);
    }
    a_.bswap16_rax();
    a_.store(RDI, at, RAX, 2);
  }

  // lookup, update and tadd through the table's number-keyed functions: the
  // key, then the value (a fault in either changes nothing), then the slot.
  // A hash table's slot is probed inline (a tadd or update calls
  // number_find_or_insert() only for a key it did not find, to insert it or
  // fail on a full table); an array's is indexed inline; the others call
  // their number-keyed functions. A lookup right after a tadd or update of
  // the same table and key takes the slot that left (rsi). The flags say
  // found (or stored) as the interpreter's set_found does.
  void table_op(const Insn& in) {
    Table* t = l_.tables[in.aux];
    const bool lookup = in.op == Op::LOOKUP;
    if (heap_keyed(in)) {
      if (!lookup && !small_increment(in)) {  // the value in the second scratch slot
        read(in.b);
        a_.store(state_, l_.scratch + 8, RAX);
      }
      a_.load(RSI, state_, l_.heap);
      a_.alu_imm(Alu::Add, RSI,
                 static_cast<int32_t>((lookup ? in.b : in.a).imm));  // the key's address
      a_.mov_imm(RDI, reinterpret_cast<uint64_t>(t));
      a_.call(reinterpret_cast<const void*>(lookup ? &Table::lookup_bytes
                                                   : &Table::find_or_insert_bytes));
      return table_op_result(in, t);
    }
    if (lookup && slot_left_by_previous(in)) {
      a_.mov(RAX, RSI);
      return table_op_result(in, t);
    }
    // A hash table's probe takes the key as the word of its bytes: a field
    // the code loads from the frame at the key's width is that word as
    // loaded (read_in_shape), any other key is made one.
    const Table::NumberProbe& probe = t->number_probe();
    const bool word = probe.way == Table::NumberProbe::Way::Word;
    const Operand& key = lookup ? in.b : in.a;
    raw_key_bytes_ = word && key.kind == Kind::Mapped ? t->decl().key_size : 0;
    read(key);
    if (word && !raw_key_read_) key_word(t->decl().key_size);
    raw_key_bytes_ = 0, raw_key_read_ = false;
    // The key in the first scratch slot, the value in the second; a word
    // probe's key stays in rsi for an insert where no value is read.
    const bool key_in_rsi = word && small_increment(in);
    if (!lookup && !key_in_rsi) {
      a_.store(state_, l_.scratch, RAX);
      if (!small_increment(in)) {
        read(in.b);
        a_.store(state_, l_.scratch + 8, RAX);
        a_.load(RAX, state_, l_.scratch);
      }
    }
    const int absent = a_.new_label(), done = a_.new_label();
    if (word) {
      probe_inline(probe.word, absent);
    } else if (probe.way == Table::NumberProbe::Way::Index) {
      index_inline(probe.index, absent);
    } else {
      call_number_keyed(t, lookup);
      return table_op_result(in, t);
    }
    a_.jmp(done);
    a_.bind(absent);
    if (lookup) {
      a_.alu(Alu::Xor, RAX, RAX);
    } else {       // not there: the table inserts it, or fails when full
      if (word) {  // the number of the key's word in the first scratch slot
        if (key_in_rsi)
          a_.mov(RAX, RSI);  // (probe_inline's w)
        else
          a_.load(RAX, state_, l_.scratch);
        key_word(t->decl().key_size);  // (its own inverse)
        a_.store(state_, l_.scratch, RAX);
      }
      call_number_keyed(t, lookup);
    }
    a_.bind(done);
    table_op_result(in, t);
  }

  // rax = the word of a key of `size` bytes made of the number in rax (its
  // bytes, big-endian, as a little-endian word), or the number of such a word.
  void key_word(uint32_t size) {
    a_.bswap64_rax();
    if (size < 8) a_.shift_imm(Shift::Shr, RAX, static_cast<uint8_t>(64 - 8 * size));
  }

  // A tadd of a constant that fits an add's 8-bit immediate (a counter's
  // `tadd t, key, 1`): the add takes it, nothing reads it before.
  static bool small_increment(const Insn& in) {
    return in.op == Op::TADD && in.b.kind == Kind::Imm && in.b.imm >= INT8_MIN &&
           in.b.imm <= INT8_MAX;
  }

  // rax = the table's number_lookup() or number_find_or_insert() of the key
  // in rax (a lookup) or in the first scratch slot.
  void call_number_keyed(Table* t, bool lookup) {
    if (lookup)
      a_.mov(RSI, RAX);
    else
      a_.load(RSI, state_, l_.scratch);
    a_.mov_imm(RDI, reinterpret_cast<uint64_t>(t));
    a_.call(
        reinterpret_cast<const void*>(lookup ? t->number_lookup() : t->number_find_or_insert()));
  }

  // Whether this lookup needs no probe: the instruction before it, its only
  // way in, is a number-keyed tadd or update of the same table with the
  // same key operand, so it gave the slot this lookup would find (or none:
  // the key is absent and the table full, or an index out of range), and
  // left it in rsi. Reading the key again could change nothing: it reads
  // what the tadd read (no rand, which would draw another number), and
  // the tadd wrote no gpr and no memory a key reads. A timed table's use
  // of the entry again at the same time changes nothing either: the tadd
  // stamped it now and put it first.
  bool slot_left_by_previous(const Insn& in) const {
    if (pc_ == 0 || flow_.leader(pc_) || targeted_[pc_] || flow_.checkpoint(pc_)) return false;
    const Insn& before = p_.code[pc_ - 1];
    return (before.op == Op::TADD || before.op == Op::UPDATE) && before.aux == in.aux &&
           before.a == in.b && !draws_random(in.b) && inline_read(in.b) && !steps(before) &&
           number_keyed(before) && number_keyed(in);
  }

  // rax = the value slot the table gave, or 0: the value read into a or
  // stored (update) or added to (tadd), and the flags. rsi keeps the slot.
  void table_op_result(const Insn& in, const Table* t) {
    const bool lookup = in.op == Op::LOOKUP;
    const int absent = a_.new_label(), done = a_.new_label();
    a_.mov(RSI, RAX);
    a_.test(RAX, RAX);
    a_.jcc(kE, absent);
    const uint32_t size = t->decl().value_size;
    const uint64_t mask = t->number_probe().value_mask;
    if (lookup) {
      if (!dead_destination(pc_)) {
        a_.load(RAX, RAX, 0);
        if (size < 8) {  // the value's bytes (a tadd may have carried past them)
          a_.mov_imm(RDX, mask);
          a_.alu(Alu::And, RAX, RDX);
        }
        write(in.a);
      }
    } else {
      if (small_increment(in)) {
        a_.add_to_memory(RAX, 0, static_cast<int8_t>(in.b.imm));
      } else if (in.op == Op::TADD) {
        a_.load(RCX, state_, l_.scratch + 8);
        a_.add_register_to_memory(RAX, 0, RCX);  // one writer: no lock (docs/jit.md)
      } else {
        a_.load(RCX, state_, l_.scratch + 8);
        if (size < 8) {  // update writes the value's bytes alone
          a_.mov_imm(RDI, mask);
          a_.alu(Alu::And, RCX, RDI);
          a_.unary(Unary::Not, RDI);
          a_.load(RDX, RAX, 0);
          a_.alu(Alu::And, RDX, RDI);  // the bytes past the value, as they were
          a_.alu(Alu::Or, RCX, RDX);
        }
        a_.store(RAX, 0, RCX);
      }
    }
    if (!(live_after_[pc_] & kFlagsLive)) return a_.bind(absent);  // no flag jump reads them
    a_.alu(Alu::Xor, RAX, RAX);
    a_.jmp(done);
    a_.bind(absent);
    a_.mov_imm(RAX, 1);
    a_.bind(done);
    found_flags();
  }

  // rax = the value slot of the key whose number is in rax, or on to
  // `absent` (an empty slot ended the probe): a hash table's probe as
  // HashCore::probe does it, with its slots and hash constants
  // (Table::WordProbe) as immediates. rcx, rdx, rsi, rdi and r8-r10 are free.
  void probe_inline(const Table::WordProbe& p, int absent) {
    a_.mov(RSI, RAX);  // w
    a_.mov_imm(RDX, p.seed);
    a_.alu(Alu::Xor, RAX, RDX);
    a_.mov_imm(RDX, p.mul);
    a_.mul_rdx();
    a_.alu(Alu::Xor, RAX, RDX);               // the hash: lo ^ hi
    a_.alu32_imm(Alu::Or, RAX, 0x80000000u);  // the tag
    a_.mov(RDI, RAX);
    a_.and_imm32(RAX, p.mask);  // the home slot
    a_.mov_imm(R8, reinterpret_cast<uint64_t>(p.tags));
    a_.mov_imm(R9, reinterpret_cast<uint64_t>(p.slots));
    const int loop = a_.new_label(), next = a_.new_label(), found = a_.new_label();
    a_.bind(loop);
    a_.load_indexed(RDX, R8, RAX, 2, 0, 4);  // tags[i]
    a_.test(RDX, RDX);
    a_.jcc(kE, absent);  // an empty slot ends the probe
    a_.alu(Alu::Cmp, RDX, RDI);
    a_.jcc(kNE, next);
    static_assert(Table::WordProbe::kSlotSize == 16);
    a_.lea_indexed(RDX, RAX, RAX, 0, 0);  // i * 2: the slot's first 8-byte word
    a_.load_indexed(RCX, R9, RDX, 3, 0);  // the key, zero-padded to its 8 bytes
    a_.alu(Alu::Cmp, RCX, RSI);
    a_.jcc(kE, found);
    a_.bind(next);
    a_.alu_imm(Alu::Add, RAX, 1);
    a_.and_imm32(RAX, p.mask);
    a_.jmp(loop);
    a_.bind(found);
    a_.lea_indexed(RAX, R9, RDX, 3, Table::WordProbe::kValueOffset);
  }

  // rax = the value slot of the array index whose number is in rax (its
  // low 4 bytes, as the key of a number gives them), or on to `absent`
  // when it is out of range: an array's number_lookup() inline.
  void index_inline(const Table::IndexProbe& p, int absent) {
    a_.alu32_imm(Alu::And, RAX, 0xffffffffu);  // the low 4 bytes
    a_.mov_imm(RCX, p.entries);
    a_.alu(Alu::Cmp, RAX, RCX);
    a_.jcc(kAE, absent);
    slot_address(p.values, p.stride);
  }

  // rax = values + rax * stride.
  void slot_address(uint8_t* values, uint32_t stride) {
    a_.mov_imm(RCX, reinterpret_cast<uint64_t>(values));
    if (const std::optional<uint8_t> scale = scale_log(stride)) {
      a_.lea_indexed(RAX, RCX, RAX, *scale, 0);
    } else {
      a_.imul_imm(RAX, RAX, static_cast<int32_t>(stride));
      a_.alu(Alu::Add, RAX, RCX);
    }
  }
  // The SIB scale that multiplies by n, where one does (1, 2, 4 or 8).
  static std::optional<uint8_t> scale_log(uint32_t n) {
    if (n == 0 || n > 8 || !std::has_single_bit(n)) return std::nullopt;
    return static_cast<uint8_t>(std::countr_zero(n));
  }

  // cmp and test leave their operands in the state for the flag jumps (and
  // the interpreter); a flag jump right after one compares the registers.
  void compare(const Insn& in) {
    read_pair(in.a, in.b);
    if (in.op == Op::TEST) {
      a_.alu(Alu::And, RAX, RCX);
      a_.alu(Alu::Xor, RCX, RCX);
    }
    store_flags();
  }

  // The flags as the interpreter's set_found leaves them, from rax: 0 when
  // found (or rewritten), 1 when not.
  void found_flags() {
    a_.alu(Alu::Xor, RCX, RCX);
    store_flags();
  }

  // The flags' operands, rax and rcx, kept in the state for a flag jump
  // that a branch or the interpreter comes between (and in rax and rcx for
  // one right after): where some path may read them from the state, past
  // the flag jump right after, if there is one (live_after).
  void store_flags() {
    const uint32_t next = pc_ + 1;
    const bool jump_next = next < p_.code.size() && flow_.reached(next) && !flow_.leader(next) &&
                           is_flag_jump(p_.code[next].op);
    if (live_after_[jump_next ? next : pc_] & kFlagsLive) {
      a_.store(state_, l_.cmp_a, RAX);
      a_.store(state_, l_.cmp_b, RCX);
    }
    flags_set_at_ = pc_;
  }

  void flag_jump(const Insn& in) {
    // In rax and rcx when the instruction before set them, and no branch lands here.
    if (pc_ == 0 || flags_set_at_ != pc_ - 1 || flow_.leader(pc_)) {
      a_.load(RAX, state_, l_.cmp_a);
      a_.load(RCX, state_, l_.cmp_b);
    }
    a_.alu(Alu::Cmp, RAX, RCX);
    a_.jcc(condition(in.op), target_label(in.target));
  }

  // The data stack and the call stack's return pcs live in the state, as the
  // interpreter keeps them; their heights are checked as it checks them.
  void push(const Insn& in) {
    read(in.a);
    a_.load32(RCX, state_, l_.sp);
    a_.alu_imm(Alu::Cmp, RCX, kStackSlots);
    a_.jcc(kAE, fault_label(AbortReason::StackFault));
    a_.store_indexed(state_, RCX, 3, l_.stack, RAX);
    a_.alu_imm(Alu::Add, RCX, 1);
    a_.store(state_, l_.sp, RCX, 4);
  }

  void pop(const Insn& in) {
    a_.load32(RCX, state_, l_.sp);
    a_.test(RCX, RCX);
    a_.jcc(kE, fault_label(AbortReason::StackFault));
    a_.alu_imm(Alu::Sub, RCX, 1);
    a_.store(state_, l_.sp, RCX, 4);
    a_.load_indexed(RAX, state_, RCX, 3, l_.stack);
    write(in.a);
  }

  // A native call, with the return pc kept where the interpreter would keep
  // it (it takes over from inside a function when the budget runs low).
  // The padding keeps rsp 16-byte aligned in the function.
  void call(const Insn& in) {
    a_.load32(RCX, state_, l_.csp);
    a_.alu_imm(Alu::Cmp, RCX, kMaxCallDepth);
    a_.jcc(kAE, fault_label(AbortReason::StackFault));
    a_.store_imm32_indexed(state_, RCX, l_.calls, static_cast<int32_t>(pc_ + 1));
    a_.alu_imm(Alu::Add, RCX, 1);
    a_.store(state_, l_.csp, RCX, 4);
    a_.alu_imm(Alu::Sub, RSP, 8);
    a_.call_label(target_label(in.target));
    a_.alu_imm(Alu::Add, RSP, 8);
  }

  void ret() {
    a_.load32(RCX, state_, l_.csp);
    a_.test(RCX, RCX);
    a_.jcc(kE, fault_label(AbortReason::StackFault));
    a_.alu_imm(Alu::Sub, RCX, 1);
    a_.store(state_, l_.csp, RCX, 4);
    a_.ret();
  }

  // The case chain as compares in its order; each way out counts the labels
  // the interpreter's walk would have counted to get there.
  void switch_(const Insn& in) {
    read(in.a);
    std::vector<FlowEdge> out;
    flow_.edges(pc_, out);
    for (size_t i = 0; i < out.size(); ++i) {
      const FlowEdge& e = out[i];
      const bool last = i + 1 == out.size();  // the default, or endswitch
      const int next = a_.new_label();
      if (!last) {
        const int64_t v = p_.code[e.to].a.imm;
        if (v >= INT32_MIN && v <= INT32_MAX) {
          a_.alu_imm(Alu::Cmp, RAX, static_cast<int32_t>(v));
        } else {
          a_.mov_imm(RCX, static_cast<uint64_t>(v));
          a_.alu(Alu::Cmp, RAX, RCX);
        }
        a_.jcc(kNE, next);
      }
      count_instructions(static_cast<int32_t>(e.walked));
      a_.jmp(label_of(e.to));
      a_.bind(next);
    }
  }

  // The value o has on every run that reaches this code, where the compiler
  // knows it: a constant, and in a copy for frames of one shape eth.type and
  // what shape_value() knows.
  std::optional<uint64_t> known_value(const Operand& o) const {
    if (o.kind == Kind::Imm) return static_cast<uint64_t>(o.imm);
    if (shape_ == Shape::General || o.kind != Kind::Mapped) return std::nullopt;
    if (o.reg == static_cast<uint8_t>(MappedReg::EthType)) return kTypeIp4;
    const auto loc = field_location(static_cast<MappedReg>(o.reg));
    return loc ? shape_value(*loc) : std::nullopt;
  }
  // A compare-and-branch of two known values (known_value): a jump or nothing.
  bool known_branch(const Insn& in) {
    if (!is_branch(in.op)) return false;
    const std::optional<uint64_t> a = known_value(in.a), b = known_value(in.b);
    if (!a || !b) return false;
    const std::optional<bool> taken = branch_taken(in.op, *a, *b);
    if (!taken) return false;
    if (*taken)
      a_.jmp(target_label(in.target));
    else
      fallen_silently_into_ = pc_ + 1;
    return true;
  }
  // Whether a compare-and-branch of x and y jumps (isa.h's conditions).
  static std::optional<bool> branch_taken(Op op, uint64_t x, uint64_t y) {
    auto SX = [](uint64_t v) { return static_cast<int64_t>(v); };
    switch (op) {
#define NETCPU_KNOWN(branch, jump, test) \
  case Op::branch:                       \
    return (test);
      NETCPU_CONDITIONS(NETCPU_KNOWN)
#undef NETCPU_KNOWN
#define NETCPU_KNOWN_BIT(branch, test) \
  case Op::branch:                     \
    return (test);
      NETCPU_BIT_CONDITIONS(NETCPU_KNOWN_BIT)
#undef NETCPU_KNOWN_BIT
      default:
        return std::nullopt;
    }
  }

  // A run on a frame that is no IPv4 (an untagged one of another EtherType
  // than IPv4 or a VLAN TPID: has.ip4 and has.vlan 0, eth.type not
  // 0x0800), where the entry reaches its verdict through branches that
  // alone decides: that verdict and the instructions counted (every IPv4
  // program's `beq has.ip4, 0, out` / `out: pass`).
  std::optional<std::pair<Verdict, uint32_t>> verdict_without_ip4() const {
    uint32_t pc = entry_, count = 0;
    for (int steps = 0; steps < 16 && pc < p_.code.size(); ++steps) {
      const Insn& in = p_.code[pc];
      ++count;
      if (in.op == Op::PASS || in.op == Op::DROP)
        return std::pair{in.op == Op::PASS ? Verdict::Pass : Verdict::Drop, count};
      if (in.op == Op::JMP) {
        pc = in.target;
        continue;
      }
      const std::optional<bool> taken = taken_without_ip4(in);
      if (!taken) return std::nullopt;
      pc = *taken ? in.target : pc + 1;
    }
    return std::nullopt;
  }
  static std::optional<bool> taken_without_ip4(const Insn& in) {
    if (!is_branch(in.op)) return std::nullopt;
    auto value = [](const Operand& o) -> std::optional<uint64_t> {
      if (o.kind == Kind::Imm) return static_cast<uint64_t>(o.imm);
      if (o.kind == Kind::Mapped && (o.reg == static_cast<uint8_t>(MappedReg::HasIp4) ||
                                     o.reg == static_cast<uint8_t>(MappedReg::HasVlan)))
        return 0;
      return std::nullopt;
    };
    const std::optional<uint64_t> a = value(in.a), b = value(in.b);
    if (a && b) return branch_taken(in.op, *a, *b);
    auto type = [](const Operand& o) {
      return o.kind == Kind::Mapped && o.reg == static_cast<uint8_t>(MappedReg::EthType);
    };
    auto ip4 = [](const Operand& o) { return o.kind == Kind::Imm && o.imm == kTypeIp4; };
    if ((in.op == Op::BEQ || in.op == Op::BNE) &&
        ((type(in.a) && ip4(in.b)) || (ip4(in.a) && type(in.b))))
      return in.op == Op::BNE;
    return std::nullopt;
  }

  // Before any setup, a frame that is no IPv4 gets verdict_without_ip4()'s
  // verdict, counted as a leaf's (the entry's arguments as they came: rdi
  // the state, rsi the packet, rdx its length).
  void exit_without_ip4() {
    const std::optional<std::pair<Verdict, uint32_t>> exit = verdict_without_ip4();
    if (!exit || !l_.ethernet || no_packet_) return;
    const auto [verdict, count] = *exit;
    const int other = a_.new_label();
    on_unless_no_ip4(other, RSI, RDX);
    a_.mov_imm(RAX, count);
    a_.cmp_memory(RAX, RDI, l_.budget);
    a_.jcc(kA, other);
    count_verdict(verdict, RAX);
    a_.mov(RDX, RAX);
    a_.mov_imm(RAX, exit_word(verdict == Verdict::Drop ? JitExit::Drop : JitExit::Pass));
    a_.ret();
    a_.bind(other);
  }

  // Whether the code only falls into pc, from an instruction that emitted
  // nothing (a branch decided not to jump): no jump or branch goes there.
  bool only_fallen_into(uint32_t pc) const {
    return pc == fallen_silently_into_ && !targeted_[pc] && pc != entry_ &&
           !flow_.function_entry(pc) && !flow_.checkpoint(pc);
  }

  // beq/bne of a has.* field against 0 or 1: a test of the parser's flags.
  // Known set: it always or never jumps.
  bool flag_branch(const Insn& in) {
    bool jump_if_set = false;
    const uint32_t when = flag_test(in, &jump_if_set);
    if (!when) return false;
    if (known_ & when) {
      if (jump_if_set) a_.jmp(target_label(in.target));
      return true;
    }
    const auto loc = field_location(static_cast<MappedReg>(in.a.reg));
    int done = -1;
    if (const std::optional<uint64_t> v = shape_value(*loc)) {  // known in this copy
      if ((*v != 0) == jump_if_set)
        a_.jmp(target_label(in.target));
      else
        fallen_silently_into_ = pc_ + 1;
      return true;
    }
    if (!parsed_ && from_frame(*loc)) {  // the frame's value where it can, as read_from_frame
      const int parse = a_.new_label();
      done = a_.new_label();
      check_common_ip4(parse);
      a_.jmp(frame_flag(when) == jump_if_set ? target_label(in.target) : done);
      a_.bind(parse);
    }
    if (!parsed_ && when == has::kIp4 && l_.ethernet && !no_packet_) {
      // A frame of another EtherType (IPv6, ARP) has no IPv4 header: the
      // program's usual first test, decided without parsing it.
      if (done < 0) done = a_.new_label();
      no_ip4_in_frame(jump_if_set ? done : target_label(in.target));
    }
    ensure_parsed();
    test_header_flags(when);
    a_.jcc(jump_if_set ? kNE : kE, target_label(in.target));
    if (done >= 0) a_.bind(done);  // (the instruction ends here: nothing after it assumes a parse)
    return true;
  }

  // The x86 condition a compare-and-branch or a flag jump takes, from isa.h's
  // list of both (a flag jump is named after the x86 jump it is).
  static Cond condition(Op op) {
    constexpr Cond JE = kE, JNE = kNE, JL = kL, JLE = kLE, JG = kG, JGE = kGE, JB = kB, JBE = kBE,
                   JA = kA, JAE = kAE;
    switch (op) {
#define NETCPU_X86_CONDITION(branch, jump, test) \
  case Op::branch:                               \
  case Op::jump:                                 \
    return jump;
      NETCPU_CONDITIONS(NETCPU_X86_CONDITION)
#undef NETCPU_X86_CONDITION
      case Op::BSET:  // after test: (x & y) != 0
        return kNE;
      case Op::BCLR:  // (x & y) == 0
      default:
        return kE;
    }
  }

  const Program& p_;
  const Flow& flow_;
  const JitLayout& l_;
  Asm a_;
  uint32_t entry_;  // .text, .init or a timer handler
  bool no_packet_;  // .init or a timer handler: runs without a packet
  std::vector<int> pc_label_;
  // The counted loop being compiled (loop_head_ >= 0): the label of its
  // copy's head, and whether this is the copy without checks.
  CountedLoop loop_;
  int loop_head_ = -1;
  bool fast_ = false;
  bool uncounted_ = false;      // its iterations counted on entry (counted_up_front)
  std::vector<bool> targeted_;  // some jump, branch, case or call goes there
  std::vector<ExitSite> sites_;
  std::vector<BailSite> bails_;
  int exit_ = -1;       // returns rax as it is
  int text_body_ = -1;  // .text's first instruction, after any budget check there
  int bail_ = -1, whole_run_ = -1;
  int exit_counted_ = -1;  // exit_ past finish_count()
  uint32_t pc_ = 0, not_run_ = 0;
  bool calls_out_ = false;  // the code calls the parser or the interpreter
  bool reads_wlen_ = false;
  bool effects_ = false;            // a run may change more than its verdict
  bool reported_ = false;           // and more than the packet: the instance reads the state
  bool flags_ = false;              // flag jumps read the compare flags in the state
  bool stack_ = false;              // push, pop or call
  bool frames_ = false;             // native calls
  bool resizes_ = false;            // the packet's length may change during a run
  bool full_ = false;               // the full prologue: anything beyond a leaf filter
  bool frame_fields_only_ = false;  // the program reads no header field a frame does not give
  std::vector<Shape> copies_;       // the shapes the program is compiled for too: survey()
  Shape shape_ = Shape::General;    // the copy being compiled
  uint32_t fallen_silently_into_ = kNoTarget;  // only_fallen_into()
  uint32_t raw_key_bytes_ = 0;                 // a table key of this many bytes is read (table_op)
  bool raw_key_read_ = false;                  // and was read as its bytes are
  size_t copy_ = 0;                            // its index in copies_
  std::vector<std::vector<int>> copy_labels_;  // by copy and pc: its code there
  bool loops_or_functions_ = false;            // budget checks past the entry
  bool counts_down_ = false;                   // count_ holds what is left of the budget
  uint32_t read_regs_ = 0;                     // bit per gpr
  std::vector<uint32_t> live_after_;           // by pc: live_after()
  int8_t host_[kGprCount] = {};                // the host register of each gpr, or kInState
  std::vector<uint8_t> saved_;                 // the callee-saved registers the prologue pushes
  bool parsed_ = false;                        // the headers are parsed on every path to here
  bool unparsed_ = false;                      // and not parsed on any: the state says 0
  uint32_t known_ = 0;                         // has:: bits set on every path to here
  bool parses_inline_ = false;                 // parse_common has been emitted
  uint32_t flags_set_at_ =
      kNoTarget;  // the pc whose flags rax and rcx hold, if the next reads them
  uint8_t state_ = RDI, pkt_ = RSI, len_ = R8, count_ = R9;
};

}  // namespace

// Assembled twice: the second time with the jumps the first showed short.
std::unique_ptr<JitCode> jit_compile(const Program& p, const JitLayout& layout, std::string* why,
                                     uint32_t entry) {
  const Flow flow(p, entry == kNoTarget ? p.text_pc : entry);
  Compiler first(p, flow, layout, nullptr);
  if (!first.assemble(why)) return nullptr;
  Compiler second(p, flow, layout, &first.assembly());
  if (!second.assemble(why)) return nullptr;
  return JitCode::install(second.code(), second.effects(), why);
}

#else

std::unique_ptr<JitCode> jit_compile(const Program&, const JitLayout&, std::string* why, uint32_t) {
  if (why) *why = "no JIT for this architecture";
  return nullptr;
}

#endif

}  // namespace netcpu
