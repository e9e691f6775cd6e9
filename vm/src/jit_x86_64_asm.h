// The x86-64 encoder the JIT's back end emits with: named registers and
// condition codes, ModRM/SIB forms, and labels for jumps that take the short
// form where an earlier assembly of the same code shows they reach.
#pragma once

#if defined(__x86_64__)

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace netcpu::x86 {

constexpr uint8_t RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7, R8 = 8,
                  R9 = 9, R10 = 10, R11 = 11, R12 = 12, R13 = 13, R14 = 14, R15 = 15;

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

// Group 1: the /digit of 80, 81 and 83 (op r/m, imm). The register form
// `op r/m, r` is opcode digit * 8 + 1 (add 01 ... cmp 39), so one name
// serves both.
enum class Alu : uint8_t { Add = 0, Or = 1, And = 4, Sub = 5, Xor = 6, Cmp = 7 };
// Group 2: the /digit of C1 (by imm8) and D3 (by cl).
enum class Shift : uint8_t { Rol = 0, Shl = 4, Shr = 5, Sar = 7 };
// Group 3: the /digit of F6 and F7 (test r/m, imm is /0).
enum class Unary : uint8_t { Test = 0, Not = 2, Neg = 3, Mul = 4, Div = 6, Idiv = 7 };

// A group's /digit, for ModRM's reg field.
template <typename Group>
constexpr uint8_t digit(Group g) {
  return static_cast<uint8_t>(g);
}

// The REX prefix, 0100WRXB: W a 64-bit operand, R, X and B the fourth bit
// of ModRM.reg, SIB.index and ModRM.rm or SIB.base.
constexpr uint8_t kRex = 0x40, kRexW = 0x08, kRexR = 0x04, kRexX = 0x02, kRexB = 0x01;
// ModRM.mod: [rm + disp8], [rm + disp32], the register rm itself.
constexpr uint8_t kModDisp8 = 1, kModDisp32 = 2, kModReg = 3;
// ModRM.rm = 4 (rsp's number): a SIB byte follows; SIB.index = 4: no index.
constexpr uint8_t kRmSib = 4, kSibNoIndex = 4;
// The operand-size prefix: 16-bit operands.
constexpr uint8_t kOperand16 = 0x66;

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
  void bind(int label) { labels_[label] = last_bound_ = static_cast<int64_t>(code.size()); }
  // The same for a label nothing has jumped to or will (the code only falls
  // in there): what was emitted just before may still merge_into_last_imm.
  void bind_fallen_into(int label) { labels_[label] = static_cast<int64_t>(code.size()); }
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

  // The raw bytes of an instruction: an opcode byte, a 4- or 8-byte
  // immediate (little-endian), the REX prefix when it has a bit to set, the
  // ModRM and SIB bytes.
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
    const uint8_t r = static_cast<uint8_t>(kRex | (w ? kRexW : 0) | (reg & 8 ? kRexR : 0) |
                                           (index & 8 ? kRexX : 0) | (base & 8 ? kRexB : 0));
    if (r != kRex) byte(r);
  }
  void modrm(uint8_t mod, uint8_t reg, uint8_t rm) {
    byte(static_cast<uint8_t>(mod << 6 | (reg & 7) << 3 | (rm & 7)));
  }
  void sib_byte(uint8_t scale_log, uint8_t index, uint8_t base) {
    byte(static_cast<uint8_t>(scale_log << 6 | (index & 7) << 3 | (base & 7)));
  }
  static bool fits8(int64_t v) { return v >= INT8_MIN && v <= INT8_MAX; }
  // ModRM (and SIB) for [base + disp], disp8 when it fits.
  void mem(uint8_t reg, uint8_t base, int32_t disp) {
    modrm(fits8(disp) ? kModDisp8 : kModDisp32, reg, base);
    if ((base & 7) == kRmSib) sib_byte(0, kSibNoIndex, base);  // rsp or r12 as the base
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
    if (bytes == 2) byte(kOperand16);
    rex(bytes == 8, src, 0, base);
    byte(bytes == 1 ? 0x88 : 0x89);
    mem(src, base, disp);
  }
  // add qword [base + disp], imm8 / src
  void add_to_memory(uint8_t base, int32_t disp, int8_t v) {
    alu_imm_to_memory(Alu::Add, base, disp, v);
  }
  // op qword [base + disp], imm (sign-extended from 8 or 32 bits)
  void alu_imm_to_memory(Alu op, uint8_t base, int32_t disp, int32_t v) {
    rex(true, 0, 0, base);
    byte(fits8(v) ? 0x83 : 0x81);
    mem(digit(op), base, disp);
    byte_or_dword(v);
  }
  void add_register_to_memory(uint8_t base, int32_t disp, uint8_t src) {
    alu_to_memory(Alu::Add, base, disp, src);
  }
  // op qword [base + disp], src
  void alu_to_memory(Alu op, uint8_t base, int32_t disp, uint8_t src) {
    rex(true, src, 0, base);
    byte(register_opcode(op));
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
  // Like load_sized, from [base + index + disp] (the packet at the offset in
  // index, rax unless a register holds it already). Never index rsp.
  void load_packet(uint8_t base, unsigned width_log, bool host_order, int32_t disp = 0,
                   uint8_t index = RAX) {
    switch (width_log) {
      case 0:
        rex(false, RAX, index, base), byte(0x0f), byte(0xb6);
        break;
      case 1:
        rex(false, RAX, index, base), byte(0x0f), byte(0xb7);
        break;
      case 2:
        rex(false, RAX, index, base), byte(0x8b);
        break;
      default:
        rex(true, RAX, index, base), byte(0x8b);
    }
    // [base + index + disp] through a SIB byte, always with a displacement
    // (base rbp/r13 needs one): disp8 when it fits.
    modrm(fits8(disp) ? kModDisp8 : kModDisp32, RAX, kRmSib);
    sib_byte(0, index, base);
    byte_or_dword(disp);
    swap_loaded(width_log, host_order);
  }
  // A loaded value from network to host order (rax; nothing for a byte).
  void swap_loaded(unsigned width_log, bool host_order) {
    if (host_order || width_log == 0) return;
    if (width_log == 1) {
      rol_ax_8();  // (the upper bits were 0)
    } else if (width_log == 2) {
      bswap32_rax();
    } else {
      bswap64_rax();
    }
  }

  // mov dst, src (64 bits): 89 /r
  void mov(uint8_t dst, uint8_t src) {
    rex(true, src, 0, dst);
    byte(0x89);
    modrm(kModReg, src, dst);
  }
  // dst = v in the shortest form: mov r32, imm32 (B8+r, zero-extends), mov
  // r/m64, simm32 (C7 /0), else movabs r64, imm64 (REX.W B8+r).
  void mov_imm(uint8_t dst, uint64_t v) {
    const auto s = static_cast<int64_t>(v);
    if (v <= 0xffffffffu) {
      rex(false, 0, 0, dst);
      byte(static_cast<uint8_t>(0xb8 + (dst & 7)));
      imm32(static_cast<int32_t>(static_cast<uint32_t>(v)));
    } else if (s >= INT32_MIN && s <= INT32_MAX) {
      rex(true, 0, 0, dst);
      byte(0xc7);
      modrm(kModReg, 0, dst);
      imm32(static_cast<int32_t>(s));
    } else {
      rex(true, 0, 0, dst);
      byte(static_cast<uint8_t>(0xb8 + (dst & 7)));
      imm64(v);
    }
  }
  // op dst, src (64 bits)
  void alu(Alu op, uint8_t dst, uint8_t src) {
    rex(true, src, 0, dst);
    byte(register_opcode(op));
    modrm(kModReg, src, dst);
  }
  // test dst, src (64 bits)
  void test(uint8_t dst, uint8_t src) {
    rex(true, src, 0, dst);
    byte(0x85);
    modrm(kModReg, src, dst);
  }
  // op dst, imm (sign-extended; imm8 when it fits)
  void alu_imm(Alu op, uint8_t dst, int32_t v) {
    rex(true, 0, 0, dst);
    byte(fits8(v) ? 0x83 : 0x81);
    modrm(kModReg, digit(op), dst);
    byte_or_dword(v);
    last_imm_ = {static_cast<int64_t>(code.size()), op, dst, v};
  }
  // Adds v to the immediate of the alu_imm just emitted when it was the
  // same op on dst, with an 8-bit immediate that still fits, and nothing
  // was emitted or bound since (so no jump lands between the two): false,
  // and nothing changed, otherwise.
  bool merge_into_last_imm(Alu op, uint8_t dst, int32_t v) {
    const int64_t end = static_cast<int64_t>(code.size());
    if (last_imm_.end != end || last_bound_ == end || last_imm_.op != op || last_imm_.dst != dst ||
        !fits8(last_imm_.v) || !fits8(int64_t{last_imm_.v} + v))
      return false;
    last_imm_.v += v;
    code.back() = static_cast<uint8_t>(static_cast<int8_t>(last_imm_.v));
    return true;
  }
  // and r32, imm32: zero-extends, so rax & mask for any mask below 2^32.
  void and_imm32(uint8_t dst, uint32_t mask) { alu32_imm(Alu::And, dst, mask); }
  // op r32, imm32: zero-extends into r64.
  void alu32_imm(Alu op, uint8_t dst, uint32_t v) {
    rex(false, 0, 0, dst);
    byte(0x81);
    modrm(kModReg, digit(op), dst);
    imm32(static_cast<int32_t>(v));
  }
  // imul dst, src, imm32
  void imul_imm(uint8_t dst, uint8_t src, int32_t v) {
    rex(true, dst, 0, src);
    byte(0x69);
    modrm(kModReg, dst, src);
    imm32(v);
  }
  // mul rdx: rdx:rax = rax * rdx (unsigned, 128 bits)
  void mul_rdx() { unary(Unary::Mul, RDX); }
  // imul dst, src (64 bits): 0f af /r
  void imul(uint8_t dst, uint8_t src) {
    rex(true, dst, 0, src);
    byte(0x0f), byte(0xaf);
    modrm(kModReg, dst, src);
  }
  // op dst, cl (d3 /digit) and op dst, imm8 (c1 /digit ib), 64 bits
  void shift_cl(Shift op, uint8_t dst) {
    rex(true, 0, 0, dst);
    byte(0xd3);
    modrm(kModReg, digit(op), dst);
  }
  void shift_imm(Shift op, uint8_t dst, uint8_t n) {
    rex(true, 0, 0, dst);
    byte(0xc1);
    modrm(kModReg, digit(op), dst);
    byte(n);
  }
  // rol ax, 8: swaps the low two bytes.
  void rol_ax_8() {
    byte(kOperand16), byte(0xc1);
    modrm(kModReg, digit(Shift::Rol), RAX);
    byte(8);
  }
  // op dst (64 bits; mul, div and idiv on rdx:rax)
  void unary(Unary op, uint8_t dst) {
    rex(true, 0, 0, dst);
    byte(0xf7);
    modrm(kModReg, digit(op), dst);
  }
  // cmp word [base + disp], imm16
  void cmp_word(uint8_t base, int32_t disp, uint16_t v) {
    byte(kOperand16);
    rex(false, 0, 0, base);
    byte(0x81);
    mem(digit(Alu::Cmp), base, disp);
    byte(static_cast<uint8_t>(v)), byte(static_cast<uint8_t>(v >> 8));
  }
  // cmp byte [base + disp], imm8
  void cmp_byte(uint8_t base, int32_t disp, uint8_t v) {
    rex(false, 0, 0, base);
    byte(0x80);
    mem(digit(Alu::Cmp), base, disp);
    byte(v);
  }
  // test [base + disp], mask: a byte test when the mask lies in one byte.
  void test_memory(uint8_t base, int32_t disp, uint32_t mask) {
    for (int k = 0; k < 4; ++k) {
      if (mask & ~(0xffu << 8 * k)) continue;
      rex(false, 0, 0, base);
      byte(0xf6);
      mem(digit(Unary::Test), base, disp + k);
      return byte(static_cast<uint8_t>(mask >> 8 * k));
    }
    rex(false, 0, 0, base);
    byte(0xf7);
    mem(digit(Unary::Test), base, disp);
    imm32(static_cast<int32_t>(mask));
  }
  // setne al: 0f 95 /0
  void setne_al() { byte(0x0f), byte(0x95), byte(0xc0); }
  // cmp reg, qword [base + disp]
  void cmp_memory(uint8_t reg, uint8_t base, int32_t disp) {
    rex(true, reg, 0, base);
    byte(0x3b);
    mem(reg, base, disp);
  }
  // add reg, qword [base + disp]
  void add_memory(uint8_t reg, uint8_t base, int32_t disp) {
    rex(true, reg, 0, base);
    byte(0x03);
    mem(reg, base, disp);
  }
  // mov dword (or sign-extended qword) [base + disp], imm32
  void store_imm32(uint8_t base, int32_t disp, int32_t v, bool qword = false) {
    rex(qword, 0, 0, base);
    byte(0xc7);
    mem(0, base, disp);
    imm32(v);
  }
  // dst = dword [base + disp], zero-extended
  void load32(uint8_t dst, uint8_t base, int32_t disp) {
    rex(false, dst, 0, base);
    byte(0x8b);
    mem(dst, base, disp);
  }
  // mov [base + index * 2^scale_log + disp32], src (8 or 4 bytes), and the load.
  // (bytes: 8, 4, 2 or 1; a byte from rax..rbx.)
  void store_indexed(uint8_t base, uint8_t index, uint8_t scale_log, int32_t disp, uint8_t src,
                     unsigned bytes = 8) {
    if (bytes == 2) byte(kOperand16);
    rex(bytes == 8, src, index, base);
    byte(bytes == 1 ? 0x88 : 0x89);
    sib(src, base, index, scale_log, disp);
  }
  // dst = the `bytes` (1, 2, 4 or 8) at [base + index * 2^scale_log + disp], zero-extended
  void load_indexed(uint8_t dst, uint8_t base, uint8_t index, uint8_t scale_log, int32_t disp,
                    unsigned bytes = 8) {
    rex(bytes == 8, dst, index, base);
    if (bytes < 4)
      byte(0x0f), byte(bytes == 1 ? 0xb6 : 0xb7);  // movzx
    else
      byte(0x8b);
    sib(dst, base, index, scale_log, disp);
  }
  // lea dst, [base + index * 2^scale_log + disp]
  void lea_indexed(uint8_t dst, uint8_t base, uint8_t index, uint8_t scale_log, int32_t disp) {
    rex(true, dst, index, base);
    byte(0x8d);
    sib(dst, base, index, scale_log, disp);
  }
  // mov dword [base + index * 4 + disp32], imm32
  void store_imm32_indexed(uint8_t base, uint8_t index, int32_t disp, int32_t v) {
    rex(false, 0, index, base);
    byte(0xc7);
    sib(0, base, index, 2, disp);
    imm32(v);
  }
  // rol ax, 8, then movzx eax, ax (0f b7 /r): the low two bytes swapped, the rest 0.
  void bswap16_rax() {
    rol_ax_8();
    byte(0x0f), byte(0xb7), byte(0xc0);
  }
  // bswap eax (0f c8, zero-extends) and bswap rax.
  void bswap32_rax() { byte(0x0f), byte(0xc8); }
  void bswap64_rax() { byte(kRex | kRexW), byte(0x0f), byte(0xc8); }
  // cqo: rdx:rax = rax sign-extended, for idiv.
  void cqo() { byte(kRex | kRexW), byte(0x99); }
  // A near call to a label (functions of the program): e8 rel32; ret: c3;
  // jmp rax: ff /4.
  void call_label(int label) {
    byte(0xe8);
    fixup(label, 4);
  }
  void ret() { byte(0xc3); }
  void jmp_rax() { byte(0xff), byte(0xe0); }
  // bt dst, bit: 0f ba /4 ib (carry = the bit).
  void bt(uint8_t dst, uint8_t bit) {
    rex(true, 0, 0, dst);
    byte(0x0f), byte(0xba);
    modrm(kModReg, 4, dst);
    byte(bit);
  }
  // jcc label: 70+cc rel8 where it reaches, else 0f 80+cc rel32.
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
  // jmp label: eb rel8 where it reaches, else e9 rel32.
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
  // A call out (System V: rax, rcx, rdx, rsi, rdi and r8-r11 are the
  // callee's). The caller-saved registers set by keep_across_calls() are
  // stored before it and loaded after it, so every call keeps them.
  void call(const void* fn) {
    for (const Kept& k : kept_) store(k.base, k.disp, k.reg);
    mov_imm(RAX, reinterpret_cast<uint64_t>(fn));
    byte(0xff), byte(0xd0);  // call rax: ff /2
    for (const Kept& k : kept_) load(k.reg, k.base, k.disp);
  }
  // reg lives in [base + disp] across every call() from now on (reg not an
  // argument register, whose value the call needs).
  void keep_across_calls(uint8_t reg, uint8_t base, int32_t disp) {
    kept_.push_back({reg, base, disp});
  }
  // nops up to a multiple of `boundary` bytes (a power of two; the code is
  // installed at the start of a page): a small loop then sits in as few
  // 32-byte windows of the decoded-instruction cache as it can (measured:
  // payload_sum's loop 29 -> 24 ns a packet when it no longer crossed
  // one). The first assembly pads boundary - 1 bytes wherever it is, so
  // that no distance grows in the second (short jumps).
  void align(unsigned boundary) {
    size_t pad = previous_ ? (boundary - code.size() % boundary) % boundary : boundary - 1;
    // The long nops (0f 1f /0 with ModRM and SIB forms), up to 8 bytes each.
    static constexpr uint8_t kNops[8][8] = {{0x90},
                                            {0x66, 0x90},
                                            {0x0f, 0x1f, 0x00},
                                            {0x0f, 0x1f, 0x40, 0x00},
                                            {0x0f, 0x1f, 0x44, 0x00, 0x00},
                                            {0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00},
                                            {0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00},
                                            {0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00}};
    while (pad > 0) {
      const size_t n = std::min<size_t>(pad, 8);
      code.insert(code.end(), kNops[n - 1], kNops[n - 1] + n);
      pad -= n;
    }
  }
  // push r: 50+r; pop r: 58+r.
  void push(uint8_t r) {
    rex(false, 0, 0, r);
    byte(static_cast<uint8_t>(0x50 + (r & 7)));
  }
  void pop(uint8_t r) {
    rex(false, 0, 0, r);
    byte(static_cast<uint8_t>(0x58 + (r & 7)));
  }

 private:
  // ModRM and SIB for [base + index * 2^scale_log + disp32].
  void sib(uint8_t reg, uint8_t base, uint8_t index, uint8_t scale_log, int32_t disp) {
    modrm(kModDisp32, reg, kRmSib);
    sib_byte(scale_log, index, base);
    imm32(disp);
  }
  // The opcode of `op r/m64, r64`: the /digit * 8 + 1.
  static uint8_t register_opcode(Alu op) { return static_cast<uint8_t>(digit(op) * 8 + 1); }
  // Whether the jump about to be emitted, the same one as the previous
  // assembly's jump number jumps_.size(), fits rel8 there: then it does here.
  bool reaches_short(int label) const {
    if (!previous_ || jumps_.size() >= previous_->jumps_.size()) return false;
    const int64_t target = previous_->labels_[label];
    const auto site = static_cast<int64_t>(previous_->jumps_[jumps_.size()]);
    return target >= 0 && fits8(target - (site + 2));
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
  struct Kept {
    uint8_t reg, base;
    int32_t disp;
  };
  const Asm* previous_;
  std::vector<Kept> kept_;
  std::vector<int64_t> labels_;
  int64_t last_bound_ = -1;  // where the last label was bound
  struct {
    int64_t end = -1;  // where the last alu_imm ended
    Alu op;
    uint8_t dst;
    int32_t v;
  } last_imm_;
  std::vector<Fixup> fixups_;
  std::vector<size_t> jumps_;  // where each jump starts, in emission order
};

}  // namespace netcpu::x86

#endif
