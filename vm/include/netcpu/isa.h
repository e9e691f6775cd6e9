// The NetCPU instruction set, defined once. The assembler, disassembler,
// verifier and interpreter all read these tables; adding an instruction here
// is the first step and the compiler points at every switch that must learn it.
#pragma once

#include <cstdint>
#include <string_view>

namespace netcpu {

// What an operand slot (a or b) of an instruction accepts.
enum class Slot : uint8_t {
  None,    // unused
  Read,    // any numeric value: register, immediate, mapped, variable, memory
  Write,   // a writable place: register, variable, heap/packet/out memory
  Gpr,     // a general purpose register
  Key,     // table key or 16-byte value: numeric, memory reference, 16-byte mapped, bytes
  Mem,     // a memory reference (heap, pkt or out), used as a byte range
  Mapped,  // a rewritable header field (rewrite)
};

// What the 32-bit target field holds.
enum class Target : uint8_t {
  None,
  Label,      // jump target pc
  Function,   // call target pc (a function entry)
  CaseLink,   // switch/case/default: pc of the next case, default or endswitch
  Break,      // pc of the enclosing endswitch or endfor
  Loop,       // foreach: pc of its endfor; endfor: pc of its foreach
  String,     // index into the string table (required)
  OptString,  // index into the string table or kNoTarget
  Length,     // copy: byte count when aux says "constant"
};

// What the 8-bit aux field holds.
enum class Aux : uint8_t { None, Table, Checksum, LengthReg };

namespace flag {
constexpr uint16_t kNoFallthrough = 1 << 0;  // control never reaches pc+1
constexpr uint16_t kConditional = 1 << 1;    // may jump to target or fall through
constexpr uint16_t kWritesPacket = 1 << 2;   // modifies the packet
constexpr uint16_t kRedirect = 1 << 3;       // needs a host that can redirect
constexpr uint16_t kMirror = 1 << 4;         // needs a host that can mirror
constexpr uint16_t kEmit = 1 << 5;           // needs a host that can emit
constexpr uint16_t kResize = 1 << 6;         // may change the packet length
constexpr uint16_t kPacket = 1 << 7;         // reads the packet (faults without one)
constexpr uint16_t kSetsFlags = 1 << 8;      // sets the compare flags
}  // namespace flag

// clang-format off: one row per instruction reads best as a table.
// X(ENUM, mnemonic, slot a, slot b, target, aux, flags, summary). An opcode's
// number is its position here and part of the bytecode format: add new
// instructions at the end, or bump kBytecodeVersion.
#define NETCPU_OPCODES(X)                                                                          \
  X(NOP, "nop", None, None, None, None, 0, "do nothing")                                           \
  X(MOV, "mov", Write, Read, None, None, 0, "a = b")                                               \
  X(ADD, "add", Write, Read, None, None, 0, "a = a + b (wraps)")                                   \
  X(SUB, "sub", Write, Read, None, None, 0, "a = a - b (wraps)")                                   \
  X(MUL, "mul", Write, Read, None, None, 0, "a = a * b (wraps)")                                   \
  X(DIV, "div", Write, Read, None, None, 0, "a = a / b unsigned; b == 0 gives 0")                  \
  X(SDIV, "sdiv", Write, Read, None, None, 0, "a = a / b signed; b == 0 gives 0")                  \
  X(MOD, "mod", Write, Read, None, None, 0, "a = a % b unsigned; b == 0 leaves a")                 \
  X(AND, "and", Write, Read, None, None, 0, "a = a & b")                                           \
  X(OR, "or", Write, Read, None, None, 0, "a = a | b")                                             \
  X(XOR, "xor", Write, Read, None, None, 0, "a = a ^ b")                                           \
  X(SHL, "shl", Write, Read, None, None, 0, "a = a << b; b >= 64 gives 0")                         \
  X(SHR, "shr", Write, Read, None, None, 0, "a = a >> b logical; b >= 64 gives 0")                 \
  X(SAR, "sar", Write, Read, None, None, 0, "a = a >> b arithmetic; b >= 64 gives the sign")       \
  X(NOT, "not", Write, None, None, None, 0, "a = ~a")                                              \
  X(NEG, "neg", Write, None, None, None, 0, "a = -a")                                              \
  X(BSWAP16, "bswap16", Write, None, None, None, 0, "swap the low 2 bytes of a, clear the rest")   \
  X(BSWAP32, "bswap32", Write, None, None, None, 0, "swap the low 4 bytes of a, clear the rest")   \
  X(BSWAP64, "bswap64", Write, None, None, None, 0, "swap the 8 bytes of a")                       \
  X(CMP, "cmp", Read, Read, None, None, flag::kSetsFlags,                                          \
    "compare a with b for the next conditional jump")                                              \
  X(TEST, "test", Read, Read, None, None, flag::kSetsFlags,                                        \
    "compare a & b with 0 for the next conditional jump")                                          \
  X(CMP16, "cmp16", Key, Key, None, None, flag::kSetsFlags,                                        \
    "compare two 16-byte values (IPv6 addresses)")                                                 \
  X(JMP, "jmp", None, None, Label, None, flag::kNoFallthrough, "jump")                             \
  X(JE, "je", None, None, Label, None, flag::kConditional, "jump if equal")                        \
  X(JNE, "jne", None, None, Label, None, flag::kConditional, "jump if not equal")                  \
  X(JL, "jl", None, None, Label, None, flag::kConditional, "jump if less (signed)")                \
  X(JLE, "jle", None, None, Label, None, flag::kConditional, "jump if less or equal (signed)")     \
  X(JG, "jg", None, None, Label, None, flag::kConditional, "jump if greater (signed)")             \
  X(JGE, "jge", None, None, Label, None, flag::kConditional, "jump if greater or equal (signed)")  \
  X(JB, "jb", None, None, Label, None, flag::kConditional, "jump if below (unsigned)")             \
  X(JBE, "jbe", None, None, Label, None, flag::kConditional, "jump if below or equal (unsigned)")  \
  X(JA, "ja", None, None, Label, None, flag::kConditional, "jump if above (unsigned)")             \
  X(JAE, "jae", None, None, Label, None, flag::kConditional, "jump if above or equal (unsigned)")  \
  X(BEQ, "beq", Read, Read, Label, None, flag::kConditional, "jump if a == b")                     \
  X(BNE, "bne", Read, Read, Label, None, flag::kConditional, "jump if a != b")                     \
  X(BLT, "blt", Read, Read, Label, None, flag::kConditional, "jump if a < b (signed)")             \
  X(BLE, "ble", Read, Read, Label, None, flag::kConditional, "jump if a <= b (signed)")            \
  X(BGT, "bgt", Read, Read, Label, None, flag::kConditional, "jump if a > b (signed)")             \
  X(BGE, "bge", Read, Read, Label, None, flag::kConditional, "jump if a >= b (signed)")            \
  X(BLTU, "bltu", Read, Read, Label, None, flag::kConditional, "jump if a < b (unsigned)")         \
  X(BLEU, "bleu", Read, Read, Label, None, flag::kConditional, "jump if a <= b (unsigned)")        \
  X(BGTU, "bgtu", Read, Read, Label, None, flag::kConditional, "jump if a > b (unsigned)")         \
  X(BGEU, "bgeu", Read, Read, Label, None, flag::kConditional, "jump if a >= b (unsigned)")        \
  X(BSET, "bset", Read, Read, Label, None, flag::kConditional, "jump if a & b != 0")               \
  X(BCLR, "bclr", Read, Read, Label, None, flag::kConditional, "jump if a & b == 0")               \
  X(PUSH, "push", Read, None, None, None, 0, "push a on the data stack")                           \
  X(POP, "pop", Write, None, None, None, 0, "pop the data stack into a")                           \
  X(CALL, "call", None, None, Function, None, 0, "call a function")                                \
  X(RET, "ret", None, None, None, None, flag::kNoFallthrough, "return from a function")            \
  X(SWITCH, "switch", Read, None, CaseLink, None, flag::kNoFallthrough,                            \
    "jump to the case equal to a")                                                                 \
  X(CASE, "case", Read, None, CaseLink, None, 0, "case label (a is a constant)")                   \
  X(DEFAULT, "default", None, None, CaseLink, None, 0, "default label")                            \
  X(BREAK, "break", None, None, Break, None, flag::kNoFallthrough, "leave the switch")             \
  X(ENDSWITCH, "endswitch", None, None, None, None, 0, "end of a switch")                          \
  X(END, "end", None, None, None, None, flag::kNoFallthrough,                                      \
    "stop; the packet passes (the 2004 END)")                                                      \
  X(PASS, "pass", None, None, None, None, flag::kNoFallthrough, "stop and pass the packet")        \
  X(DROP, "drop", None, None, None, None, flag::kNoFallthrough, "stop and drop the packet")        \
  X(REDIRECT, "redirect", Read, None, None, None, flag::kNoFallthrough | flag::kRedirect,          \
    "stop and send the packet to port a instead")                                                  \
  X(MIRROR, "mirror", Read, None, None, None, flag::kMirror,                                       \
    "also send a copy of the packet to port a")                                                    \
  X(EMIT, "emit", Read, None, None, None, flag::kEmit,                                             \
    "send the out buffer to port a (-1: where it came from)")                                      \
  X(OUTLEN, "outlen", Read, None, None, None, 0,                                                   \
    "set the out buffer length to a (new bytes are zero)")                                         \
  X(RESIZE, "resize", Read, None, None, None, flag::kWritesPacket | flag::kResize | flag::kPacket, \
    "set the packet length to a (new bytes are zero)")                                             \
  X(COPY, "copy", Mem, Mem, Length, LengthReg, 0, "copy bytes from memory b to memory a")          \
  X(FIND, "find", Gpr, Read, String, None, flag::kPacket,                                          \
    "a = offset of the string in the packet at or after b, or -1")                                 \
  X(CSUM, "csum", None, None, None, Checksum, 0,                                                   \
    "recompute IPv4 header and TCP/UDP/ICMP checksums")                                            \
  X(REWRITE, "rewrite", Mapped, Read, None, None,                                                  \
    flag::kWritesPacket | flag::kPacket | flag::kSetsFlags,                                        \
    "store b into a header field, updating checksums incrementally")                               \
  X(LOOKUP, "lookup", Write, Key, None, Table, flag::kSetsFlags,                                   \
    "a = table[b]; flags equal if found")                                                          \
  X(UPDATE, "update", Key, Read, None, Table, flag::kSetsFlags,                                    \
    "table[a] = b; flags equal if stored")                                                         \
  X(DELETE, "delete", Key, None, None, Table, flag::kSetsFlags,                                    \
    "remove table[a]; flags equal if it was there")                                                \
  X(TADD, "tadd", Key, Read, None, Table, flag::kSetsFlags,                                        \
    "atomically table[a] += b (inserted if missing)")                                              \
  X(TCLEAR, "tclear", None, None, None, Table, 0,                                                  \
    "remove every entry of the table (array: zero every value)")                                   \
  X(PRINT, "print", Read, Read, OptString, None, 0, "output a line: the string, then a and b")     \
  X(LOG, "log", Read, Read, OptString, None, 0, "output a log line: the string, then a and b")     \
  X(DUMP, "dump", Read, None, None, None, 0, "output a hex dump of the packet (at most a bytes)")  \
  X(FOREACH, "foreach", Write, Write, Loop, Table, 0,                                              \
    "walk the table: a = each entry's key, b = its value, for the body up to endfor")              \
  X(ENDFOR, "endfor", None, None, Loop, None, 0,                                                   \
    "the walk's next entry (back to the body), or leave the loop")
// clang-format on

// What the arithmetic and the conditions compute, defined once for every
// engine that generates code from them (the interpreter's handlers and its
// specialised register/immediate forms). x is operand a's value, y operand
// b's, all uint64_t; SX(v) is v as int64_t.
// clang-format off
// X(opcode, new value of a): the two-operand arithmetic (a = a OP b).
#define NETCPU_ALU(X)                                                                           \
  X(ADD, x + y)                                                                                 \
  X(SUB, x - y)                                                                                 \
  X(MUL, x * y)                                                                                 \
  X(DIV, y ? x / y : 0)                                                                         \
  X(SDIV, y == 0 ? 0 : (SX(x) == INT64_MIN && SX(y) == -1) ? x : static_cast<uint64_t>(SX(x) / SX(y))) \
  X(MOD, y ? x % y : x)                                                                         \
  X(AND, x & y)                                                                                 \
  X(OR, x | y)                                                                                  \
  X(XOR, x ^ y)                                                                                 \
  X(SHL, y >= 64 ? 0 : x << y)                                                                  \
  X(SHR, y >= 64 ? 0 : x >> y)                                                                  \
  X(SAR, static_cast<uint64_t>(SX(x) >> (y >= 64 ? 63 : y)))
// X(opcode, new value of a): the one-operand arithmetic.
#define NETCPU_UNARY(X)                                                                         \
  X(NOT, ~x)                                                                                    \
  X(NEG, 0 - x)                                                                                 \
  X(BSWAP16, static_cast<uint64_t>(__builtin_bswap16(static_cast<uint16_t>(x))))                \
  X(BSWAP32, static_cast<uint64_t>(__builtin_bswap32(static_cast<uint32_t>(x))))                \
  X(BSWAP64, __builtin_bswap64(x))
// X(compare-and-branch opcode, the flag jump that tests the same condition
// after `cmp a, b`, condition): bxx a, b jumps when it holds; jxx when it
// held for the last compare's operands.
#define NETCPU_CONDITIONS(X)                                                                    \
  X(BEQ, JE, x == y)                                                                            \
  X(BNE, JNE, x != y)                                                                           \
  X(BLT, JL, SX(x) < SX(y))                                                                     \
  X(BLE, JLE, SX(x) <= SX(y))                                                                   \
  X(BGT, JG, SX(x) > SX(y))                                                                     \
  X(BGE, JGE, SX(x) >= SX(y))                                                                   \
  X(BLTU, JB, x < y)                                                                            \
  X(BLEU, JBE, x <= y)                                                                          \
  X(BGTU, JA, x > y)                                                                            \
  X(BGEU, JAE, x >= y)
// X(branch opcode, condition): the bit tests, which have no flag jump.
#define NETCPU_BIT_CONDITIONS(X) \
  X(BSET, (x & y) != 0)          \
  X(BCLR, (x & y) == 0)
// clang-format on

enum class Op : uint8_t {
#define NETCPU_ENUM(name, mn, a, b, t, x, f, s) name,
  NETCPU_OPCODES(NETCPU_ENUM)
#undef NETCPU_ENUM
      Count
};

struct OpInfo {
  std::string_view mnemonic;
  Slot a, b;
  Target target;
  Aux aux;
  uint16_t flags;
  std::string_view summary;
};

inline constexpr OpInfo kOpInfo[] = {
#define NETCPU_INFO(name, mn, a, b, t, x, f, s) {mn, Slot::a, Slot::b, Target::t, Aux::x, f, s},
    NETCPU_OPCODES(NETCPU_INFO)
#undef NETCPU_INFO
};

constexpr size_t kOpCount = static_cast<size_t>(Op::Count);
inline const OpInfo& op_info(Op op) { return kOpInfo[static_cast<size_t>(op)]; }

// How an operand names its value.
enum class Kind : uint8_t {
  None,
  Reg,      // reg = gpr index
  Imm,      // imm = the value
  Mapped,   // reg = MappedReg id
  Var,      // 8-byte heap variable at offset imm (proven in bounds)
  HeapMem,  // heap memory at base + disp (checked at run time)
  PktMem,   // packet memory at base + disp (checked at run time)
  OutMem,   // out buffer memory at base + disp (checked at run time)
  Bytes,    // imm = index into the string table (16-byte constants, keys)
  Count
};

// attr bits of a memory operand.
namespace attr {
constexpr uint8_t kWidthMask = 0x03;  // log2 of width: 1, 2, 4 or 8 bytes
constexpr uint8_t kHostOrder = 0x04;  // host byte order (default: network order)
constexpr uint8_t kScaleShift = 3;    // log2 of the scale applied to the base
constexpr uint8_t kScaleMask = 0x18;
constexpr uint8_t kBaseMapped = 0x20;  // base is a mapped register, not a gpr
constexpr uint8_t kNoBase = 0x40;      // no base register: the address is disp
}  // namespace attr

constexpr int kGprCount = 16;
constexpr uint32_t kNoTarget = 0xffffffffu;

// copy's aux: where its byte count is.
constexpr uint8_t kLengthConst = 0xff;       // in the instruction's target
constexpr uint8_t kLengthMapped = 0x80;      // with the mapped register's id: in that register
constexpr uint8_t kLengthMappedMask = 0x7f;  // the id, under kLengthMapped
// Any other aux is the number of the gpr that holds it.
constexpr bool length_in_gpr(uint8_t aux) { return aux != kLengthConst && !(aux & kLengthMapped); }

// csum aux bits.
namespace csum {
constexpr uint8_t kIp = 1;      // IPv4 header checksum
constexpr uint8_t kL4 = 2;      // TCP, UDP, ICMP, ICMPv6 checksum
constexpr uint8_t kOut = 0x80;  // on the out buffer instead of the packet
}  // namespace csum

// Mapped registers: read-only names for metadata and parsed header fields.
// X(ENUM, name, bytes, description). bytes 16 marks a 16-byte field usable only
// where a Key slot is accepted. Fields the packet does not have read as 0. A
// register's id is its position here and part of the bytecode format: add new
// ones at the end (wlen, metadata like mlen, came after the header fields).
// clang-format off
#define NETCPU_MAPPED(X)                                                                   \
  X(Mlen, "mlen", 8, "packet length in bytes")                                             \
  X(Port, "port", 8, "port the packet came in on (switch) or interface index")            \
  X(Dir, "dir", 8, "direction: 0 in, 1 out")                                               \
  X(Hook, "hook", 8, "where the program runs (HOOK_* constants)")                         \
  X(Now, "now", 8, "host clock in milliseconds")                                           \
  X(Rand, "rand", 8, "a pseudo-random 32-bit number")                                      \
  X(L3, "l3", 8, "offset of the network header")                                           \
  X(L4, "l4", 8, "offset of the transport header")                                         \
  X(Payload, "payload", 8, "offset of the transport payload")                              \
  X(HasEth, "has.eth", 8, "1 if the packet has an Ethernet header")                       \
  X(HasVlan, "has.vlan", 8, "1 if the frame has at least one 802.1Q/802.1ad tag")         \
  X(HasArp, "has.arp", 8, "1 if ARP")                                                     \
  X(HasIp, "has.ip", 8, "1 if IPv4 or IPv6")                                              \
  X(HasIp4, "has.ip4", 8, "1 if IPv4")                                                    \
  X(HasIp6, "has.ip6", 8, "1 if IPv6")                                                    \
  X(HasL4, "has.l4", 8, "1 if a transport header is present (first fragment)")           \
  X(HasTcp, "has.tcp", 8, "1 if TCP")                                                     \
  X(HasUdp, "has.udp", 8, "1 if UDP")                                                     \
  X(HasIcmp, "has.icmp", 8, "1 if ICMP or ICMPv6")                                        \
  X(EthDst, "eth.dst", 8, "destination MAC (48 bits)")                                    \
  X(EthSrc, "eth.src", 8, "source MAC (48 bits)")                                         \
  X(EthType, "eth.type", 8, "EtherType after VLAN tags")                                  \
  X(VlanId, "vlan.id", 8, "VLAN id of the outer tag")                                     \
  X(VlanPcp, "vlan.pcp", 8, "priority of the outer tag")                                  \
  X(ArpOp, "arp.op", 8, "ARP operation")                                                  \
  X(ArpSpa, "arp.spa", 8, "ARP sender IPv4 address")                                      \
  X(ArpTpa, "arp.tpa", 8, "ARP target IPv4 address")                                      \
  X(IpVer, "ip.ver", 8, "4 or 6")                                                         \
  X(IpHlen, "ip.hlen", 8, "network header length including IPv6 extension headers")      \
  X(IpTos, "ip.tos", 8, "IPv4 TOS / IPv6 traffic class")                                  \
  X(IpLen, "ip.len", 8, "IP total length (IPv6: payload length + 40)")                    \
  X(IpId, "ip.id", 8, "IPv4 identification / IPv6 fragment identification")              \
  X(IpFrag, "ip.frag", 8, "1 if the packet is a fragment")                                \
  X(IpFragoff, "ip.fragoff", 8, "fragment offset in bytes")                               \
  X(IpMf, "ip.mf", 8, "more-fragments flag")                                              \
  X(IpTtl, "ip.ttl", 8, "TTL / hop limit")                                                \
  X(IpProto, "ip.proto", 8, "transport protocol after IPv6 extension headers")            \
  X(IpSrc, "ip.src", 8, "IPv4 source address")                                            \
  X(IpDst, "ip.dst", 8, "IPv4 destination address")                                       \
  X(Ip6Src, "ip6.src", 16, "IPv6 source address (16 bytes)")                              \
  X(Ip6Dst, "ip6.dst", 16, "IPv6 destination address (16 bytes)")                         \
  X(L4Sport, "l4.sport", 8, "TCP/UDP/SCTP source port")                                   \
  X(L4Dport, "l4.dport", 8, "TCP/UDP/SCTP destination port")                              \
  X(TcpFlags, "tcp.flags", 8, "TCP flags (FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32)")  \
  X(TcpSeq, "tcp.seq", 8, "TCP sequence number")                                          \
  X(TcpAck, "tcp.ack", 8, "TCP acknowledgement number")                                   \
  X(TcpWin, "tcp.win", 8, "TCP window")                                                   \
  X(IcmpType, "icmp.type", 8, "ICMP / ICMPv6 type")                                       \
  X(IcmpCode, "icmp.code", 8, "ICMP / ICMPv6 code")                                       \
  X(Wlen, "wlen", 8, "length on the wire; mlen or more when the capture was truncated")
// clang-format on

enum class MappedReg : uint8_t {
#define NETCPU_MENUM(name, str, bytes, d) name,
  NETCPU_MAPPED(NETCPU_MENUM)
#undef NETCPU_MENUM
      Count
};

struct MappedInfo {
  std::string_view name;
  uint8_t bytes;
  std::string_view description;
};

inline constexpr MappedInfo kMappedInfo[] = {
#define NETCPU_MINFO(name, str, bytes, d) {str, bytes, d},
    NETCPU_MAPPED(NETCPU_MINFO)
#undef NETCPU_MINFO
};
constexpr size_t kMappedCount = static_cast<size_t>(MappedReg::Count);
inline const MappedInfo& mapped_info(MappedReg r) { return kMappedInfo[static_cast<size_t>(r)]; }
// Metadata the host gives with the packet (mlen..rand, wlen), as opposed to
// the header fields parsed from its bytes.
constexpr bool is_metadata(MappedReg r) { return r <= MappedReg::Rand || r == MappedReg::Wlen; }

// Where a program runs: the value of the `hook` mapped register, and the
// one definition of these numbers (the assembler's HOOK_* constants are
// these; lwip-glue's HookPoint and C enum are bound to them by static_assert).
enum class Hook : uint8_t {
  PreRouting = 0,  // lwIPv6 userfilter hooks, in lwIPv6's numbering
  LocalIn = 1,
  Forward = 2,
  LocalOut = 3,
  PostRouting = 4,
  PortIn = 5,     // vde_switch: frame entering the switch from a port (its host sent it)
  PortOut = 6,    // vde_switch: frame leaving through a port (to its host)
  Timer = 7,      // a timer handler, no packet
  Init = 8,       // the .init section, no packet
  Test = 9,       // tools (netcpu run)
  CableIn = 10,   // netcpu:// cable: frame arriving to the process (dir 0)
  CableOut = 11,  // netcpu:// cable: frame the process sends (dir 1)
};

}  // namespace netcpu
