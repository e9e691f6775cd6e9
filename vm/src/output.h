// Formatting and rate limiting of PRINT, LOG and DUMP lines.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "instance_impl.h"
#include "netcpu/program.h"

namespace netcpu {

constexpr size_t kMaxOutputLine = 512;

// The text, then the values. With % directives in the text (%d signed, %u
// unsigned, %x hex, %ip IPv4 address, %mac MAC address, %% a percent sign)
// the values fill them in order; without, each value is appended after a
// space in decimal. Truncates to cap. Returns the length written.
size_t format_output(char* buf, size_t cap, std::string_view text, const uint64_t* vals, int nvals);

// "0010  45 00 00 54 ..." for up to 16 bytes at offset off.
size_t format_hex_line(char* buf, size_t cap, uint32_t off, const uint8_t* bytes, uint32_t n);

// Takes one line's worth of the rate limit (a token bucket); false, and the
// line counted as suppressed, when it is used up. Checked before formatting,
// so that a suppressed line costs nothing more.
bool output_allowed(InstanceImpl& vm);
// Passes a line that output_allowed() let through to the instance's sink.
void emit_line(InstanceImpl& vm, OutputKind kind, std::string_view line);

// A print or log instruction's line, its n values read (a's, then b's):
// rate limited, formatted and passed on. The interpreter's handler and the
// native code both end here, so lines, order and limits are the same.
void output_values(InstanceImpl& vm, const Program& prog, const Insn& in, const uint64_t* vals,
                   int n);
// A dump of the packet's first max bytes (0: all of it), 16 a line; "(no
// packet)" without one.
void dump_packet(InstanceImpl& vm, const uint8_t* pkt, uint32_t len, uint64_t max);

}  // namespace netcpu
