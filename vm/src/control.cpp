// Console commands over attach points. Every reply is text for a console
// plus an errno value, so the switch's "1000 Success" / "10NN error" answers
// and the lwIPv6 consoles map onto it directly.
#include "netcpu/control.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>

#include "literals.h"
#include "netcpu/assembler.h"
#include "netcpu/bytecode.h"
#include "netcpu/disassembler.h"
#include "netcpu/packet_summary.h"
#include "netcpu/verifier.h"
#include "table_text.h"

namespace netcpu {
namespace {

std::vector<std::string> split_words(std::string_view s) {
  std::vector<std::string> w;
  std::istringstream in{std::string(s)};
  for (std::string t; in >> t;) w.push_back(t);
  return w;
}

ControlReply fail(int err, std::string text) { return {err, std::move(text)}; }

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

// What follows the first `n` words of `args`, without the blanks around it.
std::string_view after_words(std::string_view args, size_t n) {
  args = trim_blanks(args);
  for (size_t i = 0; i < n && !args.empty(); ++i) {
    while (!args.empty() && !is_blank(args.front())) args.remove_prefix(1);
    args = trim_blanks(args);
  }
  return args;
}

// People paste expressions and file names with the quotes a shell needs:
// one matching pair around the whole argument is removed. `quoted` says
// whether there was one.
std::string_view unquote(std::string_view s, bool* quoted = nullptr) {
  bool q = s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front();
  if (quoted) *quoted = q;
  return q ? s.substr(1, s.size() - 2) : s;
}

// What a rejected load leaves on the point, said as it is.
std::string kept(const AttachPoint& at) {
  if (!at.program()) return at.name() + " still has no program";
  return at.name() + " keeps its program " + at.program()->program().name;
}

uint64_t steady_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

std::unique_ptr<Instance> AttachPoint::replace(std::unique_ptr<Instance> p) {
  sample_ = 0;
  sampled_ns_ = sampled_runs_ = 0;
  reset_bytes();
  if (!p) origin_.clear(), loaded_at_ = {};
  timer_schedule_.restart(p ? p->program().timers.size() : 0);
  std::swap(program_, p);
  return p;
}

static_assert(std::has_single_bit(AttachPoint::kSampleEvery));

template <typename Run>
auto AttachPoint::timed(Run run) {
  const uint64_t t0 = steady_ns();
  auto r = run();
  sampled_ns_ += steady_ns() - t0;
  ++sampled_runs_;
  return r;
}

RunResult AttachPoint::timed_run(uint8_t* pkt, uint32_t& len, uint32_t capacity,
                                 const PacketMeta& meta) {
  return timed([&] { return program_->run(pkt, len, capacity, meta); });
}

bool AttachPoint::timed_native(const Instance::NativeCode& code, uint8_t* pkt, uint32_t& len,
                               uint32_t capacity, const PacketMeta& meta, JitResult& result) {
  result = timed([&] { return code.entry(code.state, pkt, len, &len, capacity, &meta); });
  return result.passed();
}

void AttachPoint::capture_frame(Verdict v, const uint8_t* pkt, uint32_t len) {
  Capture& c = *capture_;
  if (!(c.verdicts >> static_cast<unsigned>(v) & 1u)) return;
  if (c.sink->file_bytes() + c.sink->record_bytes(len) > c.max_bytes)
    return end_capture(
        "done: the next frame would take the file past " + std::to_string(c.max_bytes) + " bytes",
        false);
  if (!c.sink->write(pkt, len)) return end_capture("write error: " + c.sink->error(), true);
  if (++c.frames == c.max_frames)
    end_capture("done: " + std::to_string(c.max_frames) + " frames captured", false);
}

// Closing flushes: a write error there is the capture's too.
void AttachPoint::end_capture(std::string why, bool failed) {
  Capture& c = *capture_;
  capture_ = nullptr;
  if (!c.sink->close() && !failed) {
    why = "write error: " + c.sink->error();
    failed = true;
  }
  c.file_bytes = c.sink->file_bytes();
  c.sink.reset();
  c.stopped = std::move(why);
  c.failed = failed;
}

void AttachPoint::start_capture(std::unique_ptr<Capture> c) {
  if (capture_) end_capture("stopped: another capture replaced it", false);
  capture_state_ = std::move(c);
  capture_ = capture_state_.get();
}

std::unique_ptr<Capture> AttachPoint::stop_capture(const std::string& why) {
  if (capture_) end_capture(why, false);
  return std::move(capture_state_);
}

void AttachPoint::flush_capture() {
  if (capture_ && !capture_->sink->flush())
    end_capture("write error: " + capture_->sink->error(), true);
}

std::string Capture::status() const {
  std::string s = what + " to " + file + ": " + std::to_string(frames) + " frames, " +
                  std::to_string(sink ? sink->file_bytes() : file_bytes) + " bytes, ";
  if (!sink) return s + (failed ? "stopped: " : "") + stopped;
  s += "on (until ";
  if (max_frames) s += std::to_string(max_frames) + " frames or ";
  return s + std::to_string(max_bytes) + " bytes)";
}

double AttachPoint::average_ns() const {
  return sampled_runs_ ? static_cast<double>(sampled_ns_) / static_cast<double>(sampled_runs_)
                       : 0.0;
}

void AttachPoint::run_due_timers(uint64_t now_ms, const PacketMeta& meta,
                                 const TimerSchedule::Ran& ran) {
  if (program_) timer_schedule_.run_due(*program_, now_ms, meta, ran);
}

Control::Control(Options o) : opt_(std::move(o)), netmask_(opt_.netmask) {}

std::vector<Control::Command> Control::commands() const {
  const std::string& p = opt_.point_syntax;
  const std::string sel = opt_.select_syntax.empty() ? "[" + p + "]" : opt_.select_syntax;
  std::vector<Command> c = {
      {"load", p + " FILE",
       "load a program (source or bytecode) onto an attach point, replacing the old one"},
      {"put", p + " BASE64", "load a program from base64 bytecode given inline"},
      {"unload", p, "remove the program of an attach point"},
      {"list", "[-j] " + sel,
       "attach points with their program, counters (packets and bytes), capture, load time and "
       "source; -j: JSON"},
      {"show", "[-j] " + p,
       "what runs the program, its source and capture, disassembly with source lines (and hit "
       "counts when profiling); -j: JSON"},
      {"profile", "[0|1]", "count the hits of every instruction (none: say whether)"},
      {"table/list", "[-j] " + sel, "the tables of the programs; -j: JSON"},
      {"table/dump", "[-j] " + p + " TABLE",
       "the entries of a table, sorted, and how many; -j: JSON"},
      {"table/get", "[-j] " + p + " TABLE KEY",
       "one entry (LPM: the longest prefix that holds an address); -j: JSON"},
      {"table/set", p + " TABLE KEY VALUE", "insert or replace a table entry"},
      {"table/del", p + " TABLE KEY", "remove a table entry"},
      {"budget", "[N]", "instructions a program may run per packet (none: show it)"},
      {"onabort", "[pass|drop]", "verdict when a run is stopped (budget, fault; none: show it)"},
      {"reset", sel, "zero the programs' counters"},
  };
  if (opt_.compile_filter) {
    c.insert(c.begin() + 2, {"filter", p + " EXPR",
                             "load a tcpdump expression (pcap-filter(7), compiled by libpcap)"});
    c.push_back({"netmask", "[A.B.C.D]",
                 "the IPv4 netmask later filters compile with (ip broadcast); none: show it"});
  }
  if (opt_.open_capture)
    c.push_back({"capture", "[" + p + " [pass|drop|all FILE [COUNT] [SIZE]|off]]",
                 "write the frames a program passes, drops or both to a pcap file; none: show "
                 "the captures"});
  return c;
}

ControlReply Control::cmd_filter(std::string_view args) {
  ControlReply err;
  size_t used;
  AttachPoint* at = point(split_words(args), used, err);
  if (!at) return err;
  // The expression is the rest of the line as typed (libpcap's syntax has
  // no quotes of its own).
  std::string expr(trim_blanks(unquote(after_words(args, used))));
  if (expr.empty()) return fail(EINVAL, "expected " + opt_.point_syntax + " EXPR");
  std::string error;
  auto text = opt_.compile_filter(expr, netmask_, &error);
  if (!text) return fail(EINVAL, "filter '" + expr + "': " + error + "\n" + kept(*at));
  // Named by the whole expression (as a file name, its dots and slashes would cut it short).
  const std::string name = "<filter '" + expr + "'>";
  return load(*at, std::vector<uint8_t>(text->begin(), text->end()), name, name);
}

bool Control::known(std::string_view command) const {
  for (const Command& c : commands())
    if (c.name == command) return true;
  return false;
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
  std::string args;
  if (!known(command))
    args = line;
  else if (auto piece = continue_line(command, line, session, args))
    return *piece;
  // Whoever looks at a capture file next finds every frame so far in it.
  opt_.for_each([](AttachPoint& at) { at.flush_capture(); });
  auto w = split_words(args);
  // -j (bpftool's) or --json first: the reply as one line of JSON, for scripts.
  const bool json = !w.empty() && (w[0] == "-j" || w[0] == "--json") &&
                    (command == "list" || command == "show" || command.starts_with("table/"));
  if (json) w.erase(w.begin());
  if (command == "load") return cmd_load(args, false);
  if (command == "put") return cmd_load(args, true);
  if (command == "filter" && opt_.compile_filter) return cmd_filter(args);
  if (command == "unload") return cmd_unload(w);
  if (command == "list") return cmd_list(w, json);
  if (command == "show") return cmd_show(w, json);
  if (command == "profile") return cmd_profile(w);
  if (command == "table/list") return cmd_table_list(w, json);
  if (command == "table/dump") return cmd_table_dump(w, json);
  if (command == "table/get") return cmd_table_get(w, json);
  if (command == "table/set") return cmd_table_set(w, false);
  if (command == "table/del") return cmd_table_set(w, true);
  if (command == "budget") return cmd_budget(w);
  if (command == "onabort") return cmd_onabort(w);
  if (command == "reset") return cmd_reset(w);
  if (command == "netmask" && opt_.compile_filter) return cmd_netmask(w);
  if (command == "capture" && opt_.open_capture) return cmd_capture(args);
  return fail(ENOSYS, "unknown command netcpu/" + std::string(command));
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

ControlReply Control::load(AttachPoint& at, std::vector<uint8_t> bytes, const std::string& file,
                           const std::string& given_name) {
  std::optional<Program> prog;
  if (is_bytecode(bytes)) {
    std::string why;
    prog = decode_bytecode(bytes, &why);
    if (!prog) return fail(EINVAL, file + ": corrupt bytecode: " + why + "\n" + kept(at));
    if (prog->source_file.empty()) prog->source_file = file;
  } else {
    Diagnostic d;
    prog = assemble(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                    file, &d);
    if (!prog) return fail(EINVAL, d.str() + "\n" + kept(at));
  }
  std::vector<std::string> warnings =
      opt_.warnings ? opt_.warnings(at, *prog) : std::vector<std::string>{};
  Diagnostic d;
  AttachPoint* where = &at;
  auto sink = [this, where](OutputKind k, std::string_view line) {
    if (opt_.output) opt_.output(*where, k, line);
  };
  if (!given_name.empty()) prog->name = given_name;
  std::string name = prog->name;
  auto vm = Instance::create(std::move(*prog), opt_.caps, opt_.limits, sink, &d);
  if (!vm) {
    if (d.file.empty()) d.file = file;
    return fail(EINVAL, d.str() + "\n" + kept(at));
  }
  if (profiling_) vm->set_profiling(true);
  std::string text = "loaded " + name + " (" + hash_hex(vm->hash()) + ", " +
                     std::to_string(vm->program().code.size()) + " instructions) on " + at.name();
  // The verifier's own warnings point into the source: file:line:col: warning: ...
  std::string verifier_warnings;
  for (const Diagnostic& w : vm->warnings()) verifier_warnings += "\n" + w.str();
  bool replaced = at.replace(std::move(vm)) != nullptr;
  at.set_origin(file);
  if (replaced) text += ", replacing its program";
  for (const auto& warn : warnings) text += "\nwarning: " + warn;
  text += verifier_warnings;
  return {0, text};
}

ControlReply Control::cmd_load(std::string_view args, bool inline_bytes) {
  ControlReply err;
  size_t used;
  const std::vector<std::string> w = split_words(args);
  AttachPoint* at = point(w, used, err);
  if (!at) return err;
  if (inline_bytes) {
    if (w.size() != used + 1) return fail(EINVAL, "expected " + opt_.point_syntax + " BASE64");
    return put_chunk(*at, w[used]);
  }
  bool quoted = false;
  const std::string file(unquote(after_words(args, used), &quoted));
  if (file.empty() || (!quoted && w.size() != used + 1))
    return fail(EINVAL, "expected " + opt_.point_syntax +
                            " FILE (one file name: quote a name that has blanks)");
  return load_file(*at, file);
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

ControlReply Control::load_file(AttachPoint& at, const std::string& file) {
  std::string relative;
  const std::string tried = host_path(file, &relative);
  auto refuse = [&](int error) {
    return fail(error, tried + ": " + std::strerror(error) + relative + "\n" + kept(at));
  };
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(tried.c_str(), "rb"), &std::fclose);
  if (!f) return refuse(errno);
  std::vector<uint8_t> bytes;
  uint8_t buf[16384];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f.get())) > 0;)
    bytes.insert(bytes.end(), buf, buf + n);
  if (std::ferror(f.get())) return refuse(errno ? errno : EIO);
  ControlReply r = load(at, std::move(bytes), file);
  if (r.error == 0) at.set_origin(tried);  // the file as opened, whatever the cwd later
  return r;
}

