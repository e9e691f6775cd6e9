// The commands on the programs' tables: table/list, table/dump, table/get,
// table/set, table/del.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "console_words.h"
#include "control_json.h"
#include "netcpu/control.h"
#include "table_text.h"

namespace netcpu {

ControlReply Control::cmd_table_list(const std::vector<std::string>& w, bool json) {
  ControlReply err;
  auto points = selection(w, err);
  if (!points) return err;
  std::string text =
      "POINT      TABLE            KIND  KEY VALUE     MAX ENTRIES    IDLE  EVICTED  EXPIRED";
  nlohmann::json rows = nlohmann::json::array();
  for (AttachPoint* point : *points) {
    AttachPoint& at = *point;
    Instance* vm = at.program();
    if (!vm) continue;
    for (size_t i = 0; i < vm->table_count(); ++i) {
      const Table& t = vm->table(i);
      const TableDecl& d = t.decl();
      if (json) {
        rows.push_back({{"point", at.name()},
                        {"table", d.name},
                        {"kind", table_kind_name(d.kind)},
                        {"key_size", d.key_size},
                        {"value_size", d.value_size},
                        {"max_entries", d.max_entries},
                        {"entries", t.size()},
                        {"idle_ms", d.idle_ms},
                        {"evicted", t.evicted()},
                        {"expired", t.expired()}});
        continue;
      }
      // "-" where the kind has no such thing: no timeout, no eviction.
      const std::string idle = d.idle_ms ? format_period(d.idle_ms) : "-";
      const std::string evicted = d.kind == TableKind::Lru ? std::to_string(t.evicted()) : "-";
      const std::string expired = d.idle_ms ? std::to_string(t.expired()) : "-";
      char line[320];
      std::snprintf(line, sizeof line, "%-10s %-16s %-5s %3u %5u %7u %7zu %7s %8s %8s",
                    at.name().c_str(), d.name.c_str(), table_kind_name(d.kind), d.key_size,
                    d.value_size, d.max_entries, t.size(), idle.c_str(), evicted.c_str(),
                    expired.c_str());
      text += "\n";
      text += line;
    }
  }
  return json ? json_reply(rows) : ControlReply{0, text};
}

Table* Control::table_of(const std::vector<std::string>& w, size_t extra, const std::string& syntax,
                         AttachPoint*& at, ControlReply& err) {
  size_t used;
  at = point(w, used, err);
  if (!at) return nullptr;
  if (w.size() != used + extra) {
    err = fail(EINVAL, "expected " + opt_.point_syntax + syntax);
    return nullptr;
  }
  if (!at->program()) {
    err = fail(ENOENT, at->name() + " has no program");
    return nullptr;
  }
  Table* t = at->program()->find_table(w[used]);
  if (!t) err = fail(ENOENT, at->name() + " has no table " + w[used]);
  return t;
}

namespace {

struct Entry {
  std::vector<uint8_t> key;
  uint32_t prefix;
  std::string text, value;
  std::optional<uint64_t> age_ms;  // timed tables: since the entry's last use
};

// A table's entries in key order (keys are big-endian bytes: numbers,
// addresses and prefixes sort as they read), arrays' unset indexes left out.
std::vector<Entry> sorted_entries(const Table& t) {
  std::vector<Entry> entries;
  const TableDecl& d = t.decl();
  t.for_each([&](std::span<const uint8_t> key, uint32_t prefix, std::span<const uint8_t> value) {
    if (d.kind == TableKind::Array &&
        std::all_of(value.begin(), value.end(), [](uint8_t b) { return !b; }))
      return;  // arrays have every index: show the set ones
    entries.push_back({{key.begin(), key.end()},
                       prefix,
                       format_key(d, key, prefix),
                       format_value(d, value.first(d.value_size)),
                       t.age_ms(key.data())});
  });
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.key, a.prefix) < std::tie(b.key, b.prefix);
  });
  return entries;
}

// Whether an LPM entry's prefix holds the address.
bool holds(const Entry& e, const std::vector<uint8_t>& address) {
  for (uint32_t bit = 0; bit < e.prefix; ++bit) {
    const uint8_t mask = static_cast<uint8_t>(0x80u >> (bit % 8));
    if ((e.key[bit / 8] & mask) != (address[bit / 8] & mask)) return false;
  }
  return true;
}

}  // namespace

