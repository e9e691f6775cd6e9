// Literal syntax shared by the assembler and the consoles.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace netcpu {

// Decimal, 0x hex or 0b binary, optionally negative (wrapping to 64 bits).
std::optional<int64_t> parse_int(std::string_view t);
// 'c': one character.
std::optional<int64_t> parse_char(std::string_view t);
// a.b.c.d as a 32-bit number.
std::optional<int64_t> parse_ipv4(std::string_view t);
// aa:bb:cc:dd:ee:ff as a 48-bit number.
std::optional<int64_t> parse_mac(std::string_view t);
// An IPv6 address (with :: compression) as its 16 bytes.
std::optional<std::string> parse_ipv6(std::string_view t);

}  // namespace netcpu