// Consoles cut long lines (vde_switch reads 128 bytes per command), so
// bytecode may come in several puts: a chunk that starts with the magic
// ("TkNQVQ" is base64 for "NCPU") starts a program, later chunks extend it,
// and it loads as soon as the bytes decode as complete bytecode.
ControlReply Control::put_chunk(AttachPoint& at, const std::string& chunk) {
  std::string& staged = staging_[&at];
  if (chunk.rfind("TkNQVQ", 0) == 0)
    staged.clear();
  else if (staged.empty())
    return fail(EINVAL,
                "not NetCPU bytecode: a program's first chunk starts with TkNQVQ (base64 of NCPU)");
  staged += chunk;
  if (staged.size() > 4 * kMaxHeap) {
    staging_.erase(&at);
    return fail(EFBIG, "bytecode too large");
  }
  auto bytes = decode_base64(staged);
  if (!bytes) {
    staging_.erase(&at);
    return fail(EINVAL, "not base64");
  }
  std::string why;
  if (staged.size() % 4 != 0 || !decode_bytecode(*bytes, &why)) {
    if (staged.size() % 4 == 0 && why.find("truncated") == std::string::npos) {
      staging_.erase(&at);
      return fail(EINVAL, "corrupt bytecode: " + why);
    }
    return {0, "received " + std::to_string(staged.size()) + " base64 characters for " + at.name() +
                   "; send the rest with netcpu/put"};
  }
  staging_.erase(&at);
  return load(at, std::move(*bytes), "<put>");
}

