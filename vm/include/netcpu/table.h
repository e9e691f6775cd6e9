// Tables (2004's flow-classification structure; eBPF's maps): fixed-capacity
// containers preallocated at load, so lookups and updates never allocate.
// Keys are byte strings (numbers in network byte order, so a key built from
// ip.src equals the 4 bytes in the packet); numeric values are stored in host
// byte order in the first min(value_size, 8) bytes.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <span>

#include "netcpu/clock.h"
#include "netcpu/program.h"

namespace netcpu {

// The hash of keys of at most 8 bytes, given as the little-endian word of
// their bytes: one 64x64->128-bit multiply by a seeded odd constant, folded
// (wyhash's mum). Here, inline, for the probes that run without a call
// (Table::WordProbe); table.cpp hashes longer keys with the same mum.
namespace table_hash {
inline uint64_t mum(uint64_t a, uint64_t b) {
#if defined(__x86_64__)
  // One mul, its two halves in rax and rdx: GCC spills an __int128 product
  // to the stack and reloads it where registers are short (the
  // interpreter's loop), three instructions of a table probe.
  uint64_t lo, hi;
  asm("mulq %3" : "=a"(lo), "=d"(hi) : "a"(a), "rm"(b) : "cc");
  return lo ^ hi;
#else
  const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
#endif
}
// The multiplier of an n-byte key's word under a table's seed.
inline uint64_t word_multiplier(size_t n, uint64_t seed) {
  return (std::rotl(seed, 32) ^ (n * 0x9e3779b97f4a7c15ull)) | 1;
}
}  // namespace table_hash

// The time, in milliseconds, by which lru tables and tables with an idle
// timeout ("timed tables") stamp and age their entries. An Instance has one
// for all its tables and sets it before each run to what the program's `now`
// reads, so a program's `now` and its tables' ages agree; a table created
// alone has its own, which its user sets. 0 is not a time: it means the
// steady clock, read once at the first need and kept for the run.
struct TableClock {
  uint64_t now_ms = 0;   // the time of the run (or host access) in progress
  uint64_t run_ms = 0;   // PacketMeta::now_ms of the last run (0: the steady clock)
  uint64_t tick_ms = 0;  // the host's last tick (Instance::expire_tables)

  uint64_t now() { return now_ms ? now_ms : (now_ms = steady_ms()); }
  void start_run(uint64_t meta_now_ms) { run_ms = now_ms = meta_now_ms; }
  // A host reading or changing tables between runs: a host whose runs take
  // the steady clock (every host: switch, cable, lwIPv6) sees the steady
  // clock now; one that gives its runs their time (`netcpu run`'s capture
  // timestamps, tests) sees the later of its last run's and its last tick's.
  void host_access() { now_ms = run_ms ? std::max(run_ms, tick_ms) : 0; }
};

class Table {
 public:
  virtual ~Table() = default;

  // Checks the declaration (sizes, kind) and preallocates everything.
  // Returns nullptr with `why` set when the declaration is invalid.
  // `seed` picks the hash function of hash and LPM tables: a host seeds each
  // load at random, so that keys chosen to collide in one load do not in the
  // next (0: a function of the declaration alone, the same on every run).
  static std::unique_ptr<Table> create(const TableDecl& decl, std::string* why = nullptr,
                                       uint64_t seed = 0);

  // The bytes create() preallocates for decl (0 for an invalid one): what a
  // program's tables cost its host whether or not they fill.
  static uint64_t memory_bytes(const TableDecl& decl);

  const TableDecl& decl() const { return decl_; }

  // The value stored for key (key_size bytes), or nullptr. Array: key is a
  // 4-byte big-endian index. LPM: key is a full address; the longest matching
  // prefix wins.
  virtual uint8_t* lookup(const uint8_t* key) = 0;

  // Insert or replace. prefix_len is for LPM tables (0..32 / 0..128; ignored
  // by the others). Returns false when the table is full or the key invalid
  // (array index out of range, prefix too long).
  virtual bool update(const uint8_t* key, const uint8_t* value, uint32_t prefix_len = 0) = 0;

  // Remove an entry (exact key and prefix for LPM); false if absent. Array
  // entries cannot be removed: erase zeroes the value.
  virtual bool erase(const uint8_t* key, uint32_t prefix_len = 0) = 0;

