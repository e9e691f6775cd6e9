// A NetCPU program as the assembler produces it, the bytecode stores it and
// the verifier and interpreter consume it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "netcpu/isa.h"

namespace netcpu {

struct Operand {
  Kind kind = Kind::None;
  uint8_t attr = 0;  // memory operands: attr:: bits
  uint8_t reg = 0;   // gpr index, mapped id or memory base
  int64_t imm = 0;   // immediate, variable offset, displacement or string index

  bool operator==(const Operand&) const = default;
};

// 32 bytes in the bytecode: op, aux, two operands (kind, attr, reg, imm) and a target.
struct Insn {
  Op op = Op::NOP;
  uint8_t aux = 0;
  uint32_t target = kNoTarget;
  Operand a, b;

  bool operator==(const Insn&) const = default;
};

// Lru is a hash table that, when full, makes room for a new key by removing
// the entry used least recently (docs/language.md §8).
enum class TableKind : uint8_t { Hash = 0, Array = 1, Lpm4 = 2, Lpm6 = 3, Lru = 4 };

struct TableDecl {
  std::string name;
  TableKind kind = TableKind::Hash;
  uint32_t key_size = 0;    // bytes; array: 4 (index), lpm4: 4, lpm6: 16
  uint32_t value_size = 0;  // bytes
  uint32_t max_entries = 0;
  // Hash and lru tables: an entry not used for this long is gone (0: kept
  // until removed). At most kMaxPeriodMs.
  uint32_t idle_ms = 0;

  bool operator==(const TableDecl&) const = default;
};

enum class SymbolKind : uint8_t {
  Num = 0,    // 8-byte heap variable: value = heap offset
  Buf = 1,    // heap byte buffer: value = offset, size = bytes
  Array = 2,  // heap array of 8-byte numbers: value = offset, size = bytes
  Label = 3,  // code label: value = pc
  Func = 4,   // function entry: value = pc
  Const = 5,  // named constant: value = low 32 bits, size = high 32 bits
};

struct Symbol {
  std::string name;
  SymbolKind kind = SymbolKind::Label;
  uint32_t value = 0;
  uint32_t size = 0;

  bool operator==(const Symbol&) const = default;
};

struct SourcePos {
  uint32_t line = 0;
  uint32_t col = 0;
  bool operator==(const SourcePos&) const = default;
};

struct TimerDecl {
  std::string name;
  uint32_t pc = 0;
  uint32_t period_ms = 0;
  bool operator==(const TimerDecl&) const = default;
};

// What a packet-access fault (a load or store outside the packet) does.
enum class FaultAction : uint8_t { Abort = 0, Pass = 1, Drop = 2 };

struct Program {
  std::string name;         // defaults to the source file's base name
  std::string source_file;  // for diagnostics
  std::vector<Insn> code;
  std::vector<SourcePos> lines;  // one per instruction (may be empty)
  std::vector<uint8_t> data;     // initial heap image
  std::vector<TableDecl> tables;
  std::vector<std::string> strings;  // byte strings: print text, find needles, 16-byte constants
  std::vector<Symbol> symbols;
  uint32_t text_pc = 0;
  uint32_t init_pc = kNoTarget;
  std::vector<TimerDecl> timers;
  FaultAction on_fault = FaultAction::Abort;

  bool operator==(const Program&) const = default;

  const Symbol* find_symbol(std::string_view n) const {
    for (const auto& s : symbols)
      if (s.name == n) return &s;
    return nullptr;
  }
  SourcePos pos(uint32_t pc) const { return pc < lines.size() ? lines[pc] : SourcePos{}; }
};

// Largest heap a program may declare, and largest table.
constexpr uint32_t kMaxHeap = 1u << 20;
constexpr uint32_t kMaxTableEntries = 1u << 20;
constexpr uint32_t kMaxKeySize = 64;
constexpr uint32_t kMaxValueSize = 256;
constexpr uint32_t kMaxTables = 64;
constexpr uint32_t kMaxPeriodMs = 86400000;  // a day: the longest timer period and idle timeout
constexpr uint32_t kMaxCode = 1u << 16;
constexpr uint32_t kStackSlots = 64;  // 8-byte data stack slots
constexpr uint32_t kMaxCallDepth = 32;

}  // namespace netcpu
