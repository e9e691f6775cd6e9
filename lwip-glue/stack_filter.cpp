// StackFilter: NetCPU's handler at the five userfilter hooks of one lwIPv6
// stack, the programs those hooks run (each hook's own, and those of the
// points that cover two hooks: local, edge), and the thread that serves the
// stack's console and runs its timer handlers.
//
// Locking: lwIPv6 walks its handler list under a stack-wide semaphore, so
// handlers stay registered for the StackFilter's whole life and a hot swap
// replaces the program behind them. The attach points are guarded by `mu`,
// taken by every packet (uncontended: lwIPv6 runs one hook at a time per
// stack), by console commands and by timers. Nothing that holds `mu` calls
// into lwIPv6, so the two locks are always taken in the same order.
#include <pthread.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

// clang-format off
#include <utility>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
// clang-format on

#include "control_console.h"
#include "lwip_abi.h"
#include "mgmt_console.h"
#include "netcpu/bytecode.h"
#include "netcpu/clock.h"
#include "netcpu/control.h"
#include "netcpu/drop_line.h"
#include "netcpu/file.h"
#include "netcpu/lwip.hpp"
#include "netcpu/version.h"

namespace netcpu::lwip {
namespace asio = boost::asio;

// lwIPv6's hook numbers are the core's Hook values of its hooks (a
// program's `hook` is the number lwIPv6 runs it at), and the API's.
static_assert(static_cast<int>(HookPoint::PreRouting) == static_cast<int>(Hook::PreRouting));
static_assert(static_cast<int>(HookPoint::LocalIn) == static_cast<int>(Hook::LocalIn));
static_assert(static_cast<int>(HookPoint::Forward) == static_cast<int>(Hook::Forward));
static_assert(static_cast<int>(HookPoint::LocalOut) == static_cast<int>(Hook::LocalOut));
static_assert(static_cast<int>(HookPoint::PostRouting) == static_cast<int>(Hook::PostRouting));
static_assert(kHookCount == static_cast<int>(HookPoint::PostRouting) + 1);
static_assert(kPointCount == static_cast<int>(HookPoint::Edge) + 1);

namespace {

constexpr std::array<const char*, kPointCount> kHookNames = {
    "pre_routing", "local_in", "forward", "local_out", "post_routing", "local", "edge"};

// The two-hook point that also runs at lwIPv6 hook `hooknum`, if any.
constexpr std::array<int, kHookCount> kSharedPoint = {
    static_cast<int>(HookPoint::Edge), static_cast<int>(HookPoint::Local), -1,
    static_cast<int>(HookPoint::Local), static_cast<int>(HookPoint::Edge)};
constexpr auto kTick = std::chrono::milliseconds(100);
using console::kDropCategory;
using console::kLogCategory;

abi::hookfun on_hook;

// Whether ip_output_if is about to fragment the packet, and if so whether
// the hook could give it a copy (copy_for_fragmentation).
enum class Fragmenting { NotNeeded, Copy, NoCopy };

// The one console command that is the host's rather than Control's.
const struct {
  std::string_view name, syntax, help;
} kStackCommand = {"netcpu/stack", "",
                   "packets the hooks ran programs on; how many spanned a pbuf chain; how "
                   "many went to lwIPv6's fragmentation as a copy"};

}  // namespace

const char* hook_name(HookPoint h) { return kHookNames[static_cast<size_t>(h)]; }

std::optional<HookPoint> parse_hook(std::string_view name) {
  for (size_t i = 0; i < kHookNames.size(); ++i) {
    std::string_view n = kHookNames[i];
    if (name.size() != n.size()) continue;
    bool same = true;
    for (size_t k = 0; k < n.size() && same; ++k)
      same = std::tolower(static_cast<unsigned char>(name[k])) == n[k];
    if (same) return static_cast<HookPoint>(i);
  }
  return std::nullopt;
}

struct StackFilter::Impl {
  explicit Impl(struct stack* s);
  ~Impl();

  int on_packet(int hooknum, abi::pbuf& p, Fragmenting f);
  void output_line(const AttachPoint& at, std::string_view line);
  // A console line; `session` names the console connection it came on (0:
  // the API's StackFilter::command).
  Reply execute(std::string_view line, int session = 0);
  Reply locked_load(HookPoint h, std::vector<uint8_t> bytes, const std::string& name);
  void tick();
  void arm_ticker();
  Reply on_io_thread(std::function<Reply()> fn);