  // Value slot for key, inserted zero-filled if missing (LPM: exact full-length
  // prefix). nullptr when full. Used by atomic add.
  virtual uint8_t* find_or_insert(const uint8_t* key) = 0;

  // For native code: lookup() and find_or_insert() with the key given as a
  // number (the VM's key of a number: its key_size low bytes, big-endian),
  // building no key bytes and calling nothing virtual. Hash tables with
  // keys of at most 8 bytes and array tables have them; nullptr elsewhere.
  using NumberKeyFn = uint8_t* (*)(Table& t, uint64_t number);
  // And lookup() and find_or_insert() as plain functions, for native code
  // with a key in memory (a flow key a program builds in a buffer).
  static uint8_t* lookup_bytes(Table& t, const uint8_t* key) { return t.lookup(key); }
  static uint8_t* find_or_insert_bytes(Table& t, const uint8_t* key) {
    return t.find_or_insert(key);
  }
  // Set by each kind at construction, so that a caller (the interpreter
  // too) reaches them without a virtual call.
  NumberKeyFn number_lookup() const { return number_lookup_; }
  NumberKeyFn number_find_or_insert() const { return number_find_or_insert_; }

  // For native code that probes a hash table with keys and values of at
  // most 8 bytes each itself (what number_lookup() does, inline): where the
  // slots are and the constants of the hash. The key word w is the key's
  // bytes as a little-endian word; its hash is lo ^ hi of the 128-bit (w ^
  // seed) * mul; the tag is its low 32 bits with bit 31 set; the home slot
  // tag & mask; slot i matches when tags[i] == tag and the 8 bytes at slots
  // + i * kSlotSize (the key, zero-padded) equal w; an empty slot (tag 0)
  // ends the probe. The value is the slot's second 8 bytes.
  struct WordProbe {
    static constexpr uint32_t kLive = 0x80000000u;  // a used slot's tag has it
    static constexpr uint32_t kSlotSize = 16, kValueOffset = 8;

    const uint32_t* tags;
    uint8_t* slots;
    uint32_t mask;
    uint32_t word_shift;  // 64 - 8 * key_size
    uint64_t seed, mul;

    // The word of the key made of a number (its key_size low bytes, big-endian).
    uint64_t word(uint64_t number) const { return __builtin_bswap64(number) >> word_shift; }
    uint32_t tag(uint64_t w) const { return uint32_t(table_hash::mum(w ^ seed, mul)) | kLive; }
    // The value slot of the key made of number, or nullptr: number_lookup(), inline.
    uint8_t* find(uint64_t number) const {
      const uint64_t w = word(number);
      const uint32_t t = tag(w);
      for (uint32_t i = t & mask;; i = (i + 1) & mask) {
        if (tags[i] == t) {
          uint8_t* slot = slots + size_t(i) * kSlotSize;
          uint64_t k;
          std::memcpy(&k, slot, 8);
          if (k != w) continue;
          if (!slot) __builtin_unreachable();  // (a caller's test of nullptr folds away here)
          return slot + kValueOffset;
        }
        if (tags[i] == 0) return nullptr;
      }
    }
  };
  // For native code that indexes an array table itself: index i (the key's
  // 4 bytes, big-endian) has its value at values + i * stride when i <
  // entries, and none otherwise.
  struct IndexProbe {
    uint8_t* values;
    uint32_t entries, stride;

    // The value slot of the index in number's low 4 bytes, or nullptr.
    uint8_t* find(uint64_t number) const {
      const uint32_t i = static_cast<uint32_t>(number);
      return i < entries ? values + size_t(i) * stride : nullptr;
    }
  };
  // How a caller (the native code, the interpreter) reaches the slot of a
  // number key without a call where it can: a hash table's probe (Word),
  // an array's index (Index), else the number-keyed functions (Call: lru
  // and idle tables, which stamp and relink on every use); None where there
  // are none (LPM, longer keys). Fixed for the table's life.
  struct NumberProbe {
    enum class Way : uint8_t { None, Word, Index, Call };
    Way way = Way::None;
    WordProbe word{};
    IndexProbe index{};
    uint64_t value_mask = 0;  // the bits of a value slot's first 8 bytes that hold the value

