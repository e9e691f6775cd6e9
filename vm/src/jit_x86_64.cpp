// The x86-64 back end of the JIT (see jit.h for what it compiles and why the
// rest stays with the interpreter).
//
// Entered as JitResult f(State* state, const uint8_t* pkt, uint64_t len)
// (System V ABI). The header-field memo stays in the state, so the
// interpreter's lazy parser can be called at any point. Pinned registers:
//                       state  packet  length  count  b across a call  gprs
//   calls the parser:   r15    r12     r13     r14    rbp              rbx   (all saved)
//   does not (a leaf):  rdi    rsi     r8      r9     -                r10, r11
// The most used gprs get the registers in the last column; the others stay
// in the state. rax, rcx and rdx are scratch. Counting is per basic block: entering a block adds
// its length, and a fault in the middle of one subtracts what did not run, so counts match the
// interpreter's exactly.
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstring>
#include <functional>
#include <vector>

#include "jit.h"
#include "netcpu/packet_view.h"
#include "netcpu/protocols.h"

namespace netcpu {

JitCode::JitCode(void* mem, size_t mapped, size_t code_bytes, uint32_t max_path)
    : mem_(mem), size_(mapped), code_bytes_(code_bytes), max_path_(max_path) {}

JitCode::~JitCode() { munmap(mem_, size_); }

#if defined(__x86_64__)

namespace {

constexpr uint8_t RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7, R8 = 8,
                  R9 = 9, R10 = 10, R11 = 11, R12 = 12, R13 = 13, R14 = 14, R15 = 15;
constexpr int8_t kInState = -1;  // a gpr without a host register

// x86 condition codes (the low nibble of Jcc).
enum Cond : uint8_t {
  kB = 2,
  kAE = 3,
  kE = 4,
  kNE = 5,
  kBE = 6,
  kA = 7,
  kL = 12,
  kGE = 13,
  kLE = 14,
  kG = 15
};

// A byte emitter with labels for forward jumps. Jumps take the 2-byte
// rel8 form where the same code assembled once before (`previous`) shows
// they can: the second assembly differs from the first only in jumps that
// got shorter, so no distance grows.
class Asm {
 public:
  std::vector<uint8_t> code;

  explicit Asm(const Asm* previous = nullptr) : previous_(previous) {}

  int new_label() {
    labels_.push_back(-1);
    return static_cast<int>(labels_.size()) - 1;
  }
  void bind(int label) { labels_[label] = static_cast<int64_t>(code.size()); }
  bool resolve() {
    for (const auto& f : fixups_) {
      if (labels_[f.label] < 0) return false;
      const int64_t rel = labels_[f.label] - static_cast<int64_t>(f.at + f.width);
      if (f.width == 1) {
        if (!fits8(rel)) return false;
        code[f.at] = static_cast<uint8_t>(static_cast<int8_t>(rel));
      } else {
        const auto r = static_cast<int32_t>(rel);
        std::memcpy(&code[f.at], &r, 4);
      }
    }
    return true;
  }

  void byte(uint8_t b) { code.push_back(b); }
  void imm32(int32_t v) {
    uint8_t b[4];
    std::memcpy(b, &v, 4);
    code.insert(code.end(), b, b + 4);
  }
  void imm64(uint64_t v) {
    uint8_t b[8];
    std::memcpy(b, &v, 8);
    code.insert(code.end(), b, b + 8);
  }
  void rex(bool w, uint8_t reg, uint8_t index, uint8_t base) {
    uint8_t r = static_cast<uint8_t>(0x40 | (w << 3) | ((reg >> 3) & 1) << 2 |
                                     ((index >> 3) & 1) << 1 | ((base >> 3) & 1));
    if (r != 0x40) byte(r);
  }
  void modrm(uint8_t mod, uint8_t reg, uint8_t rm) {
    byte(static_cast<uint8_t>(mod << 6 | (reg & 7) << 3 | (rm & 7)));
  }
  static bool fits8(int64_t v) { return v >= INT8_MIN && v <= INT8_MAX; }
  // ModRM (and SIB) for [base + disp], disp8 when it fits.
  void mem(uint8_t reg, uint8_t base, int32_t disp) {
    modrm(fits8(disp) ? 1 : 2, reg, base);
    if ((base & 7) == RSP) byte(0x24);
    byte_or_dword(disp);
  }
  // A displacement or immediate: 1 byte where fits8 (the short form the
  // caller chose), else 4.
  void byte_or_dword(int32_t disp) {
    if (fits8(disp))
      byte(static_cast<uint8_t>(disp));
    else
      imm32(disp);
  }