  struct stack* stack;
  std::mutex mu;
  std::array<AttachPoint, kPointCount> points{
      AttachPoint(kHookNames[0]), AttachPoint(kHookNames[1]), AttachPoint(kHookNames[2]),
      AttachPoint(kHookNames[3]), AttachPoint(kHookNames[4]), AttachPoint(kHookNames[5]),
      AttachPoint(kHookNames[6])};
  std::array<abi::uf_hook_handler, kHookCount> handlers{};
  std::array<bool, kHookCount> registered{};
  std::unique_ptr<Control> control;
  // A packet spread over a pbuf chain is gathered here, and scattered back
  // if the program rewrote it.
  std::vector<uint8_t> scratch = std::vector<uint8_t>(65535);
  Output output;
  // What `netcpu/stack` reports: packets the hooks ran a program on, and
  // those that spanned a pbuf chain or did not look like a pbuf; packets
  // handed to lwIPv6's fragmentation as a copy, and those dropped for want
  // of memory for one.
  uint64_t runs = 0, chained_runs = 0, malformed = 0, fragment_copies = 0,
           fragment_copies_missed = 0;

  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
  asio::steady_timer ticker{io};
  std::unique_ptr<console::MgmtConsole> console;  // replaced on the io thread, under mu
  std::thread io_thread;
};

namespace {

// Which StackFilter a stack has: the hook gets only the stack pointer.
// Lock-free for readers (every packet); writers hold g_registry_mu.
constexpr size_t kMaxStacks = 64;
struct Slot {
  std::atomic<struct stack*> stack{nullptr};
  std::atomic<StackFilter::Impl*> impl{nullptr};
};
std::array<Slot, kMaxStacks> g_slots;
std::mutex g_registry_mu;

StackFilter::Impl* find_impl(struct stack* s) {
  for (Slot& slot : g_slots)
    if (slot.stack.load(std::memory_order_acquire) == s)
      return slot.impl.load(std::memory_order_acquire);
  return nullptr;
}

// Copies len bytes between a pbuf chain and a flat buffer; returns how many
// the chain held (less than len only for a chain shorter than it claims).
enum ChainCopy { kFromChain, kToChain };
uint32_t copy_chain(abi::pbuf& p, uint8_t* flat, uint32_t len, ChainCopy dir) {
  uint32_t done = 0;
  for (abi::pbuf* q = &p; q && done < len; q = q->next) {
    uint32_t n = std::min<uint32_t>(q->len, len - done);
    if (dir == kFromChain)
      std::memcpy(flat + done, q->payload, n);
    else
      std::memcpy(q->payload, flat + done, n);
    done += n;
  }
  return done;
}

// lwIPv6 1.5a's ip4_frag and ip6_frag consume the pbuf they cut into
// fragments: they advance the payload and shorten the length of the pieces
// they read and leave tot_len alone. TCP keeps that pbuf to send again, so a
// lost segment larger than the MTU (every full one: its MSS is 1488) was
// sent again from a chain shorter than it claims, and the stack read a null
// pbuf (SIGSEGV in copy_from_pbuf). Given a copy instead, TCP's own stays
// whole. Only ip_output_if may be given another pbuf (ip_forward goes on
// reading the one it has), and only ip_output_if runs local_out and then
// post_routing on the same pbuf with no hook between: the thread's last
// local_out pbuf tells the two apart.
thread_local const abi::pbuf* t_local_out = nullptr;

// The copies' bytes. A copy is a PBUF_REF pbuf over one of these, as
// ip4_frag's own fragments are: no heap (where TCP's queue may have left no
// room), and lwIPv6 frees the pbuf at the end of ip_output_if on this
// thread. A ring, so that a send nested in another cannot reuse a buffer
// still in use.
struct CopyBuffers {
  std::array<std::array<uint8_t, 65536>, 4> bytes;
  size_t next = 0;
};
thread_local std::unique_ptr<CopyBuffers> t_copy_buffers;

// Puts a copy of *p in its place if it is larger than out's MTU. Without a
// pbuf for it the packet must not go on (lost, TCP sends it again).
Fragmenting copy_for_fragmentation(abi::pbuf** p, const struct netif* out) {
  const uint16_t size = (*p)->tot_len;
  if (out == nullptr || size <= abi::netif_mtu(out)) return Fragmenting::NotNeeded;
  if (!t_copy_buffers) t_copy_buffers = std::make_unique<CopyBuffers>();
  CopyBuffers& buffers = *t_copy_buffers;
  uint8_t* bytes = buffers.bytes[buffers.next++ % buffers.bytes.size()].data();
  if (copy_chain(**p, bytes, size, kFromChain) != size) return Fragmenting::NoCopy;
  abi::pbuf* copy = pbuf_alloc(abi::kPbufLayerRaw, 0, abi::kPbufRef);
  if (copy == nullptr) return Fragmenting::NoCopy;
  copy->payload = bytes;
  copy->tot_len = copy->len = size;
  // ip_output_if took a reference for a hook that replaces its pbuf to drop,
  // and frees the replacement when it is done with it.
  pbuf_free(*p);
  *p = copy;
  return Fragmenting::Copy;
}

// lwIPv6 1.5a's ip_process_exthdr reads an IPv6 fragment's next header
// after ip6_reass freed the fragment. When the stack's input thread had
// reused that memory, the read said "hop-by-hop", the stack freed the packet
// it had just reassembled and went on with a null one (SIGSEGV in
// nat_pbuf_reset). The reference local_in takes here keeps the fragment
// until the thread's next hook, which comes after that read.
thread_local abi::pbuf* t_held = nullptr;

bool ipv6_with_extension_headers(const abi::pbuf& p) {
  if (p.len < 40) return false;
  const auto* ip = static_cast<const uint8_t*>(p.payload);
  const uint8_t next = ip[6];
  return ip[0] >> 4 == 6 && next != 6 && next != 17 && next != 58;  // TCP, UDP, ICMPv6
}

int on_hook(struct stack* s, int hooknum, abi::pbuf** p, struct netif*, struct netif* out) {
  if (t_held) pbuf_free(std::exchange(t_held, nullptr));
  if (hooknum < 0 || hooknum >= kHookCount || p == nullptr || *p == nullptr) return abi::kAccept;
  if (hooknum == static_cast<int>(HookPoint::LocalIn) && ipv6_with_extension_headers(**p)) {
    pbuf_ref(*p);
    t_held = *p;
  }
  const bool from_output = hooknum == static_cast<int>(HookPoint::PostRouting) && *p == t_local_out;
  t_local_out = hooknum == static_cast<int>(HookPoint::LocalOut) ? *p : nullptr;
  StackFilter::Impl* impl = find_impl(s);
  if (!impl) return abi::kAccept;
  const Fragmenting f = from_output ? copy_for_fragmentation(p, out) : Fragmenting::NotNeeded;
  return impl->on_packet(hooknum, **p, f);
}

}  // namespace

StackFilter::Impl::Impl(struct stack* s) : stack(s) {
  Control::Options o;
  o.caps.link = LinkType::RawIp;
  o.caps.redirect = o.caps.mirror = o.caps.emit = o.caps.resize = false;
  o.caps.max_packet = 65535;
  o.caps.host_name = "an lwIPv6 stack hook";
  o.point_syntax = "HOOK";
  o.point_words = 1;
  o.process_name = "the lwIPv6 process";
  o.resolve = [this](const std::vector<std::string>& w, std::string* why) -> AttachPoint* {
    if (auto h = parse_hook(w[0])) return &points[static_cast<size_t>(*h)];
    *why =
        "hook must be pre_routing, local_in, forward, local_out, post_routing, local (local_in "
        "and local_out) or edge (pre_routing and post_routing), not '" +
        w[0] + "'";
    return nullptr;
  };
  o.for_each = [this](const std::function<void(AttachPoint&)>& fn) {
    for (AttachPoint& at : points) fn(at);
  };
  o.output = [this](const AttachPoint& at, OutputKind, std::string_view line) {
    output_line(at, line);
  };
  control = std::make_unique<Control>(std::move(o));
  arm_ticker();
  io_thread = std::thread([this] {
    pthread_setname_np(pthread_self(), "netcpu-lwip");
    io.run();
  });
}

StackFilter::Impl::~Impl() {
  // No packet runs after this: unregister waits on lwIPv6's hook lock.
  for (int h = 0; h < kHookCount; ++h)
    if (registered[h]) uf_unregister_hook(stack, &handlers[h]);
  {
    std::lock_guard lk(g_registry_mu);
    for (Slot& slot : g_slots)
      if (slot.impl.load() == this) {
        slot.stack.store(nullptr, std::memory_order_release);
        slot.impl.store(nullptr, std::memory_order_release);
      }
  }
  on_io_thread([this] {
    std::lock_guard lk(mu);
    console.reset();
    ticker.cancel();
    return Reply{};
  });
  work.reset();
  io.stop();
  io_thread.join();
}

Reply StackFilter::Impl::on_io_thread(std::function<Reply()> fn) {
  std::packaged_task<Reply()> task(std::move(fn));
  auto done = task.get_future();
  asio::post(io, [&task] { task(); });
  return done.get();
}

void StackFilter::Impl::tick() {
  {
    std::lock_guard lk(mu);
    PacketMeta meta;
    meta.hook = Hook::Timer;
    const uint64_t now = steady_ms();
    for (AttachPoint& at : points) at.run_due_timers(now, meta);
  }
  arm_ticker();
}

void StackFilter::Impl::arm_ticker() {
  ticker.expires_after(kTick);
  ticker.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) tick();
  });
}

