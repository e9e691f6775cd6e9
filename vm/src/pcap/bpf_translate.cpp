// Classic BPF to NetCPU assembly, instruction by instruction, with the
// semantics of libpcap's own bpf_filter(): 32-bit A and X, loads past the end
// reject the packet (.onfault drop), division or modulo by a zero X rejects,
// shifts by X of 32 or more give 0 while constant shifts use the count modulo
// 32 (what bpf_filter does on x86, checked against it by the differential
// tests). `len` (BPF_LEN) is the packet's length on the wire, wlen, as
// bpf_filter's wirelen; loads are bounded by the bytes there are, mlen, as by
// its buflen. Registers: A is gpr0, X gpr1, gpr5 scratch, M[0..9]
// gpr6..gpr15, M[10..15] the heap array m.
#include "netcpu/bpf_translate.h"

#include <cinttypes>
#include <cstdio>
#include <set>
#include <sstream>

namespace netcpu {
namespace {

// BPF_MAXINSNS of the kernel and BSD headers, which pcap/bpf.h does not define.
constexpr size_t kMaxInsns = 4096;

std::string num(uint32_t k) {
  char b[16];
  std::snprintf(b, sizeof b, k > 255 ? "0x%x" : "%u", k);
  return b;
}

std::string mem(uint32_t k) {
  return k < 10 ? "gpr" + std::to_string(6 + k) : "m[" + std::to_string(k) + "]";
}

class Translator {
 public:
  Translator(std::span<const bpf_insn> p) : p_(p) {}

  std::optional<std::string> run(const std::string& title, std::string* error) {
    if (p_.empty()) return fail(error, "empty BPF program");
    if (BPF_CLASS(p_.back().code) != BPF_RET)
      return fail(error, at(p_.size() - 1) +
                             "the last instruction must be a ret (as bpf_validate requires)");
    // Jumps must land inside the program.
    for (size_t i = 0; i < p_.size(); ++i) {
      const bpf_insn& in = p_[i];
      if (BPF_CLASS(in.code) != BPF_JMP) continue;
      uint64_t next = i + 1;
      if (BPF_OP(in.code) == BPF_JA) {
        int64_t target = ja_target(i);
        if (target < 0 || target >= static_cast<int64_t>(p_.size()))
          return fail(error, at(i) + "jump outside the program");
      } else {
        if (next + in.jt >= p_.size() || next + in.jf >= p_.size())
          return fail(error, at(i) + "jump past the end");
      }
    }
    std::vector<std::string> code(p_.size());
    for (size_t i = 0; i < p_.size(); ++i)
      if (!translate(i, code[i], error)) return std::nullopt;
    std::ostringstream body;
    for (size_t i = 0; i < p_.size(); ++i) {
      if (used_.count(i)) body << label(i) << ":\n";
      char* image = bpf_image(&p_[i], static_cast<int>(i));
      body << "    # " << (image ? image : "?") << "\n" << code[i];
    }
    // The title is one comment line: an expression may hold newlines.
    std::string one_line = title;
    for (char& c : one_line)
      if (c == '\n' || c == '\r') c = ' ';
    std::ostringstream out;
    out << "# " << one_line << "\n"
        << "# Classic BPF translated to NetCPU, one block per BPF instruction (in the comments):\n"
        << "# A is gpr0, X gpr1, the scratch memory M[] gpr6..gpr15 and m[]. A load past the\n"
        << "# end of the packet rejects it, as in BPF.\n"
        << ".onfault drop\n";
    if (heap_mem_) out << ".data:\narray m 16\n";
    out << ".text:\n" << body.str() << "reject:\n    drop\n";
    return out.str();
  }

 private:
  std::optional<std::string> fail(std::string* error, const std::string& m) {
    if (error) *error = m;
    return std::nullopt;
  }
  // libpcap writes a backward `ja` (protochain's loop over IPv6 extension
  // headers) as a 32-bit wrap-around offset: read it signed.
  int64_t ja_target(size_t i) const {
    return static_cast<int64_t>(i) + 1 + static_cast<int32_t>(p_[i].k);
  }
  static std::string at(size_t i) { return "BPF instruction " + std::to_string(i) + ": "; }
  // The label of a jump target, marked as used so that only targets get one.
  std::string label(size_t target) {
    used_.insert(target);
    return "bpf_" + std::to_string(target);
  }

  // A packet load of `size` bytes at a constant offset or X + constant.
  bool load(const bpf_insn& in, const char* dst, std::string& code) {
    const char* type = BPF_SIZE(in.code) == BPF_W   ? "u32"
                       : BPF_SIZE(in.code) == BPF_H ? "u16"
                                                    : "u8";
    // Packets are shorter than 2^31 bytes: such an offset always rejects.
    if (in.k > 0x7fffffffu) return code = "    drop\n", true;
    // X + k is a 64-bit sum, never wrapping, as bpf_filter checks each
    // against the length.
    const std::string at = BPF_MODE(in.code) == BPF_ABS ? num(in.k) : "gpr1 + " + num(in.k);
    code = "    mov " + std::string(dst) + ", pkt." + type + "[" + at + "]\n";
    return true;
  }