  // dst = [base + disp] (64 bits)
  void load(uint8_t dst, uint8_t base, int32_t disp) {
    rex(true, dst, 0, base);
    byte(0x8b);
    mem(dst, base, disp);
  }
  // [base + disp] = src: 8 bytes, or the low 4, 2 or 1 (rax..rbx for a byte).
  void store(uint8_t base, int32_t disp, uint8_t src, unsigned bytes = 8) {
    if (bytes == 2) byte(0x66);
    rex(bytes == 8, src, 0, base);
    byte(bytes == 1 ? 0x88 : 0x89);
    mem(src, base, disp);
  }
  // add qword [base + disp], imm8 / src
  void add_to_memory(uint8_t base, int32_t disp, int8_t v) {
    rex(true, 0, 0, base);
    byte(0x83);
    mem(0, base, disp);
    byte(static_cast<uint8_t>(v));
  }
  void add_register_to_memory(uint8_t base, int32_t disp, uint8_t src) {
    rex(true, src, 0, base);
    byte(0x01);
    mem(src, base, disp);
  }
  // A zero-extended load of 1 << width_log bytes into eax/rax from [base + disp],
  // byte-swapped from network order unless host_order.
  void load_sized(uint8_t base, int32_t disp, unsigned width_log, bool host_order) {
    switch (width_log) {
      case 0:
        rex(false, RAX, 0, base);
        byte(0x0f), byte(0xb6);
        break;
      case 1:
        rex(false, RAX, 0, base);
        byte(0x0f), byte(0xb7);
        break;
      case 2:
        rex(false, RAX, 0, base);
        byte(0x8b);
        break;
      default:
        rex(true, RAX, 0, base);
        byte(0x8b);
    }
    mem(RAX, base, disp);
    swap_loaded(width_log, host_order);
  }
  // Like load_sized, from [base + rax + disp] (the packet at the offset in rax).
  void load_packet(uint8_t base, unsigned width_log, bool host_order, int32_t disp = 0) {
    switch (width_log) {
      case 0:
        rex(false, RAX, RAX, base), byte(0x0f), byte(0xb6);
        break;
      case 1:
        rex(false, RAX, RAX, base), byte(0x0f), byte(0xb7);
        break;
      case 2:
        rex(false, RAX, RAX, base), byte(0x8b);
        break;
      default:
        rex(true, RAX, RAX, base), byte(0x8b);
    }
    // [base + rax + disp] through a SIB byte, always with a displacement
    // (base rbp/r13 needs one): disp8 when it fits.
    modrm(fits8(disp) ? 1 : 2, RAX, RSP);
    byte(static_cast<uint8_t>((RAX & 7) << 3 | (base & 7)));
    byte_or_dword(disp);
    swap_loaded(width_log, host_order);
  }
  void swap_loaded(unsigned width_log, bool host_order) {
    if (host_order || width_log == 0) return;
    if (width_log == 1) {
      byte(0x66), byte(0xc1), byte(0xc0), byte(8);  // rol ax, 8
    } else if (width_log == 2) {
      byte(0x0f), byte(0xc8);  // bswap eax
    } else {
      byte(0x48), byte(0x0f), byte(0xc8);  // bswap rax
    }
  }

  void mov(uint8_t dst, uint8_t src) {
    rex(true, src, 0, dst);
    byte(0x89);
    modrm(3, src, dst);
  }
  void mov_imm(uint8_t dst, uint64_t v) {
    const auto s = static_cast<int64_t>(v);
    if (v <= 0xffffffffu) {  // mov r32, imm32 zero-extends
      rex(false, 0, 0, dst);
      byte(static_cast<uint8_t>(0xb8 + (dst & 7)));
      imm32(static_cast<int32_t>(static_cast<uint32_t>(v)));
    } else if (s >= INT32_MIN && s <= INT32_MAX) {
      rex(true, 0, 0, dst);
      byte(0xc7);
      modrm(3, 0, dst);
      imm32(static_cast<int32_t>(s));
    } else {
      rex(true, 0, 0, dst);
      byte(static_cast<uint8_t>(0xb8 + (dst & 7)));
      imm64(v);
    }
  }
  // op dst, src for the classic two-operand ALU opcodes (add 01, or 09, and 21,
  // sub 29, xor 31, cmp 39, test 85).
  void alu(uint8_t opcode, uint8_t dst, uint8_t src) {
    rex(true, src, 0, dst);
    byte(opcode);
    modrm(3, src, dst);
  }
  // op dst, imm (sign-extended; imm8 when it fits) with the /ext of opcodes
  // 81 and 83: add 0, or 1, and 4, sub 5, xor 6, cmp 7.
  void alu_imm(uint8_t ext, uint8_t dst, int32_t v) {
    rex(true, 0, 0, dst);
    byte(fits8(v) ? 0x83 : 0x81);
    modrm(3, ext, dst);
    byte_or_dword(v);
  }
  // and r32, imm32: zero-extends, so rax & mask for any mask below 2^32.
  void and_imm32(uint8_t dst, uint32_t mask) {
    rex(false, 0, 0, dst);
    byte(0x81);
    modrm(3, 4, dst);
    imm32(static_cast<int32_t>(mask));
  }
  void imul(uint8_t dst, uint8_t src) {
    rex(true, dst, 0, src);
    byte(0x0f), byte(0xaf);
    modrm(3, dst, src);
  }
  // Group 2 by cl (shl 4, shr 5, sar 7) and by an immediate.
  void shift_cl(uint8_t ext, uint8_t dst) {
    rex(true, 0, 0, dst);
    byte(0xd3);
    modrm(3, ext, dst);
  }
  void shift_imm(uint8_t ext, uint8_t dst, uint8_t n) {
    rex(true, 0, 0, dst);
    byte(0xc1);
    modrm(3, ext, dst);
    byte(n);
  }
  // Group 3 (not 2, neg 3, div 6).
  void unary(uint8_t ext, uint8_t dst) {
    rex(true, 0, 0, dst);
    byte(0xf7);
    modrm(3, ext, dst);
  }
  // cmp word [base + disp], imm16
  void cmp_word(uint8_t base, int32_t disp, uint16_t v) {
    byte(0x66);
    rex(false, 0, 0, base);
    byte(0x81);
    mem(7, base, disp);
    byte(static_cast<uint8_t>(v)), byte(static_cast<uint8_t>(v >> 8));
  }
  // cmp byte [base + disp], imm8
  void cmp_byte(uint8_t base, int32_t disp, uint8_t v) {
    rex(false, 0, 0, base);
    byte(0x80);
    mem(7, base, disp);
    byte(v);
  }
  // test [base + disp], mask: a byte test when the mask lies in one byte.
  void test_memory(uint8_t base, int32_t disp, uint32_t mask) {
    for (int k = 0; k < 4; ++k) {
      if (mask & ~(0xffu << 8 * k)) continue;
      rex(false, 0, 0, base);
      byte(0xf6);
      mem(0, base, disp + k);
      return byte(static_cast<uint8_t>(mask >> 8 * k));
    }
    rex(false, 0, 0, base);
    byte(0xf7);
    mem(0, base, disp);
    imm32(static_cast<int32_t>(mask));
  }
  void setne_al() { byte(0x0f), byte(0x95), byte(0xc0); }
  void bt(uint8_t dst, uint8_t bit) {
    rex(true, 0, 0, dst);
    byte(0x0f), byte(0xba);
    modrm(3, 4, dst);
    byte(bit);
  }
  void jcc(Cond c, int label) {
    const bool short_jump = reaches_short(label);
    jumps_.push_back(code.size());
    if (short_jump) {
      byte(static_cast<uint8_t>(0x70 | c));
      return fixup(label, 1);
    }
    byte(0x0f), byte(static_cast<uint8_t>(0x80 | c));
    fixup(label, 4);
  }
  void jmp(int label) {
    const bool short_jump = reaches_short(label);
    jumps_.push_back(code.size());
    if (short_jump) {
      byte(0xeb);
      return fixup(label, 1);
    }
    byte(0xe9);
    fixup(label, 4);
  }
  void call(const void* fn) {
    mov_imm(RAX, reinterpret_cast<uint64_t>(fn));
    byte(0xff), byte(0xd0);  // call rax
  }
  void push(uint8_t r) {
    rex(false, 0, 0, r);
    byte(static_cast<uint8_t>(0x50 + (r & 7)));
  }
  void pop(uint8_t r) {
    rex(false, 0, 0, r);
    byte(static_cast<uint8_t>(0x58 + (r & 7)));
  }