void StackFilter::Impl::output_line(const AttachPoint& at, std::string_view line) {
  if (output) {
    for (int h = 0; h < kPointCount; ++h)
      if (&points[h] == &at) output(static_cast<HookPoint>(h), line);
  }
  if (console && console->listening(kLogCategory))
    console->publish(kLogCategory, at.name() + ": " + std::string(line));
}

// The hook's own program, then the two-hook point's that covers the hook
// (local, edge); a drop ends the chain.
int StackFilter::Impl::on_packet(int hooknum, abi::pbuf& p, Fragmenting f) {
  std::lock_guard lk(mu);
  fragment_copies += f == Fragmenting::Copy;
  if (f == Fragmenting::NoCopy) {
    ++fragment_copies_missed;
    return abi::kDrop;
  }
  const int shared = kSharedPoint[hooknum];
  AttachPoint* chain[2] = {&points[hooknum], shared < 0 ? nullptr : &points[shared]};
  if (!chain[1] || !chain[1]->program()) chain[1] = nullptr;
  if (!chain[0]->program()) chain[0] = nullptr;
  if (!chain[0] && !chain[1]) return abi::kAccept;
  uint32_t len = p.tot_len;
  ++runs;
  // Not the pbuf layout lwip_abi.h describes: left alone, an error of the program(s).
  auto malformed_pbuf = [&] {
    ++malformed;
    for (AttachPoint* at : chain)
      if (at) at->program()->stats().count_error();
    return abi::kAccept;
  };
  if (p.payload == nullptr || p.len > p.tot_len) return malformed_pbuf();
  bool chained = p.len < p.tot_len;
  uint8_t* data = static_cast<uint8_t*>(p.payload);
  if (chained) {
    if (copy_chain(p, scratch.data(), len, kFromChain) != len) return malformed_pbuf();
    ++chained_runs;
    data = scratch.data();
  }
  PacketMeta meta;
  meta.hook = static_cast<Hook>(hooknum);
  meta.dir = hooknum >= static_cast<int>(HookPoint::LocalOut) ? 1 : 0;
  bool modified = false;
  for (AttachPoint* at : chain) {
    if (!at) continue;
    uint32_t out_len = len;
    RunResult r = at->run(data, out_len, len, meta);
    modified |= r.modified;
    if (r.verdict != Verdict::Drop) continue;
    if (console && console->listening(kDropCategory))
      console->publish(kDropCategory, drop_line(at->name(), *at->program(), r, {data, out_len}));
    return abi::kDrop;
  }
  if (modified && chained) copy_chain(p, data, len, kToChain);
  return abi::kAccept;
}

