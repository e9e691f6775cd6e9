// The core's pcap reader (libpcap underneath), which `netcpu run` reads with,
// on any file: opening, describing and reading every record never crashes; a
// corrupt file or record is a PcapError (exit code 3 in `netcpu run`),
// nothing worse.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "fuzz_support.h"
#include "netcpu/pcap_read.h"

namespace {

// One scratch file per fuzzing process, in memory where there is a tmpfs.
const std::string& scratch_path() {
  static const std::string path = [] {
    const char* dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    return std::string(dir) + "/netcpu-fuzz-pcap-" + std::to_string(getpid()) + ".pcap";
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace netcpu;
  FILE* f = std::fopen(scratch_path().c_str(), "wb");
  if (!f) fuzz::fail("cannot write the scratch pcap file", scratch_path());
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    PcapReader reader(scratch_path());
    std::string described = reader.describe() + reader.describe(true);
    uint64_t sum = 0;
    for (int records = 0; records < 1000; ++records) {
      auto packet = reader.next();
      if (!packet) break;
      // Every byte the reader hands out must be readable (ASan checks).
      for (uint32_t i = 0; i < packet->caplen; ++i) sum += packet->data[i];
      try {
        if (reader.link() == LinkType::RawIp && reader.link_header() > packet->caplen) sum += 1;
      } catch (const PcapError&) {
      }
    }
    (void)sum;
    (void)described;
  } catch (const PcapError&) {
  }
  std::remove(scratch_path().c_str());
  return 0;
}
