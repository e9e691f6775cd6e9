// TEMPORARY, until tools/telnet_console.cpp (branch `telnet`) is merged:
// lets the rest link. The lead removes this file at the merge.
#include "cli_common.h"
#include "console.h"

namespace netcpu::cli {

std::unique_ptr<Console> open_telnet_console(const std::string&, uint16_t, const ConsoleOptions&) {
  throw Failure(kUsage, "telnet consoles are not built yet");
}

}  // namespace netcpu::cli
