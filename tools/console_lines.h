// A console command as the lines a console takes whole: vde_switch reads at
// most 126 characters of a line, and NetCPU's consoles join a netcpu/
// command's lines that end with '\' (netcpu ctl, netcpu fleet ctl).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace netcpu::cli {

// vde_switch takes 128 bytes of a console line and cuts the rest off (127
// characters of an rc file's line); netcpu.so refuses a line that reached
// that length.
constexpr size_t kMaxConsoleLine = 126;

// The console lines that give `command` whole: itself when it fits; for a
// netcpu/ command, pieces under the limit each ending with a backslash but
// the last. Throws Failure (kUsage) for a longer command that is not
// NetCPU's, or cannot be cut: nothing of it should be sent.
std::vector<std::string> console_lines(const std::string& command);

}  // namespace netcpu::cli
