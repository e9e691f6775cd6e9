// Console commands over attach points. Every reply is text for a console
// plus an errno value, so the switch's "1000 Success" / "10NN error" answers
// and the lwIPv6 consoles map onto it directly.
#include "netcpu/control.h"

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include "console_words.h"
#include "netcpu/load.h"
#ifdef NETCPU_HAVE_PCAP
#include "netcpu/pcap_dump.h"
#endif

namespace netcpu {

Control::Control(Options o) : opt_(std::move(o)), netmask_(opt_.netmask) {
#ifdef NETCPU_HAVE_PCAP
  if (!opt_.open_capture) opt_.open_capture = capture_opener(opt_.caps);
#endif
}

// What a command's handler is given: its arguments as typed (continued
// lines joined), their words, and whether -j asked for JSON (then taken
// off the words).
struct Control::Request {
  std::string_view args;
  std::vector<std::string> words;
  bool json = false;
  int session = 0;  // the console connection (execute's)
};

struct Control::CommandSpec {
  std::string_view name;
  // As help shows it: {point} is Options::point_syntax, {select} what
  // list, reset and table/list take (Options::select_syntax).
  std::string_view syntax;
  std::string_view help;
  Needs needs = Needs::Nothing;
  bool takes_json = false;  // -j (bpftool's) or --json first: one line of JSON, for scripts
  ControlReply (*run)(Control&, const Request&) = nullptr;
};

// Every command, in the order help lists them.
constexpr std::array<Control::CommandSpec, Control::kCommandCount> Control::kCommandTable = {{
    {"load", "{point} FILE",
     "load a program (source or bytecode) onto an attach point, replacing the old one",
     Needs::Nothing, false, [](Control& c, const Request& r) { return c.cmd_load(r.args, false); }},
    {"put", "{point} BASE64", "load a program from base64 bytecode given inline", Needs::Nothing,
     false, [](Control& c, const Request& r) { return c.cmd_load(r.args, true); }},
    {"filter", "{point} EXPR", "load a tcpdump expression (pcap-filter(7), compiled by libpcap)",
     Needs::Filters, false, [](Control& c, const Request& r) { return c.cmd_filter(r.args); }},
    {"unload", "{point}", "remove the program of an attach point", Needs::Nothing, false,
     [](Control& c, const Request& r) { return c.cmd_unload(r.words); }},
    {"list", "[-j] {select}",
     "attach points with their program, counters (packets and bytes), capture, load time and "
     "source; -j: JSON",
     Needs::Nothing, true,
     [](Control& c, const Request& r) { return c.cmd_list(r.words, r.json); }},
    {"show", "[-j] {point}",
     "what runs the program, its source and capture, disassembly with source lines (and hit "
     "counts when profiling); -j: JSON",
     Needs::Nothing, true,
     [](Control& c, const Request& r) { return c.cmd_show(r.words, r.json); }},
    {"profile", "[0|1]", "count the hits of every instruction (none: say whether)", Needs::Nothing,
     false, [](Control& c, const Request& r) { return c.cmd_profile(r.words); }},
    {"table/list", "[-j] {select}", "the tables of the programs; -j: JSON", Needs::Nothing, true,
     [](Control& c, const Request& r) { return c.cmd_table_list(r.words, r.json); }},
    {"table/dump", "[-j] {point} TABLE", "the entries of a table, sorted, and how many; -j: JSON",
     Needs::Nothing, true,
     [](Control& c, const Request& r) { return c.cmd_table_dump(r.words, r.json); }},
    {"table/get", "[-j] {point} TABLE KEY",
     "one entry (LPM: the longest prefix that holds an address); -j: JSON", Needs::Nothing, true,
     [](Control& c, const Request& r) { return c.cmd_table_get(r.words, r.json); }},
    {"table/set", "{point} TABLE KEY VALUE", "insert or replace a table entry", Needs::Nothing,
     false, [](Control& c, const Request& r) { return c.cmd_table_set(r.words, false); }},
    {"table/del", "{point} TABLE KEY", "remove a table entry", Needs::Nothing, false,
     [](Control& c, const Request& r) { return c.cmd_table_set(r.words, true); }},
    {"budget", "[N]", "instructions a program may run per packet (none: show it)", Needs::Nothing,
     false, [](Control& c, const Request& r) { return c.cmd_budget(r.words); }},
    {"onabort", "[pass|drop]", "verdict when a run is stopped (budget, fault; none: show it)",
     Needs::Nothing, false, [](Control& c, const Request& r) { return c.cmd_onabort(r.words); }},
    {"reset", "{select}", "zero the programs' counters", Needs::Nothing, false,
     [](Control& c, const Request& r) { return c.cmd_reset(r.words); }},
    {"stage", "[{point} load FILE|put BASE64|filter EXPR|unload]",
     "verify a program and hold it for this connection's netcpu/commit (none: what is held)",
     Needs::Nothing, false,
     [](Control& c, const Request& r) { return c.cmd_stage(r.args, r.session); }},
    {"commit", "", "swap in every program this connection staged, all at once", Needs::Nothing,
     false, [](Control& c, const Request& r) { return c.cmd_commit(r.session); }},
    {"rollback", "", "put back what this connection's last commit replaced", Needs::Nothing, false,
     [](Control& c, const Request& r) { return c.cmd_rollback(r.session); }},
    {"discard", "", "forget what this connection staged and what rollback would put back",
     Needs::Nothing, false, [](Control& c, const Request& r) { return c.cmd_discard(r.session); }},
    {"netmask", "[A.B.C.D]",
     "the IPv4 netmask later filters compile with (ip broadcast); none: show it", Needs::Filters,
     false, [](Control& c, const Request& r) { return c.cmd_netmask(r.words); }},
    {"capture", "[{point} [pass|drop|all FILE [COUNT] [SIZE]|off]]",
     "write the frames a program passes, drops or both to a pcap file; none: show the captures",
     Needs::Captures, false, [](Control& c, const Request& r) { return c.cmd_capture(r.args); }},
}};

bool Control::offers(const CommandSpec& c) const {
  switch (c.needs) {
    case Needs::Filters:
      return kCoreCompilesFilters;
    case Needs::Captures:
      return static_cast<bool>(opt_.open_capture);
    case Needs::Nothing:
      break;
  }
  return true;
}

const Control::CommandSpec* Control::offered(std::string_view command) const {
  // kCommandCount is the table's size: an entry left out would be an empty one.
  static_assert(
      std::ranges::none_of(kCommandTable, [](const auto& c) { return c.name.empty() || !c.run; }));
  for (const CommandSpec& c : kCommandTable)
    if (c.name == command) return offers(c) ? &c : nullptr;
  return nullptr;
}

std::vector<Control::Command> Control::commands() const {
  const std::string& p = opt_.point_syntax;
  const std::string sel = opt_.select_syntax.empty() ? "[" + p + "]" : opt_.select_syntax;
  auto expand = [&](std::string_view syntax) {
    std::string s(syntax);
    for (auto [name, value] :
         {std::pair<std::string_view, const std::string&>{"{point}", p}, {"{select}", sel}})
      if (size_t at = s.find(name); at != std::string::npos) s.replace(at, name.size(), value);
    return s;
  };
  std::vector<Command> listed;
  for (const CommandSpec& c : kCommandTable)
    if (offers(c)) listed.push_back({std::string(c.name), expand(c.syntax), std::string(c.help)});
  return listed;
}

// The shell's rule: a backslash that ends a line joins it to the next one,
// without the backslash and without adding anything. Consoles strip the
// blanks before a command's arguments, so a piece keeps a blank it needs at
// its end, before the backslash.
std::optional<ControlReply> Control::continue_line(std::string_view command, std::string_view args,
                                                   int session, std::string& whole) {
  const std::pair<int, std::string> key{session, std::string(command)};
  auto pending = continued_.find(key);
  whole = pending == continued_.end() ? std::string() : pending->second;
  whole += args;
  if (args.empty() || args.back() != '\\') {
    if (pending != continued_.end()) continued_.erase(pending);
    return std::nullopt;
  }
  whole.pop_back();
  const std::string name = "netcpu/" + std::string(command);
  if (whole.size() > kMaxContinued) {
    if (pending != continued_.end()) continued_.erase(pending);
    return fail(EMSGSIZE, name + ": more than " + std::to_string(kMaxContinued) +
                              " characters in continued lines: all of them dropped");
  }
  continued_[key] = whole;
  return ControlReply{0, name + " continues: " + std::to_string(whole.size()) +
                             " characters pending; they run with the next " + name +
                             " line that does not end with \\"};
}

std::string Control::pending_note(std::string_view command, int session) const {
  auto pending = continued_.find({session, std::string(command)});
  if (pending == continued_.end()) return {};
  return "\n" + std::to_string(pending->second.size()) + " characters of netcpu/" +
         std::string(command) + " from lines ending with \\ are still pending";
}

ControlReply Control::refuse_long_line(std::string_view command, size_t max_chars,
                                       std::string_view what_happened, int session) const {
  const std::string name = "netcpu/" + std::string(command.empty() ? "COMMAND" : command);
  std::string text = name + ": line too long: this console takes at most " +
                     std::to_string(max_chars) + " characters a line; nothing was done";
  if (!what_happened.empty()) text += "\n" + std::string(what_happened);
  text += pending_note(command, session);
  text +=
      "\nGive a long command in pieces: end a line with \\ and go on with the same command on "
      "the next line (the pieces are joined as they are: keep the blank before the \\):\n  " +
      name + " FIRST PART OF THE LINE \\\n  " + name +
      " THE REST\nor put a long program in a file (netcpu/load), or its bytecode in several "
      "netcpu/put lines. netcpu ctl splits long commands by itself.";
  return {EMSGSIZE, text};
}

ControlReply Control::refuse_cut_line(std::string_view command, std::string_view what_happened,
                                      int session) const {
  const std::string name = "netcpu/" + std::string(command.empty() ? "COMMAND" : command);
  std::string text = name + ": cut line refused: nothing was done, every point keeps what it had";
  if (!what_happened.empty()) text += "\n" + std::string(what_happened);
  text += pending_note(command, session);
  text += "\nSend each line in one write, ending with a newline (netcpu ctl does).";
  return {EBADMSG, text};
}

ControlReply Control::execute(std::string_view command, std::string_view line, int session) {
  const CommandSpec* spec = offered(command);
  std::string args;
  if (!spec)
    args = line;
  else if (auto piece = continue_line(command, line, session, args))
    return *piece;
  // Whoever looks at a capture file next finds every frame so far in it.
  opt_.for_each([](AttachPoint& at) { at.flush_capture(); });
  if (!spec) return fail(ENOSYS, "unknown command netcpu/" + std::string(command));
  Request r{args, split_words(args), false, session};
  r.json = spec->takes_json && !r.words.empty() && (r.words[0] == "-j" || r.words[0] == "--json");
  if (r.json) r.words.erase(r.words.begin());
  return spec->run(*this, r);
}

AttachPoint* Control::point(const std::vector<std::string>& w, size_t& used, ControlReply& err) {
  if (w.size() < static_cast<size_t>(opt_.point_words)) {
    err = fail(EINVAL, "expected " + opt_.point_syntax);
    return nullptr;
  }
  std::vector<std::string> words(w.begin(), w.begin() + opt_.point_words);
  std::string why;
  AttachPoint* at = opt_.resolve(words, &why);
  if (!at) err = fail(EINVAL, why.empty() ? "no such attach point" : why);
  used = static_cast<size_t>(opt_.point_words);
  return at;
}

// A relative name is the host process's business (its working directory,
// not the console user's): errors name the file it tried and that directory.
std::string Control::host_path(const std::string& file, std::string* note) const {
  std::error_code ec;
  const std::filesystem::path path(file);
  const std::filesystem::path cwd =
      path.is_absolute() ? std::filesystem::path() : std::filesystem::current_path(ec);
  note->clear();
  if (!cwd.empty())
    *note = " (relative to " + opt_.process_name + "'s working directory " + cwd.string() + ")";
  return (cwd.empty() ? path : cwd / path).lexically_normal().string();
}

std::optional<std::vector<AttachPoint*>> Control::selection(const std::vector<std::string>& w,
                                                            ControlReply& err) {
  std::vector<AttachPoint*> points;
  std::string why;
  if (w.empty()) {
    opt_.for_each([&](AttachPoint& at) { points.push_back(&at); });
  } else if (opt_.select) {
    if (!opt_.select(w, points, &why)) {
      err = fail(EINVAL, why);
      return std::nullopt;
    }
  } else {
    AttachPoint* at =
        w.size() == static_cast<size_t>(opt_.point_words) ? opt_.resolve(w, &why) : nullptr;
    if (!at) {
      err = fail(EINVAL, !why.empty() ? why : "expected [" + opt_.point_syntax + "]");
      return std::nullopt;
    }
    points.push_back(at);
  }
  return points;
}
}  // namespace netcpu
