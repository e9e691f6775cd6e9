// The lwIPv6 soak: one netcpu-lwip-node process (the sender) on a
// vde_switch, sending 16 TCP transfers one after another to a sink, sized to
// last as long as asked, while its programs are hot-swapped every few
// milliseconds and its console takes garbage and random valid commands.
//
// Every byte intact. The sender's data bytes have bit 7 set (--mark); its
// post_routing program clears it and recomputes the TCP checksum, and the
// sink answers "got N ok" only if every byte i of a transfer is i % 127. A
// segment that ran through no program, or through half of one, arrives
// marked (with a right checksum) and the sink answers "bad"; one that ran
// through two is harmless (clearing twice). post_routing is swapped among
// several programs that all unmark (native, interpreted, with tables and a
// timer), and is never left empty; local_in and local_out are swapped among
// programs that count (natively, in a table, as a tcpdump filter) or left
// empty. None drops: when a segment is lost, lwIPv6 1.5a's sending stack
// crashes in its retransmission (docs/soak.md); the switch soak is where
// programs drop.
//
// The process. Its RSS and open descriptors are read every second (the
// garbage connection closed for the reading); the baseline is the first
// reading after the warm-up. It must finish every transfer and exit 0.
#include <fstream>
#include <iostream>
#include <sstream>

#include "lwip_node_process.h"
#include "soak_common.h"

namespace netcpu::soak {
namespace {

using test::Console;
using test::LwipNode;
using test::NodeRun;
using test::Reply;
using test::VdeSwitch;

// The console closes a connection when its thread reads the end of it, which
// may come after a reading: each of the soak's two console feeders (garbage,
// commands) may have one open and one being closed. A leak grows past any
// constant; this only keeps a reading taken mid-connection from failing.
constexpr long kFdSlack = 4;

struct Program {
  std::string name, text, file;
  bool filter = false;  // text is a tcpdump expression
  bool counts = false;  // counts every packet in table `seen`
  size_t loads = 0;
  std::string runs_as{};
};
Program make(std::string name, std::string text, bool filter = false) {
  Program p;
  p.name = std::move(name);
  p.text = std::move(text);
  p.filter = filter;
  return p;
}

// Clears bit 7 of every payload byte of a TCP segment to port 9 and
// recomputes the TCP checksum. `wide`: eight bytes at a time first.
std::string unmark_source(const std::string& name, bool wide, bool table, bool timer,
                          bool unmark = true) {
  std::string s = ".name \"" + name + "\"\n";
  if (table || timer)
    s += ".data:\ntable segments hash key 1 value 8 max 4\ntable scratch hash key 2 value 8 max "
         "64\n";
  if (timer) s += "num ticks 0\n";
  s += ".text:\n"
       "    bne ip.proto, PROTO_TCP, done\n"
       "    bne l4.dport, 9, done\n";
  if (table) s += "    tadd segments, 1, 1\n";
  s += "    mov gpr1, payload\n";
  if (unmark && wide)
    s += "words:\n"
         "    mov gpr2, gpr1\n"
         "    add gpr2, 8\n"
         "    bgtu gpr2, mlen, bytes\n"
         "    mov gpr0, pkt.u64[gpr1]\n"
         "    and gpr0, 0x7f7f7f7f7f7f7f7f\n"
         "    mov pkt.u64[gpr1], gpr0\n"
         "    mov gpr1, gpr2\n"
         "    jmp words\n";
  if (unmark)
    s += "bytes:\n"
         "    bgeu gpr1, mlen, cleared\n"
         "    mov gpr0, pkt.u8[gpr1]\n"
         "    and gpr0, 0x7f\n"
         "    mov pkt.u8[gpr1], gpr0\n"
         "    add gpr1, 1\n"
         "    jmp bytes\n";
  s += "cleared:\n"
       "    csum l4\n"
       "done:\n"
       "    pass\n";
  if (timer)
    s += ".timer tick 1000ms:\n"
         "    add ticks, 1\n"
         "    tadd scratch, 1, 1\n"
         "    end\n";
  return s;
}

// Counts every packet in table `seen`.
std::string table_counter_source(const std::string& name) {
  return ".name \"" + name +
         "\"\n"
         ".data:\n"
         "table seen hash key 1 value 8 max 4\n"
         "table scratch hash key 2 value 8 max 64\n"
         ".text:\n"
         "    tadd seen, 0, 1\n"
         "    pass\n";
}

std::string counter_source(const std::string& name) {
  return ".name \"" + name +
         "\"\n"
         ".data:\n"
         "num packets 0\n"
         "num bytes 0\n"
         ".text:\n"
         "    add packets, 1\n"
         "    add bytes, mlen\n"
         "    pass\n";
}

// Sizes the transfers: the rate of one transfer without the soak's load.
double measure_rate(const VdeSwitch& sw) {
  NodeRun r = test::run_node(sw, {"--addr", "10.0.0.3/24", "--send", "10.0.0.1,9,2000000"}, 60s);
  size_t at = r.out.find(" MB/s");
  size_t from = r.out.rfind(", ", at);
  if (r.status != 0 || at == std::string::npos || from == std::string::npos)
    throw std::runtime_error("a transfer without programs failed: " + r.describe());
  return std::stod(r.out.substr(from + 2, at - from - 2)) * 1e6;
}

class LwipSoak {
 public:
  explicit LwipSoak(const SoakOptions& o) : o_(o), rng_(o.seed) {}
  int run();

