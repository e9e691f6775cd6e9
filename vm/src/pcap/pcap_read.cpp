#include "netcpu/pcap_read.h"

#include <pcap/sll.h>

namespace netcpu {

PcapReader::PcapReader(const std::string& path) : path_(path) {
  char err[PCAP_ERRBUF_SIZE] = "";
  p_ = pcap_open_offline(path.c_str(), err);
  if (!p_) throw PcapError(path + ": " + err);
}

PcapReader::~PcapReader() {
  if (p_) pcap_close(p_);
}

std::optional<PcapPacket> PcapReader::next() {
  struct pcap_pkthdr* h;
  const u_char* data;
  int rc = pcap_next_ex(p_, &h, &data);
  if (rc == 1) return PcapPacket{data, h->caplen, h->len, h->ts};
  if (rc == PCAP_ERROR_BREAK) return std::nullopt;
  throw PcapError(path_ + ": " + pcap_geterr(p_));
}

LinkType PcapReader::link() const {
  switch (pcap_datalink(p_)) {
    case DLT_EN10MB:
      return LinkType::Ethernet;
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
    case DLT_LINUX_SLL:
    case DLT_LINUX_SLL2:
    case DLT_NULL:
    case DLT_LOOP:
      return LinkType::RawIp;
    default:
      throw PcapError(path_ + ": link type " +
                      std::string(pcap_datalink_val_to_name(pcap_datalink(p_)) ?: "") + " (" +
                      std::to_string(pcap_datalink(p_)) +
                      ") is not supported (Ethernet, raw IP, Linux cooked SLL and "
                      "SLL2, NULL and LOOP)");
  }
}

uint32_t PcapReader::link_header() const {
  switch (pcap_datalink(p_)) {
    case DLT_LINUX_SLL:
      return SLL_HDR_LEN;
    case DLT_LINUX_SLL2:
      return SLL2_HDR_LEN;
    case DLT_NULL:
    case DLT_LOOP:
      return 4;  // the address family
    default:
      return 0;
  }
}

std::string PcapReader::describe(bool whole_records) const {
  const int dlt = pcap_datalink(p_);
  std::string name = pcap_datalink_val_to_name(dlt) ?: std::to_string(dlt);
  if (const char* d = pcap_datalink_val_to_description(dlt)) name += std::string(" (") + d + ")";
  if (link() == LinkType::Ethernet) return name + ": Ethernet frames";
  if (whole_records && link_header())
    return name + ": whole records, the " + std::to_string(link_header()) +
           "-byte link header included";
  if (link_header() == 0) return name + ": IP packets";
  return name + ": IP packets after a " + std::to_string(link_header()) + "-byte link header";
}

}  // namespace netcpu
