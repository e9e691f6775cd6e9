// netcpu asm, dis and check: the assemble / read back / verify loop.
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"

namespace netcpu::cli {

int cmd_asm(const std::string& src, const std::string& out) {
  Program p = load_program(src);
  Diagnostic d;
  auto info = verify(p, nullptr, &d);
  if (!info) throw Failure(kRejected, d.str());
  print_warnings(info->warnings);
  std::vector<uint8_t> bytes = encode_bytecode(p);
  std::ofstream f(out, std::ios::binary | std::ios::trunc);
  if (!f.write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size())))
    throw Failure(kBadInput, out + ": cannot write");
  return kOk;
}

int cmd_dis(const std::string& file, bool loc, bool pcs) {
  Program p = load_program(file);
  DisasmOptions opt;
  opt.loc = loc;
  opt.pcs = pcs;
  std::cout << disassemble(p, opt);
  return kOk;
}

int cmd_check(const std::string& file, bool json) {
  Program p = load_program(file);
  Diagnostic d;
  auto info = verify(p, nullptr, &d);
  if (!info) throw Failure(kRejected, d.str());
  print_warnings(info->warnings);
  static const char* const kinds[] = {"hash", "array", "lpm4", "lpm6", "lru"};
  std::vector<std::string> needs;
  for (const Insn& in : p.code) {
    uint16_t f = op_info(in.op).flags;
    auto need = [&](uint16_t bit, const char* what) {
      if ((f & bit) && std::find(needs.begin(), needs.end(), what) == needs.end())
        needs.push_back(what);
    };
    need(flag::kRedirect, "redirect");
    need(flag::kMirror, "mirror");
    need(flag::kEmit, "emit");
    need(flag::kResize, "resize");
  }
  // Whether packets would run natively, from a load as a host does it.
  std::string jit = "not loaded";
  {
    Diagnostic load_error;
    if (auto vm = Instance::create(p, HostCaps{}, Limits{}, nullptr, &load_error))
      jit = vm->runs_as();
  }
  if (json) {
    nlohmann::json j;
    j["file"] = file;
    j["jit"] = jit;
    j["name"] = p.name;
    j["instructions"] = info->instructions;
    j["stack_slots"] = info->max_stack;
    j["call_depth"] = info->max_call_depth;
    j["heap_bytes"] = p.data.size();
    j["writes_packet"] = info->writes_packet;
    j["needs"] = needs;
    // As the consoles print it: a 64-bit number in JSON loses digits in jq
    // and JavaScript, which read numbers as doubles.
    j["hash"] = hash_hex(program_hash(p));
    j["warnings"] = nlohmann::json::array();
    for (const Diagnostic& w : info->warnings) j["warnings"].push_back(w.str());
    j["tables"] = nlohmann::json::array();
    for (const auto& t : p.tables)
      j["tables"].push_back({{"name", t.name},
                             {"kind", kinds[static_cast<int>(t.kind)]},
                             {"key", t.key_size},
                             {"value", t.value_size},
                             {"max", t.max_entries},
                             {"idle_ms", t.idle_ms}});
    j["timers"] = nlohmann::json::array();
    for (const auto& t : p.timers)
      j["timers"].push_back({{"name", t.name}, {"period_ms", t.period_ms}});
    std::cout << j.dump(2) << "\n";
    return kOk;
  }
  std::cout << file << ": ok\n"
            << "  program:      " << p.name << "\n"
            << "  instructions: " << info->instructions << "\n"
            << "  stack:        " << info->max_stack << " of " << kStackSlots << " slots\n"
            << "  call depth:   " << info->max_call_depth << " of " << kMaxCallDepth << "\n"
            << "  heap:         " << p.data.size() << " bytes\n"
            << "  writes packet: " << (info->writes_packet ? "yes" : "no") << "\n"
            << "  runs as:      " << jit << "\n";
  if (!needs.empty()) {
    std::cout << "  needs:        ";
    for (size_t i = 0; i < needs.size(); ++i) std::cout << (i ? ", " : "") << needs[i];
    std::cout << "\n";
  }
  for (const auto& t : p.tables)
    std::cout << "  table:        " << t.name << " " << kinds[static_cast<int>(t.kind)] << " key "
              << t.key_size << " value " << t.value_size << " max " << t.max_entries
              << (t.idle_ms ? " idle " + std::to_string(t.idle_ms) + " ms" : "") << "\n";
  for (const auto& t : p.timers)
    std::cout << "  timer:        " << t.name << " every " << t.period_ms << " ms\n";
  return kOk;
}

}  // namespace netcpu::cli
