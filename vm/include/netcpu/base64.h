// Base64, as consoles carry bytecode (netcpu/put).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace netcpu {

// Standard base64 (RFC 4648), padding optional; nullopt on a bad character.
std::optional<std::vector<uint8_t>> decode_base64(std::string_view text);
std::string encode_base64(const std::vector<uint8_t>& bytes);

}  // namespace netcpu
