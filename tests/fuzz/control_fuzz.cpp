// The console commands every host shares (netcpu::Control) on random command
// lines, over a small switch-like set of attach points ("PORT|* in|out" with
// ports *, 1, 2 and 3), with packets and timers running between commands.
// Nothing may crash or leak, whatever is typed.
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "netcpu/netcpu.h"
#include "sample_packets.h"

namespace {

using namespace netcpu;

// `load` reads files: the fuzzer's run in a scratch directory holding a few
// programs (source and bytecode), and lines naming a path elsewhere are
// skipped (a fuzzer typing /dev/zero would only measure the disk).
void enter_scratch_directory() {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / ("netcpu-fuzz-control-" + std::to_string(getpid()));
  fs::create_directories(dir);
  for (const char* example : {"tcp_firewall.ncpu", "counter.ncpu", "nat.ncpu", "rate_limit.ncpu"})
    fs::copy_file(fs::path(NETCPU_SOURCE_DIR) / "examples" / example, dir / example,
                  fs::copy_options::overwrite_existing);
  Diagnostic err;
  std::ifstream in(fs::path(NETCPU_SOURCE_DIR) / "examples" / "tcp_firewall.ncpu");
  const std::string source((std::istreambuf_iterator<char>(in)), {});
  if (auto p = assemble(source, "tcp_firewall.ncpu", &err)) {
    const auto bytes = encode_bytecode(*p);
    std::ofstream(dir / "fw.ncpb", std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
  }
  fs::current_path(dir);
  static const std::string remove_at_exit = dir.string();
  std::atexit([] { std::filesystem::remove_all(remove_at_exit); });
}

struct Host {
  std::map<std::string, AttachPoint> points;
  std::unique_ptr<Control> control;
  size_t output_lines = 0;

  Host() {
    Control::Options o;
    o.caps.link = LinkType::Ethernet;
    o.caps.host_name = "the fuzzer";
    o.limits.budget = 5000;
    o.limits.output_per_second = 0;
    o.point_syntax = "PORT|* in|out";
    o.point_words = 2;
    o.resolve = [this](const std::vector<std::string>& w, std::string* why) -> AttachPoint* {
      static const std::string kPorts[] = {"*", "1", "2", "3"};
      if (std::find(std::begin(kPorts), std::end(kPorts), w[0]) == std::end(kPorts) ||
          (w[1] != "in" && w[1] != "out")) {
        *why = "expected PORT|* in|out";
        return nullptr;
      }
      const std::string name = w[0] + " " + w[1];
      return &points.try_emplace(name, name).first->second;
    };
    o.for_each = [this](const std::function<void(AttachPoint&)>& fn) {
      for (auto& [name, at] : points) fn(at);
    };
    o.output = [this](const AttachPoint&, OutputKind, std::string_view) { ++output_lines; };
    // netcpu/capture's files are the one thing a command writes: refused
    // here, so that inputs cannot fill the disk.
    o.open_capture = [](const std::string&, int* error, std::string* why) {
      *error = EPERM;
      *why = "the fuzzer writes no captures";
      return std::unique_ptr<CaptureSink>();
    };
    control = std::make_unique<Control>(std::move(o));
  }

  void run_packets(size_t round) {
    const auto& samples = fuzz::sample_packets();
    const auto& sample = samples[round % samples.size()];
    if (!sample.ethernet) return;
    PacketMeta meta;
    meta.now_ms = 1000 + 250 * round;
    for (auto& [name, at] : points) {
      if (!at.program()) continue;
      std::vector<uint8_t> pkt = sample.bytes;
      pkt.resize(1518);
      uint32_t len = static_cast<uint32_t>(sample.bytes.size());
      at.run(pkt.data(), len, static_cast<uint32_t>(pkt.size()), meta);
      at.run_due_timers(meta.now_ms, meta);
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  enter_scratch_directory();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Host host;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  for (size_t round = 0; !input.empty() && round < 64; ++round) {
    const size_t eol = input.find('\n');
    std::string_view line = input.substr(0, eol);
    input = eol == std::string_view::npos ? std::string_view{} : input.substr(eol + 1);
    if (line.substr(0, 7) == "netcpu/") line.remove_prefix(7);
    const size_t space = line.find(' ');
    const std::string_view command = line.substr(0, space);
    const std::string_view args =
        space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);
    if (command == "load" && args.find('/') != std::string_view::npos) continue;
    host.control->execute(command, args);
    host.run_packets(round);
  }
  return 0;
}