 private:
  // Whether the jump about to be emitted, the same one as the previous
  // assembly's jump number jumps_.size(), fits rel8 there: then it does here.
  bool reaches_short(int label) const {
    if (!previous_ || jumps_.size() >= previous_->jumps_.size()) return false;
    const int64_t target = previous_->labels_[label];
    const auto site = static_cast<int64_t>(previous_->jumps_[jumps_.size()]);
    return target >= 0 && target - (site + 2) <= INT8_MAX;
  }
  void fixup(int label, uint8_t width) {
    fixups_.push_back({code.size(), label, width});
    if (width == 1)
      byte(0);
    else
      imm32(0);
  }
  struct Fixup {
    size_t at;
    int label;
    uint8_t width;
  };
  const Asm* previous_;
  std::vector<int64_t> labels_;
  std::vector<Fixup> fixups_;
  std::vector<size_t> jumps_;  // where each jump starts, in emission order
};

bool is_terminal(Op op) { return op == Op::PASS || op == Op::DROP || op == Op::END; }

bool is_branch(Op op) {
  switch (op) {
    case Op::BEQ:
    case Op::BNE:
    case Op::BLT:
    case Op::BLE:
    case Op::BGT:
    case Op::BGE:
    case Op::BLTU:
    case Op::BLEU:
    case Op::BGTU:
    case Op::BGEU:
    case Op::BSET:
    case Op::BCLR:
      return true;
    default:
      return false;
  }
}

bool is_alu(Op op) {
  switch (op) {
    case Op::MOV:
    case Op::ADD:
    case Op::SUB:
    case Op::MUL:
    case Op::DIV:
    case Op::MOD:
    case Op::AND:
    case Op::OR:
    case Op::XOR:
    case Op::SHL:
    case Op::SHR:
    case Op::SAR:
    case Op::NOT:
    case Op::NEG:
      return true;
    default:
      return false;
  }
}

class Compiler {
 public:
  // previous: the same program assembled before, for short jumps.
  Compiler(const Program& p, const JitLayout& l, const Asm* previous)
      : p_(p), l_(l), a_(previous) {}

  const Asm& assembly() const { return a_; }

  bool assemble(std::string* why) {
    const size_t n = p_.code.size();
    if (p_.text_pc >= n) return fail(why, "no .text");
    // What .text reaches, and whether the JIT can run all of it.
    std::vector<bool> reach(n, false), leader(n, false);
    std::vector<uint32_t> todo = {p_.text_pc};
    leader[p_.text_pc] = true;
    while (!todo.empty()) {
      uint32_t pc = todo.back();
      todo.pop_back();
      if (pc >= n || reach[pc]) continue;
      reach[pc] = true;
      ++reached_;
      const Insn& in = p_.code[pc];
      if (std::string reason = unsupported(in); !reason.empty()) {
        SourcePos pos = p_.pos(pc);
        return fail(why, "line " + std::to_string(pos.line) + ": " + reason);
      }
      note_operand(in.a);
      note_operand(in.b);
      if (in.op == Op::JMP || is_branch(in.op)) {
        if (in.target <= pc) return fail(why, "a backward jump (a loop)");
        leader[in.target] = true;
        todo.push_back(in.target);
      }
      if (is_branch(in.op) && pc + 1 < n) leader[pc + 1] = true;
      if (!is_terminal(in.op) && in.op != Op::JMP) todo.push_back(pc + 1);
    }
    read_regs_ = regs_read_unset(reach);
    assign_host_registers(reach);
    const std::vector<bool> parsed = parsed_on_entry(reach);
    const std::vector<uint32_t> known = flags_on_entry(reach);
    for (uint32_t pc = 0; pc < n; ++pc) pc_label_.push_back(a_.new_label());
    exit_ = a_.new_label();
    if (calls_) {
      state_ = R15, pkt_ = R12, len_ = R13, count_ = R14;
    } else {
      state_ = RDI, pkt_ = RSI, len_ = R8, count_ = R9;
    }

    // Jumps only go forward, so nothing before .text is reachable: the
    // prologue falls into it.
    prologue();
    uint32_t block_end = 0;  // last pc of the current block
    for (uint32_t pc = 0; pc < n; ++pc) {
      if (!reach[pc]) continue;
      a_.bind(pc_label_[pc]);
      if (leader[pc]) {
        block_end = pc;
        while (!ends_block(block_end, leader)) ++block_end;
        a_.alu_imm(0, count_, static_cast<int32_t>(block_end - pc + 1));
      }
      pc_ = pc;
      not_run_ = block_end - pc;
      parsed_ = parsed[pc];
      known_ = known[pc];
      emit(p_.code[pc]);
    }
    // Fault exits, one per site: the instructions after it did not run.
    for (const auto& f : faults_) {
      a_.bind(f.label);
      if (f.not_run) a_.alu_imm(5, count_, static_cast<int32_t>(f.not_run));
      a_.mov_imm(RAX, uint64_t{static_cast<uint8_t>(JitExit::Fault)} << 32 | f.pc);
      a_.jmp(exit_);
    }
    a_.bind(exit_);
    epilogue();
    if (!a_.resolve()) return fail(why, "internal: unbound label or short jump out of reach");
    return true;
  }