ControlReply Control::cmd_unload(const std::vector<std::string>& w) {
  ControlReply err;
  size_t used;
  AttachPoint* at = point(w, used, err);
  if (!at) return err;
  if (w.size() != used) return fail(EINVAL, "expected " + opt_.point_syntax);
  if (!at->program()) return fail(ENOENT, at->name() + " has no program");
  auto old = at->replace(nullptr);
  return {0, "unloaded " + old->program().name + " from " + at->name()};
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

namespace {

// A time as ISO 8601 in local time, with its offset: 2026-11-22T10:31:05+0100.
std::string iso_time(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  localtime_r(&secs, &tm);
  char b[40];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S%z", &tm);
  return b;
}

// A point's capture in one word, for list: -, or drop:12 (on), drop:12:done,
// drop:40:failed.
std::string capture_word(const AttachPoint& at) {
  const Capture* c = at.capture();
  if (!c) return "-";
  const std::string w = c->what + ":" + std::to_string(c->frames);
  return c->sink ? w : w + (c->failed ? ":failed" : ":done");
}

nlohmann::json capture_json(const Capture* c) {
  if (!c) return nullptr;
  return {{"what", c->what},
          {"file", c->file},
          {"frames", c->frames},
          {"bytes", c->sink ? c->sink->file_bytes() : c->file_bytes},
          {"max_frames", c->max_frames},
          {"max_bytes", c->max_bytes},
          {"on", c->sink != nullptr},
          {"failed", c->failed},
          {"stopped", c->stopped},
          {"status", c->status()}};
}

// One line, invalid UTF-8 (a file name's bytes) replaced rather than thrown on.
ControlReply json_reply(const nlohmann::json& j) {
  return {0, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
}

}  // namespace

ControlReply Control::cmd_list(const std::vector<std::string>& w, bool json) {
  ControlReply err;
  auto points = selection(w, err);
  if (!points) return err;
  char line[1024];
  // New columns go last: scripts read the others by position. FROM is last
  // of all: a filter's expression has blanks.
  std::snprintf(line, sizeof line,
                "%-10s %-16s %-16s %6s %10s %10s %10s %10s %10s %8s %8s %8s %8s %8s %8s %12s %12s "
                "%-14s %-24s %s",
                "POINT", "PROGRAM", "HASH", "INSNS", "PACKETS", "PASSED", "DROPPED", "MODIFIED",
                "REDIRECTED", "ABORTED", "NS/PKT", "EMITTED", "ERRORS", "TIMERS", "TIMED",
                "PASS_BYTES", "DROP_BYTES", "CAPTURE", "LOADED", "FROM");
  std::string text = line;
  nlohmann::json rows = nlohmann::json::array();
  for (AttachPoint* at : *points) {
    Instance* vm = at->program();
    if (!vm) continue;
    const Stats& s = vm->stats();
    // Too few timed runs make a figure of cold caches: none until there are enough.
    const bool timed = at->timed_runs() >= AttachPoint::kMinTimedRuns;
    if (json) {
      rows.push_back({{"point", at->name()},
                      {"program", vm->program().name},
                      {"hash", hash_hex(vm->hash())},
                      {"instructions", vm->program().code.size()},
                      {"packets", s.packets.load()},
                      {"passed", s.passed.load()},
                      {"dropped", s.dropped.load()},
                      {"modified", s.modified.load()},
                      {"redirected", s.redirected.load()},
                      {"aborted", s.aborted.load()},
                      {"ns_per_packet", timed ? nlohmann::json(at->average_ns()) : nullptr},
                      {"emitted", s.emitted.load()},
                      {"errors", s.errors.load()},
                      {"timer_runs", s.timer_runs.load()},
                      {"timed_runs", at->timed_runs()},
                      {"passed_bytes", at->bytes(Verdict::Pass)},
                      {"dropped_bytes", at->bytes(Verdict::Drop)},
                      {"redirected_bytes", at->bytes(Verdict::Redirect)},
                      {"capture", capture_json(at->capture())},
                      {"loaded", iso_time(at->loaded_at())},
                      {"from", at->origin()}});
      continue;
    }
    char ns[32] = "-";
    if (timed) std::snprintf(ns, sizeof ns, "%.1f", at->average_ns());
    std::snprintf(line, sizeof line,
                  "%-10s %-16s %-16s %6zu %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64
                  " %10" PRIu64 " %8" PRIu64 " %8s %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64
                  " %12" PRIu64 " %12" PRIu64 " %-14s %-24s %s",
                  at->name().c_str(), vm->program().name.c_str(), hash_hex(vm->hash()).c_str(),
                  vm->program().code.size(), s.packets.load(), s.passed.load(), s.dropped.load(),
                  s.modified.load(), s.redirected.load(), s.aborted.load(), ns, s.emitted.load(),
                  s.errors.load(), s.timer_runs.load(), at->timed_runs(), at->bytes(Verdict::Pass),
                  at->bytes(Verdict::Drop), capture_word(*at).c_str(),
                  iso_time(at->loaded_at()).c_str(), at->origin().c_str());
    text += "\n";
    text += line;
  }
  return json ? json_reply(rows) : ControlReply{0, text};
}

ControlReply Control::cmd_show(const std::vector<std::string>& w, bool json) {
  ControlReply err;
  size_t used;
  AttachPoint* at = point(w, used, err);
  if (!at) return err;
  if (w.size() != used) return fail(EINVAL, "expected [-j] " + opt_.point_syntax);
  Instance* vm = at->program();
  if (!vm) return fail(ENOENT, at->name() + " has no program");
  DisasmOptions opt;
  opt.loc = false;
  opt.pcs = true;
  if (vm->profiling()) opt.hits = vm->profile();
  std::string disassembly = disassemble(vm->program(), opt);
  if (json) {
    nlohmann::json lines = nlohmann::json::array();
    for (size_t start = 0; start < disassembly.size();) {
      size_t end = disassembly.find('\n', start);
      if (end == std::string::npos) end = disassembly.size();
      lines.push_back(disassembly.substr(start, end - start));
      start = end + 1;
    }
    return json_reply({{"point", at->name()},
                       {"program", vm->program().name},
                       {"hash", hash_hex(vm->hash())},
                       {"instructions", vm->program().code.size()},
                       {"runs_as", vm->runs_as()},
                       {"loaded", iso_time(at->loaded_at())},
                       {"from", at->origin()},
                       {"capture", capture_json(at->capture())},
                       {"profiling", vm->profiling()},
                       {"disassembly", lines}});
  }
  std::string text = "# runs as " + vm->runs_as() + "\n";
  text += "# loaded " + iso_time(at->loaded_at()) + " from " + at->origin() + "\n";
  if (const Capture* c = at->capture()) text += "# capture " + c->status() + "\n";
  text += disassembly;
  if (text.back() == '\n') text.pop_back();
  return {0, text};
}

ControlReply Control::cmd_profile(const std::vector<std::string>& w) {
  if (w.size() > 1 || (w.size() == 1 && w[0] != "0" && w[0] != "1"))
    return fail(EINVAL, "expected profile [0|1]");
  if (w.empty()) return {0, std::string("profiling ") + (profiling_ ? "on" : "off")};
  profiling_ = w[0] == "1";
  opt_.for_each([&](AttachPoint& at) {
    if (at.program()) at.program()->set_profiling(profiling_);
  });
  return {0, std::string("profiling ") + (profiling_ ? "on" : "off")};
}

ControlReply Control::cmd_table_list(const std::vector<std::string>& w, bool json) {
  ControlReply err;
  auto points = selection(w, err);
  if (!points) return err;
  std::string text = "POINT      TABLE            KIND  KEY VALUE     MAX ENTRIES";
  nlohmann::json rows = nlohmann::json::array();
  for (AttachPoint* point : *points) {
    AttachPoint& at = *point;
    Instance* vm = at.program();
    if (!vm) continue;
    for (size_t i = 0; i < vm->table_count(); ++i) {
      const Table& t = vm->table(i);
      const TableDecl& d = t.decl();
      if (json) {
        rows.push_back({{"point", at.name()},
                        {"table", d.name},
                        {"kind", table_kind_name(d.kind)},
                        {"key_size", d.key_size},
                        {"value_size", d.value_size},
                        {"max_entries", d.max_entries},
                        {"entries", t.size()}});
        continue;
      }
      char line[256];
      std::snprintf(line, sizeof line, "%-10s %-16s %-5s %3u %5u %7u %7zu", at.name().c_str(),
                    d.name.c_str(), table_kind_name(d.kind), d.key_size, d.value_size,
                    d.max_entries, t.size());
      text += "\n";
      text += line;
    }
  }
  return json ? json_reply(rows) : ControlReply{0, text};
}

Table* Control::table_of(const std::vector<std::string>& w, size_t extra, const std::string& syntax,
                         AttachPoint*& at, ControlReply& err) {
  size_t used;
  at = point(w, used, err);
  if (!at) return nullptr;
  if (w.size() != used + extra) {
    err = fail(EINVAL, "expected " + opt_.point_syntax + syntax);
    return nullptr;
  }
  if (!at->program()) {
    err = fail(ENOENT, at->name() + " has no program");
    return nullptr;
  }
  Table* t = at->program()->find_table(w[used]);
  if (!t) err = fail(ENOENT, at->name() + " has no table " + w[used]);
  return t;
}

namespace {

struct Entry {
  std::vector<uint8_t> key;
  uint32_t prefix;
  std::string text, value;
};

// A table's entries in key order (keys are big-endian bytes: numbers,
// addresses and prefixes sort as they read), arrays' unset indexes left out.
std::vector<Entry> sorted_entries(const Table& t) {
  std::vector<Entry> entries;
  const TableDecl& d = t.decl();
  t.for_each([&](std::span<const uint8_t> key, uint32_t prefix, std::span<const uint8_t> value) {
    if (d.kind == TableKind::Array &&
        std::all_of(value.begin(), value.end(), [](uint8_t b) { return !b; }))
      return;  // arrays have every index: show the set ones
    entries.push_back({{key.begin(), key.end()},
                       prefix,
                       format_key(d, key, prefix),
                       format_value(d, value.first(d.value_size))});
  });
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.key, a.prefix) < std::tie(b.key, b.prefix);
  });
  return entries;
}