  bool translate(size_t i, std::string& code, std::string* error) {
    const bpf_insn& in = p_[i];
    auto bad = [&](const char* what) {
      char b[32];
      std::snprintf(b, sizeof b, " (code 0x%x)", in.code);
      if (error) *error = at(i) + what + b;
      return false;
    };
    std::string src = BPF_SRC(in.code) == BPF_X ? "gpr1" : num(in.k);
    switch (BPF_CLASS(in.code)) {
      case BPF_LD:
        switch (BPF_MODE(in.code)) {
          case BPF_IMM:
            code = "    mov gpr0, " + num(in.k) + "\n";
            return true;
          case BPF_LEN:  // bpf_filter's wirelen: the length on the wire, not the bytes here
            code = "    mov gpr0, wlen\n";
            return true;
          case BPF_MEM:
            if (in.k >= 16) return bad("M[] index out of range");
            heap_mem_ |= in.k >= 10;
            code = "    mov gpr0, " + mem(in.k) + "\n";
            return true;
          case BPF_ABS:
          case BPF_IND:
            if (BPF_SIZE(in.code) != BPF_W && BPF_SIZE(in.code) != BPF_H &&
                BPF_SIZE(in.code) != BPF_B)
              return bad("unknown load size");
            return load(in, "gpr0", code);
          default:
            return bad("unknown load mode");
        }
      case BPF_LDX:
        switch (BPF_MODE(in.code)) {
          case BPF_IMM:
            code = "    mov gpr1, " + num(in.k) + "\n";
            return true;
          case BPF_LEN:
            code = "    mov gpr1, wlen\n";
            return true;
          case BPF_MEM:
            if (in.k >= 16) return bad("M[] index out of range");
            heap_mem_ |= in.k >= 10;
            code = "    mov gpr1, " + mem(in.k) + "\n";
            return true;
          case BPF_MSH:
            if (in.k > 0x7fffffffu) return code = "    drop\n", true;
            code = "    mov gpr1, pkt.u8[" + num(in.k) + "]\n    and gpr1, 15\n    shl gpr1, 2\n";
            return true;
          default:
            return bad("unknown ldx mode");
        }
      case BPF_ST:
      case BPF_STX:
        if (in.k >= 16) return bad("M[] index out of range");
        heap_mem_ |= in.k >= 10;
        code = "    mov " + mem(in.k) + (BPF_CLASS(in.code) == BPF_ST ? ", gpr0\n" : ", gpr1\n");
        return true;
      case BPF_ALU: {
        const char* mask = "    and gpr0, 0xffffffff\n";
        bool by_x = BPF_SRC(in.code) == BPF_X;
        switch (BPF_OP(in.code)) {
          case BPF_ADD:
            code = "    add gpr0, " + src + "\n" + mask;
            return true;
          case BPF_SUB:
            code = "    sub gpr0, " + src + "\n" + mask;
            return true;
          case BPF_MUL:
            code = "    mul gpr0, " + src + "\n" + mask;
            return true;
          case BPF_OR:
            code = "    or gpr0, " + src + "\n";
            return true;
          case BPF_AND:
            code = "    and gpr0, " + src + "\n";
            return true;
          case BPF_XOR:
            code = "    xor gpr0, " + src + "\n";
            return true;
          case BPF_NEG:
            code = std::string("    neg gpr0\n") + mask;
            return true;
          case BPF_DIV:
          case BPF_MOD: {
            const char* op = BPF_OP(in.code) == BPF_DIV ? "div" : "mod";
            if (by_x)
              code = "    beq gpr1, 0, reject\n    " + std::string(op) + " gpr0, gpr1\n";
            else if (in.k == 0)
              code = "    drop\n";  // bpf_validate forbids it; reject rather than guess
            else
              code = "    " + std::string(op) + " gpr0, " + src + "\n";
            return true;
          }
          case BPF_LSH:
          case BPF_RSH: {
            const char* op = BPF_OP(in.code) == BPF_LSH ? "shl" : "shr";
            // By X: 32 or more gives 0 (NetCPU's 64-bit shift, then the mask).
            // By a constant: the count modulo 32, as bpf_filter's C shift does.
            std::string count = by_x ? "gpr1" : std::to_string(in.k & 31);
            code = "    " + std::string(op) + " gpr0, " + count + "\n" +
                   (BPF_OP(in.code) == BPF_LSH ? mask : "");
            return true;
          }
          default:
            return bad("unknown ALU operation");
        }
      }
      case BPF_JMP: {
        size_t t = i + 1 + in.jt, f = i + 1 + in.jf;
        if (BPF_OP(in.code) == BPF_JA) {
          code = "    jmp " + label(static_cast<size_t>(ja_target(i))) + "\n";
          return true;
        }
        const char *branch, *inverse;
        switch (BPF_OP(in.code)) {
          case BPF_JEQ:
            branch = "beq", inverse = "bne";
            break;
          case BPF_JGT:
            branch = "bgtu", inverse = "bleu";
            break;
          case BPF_JGE:
            branch = "bgeu", inverse = "bltu";
            break;
          case BPF_JSET:
            branch = "bset", inverse = "bclr";
            break;
          default:
            return bad("unknown jump");
        }
        if (t == f) {
          code = t == i + 1 ? "" : "    jmp " + label(t) + "\n";
        } else if (t == i + 1) {
          code = "    " + std::string(inverse) + " gpr0, " + src + ", " + label(f) + "\n";
        } else {
          code = "    " + std::string(branch) + " gpr0, " + src + ", " + label(t) + "\n";
          if (f != i + 1) code += "    jmp " + label(f) + "\n";
        }
        return true;
      }
      case BPF_RET:
        switch (BPF_RVAL(in.code)) {
          case BPF_K:
            code = in.k ? "    pass\n" : "    drop\n";
            return true;
          case BPF_A:
            code = "    beq gpr0, 0, reject\n    pass\n";
            return true;
          case BPF_X:
            code = "    beq gpr1, 0, reject\n    pass\n";
            return true;
          default:
            return bad("unknown return value");
        }
      case BPF_MISC:
        switch (BPF_MISCOP(in.code)) {
          case BPF_TAX:
            code = "    mov gpr1, gpr0\n";
            return true;
          case BPF_TXA:
            code = "    mov gpr0, gpr1\n";
            return true;
          default:
            return bad("unknown misc operation");
        }
      default:
        return bad("unknown instruction class");
    }
  }