ControlReply Control::cmd_table_dump(const std::vector<std::string>& w, bool json) {
  ControlReply err;
  AttachPoint* at;
  Table* t = table_of(w, 1, " TABLE", at, err);
  if (!t) return err;
  const auto entries = sorted_entries(*t);
  if (json) {
    nlohmann::json list = nlohmann::json::array();
    for (const Entry& e : entries) {
      list.push_back({{"key", e.text}, {"value", e.value}});
      if (e.age_ms) list.back()["age_ms"] = *e.age_ms;
    }
    return json_reply({{"point", at->name()},
                       {"table", t->decl().name},
                       {"kind", table_kind_name(t->decl().kind)},
                       {"count", entries.size()},
                       {"entries", list}});
  }
  // KEY VALUE lines (timed tables: then "age" and the time since the
  // entry's last use), then how many (bpftool's "Found N elements").
  std::string text;
  for (const Entry& e : entries) {
    text += e.text + " " + e.value;
    if (e.age_ms) text += " age " + std::to_string(*e.age_ms) + "ms";
    text += "\n";
  }
  return {0, text + std::to_string(entries.size()) + (entries.size() == 1 ? " entry" : " entries")};
}

// One entry by its key; an address without a prefix in an LPM table finds
// the longest prefix that holds it, as a program's lookup does.
ControlReply Control::cmd_table_get(const std::vector<std::string>& w, bool json) {
  ControlReply err;
  AttachPoint* at;
  Table* t = table_of(w, 2, " TABLE KEY", at, err);
  if (!t) return err;
  const TableDecl& d = t->decl();
  const std::string& text = w.back();
  std::vector<uint8_t> key;
  uint32_t prefix = 0;
  std::string why;
  if (!parse_key(d, text, key, prefix, &why)) return fail(EINVAL, why);
  const bool lpm = d.kind == TableKind::Lpm4 || d.kind == TableKind::Lpm6;
  const bool longest = lpm && text.find('/') == std::string::npos;
  const Entry* found = nullptr;
  const auto entries = sorted_entries(*t);
  for (const Entry& e : entries)
    if (longest ? holds(e, key) && (!found || e.prefix > found->prefix)
                : e.key == key && (!lpm || e.prefix == prefix))
      found = &e;
  // An array's index is there even unset: its value is 0.
  Entry unset;
  if (!found && d.kind == TableKind::Array && t->lookup(key.data())) {
    unset = {key, 32, format_key(d, key, 0), format_value(d, std::vector<uint8_t>(d.value_size)),
             std::nullopt};
    found = &unset;
  }
  if (!found) return fail(ENOENT, "no entry " + text + " in " + d.name);
  if (json) {
    nlohmann::json reply = {{"point", at->name()},
                            {"table", d.name},
                            {"lookup", text},
                            {"key", found->text},
                            {"value", found->value}};
    if (found->age_ms) reply["age_ms"] = *found->age_ms;
    return json_reply(reply);
  }
  return {0, found->text + " " + found->value +
                 (found->age_ms ? " age " + std::to_string(*found->age_ms) + "ms" : "")};
}

ControlReply Control::cmd_table_set(const std::vector<std::string>& w, bool del) {
  ControlReply err;
  size_t used;
  AttachPoint* at = point(w, used, err);
  if (!at) return err;
  size_t want = used + (del ? 2 : 3);
  if (w.size() != want)
    return fail(EINVAL,
                "expected " + opt_.point_syntax + (del ? " TABLE KEY" : " TABLE KEY VALUE"));
  if (!at->program()) return fail(ENOENT, at->name() + " has no program");
  Table* t = at->program()->find_table(w[used]);
  if (!t) return fail(ENOENT, at->name() + " has no table " + w[used]);
  std::vector<uint8_t> key;
  uint32_t prefix = 0;
  std::string why;
  if (!parse_key(t->decl(), w[used + 1], key, prefix, &why)) return fail(EINVAL, why);
  if (del) {
    if (!t->erase(key.data(), prefix)) return fail(ENOENT, "no entry " + w[used + 1]);
    return {0, "deleted " + w[used + 1]};
  }
  std::vector<uint8_t> value;
  if (!parse_value(t->decl(), w[used + 2], value, &why)) return fail(EINVAL, why);
  if (!t->update(key.data(), value.data(), prefix))
    return fail(ENOSPC, "table " + w[used] + " is full (or the key is out of range)");
  return {0, "set " + w[used + 1] + " " + w[used + 2]};
}
}  // namespace netcpu