// Whether an LPM entry's prefix holds the address.
bool holds(const Entry& e, const std::vector<uint8_t>& address) {
  for (uint32_t bit = 0; bit < e.prefix; ++bit) {
    const uint8_t mask = static_cast<uint8_t>(0x80u >> (bit % 8));
    if ((e.key[bit / 8] & mask) != (address[bit / 8] & mask)) return false;
  }
  return true;
}

}  // namespace

ControlReply Control::cmd_table_dump(const std::vector<std::string>& w, bool json) {
  ControlReply err;
  AttachPoint* at;
  Table* t = table_of(w, 1, " TABLE", at, err);
  if (!t) return err;
  const auto entries = sorted_entries(*t);
  if (json) {
    nlohmann::json list = nlohmann::json::array();
    for (const Entry& e : entries) list.push_back({{"key", e.text}, {"value", e.value}});
    return json_reply({{"point", at->name()},
                       {"table", t->decl().name},
                       {"kind", table_kind_name(t->decl().kind)},
                       {"count", entries.size()},
                       {"entries", list}});
  }
  // KEY VALUE lines, then how many (bpftool's "Found N elements").
  std::string text;
  for (const Entry& e : entries) text += e.text + " " + e.value + "\n";
  return {0, text + std::to_string(entries.size()) + (entries.size() == 1 ? " entry" : " entries")};
}