  std::unique_ptr<JitCode> install(std::string* why) const {
    const size_t size = (a_.code.size() + 4095) & ~size_t{4095};
    void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return fail(why, "mmap failed"), nullptr;
    std::memcpy(mem, a_.code.data(), a_.code.size());
    if (mprotect(mem, size, PROT_READ | PROT_EXEC) != 0) {
      munmap(mem, size);
      return fail(why, "mprotect(PROT_EXEC) refused"), nullptr;
    }
    return std::make_unique<JitCode>(mem, size, a_.code.size(), reached_);
  }

 private:
  struct FaultSite {
    int label;
    uint32_t pc;
    uint32_t not_run;
  };

  static bool fail(std::string* why, std::string reason) {
    if (why) *why = std::move(reason);
    return false;
  }

  bool ends_block(uint32_t pc, const std::vector<bool>& leader) const {
    const Op op = p_.code[pc].op;
    return is_terminal(op) || op == Op::JMP || is_branch(op) || pc + 1 >= p_.code.size() ||
           leader[pc + 1];
  }

  // "" if the JIT compiles this operand as a value to read.
  std::string unreadable(const Operand& o) const {
    switch (o.kind) {
      case Kind::Reg:
      case Kind::Imm:
      case Kind::Var:
        return "";
      case Kind::Mapped:
        return mapped_info(static_cast<MappedReg>(o.reg)).bytes == 8 ? "" : "a 16-byte field";
      case Kind::PktMem:
        return "";
      case Kind::HeapMem: {
        const uint64_t w = 1u << (o.attr & attr::kWidthMask);
        if ((o.attr & attr::kNoBase) && o.imm >= 0 &&
            static_cast<uint64_t>(o.imm) + w <= l_.heap_size)
          return "";
        return "indexed heap memory";
      }
      default:
        return "out buffer memory";
    }
  }

  std::string unsupported(const Insn& in) const {
    const std::string_view name = op_info(in.op).mnemonic;
    if (in.op == Op::NOP || in.op == Op::JMP || is_terminal(in.op)) return "";
    if (is_alu(in.op)) {
      if (in.a.kind != Kind::Reg && in.a.kind != Kind::Var)
        return std::string(name) + " into memory";
      if (std::string r = unreadable(in.a); !r.empty()) return r;
      if (in.b.kind != Kind::None)
        if (std::string r = unreadable(in.b); !r.empty()) return r;
      return "";
    }
    if (is_branch(in.op)) {
      if (std::string r = unreadable(in.a); !r.empty()) return r;
      return unreadable(in.b);
    }
    return std::string(name);
  }

  void note_operand(const Operand& o) {
    calls_ |= calls(o);
    reads_wlen_ |= mapped_read(o) == static_cast<int>(MappedReg::Wlen);
  }

  // The gprs an operand reads, as a value or as a memory base.
  static uint32_t regs_in(const Operand& o, bool as_value) {
    if (o.kind == Kind::Reg) return as_value ? 1u << o.reg : 0;
    const bool based =
        (o.kind == Kind::PktMem || o.kind == Kind::HeapMem) && !(o.attr & attr::kNoBase);
    return based && !(o.attr & attr::kBaseMapped) ? 1u << o.reg : 0;
  }

  // A forward dataflow over what .text reaches: `entry` holds on entry to
  // text_pc; out(in, value, taken) is what an edge out of `in` carries
  // (taken: the jump to in.target, else the fall to the next instruction);
  // meet combines the values of several predecessors. All edges go forward,
  // so one pass in pc order sees every predecessor first. Returns the value
  // on entry to each pc.
  template <class T, class Out, class Meet>
  std::vector<T> flow_forward(const std::vector<bool>& reach, T entry, Out out, Meet meet) const {
    const size_t n = p_.code.size();
    std::vector<T> at(n, T{});
    std::vector<bool> seen(n, false);
    at[p_.text_pc] = entry, seen[p_.text_pc] = true;
    for (uint32_t pc = 0; pc < n; ++pc) {
      if (!reach[pc]) continue;
      const Insn& in = p_.code[pc];
      auto edge = [&](uint32_t to, bool taken) {
        if (to >= n) return;
        const T v = out(in, T(at[pc]), taken);
        at[to] = seen[to] ? meet(T(at[to]), v) : v;
        seen[to] = true;
      };
      if (in.op == Op::JMP || is_branch(in.op)) edge(in.target, true);
      if (!is_terminal(in.op) && in.op != Op::JMP) edge(pc + 1, false);
    }
    return at;
  }

  // The gprs some path reads before writing them: the prologue zeroes those
  // (a run starts with every gpr 0) and leaves the rest alone.
  uint32_t regs_read_unset(const std::vector<bool>& reach) const {
    auto reads = [](const Insn& in) {
      return regs_in(in.a, !(in.op == Op::MOV)) | regs_in(in.b, true);
    };
    const std::vector<uint32_t> unset = flow_forward<uint32_t>(
        reach, (1u << kGprCount) - 1,
        [](const Insn& in, uint32_t u, bool) {
          const bool writes_a = is_alu(in.op) && in.a.kind == Kind::Reg;
          return u & ~(writes_a ? 1u << in.a.reg : 0u);
        },
        std::bit_or<>());
    uint32_t needed = 0;
    for (uint32_t pc = 0; pc < p_.code.size(); ++pc)
      if (reach[pc]) needed |= reads(p_.code[pc]) & unset[pc];
    return needed;
  }

