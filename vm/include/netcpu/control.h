// The console commands every host shares: one table of the commands that
// load, replace, inspect and tune the programs on a host's attach points
// (the vde_switch plugin's `netcpu/...` commands, the lwIPv6 consoles' and
// the cables' too), their help listed from it. Hosts own their attach
// points and translate their own console into execute().
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "netcpu/attach_point.h"
#include "netcpu/vm.h"

namespace netcpu {

struct ControlReply {
  int error = 0;     // 0 or an errno value
  std::string text;  // lines for the console, '\n'-separated
};

class Control {
 public:
  struct Options {
    HostCaps caps;
    Limits limits;
    // How consoles name attach points: "PORT|* in|out" (two words) on the
    // switch, "HOOK" (one word) on lwIPv6.
    std::string point_syntax;
    int point_words = 2;
    // Finds or creates the attach point named by `words` (point_words of
    // them); nullptr with *why set when they name none.
    std::function<AttachPoint*(const std::vector<std::string>& words, std::string* why)> resolve;
    // What list, reset and table/list take to narrow them: the syntax for
    // help ("[PORT|* [in|out]]"), and the points (existing ones only, no
    // program needed) that `words` name, false with *why set when they name
    // none. Unset: a point, as resolve() takes it.
    std::string select_syntax;
    std::function<bool(const std::vector<std::string>& words, std::vector<AttachPoint*>& points,
                       std::string* why)>
        select;
    // Who reads the files `load` names, for relative paths in errors:
    // "vde_switch" gives "(relative to vde_switch's working directory /x)".
    std::string process_name = "this process";
    // Every attach point the host has, for list, reset and tables.
    std::function<void(const std::function<void(AttachPoint&)>&)> for_each;
    // Where a program's PRINT/LOG/DUMP lines go.
    std::function<void(const AttachPoint&, OutputKind, std::string_view)> output;
    // `filter` compiles a tcpdump expression for caps.link with pcap_compile's
    // IPv4 netmask (host byte order): this one at first, then what
    // `netcpu/netmask` sets. The two commands exist when the core was built
    // with libpcap (kCoreCompilesFilters). The netmask: 0, as
    // `tcpdump -r` (ip broadcast: 255.255.255.255 or 0.0.0.0), or the
    // host's own interface's when it has one.
    uint32_t netmask = 0;
    // Warnings about what the host cannot do for this program at this point
    // (shown on load; empty when none).
    std::function<std::vector<std::string>(const AttachPoint&, const Program&)> warnings;
    // Opens a capture file (absolute path) for frames of the host's link
    // type; nullptr with *error (an errno value) and *why set when it
    // cannot. Unset: the core's pcap dumper (capture_opener(caps)) when it
    // was built with libpcap. The `capture` command exists when there is one.
    std::function<std::unique_ptr<CaptureSink>(const std::string& path, int* error,
                                               std::string* why)>
        open_capture;
  };

  explicit Control(Options o);

  // One console command: `command` is the part after "netcpu/" (one of
  // commands(); any other is answered ENOSYS), args the rest of the line.
  // `session` names the console connection a line came on (0: one shared
  // by all): a line continued with '\\' goes on with the next line of the
  // same command on the same connection, never another client's.
  ControlReply execute(std::string_view command, std::string_view args, int session = 0);
  // A console connection ended: what it left (a continued line's pieces,
  // staged programs, what rollback would put back) goes, so that a later
  // connection given the same id starts from nothing.
  void end_session(int session);

  // The commands execute() understands on this host, in the table's order,
  // with syntax and help, for the host's console listing.
  struct Command {
    std::string name, syntax, help;
  };
  std::vector<Command> commands() const;
  // The commands of the table, whatever the host offers: commands() lists
  // at most these. A console that registers each command with a function
  // of its own (vde_switch's) makes this many.
  static constexpr size_t kCommandCount = 21;

  // Loads a program (source or bytecode bytes) onto a point, replacing what
  // runs there only if the new program is accepted. `name`, when given,
  // replaces the program's own (a source's is its file's base name).
  ControlReply load(AttachPoint& at, std::vector<uint8_t> bytes, const std::string& file,
                    const std::string& name = {});

  const Limits& limits() const { return opt_.limits; }
  bool profiling() const { return profiling_; }

  // Stops every capture that is on, flushing and closing its file (a host
  // going away: plugin/del, a cable closing), and returns a line for each
  // ("1 in: drop to /tmp/d.pcap: 3 frames, 302 bytes, stopped: ...").
  std::vector<std::string> stop_captures(const std::string& why);
  // The captures of the points there are, on or stopped, one line each.
  std::vector<std::string> capture_lines();

  // The reply to a console line the host could not take whole (longer than
  // its line buffer: `max_chars`): nothing is done, and the text says how
  // to give a long command. `what_happened` is the host's own note about the
  // line (e.g. where the rest of it went). `command` is the part after
  // "netcpu/".
  ControlReply refuse_long_line(std::string_view command, size_t max_chars,
                                std::string_view what_happened, int session = 0) const;
  // The reply to a console line the host received cut (a client wrote it
  // in pieces, or left in the middle of it): nothing is done, and the text
  // says why (`what_happened`, the host's note) and how to send a line.
  ControlReply refuse_cut_line(std::string_view command, std::string_view what_happened,
                               int session = 0) const;
  // A line whose arguments end with '\' continues on the next line of the
  // same command: the backslash is removed and the pieces are joined as
  // they are. Most continued characters one command may hold.
  static constexpr size_t kMaxContinued = 4u << 20;