// One entry by its key; an address without a prefix in an LPM table finds
// the longest prefix that holds it, as a program's lookup does.
ControlReply Control::cmd_table_get(const std::vector<std::string>& w, bool json) {
  ControlReply err;
  AttachPoint* at;
  Table* t = table_of(w, 2, " TABLE KEY", at, err);
  if (!t) return err;
  const TableDecl& d = t->decl();
  const std::string& text = w.back();
  std::vector<uint8_t> key;
  uint32_t prefix = 0;
  std::string why;
  if (!parse_key(d, text, key, prefix, &why)) return fail(EINVAL, why);
  const bool lpm = d.kind == TableKind::Lpm4 || d.kind == TableKind::Lpm6;
  const bool longest = lpm && text.find('/') == std::string::npos;
  const Entry* found = nullptr;
  const auto entries = sorted_entries(*t);
  for (const Entry& e : entries)
    if (longest ? holds(e, key) && (!found || e.prefix > found->prefix)
                : e.key == key && (!lpm || e.prefix == prefix))
      found = &e;
  // An array's index is there even unset: its value is 0.
  Entry unset;
  if (!found && d.kind == TableKind::Array && t->lookup(key.data())) {
    unset = {key, 32, format_key(d, key, 0), format_value(d, std::vector<uint8_t>(d.value_size))};
    found = &unset;
  }
  if (!found) return fail(ENOENT, "no entry " + text + " in " + d.name);
  if (json)
    return json_reply({{"point", at->name()},
                       {"table", d.name},
                       {"lookup", text},
                       {"key", found->text},
                       {"value", found->value}});
  return {0, found->text + " " + found->value};
}

