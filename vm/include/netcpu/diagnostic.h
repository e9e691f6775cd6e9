// Errors that point at a place in a source file, printed as file:line:col.
#pragma once

#include <string>

namespace netcpu {

struct Diagnostic {
  std::string file;
  unsigned line = 0;  // 0: no position (e.g. bytecode without a line map)
  unsigned col = 0;
  std::string message;
  // A warning does not stop a program from loading; an error does.
  bool warning = false;

  // "file:line:col: error: message" (or "warning:"), the form compilers and
  // editors understand.
  std::string str() const {
    std::string s = file.empty() ? std::string("<input>") : file;
    if (line) s += ":" + std::to_string(line) + ":" + std::to_string(col ? col : 1);
    return s + (warning ? ": warning: " : ": error: ") + message;
  }
};

}  // namespace netcpu
