// The -j replies of the console commands.
#pragma once

#include <nlohmann/json.hpp>

#include "netcpu/control.h"

namespace netcpu {

// One line, invalid UTF-8 (a file name's bytes) replaced rather than thrown on.
inline ControlReply json_reply(const nlohmann::json& j) {
  return {0, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
}

}  // namespace netcpu
