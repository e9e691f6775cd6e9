// Table keys and values as consoles type and print them: IPv4, IPv6 and MAC
// addresses, prefixes for LPM tables, numbers, and hex bytes for the rest.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "netcpu/program.h"

namespace netcpu {

const char* table_kind_name(TableKind k);
// A period or idle timeout as the assembler reads it: "30s", "500ms".
std::string format_period(uint32_t ms);

// KEY: array: an index; lpm4/lpm6: an address with an optional /prefix;
// hash: an IPv4 address (4-byte keys), IPv6 (16), MAC (6), a number (up to
// 8 bytes, big-endian like keys built from numbers in programs), or 0x
// followed by exactly key_size bytes of hex.
bool parse_key(const TableDecl& d, const std::string& text, std::vector<uint8_t>& key,
               uint32_t& prefix, std::string* why);
// VALUE: a number (values up to 8 bytes, host order like programs store
// them) or 0x followed by value_size bytes of hex.
bool parse_value(const TableDecl& d, const std::string& text, std::vector<uint8_t>& value,
                 std::string* why);

std::string format_key(const TableDecl& d, std::span<const uint8_t> key, uint32_t prefix);
std::string format_value(const TableDecl& d, std::span<const uint8_t> value);

}  // namespace netcpu