ControlReply Control::cmd_table_set(const std::vector<std::string>& w, bool del) {
  ControlReply err;
  size_t used;
  AttachPoint* at = point(w, used, err);
  if (!at) return err;
  size_t want = used + (del ? 2 : 3);
  if (w.size() != want)
    return fail(EINVAL,
                "expected " + opt_.point_syntax + (del ? " TABLE KEY" : " TABLE KEY VALUE"));
  if (!at->program()) return fail(ENOENT, at->name() + " has no program");
  Table* t = at->program()->find_table(w[used]);
  if (!t) return fail(ENOENT, at->name() + " has no table " + w[used]);
  std::vector<uint8_t> key;
  uint32_t prefix = 0;
  std::string why;
  if (!parse_key(t->decl(), w[used + 1], key, prefix, &why)) return fail(EINVAL, why);
  if (del) {
    if (!t->erase(key.data(), prefix)) return fail(ENOENT, "no entry " + w[used + 1]);
    return {0, "deleted " + w[used + 1]};
  }
  std::vector<uint8_t> value;
  if (!parse_value(t->decl(), w[used + 2], value, &why)) return fail(EINVAL, why);
  if (!t->update(key.data(), value.data(), prefix))
    return fail(ENOSPC, "table " + w[used] + " is full (or the key is out of range)");
  return {0, "set " + w[used + 1] + " " + w[used + 2]};
}

