// The commands that put programs on attach points and take them off: load,
// put (bytecode in base64 chunks), filter (a tcpdump expression), netmask
// (the filters'), unload.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "console_words.h"
#include "literals.h"
#include "netcpu/assembler.h"
#include "netcpu/base64.h"
#include "netcpu/bytecode.h"
#include "netcpu/control.h"
#include "netcpu/file.h"
#include "netcpu/load.h"
#include "netcpu/verifier.h"

namespace netcpu {

ControlReply Control::load(AttachPoint& at, std::vector<uint8_t> bytes, const std::string& file,
                           const std::string& given_name) {
  return load_bytes(at, std::move(bytes), file, file, given_name, nullptr);
}

ControlReply Control::load_bytes(AttachPoint& at, std::vector<uint8_t> bytes,
                                 const std::string& file, const std::string& origin,
                                 const std::string& given_name, Transaction* into) {
  LoadError error;
  std::optional<Program> prog = program_from_bytes(bytes, file, &error);
  if (!prog) return fail(EINVAL, error.text + "\n" + kept(at));
  return install(at, std::move(*prog), file, origin, given_name, into);
}

ControlReply Control::install(AttachPoint& at, Program prog, const std::string& file,
                              const std::string& origin, const std::string& given_name,
                              Transaction* into) {
  std::vector<std::string> warnings =
      opt_.warnings ? opt_.warnings(at, prog) : std::vector<std::string>{};
  AttachPoint* where = &at;
  auto sink = [this, where](OutputKind k, std::string_view line) {
    if (opt_.output) opt_.output(*where, k, line);
  };
  if (!given_name.empty()) prog.name = given_name;
  std::string name = prog.name;
  LoadError error;
  auto vm = instantiate(std::move(prog), opt_.caps, opt_.limits, sink, file, &error);
  if (!vm) return fail(EINVAL, error.text + "\n" + kept(at));
  if (profiling_) vm->set_profiling(true);
  std::string text = std::string(into ? "staged " : "loaded ") + name + " (" +
                     hash_hex(vm->hash()) + ", " + std::to_string(vm->program().code.size()) +
                     " instructions) " + (into ? "for " : "on ") + at.name();
  // The verifier's own warnings point into the source: file:line:col: warning: ...
  std::string verifier_warnings;
  for (const Diagnostic& w : vm->warnings()) verifier_warnings += "\n" + w.str();
  if (into) {
    stage(*into, at, std::move(vm), origin);
    text += "; netcpu/commit swaps it in";
  } else {
    bool replaced = at.replace(std::move(vm)) != nullptr;
    at.set_origin(origin);
    if (replaced) text += ", replacing its program";
  }
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
    return put_chunk(*at, w[used], arriving_, nullptr);
  }
  return load_file(*at, args, used, nullptr);
}

// `args` names the file after its first `skip` words.
ControlReply Control::load_file(AttachPoint& at, std::string_view args, size_t skip,
                                Transaction* into) {
  bool quoted = false;
  const std::string file(unquote(after_words(args, skip), &quoted));
  if (file.empty() || (!quoted && split_words(args).size() != skip + 1))
    return fail(EINVAL, "expected " + opt_.point_syntax +
                            " FILE (one file name: quote a name that has blanks)");
  std::string relative;
  const std::string tried = host_path(file, &relative);
  auto refuse = [&](int error) {
    return fail(error, tried + ": " + std::strerror(error) + relative + "\n" + kept(at));
  };
  FileError why;
  auto bytes = read_whole_file(tried, &why);
  if (!bytes) return refuse(why.error);
  // The file as opened is its origin, whatever the working directory later.
  return load_bytes(at, std::move(*bytes), file, tried, {}, into);
}

// Consoles cut long lines (vde_switch reads 128 bytes per command), so
// bytecode may come in several puts: a chunk that starts with the magic
// ("TkNQVQ" is base64 for "NCPU") starts a program, later chunks extend it,
// and it loads as soon as the bytes decode as complete bytecode.
ControlReply Control::put_chunk(AttachPoint& at, const std::string& chunk,
                                std::map<const AttachPoint*, std::string>& arriving,
                                Transaction* into) {
  std::string& staged = arriving[&at];
  if (chunk.rfind("TkNQVQ", 0) == 0)
    staged.clear();
  else if (staged.empty())
    return fail(EINVAL,
                "not NetCPU bytecode: a program's first chunk starts with TkNQVQ (base64 of NCPU)");
  staged += chunk;
  if (staged.size() > 4 * kMaxHeap) {
    arriving.erase(&at);
    return fail(EFBIG, "bytecode too large");
  }
  auto bytes = decode_base64(staged);
  if (!bytes) {
    arriving.erase(&at);
    return fail(EINVAL, "not base64");
  }
  std::string why;
  if (staged.size() % 4 != 0 || !decode_bytecode(*bytes, &why)) {
    if (staged.size() % 4 == 0 && why.find("truncated") == std::string::npos) {
      arriving.erase(&at);
      return fail(EINVAL, "corrupt bytecode: " + why);
    }
    return {0, "received " + std::to_string(staged.size()) + " base64 characters for " + at.name() +
                   "; send the rest with netcpu/" + (into ? "stage " + at.name() + " put" : "put")};
  }
  arriving.erase(&at);
  return load_bytes(at, std::move(*bytes), "<put>", "<put>", {}, into);
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

ControlReply Control::cmd_filter(std::string_view args) {
  ControlReply err;
  size_t used;
  AttachPoint* at = point(split_words(args), used, err);
  if (!at) return err;
  return filter_expr(*at, args, used, nullptr);
}

// The expression is what follows the first `skip` words of `args`, as typed
// (libpcap's syntax has no quotes of its own).
ControlReply Control::filter_expr(AttachPoint& at, std::string_view args, size_t skip,
                                  Transaction* into) {
  std::string expr(trim_blanks(unquote(after_words(args, skip))));
  if (expr.empty()) return fail(EINVAL, "expected " + opt_.point_syntax + " EXPR");
  // Named by the whole expression (as a file name, its dots and slashes would cut it short).
  const std::string name = "<filter '" + expr + "'>";
#ifdef NETCPU_HAVE_PCAP
  LoadError error;
  auto prog = program_from_filter(expr, opt_.caps.link, netmask_, name, &error);
  if (!prog) return fail(EINVAL, "filter '" + expr + "': " + error.text + "\n" + kept(at));
  return install(at, std::move(*prog), name, name, name, into);
#else
  (void)into;
  return fail(ENOSYS, name + ": this NetCPU was built without libpcap");
#endif
}

// What `ip broadcast` and the like compile with, as pcap_compile's netmask;
// cmd_filter compiles every later filter with it.
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
}  // namespace netcpu
