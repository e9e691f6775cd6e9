// pcap captures read through libpcap (pcap_open_offline, pcap_next_ex), in
// the core's optional libpcap part: what `netcpu run` and `netcpu bench` read,
// with what a program sees of each record.
#pragma once

#include <pcap/pcap.h>
#include <sys/time.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "netcpu/packet_view.h"

namespace netcpu {

// The largest packet a capture holds: libpcap's MAXIMUM_SNAPLEN, tcpdump's
// default snaplen (GSO and "big TCP" captures reach it).
constexpr uint32_t kMaxCapturedPacket = 262144;

// A capture that cannot be opened, a corrupt record, a link type programs
// cannot read: the message names the file.
struct PcapError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct PcapPacket {
  const uint8_t* data;
  uint32_t caplen, len;
  struct timeval ts;
};

// Reads Ethernet (DLT_EN10MB), raw IP (LINKTYPE_RAW, _IPV4, _IPV6), Linux
// cooked (LINUX_SLL, LINUX_SLL2), BSD loopback (NULL, LOOP) captures.
class PcapReader {
 public:
  explicit PcapReader(const std::string& path);  // throws PcapError
  ~PcapReader();
  std::optional<PcapPacket> next();  // throws PcapError on a corrupt record
  int datalink() const { return pcap_datalink(p_); }
  // What programs see: Ethernet frames, or IP packets (raw IP, and the
  // others once link_header() bytes are skipped). Throws PcapError for
  // other link types.
  LinkType link() const;
  // Bytes of link header before the IP packet that programs do not see
  // (Linux cooked 16 or 20, NULL and LOOP 4), else 0.
  uint32_t link_header() const;
  // What is read, for users: "LINUX_SLL2 (Linux cooked v2): IP packets after
  // a 20-byte link header", or with whole_records (a tcpdump expression reads
  // the link header itself) "...: whole records, link header included".
  std::string describe(bool whole_records = false) const;
  int snaplen() const { return pcap_snapshot(p_); }
  // For pcap_compile: a capture's own handle compiles as `tcpdump -r` does.
  pcap_t* handle() const { return p_; }

 private:
  pcap_t* p_ = nullptr;
  std::string path_;
};

}  // namespace netcpu
