// A program the host tests load where a point sees packets both ways (the
// switch's inout points, the cable's inout=, lwIPv6's local and edge).
#pragma once

namespace netcpu::test {

// Counts the packets it runs on by (hook, dir) in its table `ways`, under
// the key hook << 8 | dir.
inline constexpr const char* kCountWays = R"(.data:
table ways hash key 2 value 8 max 16
.text:
    mov gpr0, hook
    shl gpr0, 8
    or gpr0, dir
    tadd ways, gpr0, 1
    pass
)";

}  // namespace netcpu::test