 private:
  // One command of the table (control.cpp), what a host must offer for it
  // to exist on its console, and what its handler is given.
  struct CommandSpec;
  enum class Needs { Nothing, Filters, Captures };
  struct Request;
  static const std::array<CommandSpec, kCommandCount> kCommandTable;
  // The command of the table named `command`, when this host offers it.
  const CommandSpec* offered(std::string_view command) const;
  bool offers(const CommandSpec& c) const;
  // What one console connection staged (netcpu/stage) for its next
  // netcpu/commit, and what its last commit replaced (for netcpu/rollback).
  struct Transaction {
    struct Entry {
      AttachPoint* at;
      std::unique_ptr<Instance> vm;  // null: no program (stage unload; a point that had none)
      std::string origin;
      std::chrono::system_clock::time_point loaded_at;  // a replaced program's
    };
    std::vector<Entry> staged, replaced;
    std::map<const AttachPoint*, std::string> arriving;  // put chunks of stage
  };
  // Where a verified program goes: onto its point at once (into == nullptr:
  // load, put, filter), or into a connection's staged set (stage).
  ControlReply cmd_load(std::string_view args, bool inline_bytes);
  ControlReply load_file(AttachPoint& at, std::string_view args, size_t point_words,
                         Transaction* into);
  ControlReply put_chunk(AttachPoint& at, const std::string& chunk,
                         std::map<const AttachPoint*, std::string>& arriving, Transaction* into);
  // load() with where the program came from (`origin`, for list) apart
  // from the name diagnostics give it (`file`).
  ControlReply load_bytes(AttachPoint& at, std::vector<uint8_t> bytes, const std::string& file,
                          const std::string& origin, const std::string& given_name,
                          Transaction* into);
  // Verifies a made program and installs it on `at` (or stages it).
  ControlReply install(AttachPoint& at, Program prog, const std::string& file,
                       const std::string& origin, const std::string& name, Transaction* into);
  ControlReply cmd_filter(std::string_view args);
  ControlReply filter_expr(AttachPoint& at, std::string_view args, size_t point_words,
                           Transaction* into);
  // Puts a verified program (null: none) into a connection's staged set,
  // in place of what it staged for that point before.
  static void stage(Transaction& t, AttachPoint& at, std::unique_ptr<Instance> vm,
                    std::string origin);
  ControlReply cmd_stage(std::string_view args, int session);
  ControlReply cmd_commit(int session);
  ControlReply cmd_rollback(int session);
  ControlReply cmd_discard(int session);
  ControlReply cmd_unload(const std::vector<std::string>& w);
  ControlReply cmd_list(const std::vector<std::string>& w, bool json);
  ControlReply cmd_show(const std::vector<std::string>& w, bool json);
  ControlReply cmd_profile(const std::vector<std::string>& w);
  ControlReply cmd_table_list(const std::vector<std::string>& w, bool json);
  ControlReply cmd_table_dump(const std::vector<std::string>& w, bool json);
  ControlReply cmd_table_get(const std::vector<std::string>& w, bool json);
  // The table the words after the point name, or nullptr with `err` set.
  Table* table_of(const std::vector<std::string>& w, size_t extra, const std::string& syntax,
                  AttachPoint*& at, ControlReply& err);
  ControlReply cmd_table_set(const std::vector<std::string>& w, bool del);
  ControlReply cmd_budget(const std::vector<std::string>& w);
  ControlReply cmd_onabort(const std::vector<std::string>& w);
  ControlReply cmd_reset(const std::vector<std::string>& w);
  ControlReply cmd_netmask(const std::vector<std::string>& w);
  ControlReply cmd_capture(std::string_view args);
  // A file name as the host process opens it: relative names from its
  // working directory. `note` says so, for errors: " (relative to ...)".
  std::string host_path(const std::string& file, std::string* note) const;
  AttachPoint* point(const std::vector<std::string>& w, size_t& used, ControlReply& err);
  // The points list, reset and table/list act on: all of them without
  // words, else those `w` selects; nullopt with `err` set when it selects none.
  std::optional<std::vector<AttachPoint*>> selection(const std::vector<std::string>& w,
                                                     ControlReply& err);
  // The rest of a continued line: nullopt when `args` does not continue
  // (`whole` then holds the command's arguments, joined with what earlier
  // lines left), else the reply to the piece.
  std::optional<ControlReply> continue_line(std::string_view command, std::string_view args,
                                            int session, std::string& whole);
  // "\nN characters of netcpu/COMMAND ... are still pending", or nothing.
  std::string pending_note(std::string_view command, int session) const;

  Options opt_;
  bool profiling_ = false;
  uint32_t netmask_ = 0;  // pcap_compile's, for the filters loaded from now on
  std::map<const AttachPoint*, std::string> arriving_;  // base64 of a program arriving in chunks
  std::map<int, Transaction> transactions_;             // by console session
  // (session, command) -> its pending line
  std::map<std::pair<int, std::string>, std::string> continued_;
};

}  // namespace netcpu
