#include "cli_common.h"

#include <cstring>
#include <iostream>

#include "netcpu/bpf_translate.h"
#include "netcpu/file.h"
#include "netcpu/load.h"

namespace netcpu::cli {

std::vector<uint8_t> read_file(const std::string& path) {
  FileError why;
  auto bytes = read_whole_file(path, &why);
  if (!bytes) throw Failure(kBadInput, path + (why.at_open ? ": cannot open" : ": read error"));
  return std::move(*bytes);
}

std::vector<std::string> split_quoted(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (char c : text) {
    if (quote) {
      if (c == quote)
        quote = 0;
      else
        word += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == ' ' || c == '\t') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote) throw Failure(kUsage, "unterminated " + std::string(1, quote) + " in: " + text);
  if (in_word) words.push_back(std::move(word));
  return words;
}

namespace {

Program loaded(std::optional<Program> p, const LoadError& error, const std::string& what) {
  if (!p) throw Failure(error.bad_input ? kBadInput : kRejected, what + error.text);
  return std::move(*p);
}

}  // namespace

Program load_program(const std::string& path) {
  LoadError error;
  return loaded(program_from_bytes(read_file(path), path, &error), error, "");
}

Program program_from_filter(const std::string& expr, int dlt, uint32_t netmask) {
  LoadError error;
  return loaded(netcpu::program_from_filter(expr, dlt, netmask, "<filter>", &error), error,
                "filter '" + expr + "': ");
}

Program program_from_filter(const std::string& expr, const PcapReader& capture, uint32_t netmask) {
  LoadError error;
  return loaded(netcpu::program_from_filter(expr, capture.handle(), netmask, "<filter>", &error),
                error, "filter '" + expr + "': ");
}

std::unique_ptr<Instance> instantiate(Program p, const HostCaps& caps, const Limits& limits,
                                      OutputSink sink) {
  LoadError error;
  const std::string file = p.source_file;
  auto vm = netcpu::instantiate(std::move(p), caps, limits, std::move(sink), file, &error);
  if (!vm) throw Failure(kRejected, error.text);
  print_warnings(vm->warnings());
  return vm;
}

void print_warnings(const std::vector<Diagnostic>& warnings) {
  for (const Diagnostic& w : warnings) std::cerr << w.str() << "\n";
}

PcapWriter::PcapWriter(const std::string& path, int datalink, int snaplen) : path_(path) {
  PcapDump::Options o;
  o.dlt = datalink;
  o.snaplen = snaplen;
  int error = 0;
  std::string why;
  dump_ = PcapDump::open(path, o, &error, &why);
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
