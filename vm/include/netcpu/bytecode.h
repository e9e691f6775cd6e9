// The NetCPU bytecode file format (docs/bytecode.md): a header ("NCPU",
// version) and tagged sections, all little-endian, so programs are assembled
// once, stored and uploaded.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "netcpu/program.h"

namespace netcpu {

constexpr uint16_t kBytecodeVersion = 1;

std::vector<uint8_t> encode_bytecode(const Program& p);

// Decodes and checks the structure (bounds, counts, section sizes). A
// program that decodes still has to pass the verifier before it may run.
// On error returns nullopt and sets *why.
std::optional<Program> decode_bytecode(std::span<const uint8_t> bytes, std::string* why);

// True when the bytes start with the bytecode magic.
bool is_bytecode(std::span<const uint8_t> bytes);

// 64-bit FNV-1a of the encoded program: a stable name for a program version.
uint64_t program_hash(const Program& p);
// A hash as people and scripts see it: 16 hex digits (a string in JSON,
// where a 64-bit number would lose digits to doubles).
std::string hash_hex(uint64_t hash);

}  // namespace netcpu
