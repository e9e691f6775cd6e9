// pcap files written through libpcap's dump API (pcap_open_dead,
// pcap_dump_fopen, pcap_dump), in the core's optional libpcap part, for
// every host: `netcpu run --out/--emitted/
// --dropped` and the consoles' `netcpu/capture` (the core's CaptureSink,
// which the core calls without knowing libpcap). Write errors are caught
// (libpcap's pcap_dump reports none): a full disk or a file size limit
// stops the file with the reason, never the process.
#pragma once

#include <pcap/pcap.h>
#include <sys/time.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "netcpu/capture.h"
#include "netcpu/vm.h"

namespace netcpu {

class PcapDump {
 public:
  struct Options {
    int dlt = DLT_EN10MB;
    int snaplen = 262144;  // in the file header: readers cut longer packets to it
    // Refuse a file that exists, is not empty and is not a capture (pcap or
    // pcapng): a console user who names a program by mistake keeps it.
    bool keep_other_files = false;
  };
  // Opens (creates or truncates) `path` and writes the file header, flushed
  // so that an unwritable file or a full disk is said now. nullptr with
  // *error (an errno value) and *why set when that fails.
  static std::unique_ptr<PcapDump> open(const std::string& path, const Options& o, int* error,
                                        std::string* why);
  ~PcapDump();
  PcapDump(const PcapDump&) = delete;
  PcapDump& operator=(const PcapDump&) = delete;

  // One record: caplen bytes of a packet of wire_len bytes (0: caplen).
  // Buffered; no allocation. False once a write failed (error()).
  bool write(const struct timeval& ts, const uint8_t* data, uint32_t caplen, uint32_t wire_len = 0);
  bool flush();
  bool close();                              // flushes; false on a write error; once only
  uint64_t bytes() const { return bytes_; }  // header and records, buffered ones included
  static constexpr uint32_t kRecordHeader = 16;
  const std::string& error() const { return error_; }

 private:
  PcapDump(pcap_t* dead, pcap_dumper_t* d, FILE* f) : dead_(dead), d_(d), file_(f) {}
  bool failed(int error);

  pcap_t* dead_;
  pcap_dumper_t* d_;
  FILE* file_;  // pcap_dump_file(d_), for its error flag
  uint64_t bytes_ = 24;
  int error_number_ = 0;
  std::string error_;
};

// Opens captures for a console (Control::Options::open_capture): pcap files
// of the host's link type, refusing files that are something else; frames
// stamped with the real-time clock; what is buffered flushed at most once a
// second as frames come (and whenever the console asks).
std::function<std::unique_ptr<CaptureSink>(const std::string& path, int* error, std::string* why)>
capture_opener(int dlt, uint32_t snaplen);
// The same for a host's link (link_dlt) and largest packet: what Control
// opens captures with unless the host says otherwise.
std::function<std::unique_ptr<CaptureSink>(const std::string& path, int* error, std::string* why)>
capture_opener(const HostCaps& caps);

}  // namespace netcpu
