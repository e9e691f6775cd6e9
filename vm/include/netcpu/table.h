// Tables (2004's flow-classification structure; eBPF's maps): fixed-capacity
// containers preallocated at load, so lookups and updates never allocate.
// Keys are byte strings (numbers in network byte order, so a key built from
// ip.src equals the 4 bytes in the packet); numeric values are stored in host
// byte order in the first min(value_size, 8) bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "netcpu/program.h"

namespace netcpu {

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
  virtual NumberKeyFn number_lookup() const { return nullptr; }
  virtual NumberKeyFn number_find_or_insert() const { return nullptr; }

  // For native code that probes a hash table with keys of at most 8 bytes
  // itself (what number_lookup() does, inline): where the slots are and the
  // constants of the hash. The key word w is the key's bytes as a
  // little-endian word; its hash is lo ^ hi of the 128-bit (w ^ seed) * mul;
  // the tag is its low 32 bits with bit 31 set; the home slot tag & mask;
  // slot i matches when tags[i] == tag and the 8 bytes at keys + i *
  // key_size, masked with key_mask, equal w; an empty slot (tag 0) ends the
  // probe. The value is at values + i * stride.
  struct WordProbe {
    const uint32_t* tags;
    const uint8_t* keys;
    uint8_t* values;
    uint32_t mask, key_size, stride;
    uint64_t seed, mul, key_mask;
  };
  virtual bool word_probe(WordProbe*) const { return false; }

  virtual size_t size() const = 0;
  virtual void clear() = 0;

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
  explicit Table(const TableDecl& d) : decl_(d) {}
  // Compacts what removals left behind during walks.
  virtual void tidy() {}
  TableDecl decl_;
  uint32_t walks_ = 0;
};

}  // namespace netcpu
