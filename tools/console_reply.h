// A console reply in the management protocol's shape (console.h), taken
// apart: the "0000 DATA END WITH '.'" block, "3NNN category text" debug
// lines and the closing status line, "1000 Success" or "1NNN error text"
// (NNN an errno value). netcpu ctl, top and fleet read replies with it.
#pragma once

#include <string>
#include <vector>

namespace netcpu::cli {

struct ConsoleReply {
  bool has_status = false;         // false: no status line came (not a console's reply)
  int error = 0;                   // the status line's errno: 0 for "1000 Success"
  std::string status;              // "1000 Success", "1022 Invalid argument"
  std::vector<std::string> data;   // the DATA block's lines
  std::vector<std::string> debug;  // "3NNN category text" lines, as they came
  std::vector<std::string> other;  // lines outside both (a banner's, a junk answer's)

  bool ok() const { return has_status && error == 0; }
  // The data lines joined by newlines, or the status line's text when there are none.
  std::string text() const;
  // The data lines joined as they are: a JSON reply (`-j`) whole again, also
  // when netcpu.so cut it between elements for a vdetelweb or vdeterm client.
  std::string json_text() const;
};

ConsoleReply parse_reply(const std::vector<std::string>& lines);

}  // namespace netcpu::cli
