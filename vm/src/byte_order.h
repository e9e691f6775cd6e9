// Big-endian (network order) loads and stores of unaligned bytes: packets,
// table keys and checksummed fields. memcpy and a byte swap, which compilers
// turn into one movbe or a load and a bswap (C++20 has no std::byteswap).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace netcpu::be {

namespace detail {

template <typename T>
inline T to_big(T v) {
  if constexpr (std::endian::native == std::endian::big || sizeof(T) == 1) {
    return v;
  } else if constexpr (sizeof(T) == 2) {
    return __builtin_bswap16(v);
  } else if constexpr (sizeof(T) == 4) {
    return __builtin_bswap32(v);
  } else {
    return __builtin_bswap64(v);
  }
}

template <typename T>
inline T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return to_big(v);
}

template <typename T>
inline void store(uint8_t* p, T v) {
  v = to_big(v);
  std::memcpy(p, &v, sizeof v);
}

}  // namespace detail

// Two bytes shifted together: GCC compiles this to a 16-bit load and a rol
// as it does the swap, and with this form the interpreter's machine code
// stayed identical to that before this header (objdump); the swap form gave
// the same instructions in another block layout.
inline uint16_t load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t load32(const uint8_t* p) { return detail::load<uint32_t>(p); }
inline uint64_t load64(const uint8_t* p) { return detail::load<uint64_t>(p); }
inline void store16(uint8_t* p, uint16_t v) { detail::store(p, v); }
inline void store32(uint8_t* p, uint32_t v) { detail::store(p, v); }

// The number the first n (at most 8) bytes at p spell.
inline uint64_t load_n(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = v << 8 | p[i];
  return v;
}

// The n (at most 8) low bytes of v at p, most significant first.
inline void store_n(uint8_t* p, uint64_t v, unsigned n) {
  for (unsigned i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(v >> (8 * (n - 1 - i)));
}

}  // namespace netcpu::be