ControlReply Control::cmd_budget(const std::vector<std::string>& w) {
  if (w.empty())
    return {0, "budget " + std::to_string(opt_.limits.budget) + " instructions per packet"};
  char* end = nullptr;
  unsigned long long n = w.size() == 1 ? std::strtoull(w[0].c_str(), &end, 10) : 0;
  if (w.size() != 1 || !end || *end || n == 0 || n > 100000000ull)
    return fail(EINVAL, "expected budget [N] (1..100000000 instructions per packet)");
  opt_.limits.budget = n;
  opt_.for_each([&](AttachPoint& at) {
    if (Instance* vm = at.program()) {
      Limits l = vm->limits();
      l.budget = n;
      vm->set_limits(l);
    }
  });
  return {0, "budget " + std::to_string(n) + " instructions per packet"};
}

ControlReply Control::cmd_onabort(const std::vector<std::string>& w) {
  if (w.empty())
    return {0, std::string("stopped runs ") +
                   (opt_.limits.on_abort == Verdict::Drop ? "drop" : "pass")};
  if (w.size() != 1 || (w[0] != "pass" && w[0] != "drop"))
    return fail(EINVAL, "expected onabort [pass|drop]");
  Verdict v = w[0] == "pass" ? Verdict::Pass : Verdict::Drop;
  opt_.limits.on_abort = v;
  opt_.for_each([&](AttachPoint& at) {
    if (Instance* vm = at.program()) {
      Limits l = vm->limits();
      l.on_abort = v;
      vm->set_limits(l);
    }
  });
  return {0, "stopped runs " + w[0]};
}

ControlReply Control::cmd_reset(const std::vector<std::string>& w) {
  ControlReply err;
  auto points = selection(w, err);
  if (!points) return err;
  std::string names;
  for (AttachPoint* at : *points) {
    Instance* vm = at->program();
    if (!vm) continue;
    vm->stats().reset();
    at->reset_timing();
    at->reset_bytes();
    if (vm->profiling()) vm->set_profiling(false), vm->set_profiling(true);
    names += (names.empty() ? "" : ", ") + at->name();
  }
  if (names.empty() && w.empty()) return {0, "no programs: nothing to reset"};
  if (names.empty()) return fail(ENOENT, "no program there: nothing reset");
  return {0, "counters reset: " + names};
}

// What `ip broadcast` and the like compile with, as pcap_compile's netmask;
// the host's compile_filter gets it with every later filter.
ControlReply Control::cmd_netmask(const std::vector<std::string>& w) {
  auto dotted = [](uint32_t m) {
    return std::to_string(m >> 24) + "." + std::to_string(m >> 16 & 0xff) + "." +
           std::to_string(m >> 8 & 0xff) + "." + std::to_string(m & 0xff);
  };
  if (w.empty())
    return {0, "netmask " + dotted(netmask_) +
                   (netmask_ ? "" : " (tcpdump -r's: ip broadcast is 255.255.255.255 or 0.0.0.0)")};
  const auto mask = w.size() == 1 ? parse_ipv4(w[0]) : std::nullopt;
  // Ones then zeros: ~mask + 1 is a power of two (or 0 for 255.255.255.255).
  const auto inverse = static_cast<uint32_t>(~(mask ? *mask : 0));
  if (!mask || (inverse & (inverse + 1)) != 0)
    return fail(EINVAL, "expected netmask [A.B.C.D], a netmask such as 255.255.255.0");
  netmask_ = static_cast<uint32_t>(*mask);
  return {0, "netmask " + dotted(netmask_) + " for the filters loaded from now on"};
}

namespace {

// COUNT (frames) or SIZE (bytes, with k, M or G: 1024, 1024^2, 1024^3), as
// `capture` takes its bounds: the number and whether it is a size; nullopt
// when the word is neither.
std::optional<std::pair<uint64_t, bool>> capture_bound(const std::string& word) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long n = std::strtoull(word.c_str(), &end, 10);
  if (word.empty() || !std::isdigit(static_cast<unsigned char>(word[0])) || errno || n == 0)
    return std::nullopt;
  const std::string_view unit(end);
  if (unit.empty()) return std::pair<uint64_t, bool>{n, false};
  const std::string_view units = "kmg";
  const size_t power = unit.size() == 1 ? units.find(static_cast<char>(std::tolower(unit[0])))
                                        : std::string_view::npos;
  if (power == std::string_view::npos || n > (uint64_t{1} << 30)) return std::nullopt;
  return std::pair<uint64_t, bool>{n << (10 * (power + 1)), true};
}

}  // namespace

bool is_capture_bound(const std::string& word) { return capture_bound(word).has_value(); }

std::unique_ptr<Capture> make_capture(const std::string& what,
                                      const std::vector<std::string>& bounds, std::string* why) {
  auto c = std::make_unique<Capture>();
  c->what = what;
  if (what == "pass")
    c->verdicts = 1u << static_cast<unsigned>(Verdict::Pass);
  else if (what == "drop")
    c->verdicts = 1u << static_cast<unsigned>(Verdict::Drop);
  else if (what == "all")
    c->verdicts = 0xff;
  else
    return *why = "what to capture is pass, drop or all, not '" + what + "'", nullptr;
  c->max_bytes = Control::kDefaultCaptureBytes;
  bool count_given = false, size_given = false;
  for (const std::string& word : bounds) {
    const auto bound = capture_bound(word);
    bool& given = bound && bound->second ? size_given : count_given;
    if (!bound || given)
      return *why = "'" + word +
                    "' is no bound: COUNT is a number of frames, SIZE a number of bytes ending in "
                    "k, M or G (at most one of each)",
             nullptr;
    given = true;
    (bound->second ? c->max_bytes : c->max_frames) = bound->first;
  }
  return c;
}