 private:
  void swap_loop();
  void load(const std::string& hook, Program& p);
  void sample(double elapsed);
  int report(int exit_status, const std::string& output);

  SoakOptions o_;
  Verdict verdict_;
  std::mt19937_64 rng_;
  std::unique_ptr<VdeSwitch> sw_;
  std::unique_ptr<LwipNode> sink_, sender_;
  std::unique_ptr<Console> con_;
  std::vector<Program> unmarkers_, counters_;
  std::mutex state_mu_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> post_loads_{0}, local_loads_{0}, unloads_{0};
  uint64_t transfer_bytes_ = 0;
  double rate_ = 0;
  size_t transfers_ = 0;
  ProcessWatch watch_;
  long baseline_fds_ = -1;
  int64_t start_ns_ = 0, end_ns_ = 0;
  std::string commands_summary_, garbage_summary_;
};

constexpr int kTransfers = 16;  // netcpu-lwip-node runs at most 16 client steps

void LwipSoak::load(const std::string& hook, Program& p) {
  std::string cmd =
      (p.filter ? "netcpu/filter " : "netcpu/load ") + hook + " " + (p.filter ? p.text : p.file);
  std::lock_guard lock(state_mu_);
  Reply r = con_->cmd(cmd);
  if (!r.ok()) {
    verdict_.fail("'" + cmd + "' failed:\n" + r.text());
    return;
  }
  ++p.loads;
  ++(hook == "post_routing" ? post_loads_ : local_loads_);
}

void LwipSoak::swap_loop() {
  try {
    while (!stop_) {
      uint64_t pick = rng_() % 10;
      if (pick < 5) {
        // The sabotaged program, when there is one, every other time.
        size_t i =
            !o_.sabotage.empty() && rng_() % 2 ? unmarkers_.size() - 1 : rng_() % unmarkers_.size();
        load("post_routing", unmarkers_[i]);
      } else {
        std::string hook = pick % 2 ? "local_in" : "local_out";
        if (pick == 9) {
          std::lock_guard lock(state_mu_);
          if (con_->cmd("netcpu/unload " + hook).ok()) ++unloads_;
        } else {
          load(hook, counters_[rng_() % counters_.size()]);
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(o_.swap_ms));
    }
  } catch (const std::exception& e) {
    // The console goes away with the process after its last transfer.
    if (!stop_ && sample_process(sender_->pid()).rss_kib >= 0)
      verdict_.fail(std::string("hot swaps: ") + e.what());
  }
}

void LwipSoak::sample(double elapsed) {
  ProcessSample s = sample_process(sender_->pid());
  if (s.rss_kib < 0) return;  // it has just exited
  watch_.add(s);
  if (!watch_.have_baseline) {
    if (elapsed >= std::max(2.0, o_.seconds / 10)) {
      watch_.have_baseline = true;
      watch_.baseline = s;
      watch_.rss_max_kib = s.rss_kib;
      baseline_fds_ = s.fds;
    }
  } else if (s.fds > baseline_fds_ + kFdSlack) {
    verdict_.fail("the lwIPv6 process has " + std::to_string(s.fds) + " open descriptors at " +
                  std::to_string(static_cast<int>(elapsed)) + " s, " +
                  std::to_string(baseline_fds_) + " at the baseline");
  }
  if (o_.verbose)
    std::cerr << "at " << elapsed << " s: rss " << s.rss_kib << " KiB, fds " << s.fds << "\n";
}

int LwipSoak::run() {
  if (!on_path("vde_switch")) {
    std::cout << "SKIP: vde_switch is not on PATH (Debian package vde2)\n";
    return kSkip;
  }
  if (access(NETCPU_LWIP_NODE, X_OK) != 0) {
    std::cout << "SKIP: " NETCPU_LWIP_NODE " is not built (it needs liblwipv6)\n";
    return kSkip;
  }
  sw_ = std::make_unique<VdeSwitch>();
  try {
    sink_ = std::make_unique<LwipNode>(
        *sw_, std::vector<std::string>{"--addr", "10.0.0.1/24", "--sink", "9"}, "sink");
  } catch (const std::exception& e) {
    std::string what = e.what();
    if (what.find("liblwipv6") != std::string::npos) {
      std::cout << "SKIP: the lwIPv6 node cannot start: " << what << "\n";
      return kSkip;
    }
    throw;
  }
  rate_ = measure_rate(*sw_);
  // The transfers under the soak's load run slower than the measured one:
  // they end later than asked rather than sooner.
  transfer_bytes_ = std::max<uint64_t>(
      1'000'000, static_cast<uint64_t>(rate_ * o_.seconds / kTransfers / 1e6) * 1'000'000);

  auto write = [&](Program p) {
    p.file = sw_->dir() + "/" + p.name + ".ncpu";
    std::ofstream(p.file) << p.text;
    return p;
  };
  unmarkers_.push_back(
      write(make("unmark_bytes", unmark_source("unmark_bytes", false, false, false))));
  unmarkers_.push_back(
      write(make("unmark_words", unmark_source("unmark_words", true, false, false))));
  unmarkers_.push_back(
      write(make("unmark_table", unmark_source("unmark_table", false, true, false))));
  unmarkers_.push_back(
      write(make("unmark_timer", unmark_source("unmark_timer", true, true, true))));
  if (o_.sabotage == "unmarked")  // leaves the bytes marked, with a right checksum
    unmarkers_.push_back(
        write(make("unmark_nothing", unmark_source("unmark_nothing", false, false, false, false))));
  counters_.push_back(write(make("counter", counter_source("counter"))));
  counters_.push_back(write(make("table_counter", table_counter_source("table_counter"))));
  counters_.push_back(make("filter_ip", "ip or ip6", /*filter=*/true));

  std::vector<std::string> args = {"--addr",
                                   "10.0.0.2/24",
                                   "--mark",
                                   "--timeout",
                                   "60",
                                   "--load",
                                   "post_routing=" + unmarkers_[0].file};
  for (int i = 0; i < kTransfers; ++i) {
    args.push_back("--send");
    args.push_back("10.0.0.1,9," + std::to_string(transfer_bytes_));
  }
  start_ns_ = now_ns();
  sender_ = std::make_unique<LwipNode>(*sw_, args, "sender");
  con_ = std::make_unique<Console>(sender_->console_path(), 20s);
  for (auto* set : {&unmarkers_, &counters_}) {  // how each runs, with profiling off
    for (Program& p : *set) {
      std::string hook = set == &unmarkers_ ? "post_routing" : "local_in";
      load(hook, p);
      Reply show = con_->cmd_ok("netcpu/show " + hook);
      p.runs_as = show.data.empty() ? "?" : show.data.front();
      if (p.runs_as.rfind("# runs as ", 0) == 0) p.runs_as = p.runs_as.substr(10);
    }
  }

  Garbage::Source gs;
  gs.readonly_commands = {"netcpu/list",       "netcpu/show post_routing",
                          "netcpu/table/list", "netcpu/table/dump local_in seen",
                          "netcpu/budget",     "help",
                          "netcpu/stack"};
  gs.overlong_prefix = "netcpu/filter post_routing host 10.9.9.9";  // would stop the transfer
  gs.overlong_repeat = " or host 10.9.9.9";
  gs.continued = "netcpu/netmask";
  gs.line_limit = 4096;
  int exit_status = -1;
  {
    GarbageFeeder garbage(sender_->console_path(), gs, rng_(), verdict_);
    CommandFeeder commands(sender_->console_path(),
                           {"netcpu/list",
                            "netcpu/list post_routing",
                            "netcpu/list local_in",
                            "netcpu/show local_out",
                            "netcpu/show post_routing",
                            "netcpu/table/list",
                            "netcpu/table/dump local_in seen",
                            "netcpu/table/dump post_routing segments",
                            "netcpu/table/set post_routing scratch 7 9",
                            "netcpu/table/del post_routing scratch 7",
                            "netcpu/table/set local_out scratch 1 2",
                            "netcpu/budget",
                            "netcpu/budget 100000",
                            "netcpu/onabort",
                            "netcpu/onabort pass",
                            "netcpu/profile",
                            "netcpu/profile 1",
                            "netcpu/profile 0",
                            "netcpu/reset local_in",
                            "netcpu/reset",
                            "netcpu/netmask",
                            "netcpu/stack",
                            "debug/add netcpu/log",
                            "debug/del netcpu/log",
                            "help"},
                           rng_(), verdict_, state_mu_);
    auto alive = [this] { return sample_process(sender_->pid()).rss_kib >= 0; };
    garbage.set_host_alive(alive);
    commands.set_host_alive(alive);
    std::thread swapper([this] { swap_loop(); });
    auto next = Clock::now();
    const auto give_up = Clock::now() + std::chrono::duration<double>(o_.seconds * 4 + 120);
    // Not LwipNode::alive(), which reaps the process and loses its status.
    auto running = [&] {
      std::string stat = test::read_file("/proc/" + std::to_string(sender_->pid()) + "/stat");
      size_t paren = stat.rfind(')');
      return paren != std::string::npos && stat.size() > paren + 2 && stat[paren + 2] != 'Z';
    };
    while (running() && Clock::now() < give_up && !stop_requested()) {
      next += 1s;
      std::this_thread::sleep_until(next);
      garbage.pause();
      sample(static_cast<double>(now_ns() - start_ns_) / 1e9);
      garbage.resume();
    }
    stop_ = true;
    swapper.join();
    end_ns_ = now_ns();
    commands_summary_ = std::to_string(commands.commands()) + " random valid commands (" +
                        std::to_string(commands.failed()) + " answered with an error)";
    garbage_summary_ = garbage.summary();
  }
  con_.reset();
  exit_status = sender_->wait(stop_requested() ? 0s : 10s);  // stopped: no transfer to finish
  std::string output = sender_->output();
  for (size_t at = 0; (at = output.find("got " + std::to_string(transfer_bytes_) + " ok", at)) !=
                      std::string::npos;
       ++at)
    ++transfers_;
  if (exit_status != 0 || transfers_ != kTransfers)
    verdict_.fail("the lwIPv6 process exited with " + std::to_string(exit_status) + " after " +
                  std::to_string(transfers_) + " of " + std::to_string(kTransfers) +
                  " transfers delivered intact:\n" + output.substr(0, 4000));
#if !defined(NETCPU_SANITIZE_BUILD)
  if (watch_.have_baseline && watch_.rss_max_kib - watch_.baseline.rss_kib > kRssBoundKib)
    verdict_.fail("the lwIPv6 process's RSS grew from " + kib_text(watch_.baseline.rss_kib) +
                  " to " + kib_text(watch_.rss_max_kib) + ", more than the bound of " +
                  kib_text(kRssBoundKib));
#endif
  return report(exit_status, output);
}

int LwipSoak::report(int exit_status, const std::string&) {
  char minutes[32];
  std::snprintf(minutes, sizeof minutes, "%.2f", static_cast<double>(end_ns_ - start_ns_) / 60e9);
  std::vector<std::string> lines;
  lines.push_back("minutes: " + std::string(minutes) + " (seed " + std::to_string(o_.seed) +
                  ", a swap every " + std::to_string(o_.swap_ms) + " ms)");
  lines.push_back("transfers: " + std::to_string(transfers_) + " of " + std::to_string(kTransfers) +
                  " TCP transfers of " + std::to_string(transfer_bytes_) +
                  " bytes delivered intact (" + std::to_string(transfers_ * transfer_bytes_) +
                  " bytes, each checked by the sink; sized from " +
                  std::to_string(static_cast<int>(rate_ / 1e3)) + " kB/s measured without load)");
  lines.push_back("swaps: " + std::to_string(post_loads_) + " loads on post_routing, " +
                  std::to_string(local_loads_) + " on local_in and local_out, " +
                  std::to_string(unloads_) + " unloads");
  for (const auto* set : {&unmarkers_, &counters_})
    for (const Program& p : *set)
      lines.push_back("  " + p.name + ": " + std::to_string(p.loads) + " loads, runs as " +
                      p.runs_as + " with profiling off");
  lines.push_back("console: garbage " + garbage_summary_ + "; " + commands_summary_);
  std::string rss = "RSS " + kib_text(watch_.start.rss_kib) + " at the first second, " +
                    kib_text(watch_.baseline.rss_kib) + " after the warm-up, " +
                    kib_text(watch_.last.rss_kib) + " at the last (at most " +
                    kib_text(watch_.rss_max_kib) + "; bound: baseline + " + kib_text(kRssBoundKib);
#if defined(NETCPU_SANITIZE_BUILD)
  rss += kRssNotHeldInSanitizerBuilds;
#endif
  lines.push_back("lwIPv6 process: exit status " + std::to_string(exit_status) + "; " + rss +
                  "); open descriptors " + std::to_string(watch_.start.fds) +
                  " at the first second, " + std::to_string(baseline_fds_) +
                  " after the warm-up, " + std::to_string(watch_.last.fds) +
                  " at the last (bound: the baseline's + " + std::to_string(kFdSlack) + ")");
  return finish("soak lwip", lines, verdict_, o_);
}

}  // namespace

int run_lwip_soak(const SoakOptions& o) { return LwipSoak(o).run(); }

}  // namespace netcpu::soak
