// The C API (netcpu_lwip.h) over StackFilter: a handle that keeps the text
// of its last reply for ncpu_lwip_message().
#include <cerrno>
#include <cstdio>
#include <new>

#include "netcpu/lwip.hpp"
#include "netcpu_lwip.h"

using netcpu::lwip::HookPoint;
using netcpu::lwip::Reply;
using netcpu::lwip::StackFilter;

// The C API's hook numbers are the C++ API's (and so the core's: see
// stack_filter.cpp): a C caller's number is cast to a HookPoint.
static_assert(NCPU_LWIP_PRE_ROUTING == static_cast<int>(HookPoint::PreRouting));
static_assert(NCPU_LWIP_LOCAL_IN == static_cast<int>(HookPoint::LocalIn));
static_assert(NCPU_LWIP_FORWARD == static_cast<int>(HookPoint::Forward));
static_assert(NCPU_LWIP_LOCAL_OUT == static_cast<int>(HookPoint::LocalOut));
static_assert(NCPU_LWIP_POST_ROUTING == static_cast<int>(HookPoint::PostRouting));
static_assert(NCPU_LWIP_POST_ROUTING + 1 == netcpu::lwip::kHookCount);
static_assert(NCPU_LWIP_LOCAL == static_cast<int>(HookPoint::Local));
static_assert(NCPU_LWIP_EDGE == static_cast<int>(HookPoint::Edge));
static_assert(NCPU_LWIP_EDGE + 1 == netcpu::lwip::kPointCount);

struct ncpu_lwip {
  std::unique_ptr<StackFilter> filter;
  std::string message;
  ncpu_lwip_output_fn output = nullptr;
  void* output_arg = nullptr;
};

namespace {

bool valid_hook(int hook) { return hook >= 0 && hook < netcpu::lwip::kPointCount; }

int answer(ncpu_lwip* f, Reply r) {
  f->message = std::move(r.text);
  return r.error;
}

int bad_hook(ncpu_lwip* f, int hook) {
  f->message = "no hook " + std::to_string(hook) + " (NCPU_LWIP_PRE_ROUTING..NCPU_LWIP_EDGE)";
  return EINVAL;
}

// Exceptions must not cross into C callers.
template <typename Fn>
int guarded(ncpu_lwip* f, Fn fn) {
  if (f == nullptr) return EINVAL;
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    f->message = "out of memory";
    return ENOMEM;
  } catch (const std::exception& e) {
    f->message = e.what();
    return EIO;
  }
}

}  // namespace

extern "C" {

ncpu_lwip* ncpu_lwip_attach(struct stack* stack, char* why, size_t why_len) {
  std::string reason;
  try {
    auto filter = StackFilter::attach(stack, &reason);
    if (filter) return new ncpu_lwip{std::move(filter), {}, nullptr, nullptr};
  } catch (const std::exception& e) {
    reason = e.what();
  }
  if (why && why_len) std::snprintf(why, why_len, "%s", reason.c_str());
  return nullptr;
}

void ncpu_lwip_detach(ncpu_lwip* f) { delete f; }

int ncpu_lwip_load(ncpu_lwip* f, int hook, const char* path) {
  return guarded(f, [&] {
    if (!valid_hook(hook)) return bad_hook(f, hook);
    return answer(f, f->filter->load(static_cast<HookPoint>(hook), path ? path : ""));
  });
}

int ncpu_lwip_load_source(ncpu_lwip* f, int hook, const char* source, const char* name) {
  return guarded(f, [&] {
    if (!valid_hook(hook)) return bad_hook(f, hook);
    return answer(f, f->filter->load_source(static_cast<HookPoint>(hook), source ? source : "",
                                            name ? name : "<source>"));
  });
}

int ncpu_lwip_unload(ncpu_lwip* f, int hook) {
  return guarded(f, [&] {
    if (!valid_hook(hook)) return bad_hook(f, hook);
    return answer(f, f->filter->unload(static_cast<HookPoint>(hook)));
  });
}

int ncpu_lwip_command(ncpu_lwip* f, const char* line) {
  return guarded(f, [&] { return answer(f, f->filter->command(line ? line : "")); });
}

int ncpu_lwip_console(ncpu_lwip* f, const char* path) {
  return guarded(f, [&] { return answer(f, f->filter->open_console(path ? path : "")); });
}

const char* ncpu_lwip_message(const ncpu_lwip* f) { return f ? f->message.c_str() : ""; }

void ncpu_lwip_set_output(ncpu_lwip* f, ncpu_lwip_output_fn fn, void* arg) {
  if (f == nullptr) return;
  if (fn == nullptr) {
    f->filter->set_output(nullptr);
    return;
  }
  f->filter->set_output([fn, arg](HookPoint h, std::string_view line) {
    std::string text(line);  // the C callback wants a terminated string
    fn(arg, static_cast<int>(h), text.c_str());
  });
}

unsigned long long ncpu_lwip_packets(const ncpu_lwip* f, int hook) {
  return f && valid_hook(hook) ? f->filter->packets(static_cast<HookPoint>(hook)) : 0;
}

unsigned long long ncpu_lwip_dropped(const ncpu_lwip* f, int hook) {
  return f && valid_hook(hook) ? f->filter->dropped(static_cast<HookPoint>(hook)) : 0;
}

}  // extern "C"