  // The most used gprs live in host registers: the caller-saved r10 and
  // r11 in a leaf, the callee-saved rbx when the code calls the parser.
  // The rest stay in the state. A run's gprs are dead after it, so nothing
  // is written back.
  void assign_host_registers(const std::vector<bool>& reach) {
    std::vector<std::pair<uint32_t, uint8_t>> uses(kGprCount);
    for (uint8_t r = 0; r < kGprCount; ++r) uses[r] = {0, r};
    for (uint32_t pc = 0; pc < p_.code.size(); ++pc) {
      if (!reach[pc]) continue;
      for (const Operand* o : {&p_.code[pc].a, &p_.code[pc].b})
        if (regs_in(*o, true)) ++uses[o->reg].first;
    }
    std::stable_sort(uses.begin(), uses.end(), [](auto& x, auto& y) { return x.first > y.first; });
    std::fill(std::begin(host_), std::end(host_), kInState);
    const std::vector<uint8_t> free =
        calls_ ? std::vector<uint8_t>{RBX} : std::vector<uint8_t>{R10, R11};
    for (size_t i = 0; i < free.size() && uses[i].first; ++i) {
      host_[uses[i].second] = static_cast<int8_t>(free[i]);
      saves_rbx_ |= free[i] == RBX;
    }
  }

  // Entered with state, pkt, len, len_ptr, capacity and meta in rdi, rsi,
  // rdx, rcx, r8 and r9. Code that calls the parser hands it the run first.
  void prologue() {
    // wlen is meta->wire_len, or the length when that is 0: worked out once
    // here, while rdx and r9 still hold them (a leaf's count takes r9), and
    // kept in wlen's memo slot, which only this code reads.
    if (reads_wlen_) {
      const int whole = a_.new_label();
      a_.load_sized(R9, static_cast<int32_t>(offsetof(PacketMeta, wire_len)), 2, true);
      a_.alu(0x85, RAX, RAX);
      a_.jcc(kNE, whole);
      a_.mov(RAX, RDX);
      a_.bind(whole);
      a_.store(RDI, wlen_slot(), RAX);
    }
    if (calls_ || read_regs_) a_.alu(0x31, RAX, RAX);
    if (calls_) {
      // Pushes after the return address, an odd number of them: rsp is
      // 16-byte aligned for calls.
      for (uint8_t r : {RBP, R12, R13, R14, R15}) a_.push(r);
      if (saves_rbx_) {
        a_.push(RBX);
        a_.alu_imm(5, RSP, 8);
      }
      a_.mov(R15, RDI);
      a_.mov(R12, RSI);
      a_.mov(R13, RDX);
      a_.store(state_, l_.run_pkt, RSI);
      a_.store(state_, l_.run_len, RCX);
      a_.store(state_, l_.run_capacity, R8, 4);
      a_.store(state_, l_.run_meta, R9);
      a_.store(state_, l_.parsed, RAX, 1);
      a_.store(state_, l_.field_known, RAX);
    } else {
      a_.mov(R8, RDX);
    }
    a_.alu(0x31, count_, count_);
    for (uint8_t r = 0; r < kGprCount; ++r) {
      if (!(read_regs_ & (1u << r))) continue;
      if (host_[r] != kInState)
        a_.mov(static_cast<uint8_t>(host_[r]), RAX);
      else
        a_.store(state_, l_.regs + 8 * r, RAX);
    }
  }

  // A pass or a drop counts itself (packets, instructions and the verdict)
  // and returns, where the program says it.
  void counted_exit(int32_t verdict_counter, JitExit kind) {
    a_.mov_imm(RCX, reinterpret_cast<uintptr_t>(l_.stats));
    a_.add_to_memory(RCX, l_.packets, 1);
    a_.add_register_to_memory(RCX, l_.instructions, count_);
    a_.add_to_memory(RCX, verdict_counter, 1);
    a_.mov_imm(RAX, uint64_t{static_cast<uint8_t>(kind)} << 32);
    epilogue();
  }

  // Returns {rax, count}.
  void epilogue() {
    a_.mov(RDX, count_);
    if (saves_rbx_) {
      a_.alu_imm(0, RSP, 8);
      a_.pop(RBX);
    }
    if (calls_)
      for (uint8_t r : {R15, R14, R13, R12, RBP}) a_.pop(r);
    a_.byte(0xc3);
  }

  void read_gpr(uint8_t r) {
    if (host_[r] != kInState) return a_.mov(RAX, static_cast<uint8_t>(host_[r]));
    a_.load(RAX, state_, l_.regs + 8 * r);
  }

  int fault_label() {
    int l = a_.new_label();
    faults_.push_back({l, pc_, not_run_});
    return l;
  }

  // The mapped register an operand reads (as a value or as a packet
  // offset's base), or -1.
  static int mapped_read(const Operand& o) {
    const bool read =
        o.kind == Kind::Mapped ||
        (o.kind == Kind::PktMem && !(o.attr & attr::kNoBase) && (o.attr & attr::kBaseMapped));
    return read ? o.reg : -1;
  }

  // Whether reading o may call out: any mapped register but mlen, which the
  // code keeps in a host register, and wlen, which the prologue works out.
  static bool calls(const Operand& o) {
    const int m = mapped_read(o);
    return m >= 0 && m != static_cast<int>(MappedReg::Mlen) &&
           m != static_cast<int>(MappedReg::Wlen);
  }

