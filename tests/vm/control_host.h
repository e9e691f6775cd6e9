// A test host for the console commands, in this process: three attach
// points named as the switch names them ("0 in", "0 out", "1 in"), the
// Options filled as a host fills them, captures kept in memory, and files
// to load.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "netcpu/control.h"

namespace netcpu::testing {

// A capture file in memory, sized as a pcap file: a 24-byte header, then
// 16 bytes before each frame.
class MemorySink : public CaptureSink {
 public:
  explicit MemorySink(std::vector<std::vector<uint8_t>>* frames) : frames_(frames) {}
  bool write(const uint8_t* frame, uint32_t len) override {
    frames_->emplace_back(frame, frame + len);
    bytes_ += record_bytes(len);
    return true;
  }
  bool flush() override { return true; }
  bool close() override { return true; }
  uint64_t file_bytes() const override { return bytes_; }
  uint64_t record_bytes(uint32_t len) const override { return 16 + uint64_t{len}; }
  std::string error() const override { return {}; }

 private:
  std::vector<std::vector<uint8_t>>* frames_;
  uint64_t bytes_ = 24;
};

// What the host gives beside what every host gives.
struct HostOffers {
  bool captures = true;  // an open_capture of its own (in memory); else the core's pcap dumper
};

struct ControlHost {
  std::vector<std::unique_ptr<AttachPoint>> points;
  std::vector<std::string> output;             // "POINT: LINE" from the programs
  std::vector<std::vector<uint8_t>> captured;  // frames of every capture
  std::filesystem::path dir;                   // where file() writes
  Control control;

  explicit ControlHost(HostOffers offers = {}) : control(options(offers)) {
    for (const char* name : {"0 in", "0 out", "1 in"})
      points.push_back(std::make_unique<AttachPoint>(name));
    dir = std::filesystem::temp_directory_path() /
          ("netcpu-control-test-" + std::to_string(getpid()) + "-" + std::to_string(++files_));
    std::filesystem::create_directories(dir);
  }
  ~ControlHost() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  AttachPoint& at(std::string_view name) {
    for (auto& p : points)
      if (p->name() == name) return *p;
    throw std::out_of_range(std::string(name));
  }

  ControlReply run(std::string_view command, std::string_view args = "") {
    return control.execute(command, args);
  }

  // Writes `text` to a file of the test's own and returns its path.
  std::string file(const std::string& name, const std::string& text) {
    const auto path = dir / name;
    std::ofstream(path, std::ios::binary) << text;
    return path.string();
  }

  // Loads `source` (as a file) on `point`; the reply.
  ControlReply load(std::string_view point, const std::string& source,
                    const std::string& name = "prog.ncpu") {
    return run("load", std::string(point) + " " + file(name, source));
  }

  // Runs one frame through a point's program, as a host's frame path does.
  RunResult send(std::string_view point, std::vector<uint8_t> frame) {
    uint32_t len = static_cast<uint32_t>(frame.size());
    frame.resize(2048);
    PacketMeta meta{};
    return at(point).run(frame.data(), len, static_cast<uint32_t>(frame.size()), meta);
  }

 private:
  static inline int files_ = 0;

  Control::Options options(HostOffers offers) {
    Control::Options o;
    o.point_syntax = "PORT in|out";
    o.point_words = 2;
    o.resolve = [this](const std::vector<std::string>& words, std::string* why) -> AttachPoint* {
      const std::string name = words[0] + " " + words[1];
      for (auto& p : points)
        if (p->name() == name) return p.get();
      *why = "no attach point " + name;
      return nullptr;
    };
    o.for_each = [this](const std::function<void(AttachPoint&)>& fn) {
      for (auto& p : points) fn(*p);
    };
    o.output = [this](const AttachPoint& at, OutputKind, std::string_view line) {
      output.push_back(at.name() + ": " + std::string(line));
    };
    if (offers.captures)
      o.open_capture = [this](const std::string&, int*, std::string*) {
        return std::unique_ptr<CaptureSink>(std::make_unique<MemorySink>(&captured));
      };
    return o;
  }
};

}  // namespace netcpu::testing
