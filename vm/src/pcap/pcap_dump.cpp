#include "netcpu/pcap_dump.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "netcpu/bpf_translate.h"

namespace netcpu {
namespace {

// Whether the file at `path` is one `keep_other_files` lets be overwritten:
// not there, empty, no regular file (a device, a FIFO) or a capture already.
bool replaceable(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) return true;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return true;  // the open for writing says why
  uint32_t magic = 0;
  const bool read_it = ::read(fd, &magic, sizeof magic) == static_cast<ssize_t>(sizeof magic);
  ::close(fd);
  for (uint32_t m : {0xa1b2c3d4u, 0xa1b23c4du, 0x0a0d0d0au})
    if (read_it && (magic == m || magic == __builtin_bswap32(m))) return true;
  return false;
}

}  // namespace

std::unique_ptr<PcapDump> PcapDump::open(const std::string& path, const Options& o, int* error,
                                         std::string* why) {
  auto refuse = [&](int e, std::string text) {
    *error = e;
    *why = std::move(text);
    return nullptr;
  };
  if (o.keep_other_files && !replaceable(path))
    return refuse(EEXIST,
                  "exists and is not a capture file (pcap or pcapng): not overwritten; remove it "
                  "or name another file");
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return refuse(errno, std::strerror(errno));
  FILE* f = fdopen(fd, "w");
  if (!f) {
    const int e = errno;
    ::close(fd);
    return refuse(e, std::strerror(e));
  }
  // A large buffer: a busy capture costs one write(2) per 64 KiB.
  setvbuf(f, nullptr, _IOFBF, 1 << 16);
  pcap_t* dead = pcap_open_dead(o.dlt, o.snaplen);
  if (!dead) {
    fclose(f);
    return refuse(ENOMEM, "pcap_open_dead failed");
  }
  pcap_dumper_t* d = pcap_dump_fopen(dead, f);
  if (!d) {
    std::string e = pcap_geterr(dead);
    pcap_close(dead);
    fclose(f);
    return refuse(EIO, e);
  }
  std::unique_ptr<PcapDump> dump(new PcapDump(dead, d, f));
  if (!dump->flush()) return refuse(dump->error_number_, dump->error());
  // A file size limit (RLIMIT_FSIZE) kills the process at the write that
  // passes it unless SIGXFSZ is ignored: then that write fails (EFBIG), and
  // the file stops with the reason while its host (a switch) goes on.
  struct sigaction xfsz {};
  if (sigaction(SIGXFSZ, nullptr, &xfsz) == 0 && xfsz.sa_handler == SIG_DFL)
    signal(SIGXFSZ, SIG_IGN);
  return dump;
}

PcapDump::~PcapDump() { close(); }

bool PcapDump::failed(int error) {
  if (!error_.empty()) return false;
  error_number_ = error ? error : EIO;
  error_ = std::strerror(error_number_);
  return false;
}

bool PcapDump::write(const struct timeval& ts, const uint8_t* data, uint32_t caplen,
                     uint32_t wire_len) {
  if (!d_ || !error_.empty()) return false;
  struct pcap_pkthdr h {};
  h.ts = ts;
  h.caplen = caplen;
  h.len = wire_len ? wire_len : caplen;
  errno = 0;
  pcap_dump(reinterpret_cast<u_char*>(d_), &h, data);
  if (ferror(file_)) return failed(errno);
  bytes_ += kRecordHeader + caplen;
  return true;
}

bool PcapDump::flush() {
  if (!d_ || !error_.empty()) return error_.empty();
  errno = 0;
  if (pcap_dump_flush(d_) != 0 || ferror(file_)) return failed(errno);
  return true;
}

bool PcapDump::close() {
  if (!d_) return error_.empty();
  flush();
  pcap_dump_close(d_);  // fclose: nothing left to write
  pcap_close(dead_);
  d_ = nullptr;
  dead_ = nullptr;
  return error_.empty();
}

namespace {

class PcapCaptureSink final : public CaptureSink {
 public:
  explicit PcapCaptureSink(std::unique_ptr<PcapDump> dump) : dump_(std::move(dump)) {}
  bool write(const uint8_t* frame, uint32_t len) override {
    struct timeval tv {};
    gettimeofday(&tv, nullptr);
    if (!dump_->write(tv, frame, len)) return false;
    if (tv.tv_sec == flushed_) return true;
    flushed_ = tv.tv_sec;
    return dump_->flush();
  }
  bool flush() override { return dump_->flush(); }
  bool close() override { return dump_->close(); }
  uint64_t file_bytes() const override { return dump_->bytes(); }
  uint64_t record_bytes(uint32_t len) const override { return PcapDump::kRecordHeader + len; }
  std::string error() const override { return dump_->error(); }

 private:
  std::unique_ptr<PcapDump> dump_;
  time_t flushed_ = 0;
};

}  // namespace

std::function<std::unique_ptr<CaptureSink>(const std::string& path, int* error, std::string* why)>
capture_opener(int dlt, uint32_t snaplen) {
  return [dlt, snaplen](const std::string& path, int* error,
                        std::string* why) -> std::unique_ptr<CaptureSink> {
    PcapDump::Options o;
    o.dlt = dlt;
    o.snaplen = static_cast<int>(snaplen);
    o.keep_other_files = true;
    auto dump = PcapDump::open(path, o, error, why);
    if (!dump) return nullptr;
    return std::make_unique<PcapCaptureSink>(std::move(dump));
  };
}

std::function<std::unique_ptr<CaptureSink>(const std::string& path, int* error, std::string* why)>
capture_opener(const HostCaps& caps) {
  return capture_opener(link_dlt(caps.link), caps.max_packet);
}

}  // namespace netcpu