  int32_t wlen_slot() const { return l_.field + 8 * static_cast<int32_t>(MappedReg::Wlen); }

  void read_mapped(uint8_t id) {
    if (id == static_cast<uint8_t>(MappedReg::Mlen)) return a_.mov(RAX, len_);
    if (id == static_cast<uint8_t>(MappedReg::Wlen)) return a_.load(RAX, state_, wlen_slot());
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

  // Whether a read of this operand parses the headers (any header field
  // does, through field_location or the memo; metadata does not).
  static bool parses(const Operand& o) {
    const int m = mapped_read(o);
    return m >= 0 && !is_metadata(static_cast<MappedReg>(m));
  }

  // Per pc, whether every path from .text to it has parsed the headers:
  // the code there needs no test.
  std::vector<bool> parsed_on_entry(const std::vector<bool>& reach) const {
    return flow_forward<bool>(
        reach, false,
        [](const Insn& in, bool parsed, bool) { return parsed || parses(in.a) || parses(in.b); },
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
  // the fields they vouch for need no test. The compiled code changes no
  // packet, so the parsed headers stay as they are for the whole run.
  std::vector<uint32_t> flags_on_entry(const std::vector<bool>& reach) const {
    return flow_forward<uint32_t>(
        reach, 0,
        [](const Insn& in, uint32_t known, bool taken) {
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
    a_.cmp_byte(state_, l_.parsed, 0);
    a_.jcc(kNE, parsed);
    // Inline once: a later site where some path has not parsed yet is rare.
    if (l_.ethernet && !parses_inline_) parse_common(call, parsed);
    parses_inline_ = true;
    a_.bind(call);
    a_.mov(RDI, state_);
    a_.call(reinterpret_cast<const void*>(l_.parse));
    a_.bind(parsed);
  }

  // What parse_headers gives an untagged IPv4 frame without options, not a
  // fragment, with a whole TCP, UDP or ICMP header (the bytes of Headers,
  // from the same members): the frames a switch forwards most. The code
  // checks for one and writes these bytes itself; anything else jumps to
  // `call`, the parser. Only the flags, ip_proto, ip_id and the payload vary.
  static std::array<uint8_t, sizeof(Headers)> common_headers(uint32_t transport) {
    std::array<uint8_t, sizeof(Headers)> b{};
    auto put = [&](size_t at, auto v) { std::memcpy(&b[at], &v, sizeof v); };
    put(offsetof(Headers, flags), has::kEth | has::kIp4 | has::kL4 | transport);
    put(offsetof(Headers, l3), uint16_t{14});
    put(offsetof(Headers, l4), uint16_t{34});
    put(offsetof(Headers, eth_type), uint16_t{kTypeIp4});
    put(offsetof(Headers, ip_hlen), uint16_t{20});
    return b;
  }
  static uint64_t word(const std::array<uint8_t, sizeof(Headers)>& b, size_t at) {
    uint64_t w = 0;
    std::memcpy(&w, &b[at], std::min(sizeof w, b.size() - at));
    return w;
  }

  // rax, rcx and rdx are free here; the state, packet and length registers stay.
  void parse_common(int call, int parsed) {
    a_.alu_imm(7, len_, 42);  // Ethernet, IPv4 and 8 transport bytes
    a_.jcc(kB, call);
    a_.cmp_word(pkt_, 12, 0x0008);  // EtherType 0x0800, as the bytes read little-endian
    a_.jcc(kNE, call);
    a_.cmp_byte(pkt_, 14, 0x45);  // version 4, 20-byte header
    a_.jcc(kNE, call);
    a_.test_memory(pkt_, 20, 0xff3f);  // MF and the fragment offset
    a_.jcc(kNE, call);
    a_.load_sized(pkt_, 23, 0, true);  // protocol
    a_.mov(RCX, RAX);
    a_.mov_imm(RDX, 42);  // the payload of UDP and ICMP, after their 8 bytes (checked above)
    const int tcp = a_.new_label(), icmp = a_.new_label(), store = a_.new_label();
    a_.alu_imm(7, RCX, kProtoTcp);
    a_.jcc(kE, tcp);
    a_.alu_imm(7, RCX, kProtoIcmp);
    a_.jcc(kE, icmp);
    a_.alu_imm(7, RCX, kProtoUdp);
    a_.jcc(kNE, call);
    a_.mov_imm(RAX, word(common_headers(has::kUdp), 0));
    a_.jmp(store);
    a_.bind(icmp);
    a_.mov_imm(RAX, word(common_headers(has::kIcmp), 0));
    a_.jmp(store);
    a_.bind(tcp);
    // 20 bytes of TCP header in the frame before its data offset is read, an
    // offset of at least 5 words, and the header with its options inside the frame.
    a_.alu_imm(7, len_, 54);
    a_.jcc(kB, call);
    a_.load_sized(pkt_, 46, 0, true);
    a_.shift_imm(5, RAX, 4);
    a_.alu_imm(7, RAX, 5);
    a_.jcc(kB, call);
    a_.shift_imm(4, RAX, 2);
    a_.alu_imm(0, RAX, 34);
    a_.alu(0x39, RAX, len_);  // cmp rax, len
    a_.jcc(kA, call);
    a_.mov(RDX, RAX);
    a_.mov_imm(RAX, word(common_headers(has::kTcp), 0));
    a_.bind(store);
    const int32_t h = l_.headers;
    static_assert(sizeof(Headers) == 28 && offsetof(Headers, ip_proto) == 16 &&
                  offsetof(Headers, ip_id) == 24);
    a_.store(state_, h, RAX);
    a_.mov_imm(RAX, word(common_headers(0), 8));  // the same for every protocol
    a_.store(state_, h + 8, RAX);
    a_.alu(0x31, RAX, RAX);
    a_.store(state_, h + 16, RAX);
    a_.store(state_, h + static_cast<int32_t>(offsetof(Headers, ip_proto)), RCX, 1);
    a_.store(state_, h + static_cast<int32_t>(offsetof(Headers, payload)), RDX, 2);
    a_.load_sized(pkt_, 18, 1, false);  // the IPv4 id
    a_.store(state_, h + static_cast<int32_t>(offsetof(Headers, ip_id)), RAX, 4);
    a_.mov_imm(RAX, 1);
    a_.store(state_, l_.parsed, RAX, 1);
    a_.jmp(parsed);
  }

  // ZF clear when the parsed headers have one of the has:: bits in mask.
  void test_header_flags(uint32_t mask) {
    a_.test_memory(state_, l_.headers + static_cast<int32_t>(offsetof(Headers, flags)), mask);
  }

  // rax = a header field field_location() places: no call once parsed. The
  // packet reads need no bounds check: the `when` bits vouch for them.
  void read_located(const FieldLocation& loc) {
    using From = FieldLocation::From;
    ensure_parsed();
    if (loc.from == From::Flags) {
      if (known_ & loc.when) return a_.mov_imm(RAX, 1);
      test_header_flags(loc.when);
      a_.mov_imm(RAX, 0);  // mov eax, 0 leaves the flags alone
      return a_.setne_al();
    }
    const int absent = a_.new_label();
    const bool test = loc.when && !(known_ & loc.when);
    if (test) {
      a_.alu(0x31, RAX, RAX);  // 0 when absent
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

  // rax = the value of o.
  void read(const Operand& o) {
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
      case Kind::HeapMem:  // constant address, proven in bounds by unreadable()
        a_.load(RDX, state_, l_.heap);
        return a_.load_sized(RDX, static_cast<int32_t>(o.imm), o.attr & attr::kWidthMask,
                             o.attr & attr::kHostOrder);
      case Kind::PktMem: {
        const unsigned w = o.attr & attr::kWidthMask;
        if ((o.attr & attr::kNoBase) && o.imm >= 0 && o.imm + (1 << w) <= INT32_MAX) {
          // A constant offset: in bounds when len >= offset + width.
          a_.alu_imm(7, len_, static_cast<int32_t>(o.imm + (1 << w)));
          a_.jcc(kB, fault_label());
          return a_.load_sized(pkt_, static_cast<int32_t>(o.imm), w, o.attr & attr::kHostOrder);
        }
        if (o.attr & attr::kNoBase) {
          a_.mov_imm(RAX, static_cast<uint64_t>(o.imm));
        } else {
          if (o.attr & attr::kBaseMapped)
            read_mapped(o.reg);
          else
            read_gpr(o.reg);
          if (unsigned scale = (o.attr & attr::kScaleMask) >> attr::kScaleShift)
            a_.shift_imm(4, RAX, static_cast<uint8_t>(scale));
          if (o.imm != 0) {
            a_.mov_imm(RDX, static_cast<uint64_t>(o.imm));
            a_.alu(0x01, RAX, RDX);
          }
        }
        // In bounds when len >= width and offset <= len - width (unsigned).
        const int fault = fault_label();
        a_.mov(RDX, len_);
        a_.alu_imm(5, RDX, 1 << w);
        a_.jcc(kB, fault);
        a_.alu(0x39, RAX, RDX);  // cmp rax, rdx
        a_.jcc(kA, fault);
        return a_.load_packet(pkt_, w, o.attr & attr::kHostOrder);
      }
      default:
        return;  // refused by unsupported()
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
  // clobbers rcx; rbp keeps b meanwhile). With `rand` in either, a first,
  // as the interpreter reads them: which reads happen before a fault, and
  // which number each gets, depend on the order.
  void read_pair(const Operand& a, const Operand& b) {
    if (b.kind == Kind::Imm) {
      read(a);
      a_.mov_imm(RCX, static_cast<uint64_t>(b.imm));
    } else if (draws_random(a) || draws_random(b)) {
      // Reading rand calls out, so the prologue saved rbp: it keeps a.
      read(a);
      a_.mov(RBP, RAX);
      read(b);
      a_.mov(RCX, RAX);
      a_.mov(RAX, RBP);
    } else if (!calls(a)) {
      read(b);
      a_.mov(RCX, RAX);
      read(a);
    } else {
      read(b);
      a_.mov(RBP, RAX);
      read(a);
      a_.mov(RCX, RBP);
    }
  }

  void write(const Operand& o) {
    if (o.kind == Kind::Reg) {
      if (host_[o.reg] != kInState) return a_.mov(static_cast<uint8_t>(host_[o.reg]), RAX);
      return a_.store(state_, l_.regs + 8 * o.reg, RAX);
    }
    a_.load(RDX, state_, l_.heap);  // Var: proven in bounds by the verifier
    a_.store(RDX, static_cast<int32_t>(o.imm), RAX);
  }

  // Shifts of 64 or more give 0 (sar: the sign), where x86 would mask the count.
  void shift(uint8_t ext) {
    int big = a_.new_label(), done = a_.new_label();
    a_.alu_imm(7, RCX, 63);
    a_.jcc(kA, big);
    a_.shift_cl(ext, RAX);
    a_.jmp(done);
    a_.bind(big);
    if (ext == 7)
      a_.shift_imm(7, RAX, 63);
    else
      a_.alu(0x31, RAX, RAX);
    a_.bind(done);
  }

  void divide(bool remainder) {
    int zero = a_.new_label(), done = a_.new_label();
    a_.alu(0x85, RCX, RCX);
    a_.jcc(kE, zero);
    a_.alu(0x31, RDX, RDX);
    a_.unary(6, RCX);  // div rcx: rdx:rax / rcx
    if (remainder) a_.mov(RAX, RDX);
    a_.jmp(done);
    a_.bind(zero);
    if (!remainder) a_.alu(0x31, RAX, RAX);  // b == 0: div gives 0, mod leaves a
    a_.bind(done);
  }

  void emit(const Insn& in) {
    switch (in.op) {
      case Op::NOP:
        return;
      case Op::JMP:
        return a_.jmp(pc_label_[in.target]);
      case Op::PASS:
      case Op::END:
        return counted_exit(l_.passed, JitExit::Pass);
      case Op::DROP:
        return counted_exit(l_.dropped, JitExit::Drop);
      case Op::MOV:
        read(in.b);
        return write(in.a);
      case Op::NOT:
      case Op::NEG:
        read(in.a);
        a_.unary(in.op == Op::NOT ? 2 : 3, RAX);
        return write(in.a);
      default:
        break;
    }
    // With a 32-bit immediate b: the instruction's imm32 form, rax = a only.
    static constexpr struct {
      Op op;
      uint8_t ext;
    } kImmForms[] = {{Op::ADD, 0}, {Op::OR, 1},   {Op::AND, 4},  {Op::SUB, 5},  {Op::XOR, 6},
                     {Op::BEQ, 7}, {Op::BNE, 7},  {Op::BLT, 7},  {Op::BLE, 7},  {Op::BGT, 7},
                     {Op::BGE, 7}, {Op::BLTU, 7}, {Op::BLEU, 7}, {Op::BGTU, 7}, {Op::BGEU, 7}};
    if (flag_branch(in)) return;
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
          a_.alu_imm(f.ext, static_cast<uint8_t>(host_[in.a.reg]), static_cast<int32_t>(in.b.imm));
          if (f.ext == 7) a_.jcc(condition(in.op), pc_label_[in.target]);
          return;
        }
        read(in.a);
        a_.alu_imm(f.ext, RAX, static_cast<int32_t>(in.b.imm));
        if (f.ext != 7) return write(in.a);
        return a_.jcc(condition(in.op), pc_label_[in.target]);
      }
    }
    read_pair(in.a, in.b);
    switch (in.op) {
      case Op::ADD:
        a_.alu(0x01, RAX, RCX);
        return write(in.a);
      case Op::SUB:
        a_.alu(0x29, RAX, RCX);
        return write(in.a);
      case Op::AND:
        a_.alu(0x21, RAX, RCX);
        return write(in.a);
      case Op::OR:
        a_.alu(0x09, RAX, RCX);
        return write(in.a);
      case Op::XOR:
        a_.alu(0x31, RAX, RCX);
        return write(in.a);
      case Op::MUL:
        a_.imul(RAX, RCX);
        return write(in.a);
      case Op::SHL:
        shift(4);
        return write(in.a);
      case Op::SHR:
        shift(5);
        return write(in.a);
      case Op::SAR:
        shift(7);
        return write(in.a);
      case Op::DIV:
      case Op::MOD:
        divide(in.op == Op::MOD);
        return write(in.a);
      case Op::BSET:
      case Op::BCLR:
        a_.alu(0x85, RAX, RCX);
        return a_.jcc(in.op == Op::BSET ? kNE : kE, pc_label_[in.target]);
      default:
        break;
    }
    a_.alu(0x39, RAX, RCX);  // cmp rax, rcx
    a_.jcc(condition(in.op), pc_label_[in.target]);
  }

  // beq/bne of a has.* field against 0 or 1: a test of the parser's flags.
  // Known set: it always or never jumps.
  bool flag_branch(const Insn& in) {
    bool jump_if_set = false;
    const uint32_t when = flag_test(in, &jump_if_set);
    if (!when) return false;
    if (known_ & when) {
      if (jump_if_set) a_.jmp(pc_label_[in.target]);
      return true;
    }
    ensure_parsed();
    test_header_flags(when);
    a_.jcc(jump_if_set ? kNE : kE, pc_label_[in.target]);
    return true;
  }

  // The x86 condition under which a compare-and-branch jumps, after cmp a, b.
  static Cond condition(Op op) {
    switch (op) {
      case Op::BNE:
        return kNE;
      case Op::BLT:
        return kL;
      case Op::BLE:
        return kLE;
      case Op::BGT:
        return kG;
      case Op::BGE:
        return kGE;
      case Op::BLTU:
        return kB;
      case Op::BLEU:
        return kBE;
      case Op::BGTU:
        return kA;
      case Op::BGEU:
        return kAE;
      default:
        return kE;
    }
  }

  const Program& p_;
  const JitLayout& l_;
  Asm a_;
  std::vector<int> pc_label_;
  std::vector<FaultSite> faults_;
  int exit_ = -1;         // returns rax as it is
  uint32_t reached_ = 0;  // instructions of .text the code covers
  uint32_t pc_ = 0, not_run_ = 0;
  bool calls_ = false;
  bool reads_wlen_ = false;
  uint32_t read_regs_ = 0;       // bit per gpr
  int8_t host_[kGprCount] = {};  // the host register of each gpr, or kInState
  bool saves_rbx_ = false;
  bool parsed_ = false;         // the headers are parsed on every path to here
  uint32_t known_ = 0;          // has:: bits set on every path to here
  bool parses_inline_ = false;  // parse_common has been emitted
  uint8_t state_ = RDI, pkt_ = RSI, len_ = R8, count_ = R9;
};

}  // namespace

// Assembled twice: the second time with the jumps the first showed short.
std::unique_ptr<JitCode> jit_compile(const Program& p, const JitLayout& layout, std::string* why) {
  Compiler first(p, layout, nullptr);
  if (!first.assemble(why)) return nullptr;
  Compiler second(p, layout, &first.assembly());
  if (!second.assemble(why)) return nullptr;
  return second.install(why);
}

#else

std::unique_ptr<JitCode> jit_compile(const Program&, const JitLayout&, std::string* why) {
  if (why) *why = "no JIT for this architecture";
  return nullptr;
}

#endif

}  // namespace netcpu
