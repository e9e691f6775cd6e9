#include "cli_common.h"

#include <pcap/sll.h>

#include <fstream>
#include <iostream>
#include <iterator>

#include "bpf_translate.h"

namespace netcpu::cli {

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Failure(kBadInput, path + ": cannot open");
  std::vector<uint8_t> b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) throw Failure(kBadInput, path + ": read error");
  return b;
}

Program load_program(const std::string& path) {
  std::vector<uint8_t> bytes = read_file(path);
  if (is_bytecode(bytes)) {
    std::string why;
    auto p = decode_bytecode(bytes, &why);
    if (!p) throw Failure(kBadInput, path + ": corrupt bytecode: " + why);
    if (p->source_file.empty()) p->source_file = path;
    return *p;
  }
  Diagnostic d;
  auto p = assemble(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                    path, &d);
  if (!p) throw Failure(kRejected, d.str());
  return *p;
}

namespace {

Program assemble_filter(const std::string& expr, const std::optional<std::string>& text,
                        const std::string& error) {
  if (!text) throw Failure(kRejected, "filter '" + expr + "': " + error);
  Diagnostic d;
  auto p = assemble(*text, "<filter>", &d);
  if (!p)
    throw Failure(kRejected, "filter '" + expr + "' translated to invalid assembly: " + d.str());
  return *p;
}

}  // namespace

Program program_from_filter(const std::string& expr, int dlt, uint32_t netmask) {
  std::string error;
  auto text = tools::filter_to_assembly(expr, dlt, &error, netmask);
  return assemble_filter(expr, text, error);
}

Program program_from_filter(const std::string& expr, const PcapReader& capture, uint32_t netmask) {
  std::string error;
  auto text = tools::filter_to_assembly(expr, capture.handle(), &error, netmask);
  return assemble_filter(expr, text, error);
}

std::unique_ptr<Instance> instantiate(Program p, const HostCaps& caps, const Limits& limits,
                                      OutputSink sink) {
  Diagnostic d;
  std::string file = p.source_file;
  auto vm = Instance::create(std::move(p), caps, limits, std::move(sink), &d);
  if (!vm) {
    if (d.file.empty()) d.file = file;
    throw Failure(kRejected, d.str());
  }
  print_warnings(vm->warnings());
  return vm;
}

void print_warnings(const std::vector<Diagnostic>& warnings) {
  for (const Diagnostic& w : warnings) std::cerr << w.str() << "\n";
}

PcapReader::PcapReader(const std::string& path) : path_(path) {
  char err[PCAP_ERRBUF_SIZE] = "";
  p_ = pcap_open_offline(path.c_str(), err);
  if (!p_) throw Failure(kBadInput, path + ": " + err);
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
  throw Failure(kBadInput, path_ + ": " + pcap_geterr(p_));
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
      throw Failure(kBadInput, path_ + ": link type " +
                                   std::string(pcap_datalink_val_to_name(pcap_datalink(p_)) ?: "") +
                                   " (" + std::to_string(pcap_datalink(p_)) +
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

PcapWriter::PcapWriter(const std::string& path, int datalink, int snaplen) : path_(path) {
  tools::PcapDump::Options o;
  o.dlt = datalink;
  o.snaplen = snaplen;
  int error = 0;
  std::string why;
  dump_ = tools::PcapDump::open(path, o, &error, &why);
  if (!dump_) throw Failure(kBadInput, path + ": " + why);
}

PcapWriter::~PcapWriter() = default;

void PcapWriter::write(const struct timeval& ts, const uint8_t* data, uint32_t len,
                       uint32_t wire_len) {
  if (!dump_->write(ts, data, len, wire_len))
    throw Failure(kBadInput, path_ + ": write error: " + dump_->error());
}

void PcapWriter::close() {
  if (!dump_->close()) throw Failure(kBadInput, path_ + ": write error: " + dump_->error());
}

}  // namespace netcpu::cli