  std::span<const bpf_insn> p_;
  std::set<size_t> used_;
  bool heap_mem_ = false;
};

}  // namespace

std::optional<std::string> cbpf_to_assembly(std::span<const bpf_insn> prog,
                                            const std::string& title, std::string* error) {
  return Translator(prog).run(title, error);
}

std::optional<std::string> filter_to_assembly(const std::string& expr, pcap_t* capture,
                                              std::string* error, uint32_t netmask) {
  struct bpf_program prog {};
  if (pcap_compile(capture, &prog, expr.c_str(), 1, netmask) != 0) {
    if (error) *error = pcap_geterr(capture);
    return std::nullopt;
  }
  std::string title = "tcpdump filter '" + expr + "' (" +
                      (pcap_datalink_val_to_name(pcap_datalink(capture)) ?: "?") +
                      "), compiled by " + pcap_lib_version();
  auto out = cbpf_to_assembly({prog.bf_insns, prog.bf_len}, title, error);
  pcap_freecode(&prog);
  return out;
}

std::optional<std::string> filter_to_assembly(const std::string& expr, int dlt, std::string* error,
                                              uint32_t netmask) {
  pcap_t* p = pcap_open_dead(dlt, 262144);
  if (!p) {
    if (error) *error = "pcap_open_dead failed";
    return std::nullopt;
  }
  auto out = filter_to_assembly(expr, p, error, netmask);
  pcap_close(p);
  return out;
}

std::optional<std::vector<bpf_insn>> parse_cbpf_text(const std::string& text, std::string* error) {
  auto bad = [&](const std::string& m) -> std::optional<std::vector<bpf_insn>> {
    if (error) *error = m;
    return std::nullopt;
  };
  std::istringstream in(text);
  std::string line;
  size_t count = 0;
  if (!std::getline(in, line)) return bad("empty BPF text");
  {
    std::istringstream l(line);
    if (!(l >> count) || count == 0 || count > kMaxInsns)
      return bad("first line: an instruction count 1.." + std::to_string(kMaxInsns));
    std::string rest;
    if (l >> rest) return bad("first line: only the instruction count");
  }
  std::vector<bpf_insn> prog;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::istringstream l(line);
    long long code, jt, jf, k;
    std::string rest;
    if (!(l >> code >> jt >> jf >> k) || (l >> rest))
      return bad("line " + std::to_string(n + 1) + ": expected 'code jt jf k' in decimal");
    if (code < 0 || code > 0xffff || jt < 0 || jt > 255 || jf < 0 || jf > 255 || k < 0 ||
        k > 0xffffffffll)
      return bad("line " + std::to_string(n + 1) + ": value out of range");
    prog.push_back({static_cast<u_short>(code), static_cast<u_char>(jt), static_cast<u_char>(jf),
                    static_cast<bpf_u_int32>(k)});
  }
  if (prog.size() != count)
    return bad("the count says " + std::to_string(count) + " instructions, the text has " +
               std::to_string(prog.size()));
  return prog;
}

}  // namespace netcpu