Reply StackFilter::Impl::execute(std::string_view line, int session) {
  while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
  size_t sp = line.find_first_of(" \t");
  std::string_view name = line.substr(0, sp);
  std::string_view args = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
  const auto command = console::control_command(name);
  if (!command) {
    ControlReply r = console::unknown_command(name);
    return {r.error, std::move(r.text)};
  }
  std::lock_guard lk(mu);
  if (name == kStackCommand.name && !args.empty())
    return {EINVAL, std::string(name) + " takes no arguments"};
  if (name == kStackCommand.name)
    return {0, "runs " + std::to_string(runs) + "\nchained " + std::to_string(chained_runs) +
                   "\nmalformed " + std::to_string(malformed) + "\nfragment-copies " +
                   std::to_string(fragment_copies) + "\nfragment-copies-missed " +
                   std::to_string(fragment_copies_missed)};
  ControlReply r = control->execute(*command, args, session);
  return {r.error, std::move(r.text)};
}

Reply StackFilter::Impl::locked_load(HookPoint h, std::vector<uint8_t> bytes,
                                     const std::string& name) {
  std::lock_guard lk(mu);
  ControlReply r = control->load(points[static_cast<size_t>(h)], std::move(bytes), name);
  return {r.error, std::move(r.text)};
}

StackFilter::StackFilter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StackFilter::~StackFilter() = default;