std::vector<std::string> Control::capture_lines() {
  std::vector<std::string> lines;
  opt_.for_each([&](AttachPoint& at) {
    if (at.capture()) lines.push_back(at.name() + ": " + at.capture()->status());
  });
  return lines;
}

std::vector<std::string> Control::stop_captures(const std::string& why) {
  std::vector<std::string> lines;
  opt_.for_each([&](AttachPoint& at) {
    if (!at.capturing()) return;
    auto c = at.stop_capture(why);
    lines.push_back(at.name() + ": " + c->status());
  });
  return lines;
}

// netcpu/capture [POINT [pass|drop|all FILE [COUNT] [SIZE] | off]]: a
// capture belongs to the point, not to its program, and goes on across
// loads. One file per capture; a file that is there and is no capture (a
// program, say, named by mistake) is the sink's to refuse.
ControlReply Control::cmd_capture(std::string_view args) {
  const std::vector<std::string> w = split_words(args);
  const std::string syntax =
      "expected capture [" + opt_.point_syntax + " [pass|drop|all FILE [COUNT] [SIZE]|off]]";
  if (w.empty()) {
    std::string text;
    for (const std::string& line : capture_lines()) text += (text.empty() ? "" : "\n") + line;
    return {0, text.empty() ? "no captures" : text};
  }
  ControlReply err;
  size_t used;
  AttachPoint* at = point(w, used, err);
  if (!at) return err;
  if (w.size() == used) {
    if (!at->capture()) return {0, at->name() + ": no capture"};
    return {0, at->name() + ": " + at->capture()->status()};
  }
  if (w[used] == "off") {
    if (w.size() != used + 1) return fail(EINVAL, syntax);
    auto c = at->stop_capture("stopped by netcpu/capture off");
    if (!c) return fail(ENOENT, at->name() + " has no capture");
    return {c->failed ? EIO : 0, at->name() + ": " + c->status()};
  }
  // FILE, quoted when it has blanks, then the bounds.
  std::string_view rest = after_words(args, used + 1);
  std::string file;
  if (!rest.empty() && (rest.front() == '"' || rest.front() == '\'')) {
    const size_t close = rest.find(rest.front(), 1);
    if (close == std::string_view::npos) return fail(EINVAL, syntax + ": unmatched quote");
    file = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
  } else {
    file = rest.substr(0, rest.find_first_of(" \t"));
    rest = rest.substr(file.size());
  }
  if (file.empty()) return fail(EINVAL, syntax);
  std::string why;
  auto c = make_capture(w[used], split_words(rest), &why);
  if (!c) return fail(EINVAL, syntax + ": " + why);
  std::string relative;
  c->file = host_path(file, &relative);
  std::string busy;
  opt_.for_each([&](AttachPoint& other) {
    if (other.capturing() && other.capture()->file == c->file) busy = other.name();
  });
  if (at->capturing())
    return fail(EBUSY, at->name() + " is capturing already (" + at->capture()->status() +
                           "): netcpu/capture " + at->name() + " off first");
  if (!busy.empty())
    return fail(EBUSY, c->file + " is the capture file of " + busy + ": nothing captured");
  int error = EIO;
  c->sink = opt_.open_capture(c->file, &error, &why);
  if (!c->sink)
    return fail(error, "capture file " + c->file + relative + ": " + why + "; nothing captured");
  std::string text = "capturing " + c->what + " frames of " + at->name() + " to " + c->file;
  if (!at->program()) text += " (no program there yet: its frames are captured once one runs)";
  at->start_capture(std::move(c));
  return {0, text + "\n" + at->name() + ": " + at->capture()->status()};
}

std::string drop_line(std::string_view where, const Instance& vm, const RunResult& r,
                      std::span<const uint8_t> frame) {
  std::string line = std::string(where) + ": " + vm.program().name + " dropped " +
                     std::to_string(frame.size()) + " bytes";
  if (r.aborted) line += std::string(" (") + abort_reason_name(r.reason) + ")";
  return line + ": " + packet_summary(frame, vm.caps().link);
}

// ---- base64 -------------------------------------------------------------

std::optional<std::vector<uint8_t>> decode_base64(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::vector<uint8_t> out;
  uint32_t acc = 0;
  int bits = 0;
  size_t i = 0;
  for (; i < text.size() && text[i] != '='; ++i) {
    int v = value(text[i]);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits));
    }
  }
  for (; i < text.size(); ++i)
    if (text[i] != '=') return std::nullopt;
  return out;
}

std::string encode_base64(const std::vector<uint8_t>& bytes) {
  static const char* const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    for (int k = 18; k >= 0; k -= 6) out += abc[(v >> k) & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = bytes[i] << 16;
    if (i + 1 < bytes.size()) v |= bytes[i + 1] << 8;
    out += abc[(v >> 18) & 63];
    out += abc[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? abc[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace netcpu
