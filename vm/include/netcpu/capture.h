// A capture on an attach point (`netcpu/capture`): the sink its frames go
// to, its bounds and how far it got, and how a console's words make one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace netcpu {

// Where a capture's frames go (`netcpu/capture`). Control opens sinks with
// the core's pcap dumper (netcpu/pcap_dump.h, its optional libpcap part)
// unless the host gives Control::Options::open_capture. A sink is called on
// the thread that runs the point's program and must not allocate per frame.
class CaptureSink {
 public:
  virtual ~CaptureSink() = default;
  // One frame as it left the program, stamped with the host's clock. False
  // once a write failed (error() says why): the capture stops.
  virtual bool write(const uint8_t* frame, uint32_t len) = 0;
  // What is buffered goes to the file; false on a write error.
  virtual bool flush() = 0;
  // Flushes and closes the file; false on a write error. Once only.
  virtual bool close() = 0;
  // Bytes the file holds once flushed, its header included; and what a
  // frame of len bytes adds to it.
  virtual uint64_t file_bytes() const = 0;
  virtual uint64_t record_bytes(uint32_t len) const = 0;
  virtual std::string error() const = 0;
};

// A capture on an attach point: which verdicts it keeps, where they go, its
// bounds and how far it got. It stays on the point when it stops (bound
// reached, write error) so that consoles can say why, until the next one.
struct Capture {
  uint8_t verdicts = 0;               // bit 1 << Verdict of each verdict kept
  std::string what;                   // "pass", "drop" or "all", as given
  std::string file;                   // absolute path
  uint64_t max_frames = 0;            // 0: no bound
  uint64_t max_bytes = 0;             // the file's size bound: it never grows past it
  uint64_t frames = 0;                // written so far
  uint64_t file_bytes = 0;            // the file's size (when stopped: final)
  std::unique_ptr<CaptureSink> sink;  // null once stopped; closes its file when destroyed
  std::string stopped;                // why it stopped; empty while on
  bool failed = false;                // stopped by an error, not a bound
  // "drop to /tmp/d.pcap: 3 frames, 302 bytes, on" and the like.
  std::string status() const;
};

// The size a capture's file may reach when `capture` is given no SIZE.
inline constexpr uint64_t kDefaultCaptureBytes = uint64_t{64} << 20;

// A capture of `what` (pass, drop or all) within `bounds` (COUNT, a number
// of frames; SIZE, bytes with k, M or G; 64 MiB when none is given), its
// file and sink still to be set; nullptr with *why set on a bad argument.
std::unique_ptr<Capture> make_capture(const std::string& what,
                                      const std::vector<std::string>& bounds, std::string* why);
bool is_capture_bound(const std::string& word);

}  // namespace netcpu