std::unique_ptr<StackFilter> StackFilter::attach(struct stack* s, std::string* why) {
  auto fail = [&](std::string text) {
    if (why) *why = std::move(text);
    return nullptr;
  };
  if (s == nullptr) return fail("no stack given");
  std::unique_ptr<Impl> impl;
  int refused = -1;  // the hook lwIPv6 refused a handler at
  {
    std::lock_guard lk(g_registry_mu);
    Slot* free_slot = nullptr;
    for (Slot& slot : g_slots) {
      if (slot.stack.load() == s) return fail("this lwIPv6 stack already has a NetCPU filter");
      if (!free_slot && slot.stack.load() == nullptr) free_slot = &slot;
    }
    if (!free_slot)
      return fail("too many lwIPv6 stacks with a NetCPU filter in this process (at most " +
                  std::to_string(kMaxStacks) + ")");
    impl = std::make_unique<Impl>(s);
    // Published before the handlers exist, so that their first packet finds it.
    free_slot->impl.store(impl.get(), std::memory_order_release);
    free_slot->stack.store(s, std::memory_order_release);
    for (int h = 0; h < kHookCount && refused < 0; ++h) {
      impl->handlers[h] = {h, &on_hook, 0};
      if (uf_register_hook(s, &impl->handlers[h]) == 1)
        impl->registered[h] = true;
      else
        refused = h;
    }
  }
  if (refused < 0) return std::unique_ptr<StackFilter>(new StackFilter(std::move(impl)));
  impl.reset();  // unregisters what was registered and frees the slot
  return fail(refused == 0 ? "this lwIPv6 stack has no userfilter hooks: create it with "
                             "lwip_add_stack(LWIP_STACK_FLAG_USERFILTER)"
                           : std::string("lwIPv6 refused a handler at ") + kHookNames[refused]);
}

Reply StackFilter::load(HookPoint h, const std::string& path) {
  FileError why;
  auto bytes = read_whole_file(path, &why);
  if (!bytes) return {why.error, path + ": " + std::strerror(why.error)};
  return impl_->locked_load(h, std::move(*bytes), path);
}

Reply StackFilter::load_source(HookPoint h, std::string_view source, const std::string& name) {
  return impl_->locked_load(h, std::vector<uint8_t>(source.begin(), source.end()), name);
}

Reply StackFilter::unload(HookPoint h) {
  return impl_->execute(std::string("netcpu/unload ") + hook_name(h));
}

Reply StackFilter::command(std::string_view line) { return impl_->execute(line); }

Reply StackFilter::open_console(const std::string& path) {
  Impl* impl = impl_.get();
  return impl->on_io_thread([impl, path]() -> Reply {
    console::MgmtConsole::Options o = console::control_console_options(
        *impl->control, path,
        std::string("NetCPU ") + kVersion + " (bytecode version " +
            std::to_string(kBytecodeVersion) + ") on an lwIPv6 stack (process " +
            std::to_string(getpid()) +
            ")\nnetcpu/... commands program its hooks; debug/add netcpu/log shows output\n");
    o.commands.push_back({std::string(kStackCommand.name), std::string(kStackCommand.syntax),
                          std::string(kStackCommand.help)});
    o.handler = [impl](std::string_view name, std::string_view args, int session) {
      Reply r = impl->execute(std::string(name) + " " + std::string(args), session);
      return console::CommandReply{r.error, std::move(r.text)};
    };
    o.overlong = [impl](std::string_view name) {
      std::lock_guard lk(impl->mu);
      return console::refuse_overlong(*impl->control, name);
    };
    o.closed = [impl](int session) {
      std::lock_guard lk(impl->mu);
      impl->control->end_session(session);
    };
    try {
      auto c = std::make_unique<console::MgmtConsole>(impl->io, std::move(o));
      std::lock_guard lk(impl->mu);
      impl->console = std::move(c);
      return {0, "console on " + path};
    } catch (const std::system_error& e) {
      return {e.code().value() ? e.code().value() : EINVAL, e.what()};
    }
  });
}

void StackFilter::close_console() {
  Impl* impl = impl_.get();
  impl->on_io_thread([impl] {
    std::lock_guard lk(impl->mu);
    impl->console.reset();
    return Reply{};
  });
}

void StackFilter::set_output(Output out) {
  std::lock_guard lk(impl_->mu);
  impl_->output = std::move(out);
}

uint64_t StackFilter::packets(HookPoint h) const {
  std::lock_guard lk(impl_->mu);
  Instance* vm = impl_->points[static_cast<size_t>(h)].program();
  return vm ? vm->stats().packets.load() : 0;
}

uint64_t StackFilter::dropped(HookPoint h) const {
  std::lock_guard lk(impl_->mu);
  Instance* vm = impl_->points[static_cast<size_t>(h)].program();
  return vm ? vm->stats().dropped.load() : 0;
}

}  // namespace netcpu::lwip