    // number_lookup() and number_find_or_insert() of t (the table this is
    // its probe of), inline where they can be.
    uint8_t* lookup(Table& t, uint64_t number) const {
      if (way == Way::Word) return word.find(number);
      if (way == Way::Index) return index.find(number);
      return t.number_lookup_(t, number);
    }
    uint8_t* find_or_insert(Table& t, uint64_t number) const {
      if (way == Way::Index) return index.find(number);
      if (way == Way::Word)
        if (uint8_t* v = word.find(number)) return v;
      return t.number_find_or_insert_(t, number);  // inserts it, or fails on a full table
    }
  };
  const NumberProbe& number_probe() const { return number_probe_; }

  // Entries held: for a table with an idle timeout, expired ones that
  // expire() has not removed yet count too (readers skip them).
  virtual size_t size() const = 0;
  virtual void clear() = 0;

  // Timed tables (kind lru, or an idle timeout). A use is a program's lookup
  // that finds the entry, update, tadd (find_or_insert) and a host's
  // update(); a host's reads (for_each, age_ms) and walks are not.
  bool timed() const { return decl_.kind == TableKind::Lru || decl_.idle_ms != 0; }
  // The clock the table reads; by default its own (set its now_ms).
  void use_clock(TableClock* clock) { clock_ = clock; }
  TableClock& clock() { return *clock_; }
  // How long ago the entry of key was last used, when the table is timed
  // and holds it unexpired; nullopt otherwise.
  virtual std::optional<uint64_t> age_ms(const uint8_t* /*key*/) const { return std::nullopt; }
  // Removes up to max_removals entries idle for idle_ms or more at now_ms,
  // the least recently used first, in time proportional to those removed.
  // Returns how many it removed.
  virtual uint32_t expire(uint64_t /*now_ms*/, uint32_t /*max_removals*/) { return 0; }
  // Entries an lru table removed to make room, and entries removed or
  // replaced because they had expired.
  uint64_t evicted() const { return evicted_.load(std::memory_order_relaxed); }
  uint64_t expired() const { return expired_.load(std::memory_order_relaxed); }

  // Walks (the `foreach` instruction). A walk visits the entries in slot
  // order from a cursor: 0 starts it, and walk_next() advances it past the
  // entry it returns, so a walk is resumable and visits each slot at most
  // once, which bounds it. While a walk is open nothing moves: removals leave
  // their slot marked as removed (lookups skip it) and the last walk_end()
  // tidies up. So every entry present when the walk starts and not removed
  // before the cursor reaches it is visited exactly once; an entry inserted
  // during the walk may or may not be. Walks do not count as use (LRU order,
  // idle time). An array walk visits every index; an LPM walk gives the
  // address (prefix_len tells the prefix).
  struct Entry {
    const uint8_t* key;
    uint8_t* value;
    uint32_t prefix_len;
  };
  void walk_begin() { ++walks_; }
  virtual bool walk_next(uint64_t* cursor, Entry* entry) = 0;
  void walk_end() {
    if (walks_ > 0 && --walks_ == 0) tidy();
  }
  // Closes every open walk (a run stopped inside foreach bodies).
  void end_walks() {
    if (walks_ > 0) {
      walks_ = 0;
      tidy();
    }
  }
  uint32_t walks_open() const { return walks_; }

  // Every entry; prefix_len is the prefix for LPM tables and the key size in
  // bits otherwise. Value slots are 8-byte aligned.
  using Visitor = std::function<void(std::span<const uint8_t> key, uint32_t prefix_len,
                                     std::span<const uint8_t> value)>;
  virtual void for_each(const Visitor& visit) const = 0;

 protected:
  explicit Table(const TableDecl& d) : decl_(d) {
    number_probe_.value_mask =
        d.value_size < 8 ? (uint64_t{1} << 8 * d.value_size) - 1 : ~uint64_t{0};
  }
  // Compacts what removals left behind during walks.
  virtual void tidy() {}
  // The thread that uses the table is the counters' only writer (as Stats).
  static void count(std::atomic<uint64_t>& c, uint64_t n = 1) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  TableDecl decl_;
  NumberKeyFn number_lookup_ = nullptr, number_find_or_insert_ = nullptr;
  NumberProbe number_probe_;
  uint32_t walks_ = 0;
  TableClock own_clock_;
  TableClock* clock_ = &own_clock_;
  std::atomic<uint64_t> evicted_{0}, expired_{0};
};

}  // namespace netcpu
