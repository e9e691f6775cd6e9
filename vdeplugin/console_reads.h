// Whether a console line reached vde_switch whole. vde_switch takes each
// read() of up to 128 bytes from a management connection as one command
// line, drops one newline at its end, and hands the plugin only the
// arguments: a line a client wrote in two pieces (or cut by closing its
// connection) arrives as a shorter line that looks whole. Nothing the switch
// passes tells the two apart, so the plugin watches the switch's own reads:
// it puts a wrapper in the switch's PLT slot for read(2) (the switch is built
// with lazy binding: the slot is writable) that notes, for every 128-byte
// console read, where it went, how long it was and whether it ended with a
// newline. A command then finds the read its arguments lie in.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace netcpu::vde {

// vde_switch's console buffer (MAXCMD in vde2's consmgmt.c).
constexpr size_t kSwitchLineBuffer = 128;

struct ConsoleRead {
  int fd = -1;             // the management connection
  size_t bytes = 0;        // what the read returned
  bool newline = false;    // it ended with '\n'
  bool after_cut = false;  // the read before it on this connection ended mid-line
};

// Puts the wrapper in place; false when the switch's read slot was not found
// (then console_read_of() finds nothing). unwatch puts the switch's own
// function back (plugin/del), if the slot still holds the wrapper.
// `closed` is told when a management connection ends (its fd, which the
// switch may give the next connection), from inside the switch's read.
bool watch_console_reads(void (*closed)(int fd));
void unwatch_console_reads();

// The console read a command's arguments lie in: nullopt when the command
// did not come from one (an rc file's line, a `load` script's).
std::optional<ConsoleRead> console_read_of(const char* arg);

// Whether the client on a management connection is vdeterm or vdetelweb,
// which draw the console through libvdehist: it sends each command in one
// write without a newline (for them a read is a whole line, as vde_switch
// takes it), and it keeps each line of a reply in a buffer of 1024 bytes
// (BUFSIZE in vde2's libvdehist.c) that a longer line overflows, killing
// the client.
bool client_uses_libvdehist(int fd);
// What such a client's buffer holds of a line, with room for its "\r\n\0".
constexpr size_t kVdehistLongestLine = 1000;

// `text`'s lines cut to at most `max` bytes each, for a client with a line
// buffer: a long line is cut after a comma outside a JSON string where it
// can be (a JSON reply stays JSON when its lines are joined again), else at
// `max`.
std::string fit_lines(std::string_view text, size_t max);

}  // namespace netcpu::vde
