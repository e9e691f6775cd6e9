// Table implementations. Every byte a table will ever use is allocated in
// create(), so the data path (lookup/update/erase/find_or_insert) cannot fail
// for lack of memory and never takes an allocator lock.
#include "netcpu/table.h"

#include <array>
#include <bit>
#include <cstring>
#include <new>
#include <optional>
#include <string>

#include "byte_order.h"

namespace netcpu {
namespace {

constexpr uint32_t kLpm4Bytes = 4;
constexpr uint32_t kLpm6Bytes = 16;

// Value slots are padded to 8 bytes so the VM's atomic adds (atomic_ref<uint64_t>)
// always land on an aligned word; a hash table's keys too, ahead of their
// values in one slot.
constexpr uint32_t value_stride(uint32_t value_size) { return (value_size + 7) & ~7u; }
constexpr uint32_t key_stride(uint32_t key_size) { return value_stride(key_size); }

uint64_t load64(const uint8_t* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}
uint64_t load32(const uint8_t* p) {
  uint32_t w;
  std::memcpy(&w, p, 4);
  return w;
}

// splitmix64's finaliser: cheap, and every input bit reaches every output bit,
// which linear probing needs because only the low bits pick the slot.
uint64_t fmix64(uint64_t h) {
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

// Keys of 1 to 8 bytes (addresses, ports, pairs of them: most keys), as the
// little-endian word of their bytes: one 64x64->128-bit multiply by a
// seeded odd constant, folded (table.h's table_hash). Every input bit
// reaches the low bits the home slot takes, at a fraction of fmix64's cost.
using table_hash::mum;
uint64_t hash_word(uint64_t w, size_t n, uint64_t seed) {
  return mum(w ^ seed, table_hash::word_multiplier(n, seed));
}

// Longer keys (flow 5-tuples, IPv6 pairs: 9 to 64 bytes) 16 bytes a step,
// each one multiply of its two words, as wyhash does: a 36-byte key costs
// five multiplies, where a finaliser per word cost it twelve (and most of a
// connection tracker's lookup). The seed goes into every step's first
// word: with a constant there, a key whose word cancelled it would zero the
// product and make every value of the next word collide.
uint64_t hash_bytes(const uint8_t* p, size_t n, uint64_t seed) {
  if (n <= 8) {
    uint64_t w = 0;
    std::memcpy(&w, p, n);
    return hash_word(w, n, seed);
  }
  constexpr uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull,
                     k2 = 0x8ebc6af09c88c6e3ull;
  const uint64_t key = seed ^ k1;
  uint64_t h = seed ^ mum(seed ^ k0, n ^ k1);
  size_t i = 0;
  for (; i + 16 < n; i += 16) h = mum(load64(p + i) ^ key, load64(p + i + 8) ^ h);
  // The last 1..16 bytes as two words read from both ends, overlapping
  // when shorter (the length, in h and below, tells such tails apart);
  // never a byte past the key, which may end a packet.
  const size_t r = n - i;
  const uint8_t* t = p + i;
  uint64_t a, b;
  if (r > 8) {
    a = load64(t), b = load64(p + n - 8);
  } else if (r >= 4) {
    a = load32(t), b = load32(p + n - 4);
  } else {
    a = uint64_t{t[0]} | uint64_t{t[r / 2]} << 8 | uint64_t{t[r - 1]} << 16, b = 0;
  }
  return mum(k2 ^ n, mum(a ^ key, b ^ h));
}

// The declaration's part of the seed: tables with different names get
// unrelated collision patterns even under one load seed. With load seed 0
// the order of for_each (slot order) is the same on every run.
uint64_t table_seed(const TableDecl& d, uint64_t load_seed) {
  uint64_t s = hash_bytes(reinterpret_cast<const uint8_t*>(d.name.data()), d.name.size(),
                          0x2545f4914f6cdd1dull);
  s = fmix64(s ^ (uint64_t(d.kind) << 56) ^ (uint64_t(d.key_size) << 40) ^
             (uint64_t(d.value_size) << 24) ^ d.max_entries);
  return load_seed ? fmix64(s ^ load_seed) : s;
}

// Hash and LPM tables: capacity is at least twice max_entries.
uint64_t hash_capacity(uint32_t max_entries) { return std::bit_ceil(uint64_t{max_entries} * 2); }

// Open addressing with linear probing and backward-shift deletion: no
// tombstones, so probe lengths depend only on the current contents and churn
// does not degrade lookups. Capacity is at least twice max_entries, keeping the
// load factor at or below one half. The one exception is a removal during a
// walk (Table::walk_next), where moving entries would make the walk skip or
// repeat them: it marks the slot removed (kRemoved: no live tag equals it and
// it does not end a probe) and tidy() shifts the marks away once the walks end.
class HashCore {
 public:
  static constexpr uint32_t kNone = ~0u;
  static constexpr uint32_t kRemoved = 1;
  struct IgnoreMoves {
    void operator()(uint32_t, uint32_t) const {}
  };

  HashCore(uint32_t key_size, uint32_t value_size, uint32_t max_entries, uint64_t seed)
      : key_size_(key_size),
        value_size_(value_size),
        key_words_(key_stride(key_size) / 8),
        slot_words_(key_words_ + value_stride(value_size) / 8),
        cap_(static_cast<uint32_t>(hash_capacity(max_entries))),
        mask_(cap_ - 1),
        max_(max_entries),
        seed_(seed),
        tags_(std::make_unique<uint32_t[]>(cap_)),
        slots_(std::make_unique_for_overwrite<uint64_t[]>(size_t(cap_) * slot_words_)),
        words_{tags_.get(), reinterpret_cast<uint8_t*>(slots_.get()),     mask_, 64 - 8 * key_size_,
               seed_,       table_hash::word_multiplier(key_size_, seed_)} {}

  uint32_t find(const uint8_t* key) const {
    return probe(make_tag(key), [&](uint32_t i) { return same_key(i, key); }).first;
  }

  // The slot holding key, or a new zero-filled one; kNone when the key is
  // absent and the table already holds max_entries.
  uint32_t find_or_insert(const uint8_t* key, bool* inserted) {
    const uint32_t tag = make_tag(key);
    return insert_at(probe(tag, [&](uint32_t i) { return same_key(i, key); }), tag, key, inserted);
  }

  // The same for keys of at most 8 bytes given as their little-endian word
  // (the native code's fast path): one hash step and word compares, no
  // library call.
  uint32_t find_word(uint64_t w) const {
    return probe(word_tag(w), [&](uint32_t i) { return holds_word(i, w); }).first;
  }
  uint32_t find_or_insert_word(uint64_t w, bool* inserted) {
    const uint32_t tag = word_tag(w);
    const auto at = probe(tag, [&](uint32_t i) { return holds_word(i, w); });
    return insert_at(at, tag, reinterpret_cast<const uint8_t*>(&w), inserted);
  }

  // in_walk: mark the slot removed instead of moving anything (see above).
  bool erase(const uint8_t* key, bool in_walk) {
    const uint32_t i = find(key);
    if (i == kNone) return false;
    remove(i, in_walk);
    return true;
  }

  // Empties occupied slot i. A backward shift moves entries from one slot to
  // another: on_move(from, to) hears of each move (after it), for a table
  // that keeps more per slot than HashCore does.
  template <class OnMove = IgnoreMoves>
  void remove(uint32_t i, bool in_walk, OnMove on_move = {}) {
    --size_;
    if (in_walk) {
      tags_[i] = kRemoved;
      ++removed_;
    } else {
      close_hole(i, on_move);
    }
  }

  // Shifts away the slots erase() marked during walks.
  template <class OnMove = IgnoreMoves>
  void tidy(OnMove on_move = {}) {
    for (uint32_t i = 0; removed_ > 0 && i < cap_; ++i) {
      if (tags_[i] != kRemoved) continue;
      close_hole(i, on_move);
      --removed_;
    }
  }

  // For a table that acts between the probe and the insertion (lru, idle):
  // where key is, or where it would go.
  struct Probe {
    uint32_t found;  // the key's slot, or kNone
    uint32_t empty;  // the empty slot that ended the probe
    uint32_t tag;
  };
  Probe probe_key(const uint8_t* key) const {
    const uint32_t tag = make_tag(key);
    const auto at = probe(tag, [&](uint32_t i) { return same_key(i, key); });
    return {at.first, at.second, tag};
  }
  Probe probe_word(uint64_t w) const {
    const uint32_t tag = word_tag(w);
    const auto at = probe(tag, [&](uint32_t i) { return holds_word(i, w); });
    return {at.first, at.second, tag};
  }
  // Inserts the absent key p was probed for, zero-filled, as find_or_insert
  // does; p must be fresh (no removal since: one may have emptied a slot
  // before p.empty).
  uint32_t insert(const Probe& p, const uint8_t* key, bool* inserted) {
    return insert_at({p.found, p.empty}, p.tag, key, inserted);
  }
  bool full() const { return size_ >= max_; }
  // Whether a removal now (marking, in a walk) and an insertion would fit:
  // marked slots are not reused until tidy().
  bool room_after_removal(bool in_walk) const { return !in_walk || size_ + removed_ + 1 < cap_; }

  void clear() {
    std::memset(tags_.get(), 0, size_t(cap_) * sizeof(uint32_t));
    size_ = removed_ = 0;
  }

  uint32_t size() const { return size_; }
  uint32_t capacity() const { return cap_; }
  bool occupied(uint32_t i) const { return (tags_[i] & kLive) != 0; }

  // The first occupied slot at or after *cursor, which moves past it;
  // kNone at the end.
  uint32_t next_occupied(uint64_t* cursor) const {
    for (uint64_t i = *cursor; i < cap_; ++i) {
      if (!occupied(uint32_t(i))) continue;
      *cursor = i + 1;
      return uint32_t(i);
    }
    *cursor = cap_;
    return kNone;
  }
  const uint8_t* key_at(uint32_t i) const {
    return reinterpret_cast<const uint8_t*>(slot_words(i));
  }
  uint8_t* value_at(uint32_t i) const { return reinterpret_cast<uint8_t*>(value_words(i)); }
  uint32_t value_size() const { return value_size_; }

  // Keys of at most 8 bytes as words, and numbers as keys: the slots and
  // hash constants for a probe without a call (Table::WordProbe), where
  // values too are at most 8 bytes (its slots are 16 bytes).
  const Table::WordProbe& words() const { return words_; }

 private:
  // Bit 31 marks the slot used; the low bits are the hash, from which the home
  // slot is recovered during deletion (capacity never exceeds 2^21) and which
  // rejects almost every non-matching slot before comparing keys.
  static constexpr uint32_t kLive = Table::WordProbe::kLive;
  uint32_t make_tag(const uint8_t* key) const {
    return uint32_t(hash_bytes(key, key_size_, seed_)) | kLive;
  }
  uint32_t word_tag(uint64_t w) const { return words_.tag(w); }

  // Empties slot hole: pulls later members of the cluster back into the hole
  // whenever that does not move them in front of their home slot, so every
  // remaining key stays reachable from its home without a gap. Slots marked
  // removed stay where they are: they hold no key, and keep the cluster
  // unbroken for the keys beyond them.
  template <class OnMove>
  void close_hole(uint32_t hole, OnMove on_move) {
    for (uint32_t j = (hole + 1) & mask_; tags_[j] != 0; j = (j + 1) & mask_) {
      if (tags_[j] == kRemoved) continue;
      uint32_t home = tags_[j] & mask_;
      if (((j - home) & mask_) >= ((j - hole) & mask_)) {
        move(j, hole);
        on_move(j, hole);
        hole = j;
      }
    }
    tags_[hole] = 0;
  }
  // Slot i holds the key of word w (keys are zero-padded to 8 bytes).
  bool holds_word(uint32_t i, uint64_t w) const { return load64(key_at(i)) == w; }
  bool same_key(uint32_t i, const uint8_t* key) const {
    return std::memcmp(key_at(i), key, key_size_) == 0;
  }

  // {the slot whose tag and key match, or kNone; the empty slot that ends the probe}.
  template <class Match>
  std::pair<uint32_t, uint32_t> probe(uint32_t tag, Match match) const {
    for (uint32_t i = tag & mask_;; i = (i + 1) & mask_) {
      if (tags_[i] == 0) return {kNone, i};
      if (tags_[i] == tag && match(i)) return {i, i};
    }
  }

  uint32_t insert_at(std::pair<uint32_t, uint32_t> at, uint32_t tag, const uint8_t* key,
                     bool* inserted) {
    *inserted = false;
    if (at.first != kNone) return at.first;
    // Marked slots are not reused (a walk may have passed them), so a walk
    // that keeps removing and inserting could use up the empty slots that
    // end every probe: keep one.
    if (size_ >= max_ || size_ + removed_ + 1 >= cap_) return kNone;
    const uint32_t i = at.second;
    tags_[i] = tag;
    // The key's padding zeroed too: a word probe compares all 8 bytes.
    std::memset(slot_words(i), 0, size_t(slot_words_) * 8);
    std::memcpy(slot_words(i), key, key_size_);
    ++size_;
    *inserted = true;
    return i;
  }
  uint64_t* slot_words(uint32_t i) const { return slots_.get() + size_t(i) * slot_words_; }
  uint64_t* value_words(uint32_t i) const { return slot_words(i) + key_words_; }

  void move(uint32_t from, uint32_t to) {
    tags_[to] = tags_[from];
    std::memcpy(slot_words(to), slot_words(from), size_t(slot_words_) * 8);
  }

  uint32_t key_size_;
  uint32_t value_size_;
  uint32_t key_words_;   // a slot's words before its value: the key's, padded
  uint32_t slot_words_;  // a slot's: the key's, then the value's, padded
  uint32_t cap_;
  uint32_t mask_;
  uint32_t max_;
  uint32_t size_ = 0;
  uint32_t removed_ = 0;  // slots marked kRemoved
  uint64_t seed_;
  std::unique_ptr<uint32_t[]> tags_;  // 0 = empty
  // Each slot's key (zero-padded) and value side by side, so that a probe
  // that finds the key finds its value in the same cache line. Empty slots
  // are never read, so they are left uninitialised: a large table costs no
  // page faults until it fills.
  std::unique_ptr<uint64_t[]> slots_;
  Table::WordProbe words_;  // the same, for word probes (of 16-byte slots)
};

class HashTable final : public Table {
 public:
  HashTable(const TableDecl& d, uint64_t seed)
      : Table(d), core_(d.key_size, d.value_size, d.max_entries, table_seed(d, seed)) {
    if (d.key_size <= 8 && d.value_size <= 8) {  // (the number-keyed paths take no more)
      number_lookup_ = &lookup_number;
      number_find_or_insert_ = &find_or_insert_number;
      number_probe_.way = NumberProbe::Way::Word;
      number_probe_.word = core_.words();
    }
  }

  uint8_t* lookup(const uint8_t* key) override {
    uint32_t i = core_.find(key);
    return i == HashCore::kNone ? nullptr : core_.value_at(i);
  }

  bool update(const uint8_t* key, const uint8_t* value, uint32_t) override {
    bool inserted;
    uint32_t i = core_.find_or_insert(key, &inserted);
    if (i == HashCore::kNone) return false;
    std::memcpy(core_.value_at(i), value, decl_.value_size);
    return true;
  }

  bool erase(const uint8_t* key, uint32_t) override { return core_.erase(key, walks_ > 0); }

  uint8_t* find_or_insert(const uint8_t* key) override {
    bool inserted;
    uint32_t i = core_.find_or_insert(key, &inserted);
    return i == HashCore::kNone ? nullptr : core_.value_at(i);
  }

  // number_lookup() and number_find_or_insert(), for keys of at most 8 bytes.
  static uint8_t* lookup_number(Table& t, uint64_t number) {
    return static_cast<HashTable&>(t).core_.words().find(number);
  }
  static uint8_t* find_or_insert_number(Table& t, uint64_t number) {
    auto& h = static_cast<HashTable&>(t);
    bool inserted;
    const uint32_t i = h.core_.find_or_insert_word(h.core_.words().word(number), &inserted);
    return i == HashCore::kNone ? nullptr : h.core_.value_at(i);
  }

  size_t size() const override { return core_.size(); }
  void clear() override { core_.clear(); }

  bool walk_next(uint64_t* cursor, Entry* e) override {
    const uint32_t i = core_.next_occupied(cursor);
    if (i == HashCore::kNone) return false;
    *e = {core_.key_at(i), core_.value_at(i), decl_.key_size * 8};
    return true;
  }

  void for_each(const Visitor& visit) const override {
    for (uint32_t i = 0; i < core_.capacity(); ++i) {
      if (!core_.occupied(i)) continue;
      visit({core_.key_at(i), decl_.key_size}, decl_.key_size * 8,
            {core_.value_at(i), decl_.value_size});
    }
  }

 private:
  void tidy() override { core_.tidy(); }
  HashCore core_;
};

// Hash tables that keep time: kind lru (a full table makes room for a new
// key by removing the entry used least recently) and hash or lru tables with
// an idle timeout (an entry not used for idle_ms is gone). Beside HashCore's
// slots, each slot holds the time its entry was last used and its links in
// a list of the entries from the most recently used (head_) to the least
// (tail_), so eviction and expiry find their entry in O(1) and expire()
// costs what it removes. A class of its own, so that plain hash tables keep
// their code as it was.
//
// Time is the clock's (TableClock), which may go back (a capture's
// timestamps): an entry used "in the future" is not expired, and an entry
// whose use went back in time keeps its place in the list by order of use,
// so expire() may stop before an expired entry that readers already skip.
class TimedHashTable final : public Table {
 public:
  TimedHashTable(const TableDecl& d, uint64_t seed)
      : Table(d),
        core_(d.key_size, d.value_size, d.max_entries, table_seed(d, seed)),
        lru_(d.kind == TableKind::Lru),
        idle_ms_(d.idle_ms),
        // Like keys and values, read only for occupied slots: uninitialised.
        prev_(std::make_unique_for_overwrite<uint32_t[]>(core_.capacity())),
        next_(std::make_unique_for_overwrite<uint32_t[]>(core_.capacity())),
        used_(std::make_unique_for_overwrite<uint64_t[]>(core_.capacity())) {
    if (d.key_size <= 8) {
      number_lookup_ = &lookup_number;
      number_find_or_insert_ = &find_or_insert_number;
      number_probe_.way = NumberProbe::Way::Call;
    }
  }

  uint8_t* lookup(const uint8_t* key) override { return found(core_.find(key)); }

  bool update(const uint8_t* key, const uint8_t* value, uint32_t) override {
    uint8_t* v = use(core_.probe_key(key), key);
    if (!v) return false;
    std::memcpy(v, value, decl_.value_size);
    return true;
  }

  // An expired entry is absent: erasing it says so (and removes it).
  bool erase(const uint8_t* key, uint32_t) override {
    const uint32_t i = core_.find(key);
    if (i == HashCore::kNone) return false;
    const bool live = !expired(i, clock_->now());
    if (!live) count(expired_);
    remove(i);
    return live;
  }

  uint8_t* find_or_insert(const uint8_t* key) override { return use(core_.probe_key(key), key); }

  // The native code's and the interpreter's calls: the same, with the key
  // as a number. No inline probe (NumberProbe's Call): a lookup must also
  // stamp and relink.
  static uint8_t* lookup_number(Table& t, uint64_t number) {
    auto& h = static_cast<TimedHashTable&>(t);
    return h.found(h.core_.find_word(h.core_.words().word(number)));
  }
  static uint8_t* find_or_insert_number(Table& t, uint64_t number) {
    auto& h = static_cast<TimedHashTable&>(t);
    const uint64_t w = h.core_.words().word(number);
    return h.use(h.core_.probe_word(w), reinterpret_cast<const uint8_t*>(&w));
  }

  size_t size() const override { return core_.size(); }

  void clear() override {
    core_.clear();
    head_ = tail_ = HashCore::kNone;
  }

  bool walk_next(uint64_t* cursor, Entry* e) override {
    const uint64_t now = clock_->now();
    for (;;) {
      const uint32_t i = core_.next_occupied(cursor);
      if (i == HashCore::kNone) return false;
      if (expired(i, now)) continue;
      *e = {core_.key_at(i), core_.value_at(i), decl_.key_size * 8};
      return true;
    }
  }

  void for_each(const Visitor& visit) const override {
    const uint64_t now = clock_->now();
    for (uint32_t i = 0; i < core_.capacity(); ++i) {
      if (!core_.occupied(i) || expired(i, now)) continue;
      visit({core_.key_at(i), decl_.key_size}, decl_.key_size * 8,
            {core_.value_at(i), decl_.value_size});
    }
  }

  std::optional<uint64_t> age_ms(const uint8_t* key) const override {
    const uint32_t i = core_.find(key);
    if (i == HashCore::kNone) return std::nullopt;
    const uint64_t now = clock_->now();
    if (expired(i, now)) return std::nullopt;
    return now > used_[i] ? now - used_[i] : 0;
  }

  // Oldest first: from the tail of the list to the first entry still in use.
  uint32_t expire(uint64_t now_ms, uint32_t max_removals) override {
    if (!idle_ms_) return 0;
    uint32_t n = 0;
    for (; n < max_removals && tail_ != HashCore::kNone && expired(tail_, now_ms); ++n)
      remove(tail_);
    count(expired_, n);
    return n;
  }

 private:
  static constexpr uint32_t kNone = HashCore::kNone;

  // idle_ms or more since its last use; never when used at or after now.
  bool expired(uint32_t i, uint64_t now) const {
    return idle_ms_ != 0 && now >= used_[i] + idle_ms_;
  }

  // A lookup's slot i (kNone: not found): its value, and i is used now.
  uint8_t* found(uint32_t i) {
    if (i == kNone) return nullptr;
    const uint64_t now = clock_->now();
    if (expired(i, now)) {
      count(expired_);
      remove(i);
      return nullptr;
    }
    touch(i, now);
    return core_.value_at(i);
  }

  // find_or_insert for the key p was probed for: an expired entry starts
  // over from zero, and a full table makes room first.
  uint8_t* use(HashCore::Probe p, const uint8_t* key) {
    const uint64_t now = clock_->now();
    if (p.found != kNone) {
      if (expired(p.found, now)) {
        count(expired_);
        std::memset(core_.value_at(p.found), 0, value_stride(decl_.value_size));
      }
      touch(p.found, now);
      return core_.value_at(p.found);
    }
    if (core_.full()) {
      if (!make_room(now)) return nullptr;
      p = core_.probe_key(key);  // the removal may have moved the probe's end
    }
    bool inserted;
    const uint32_t i = core_.insert(p, key, &inserted);
    if (i == kNone) return nullptr;
    used_[i] = now;
    link_front(i);
    return core_.value_at(i);
  }

  // Removes the least recently used entry of a full table: an lru table's
  // always, another's when it has expired (a table full of stale entries
  // takes new ones before the host's sweep comes).
  bool make_room(uint64_t now) {
    if (!core_.room_after_removal(walks_ > 0)) return false;
    if (expired(tail_, now))
      count(expired_);
    else if (lru_)
      count(evicted_);
    else
      return false;
    remove(tail_);
    return true;
  }

  void remove(uint32_t i) {
    unlink(i);
    core_.remove(i, walks_ > 0, [this](uint32_t from, uint32_t to) { moved(from, to); });
  }
  void tidy() override {
    core_.tidy([this](uint32_t from, uint32_t to) { moved(from, to); });
  }

  void touch(uint32_t i, uint64_t now) {
    used_[i] = now;
    if (head_ == i) return;
    unlink(i);
    link_front(i);
  }
  void unlink(uint32_t i) {
    const uint32_t p = prev_[i], n = next_[i];
    (p == kNone ? head_ : next_[p]) = n;
    (n == kNone ? tail_ : prev_[n]) = p;
  }
  void link_front(uint32_t i) {
    prev_[i] = kNone;
    next_[i] = head_;
    (head_ == kNone ? tail_ : prev_[head_]) = i;
    head_ = i;
  }
  // HashCore moved an entry from slot `from` to slot `to` (a backward
  // shift): its time and links go with it, and its neighbours point at it.
  void moved(uint32_t from, uint32_t to) {
    prev_[to] = prev_[from];
    next_[to] = next_[from];
    used_[to] = used_[from];
    (prev_[to] == kNone ? head_ : next_[prev_[to]]) = to;
    (next_[to] == kNone ? tail_ : prev_[next_[to]]) = to;
  }

  HashCore core_;
  bool lru_;
  uint32_t idle_ms_;
  uint32_t head_ = kNone, tail_ = kNone;     // most and least recently used
  std::unique_ptr<uint32_t[]> prev_, next_;  // by slot: toward head_ and tail_
  std::unique_ptr<uint64_t[]> used_;         // by slot: the clock at the last use
};

class ArrayTable final : public Table {
 public:
  explicit ArrayTable(const TableDecl& d)
      : Table(d),
        stride_words_(value_stride(d.value_size) / 8),
        values_(std::make_unique<uint64_t[]>(size_t(d.max_entries) * stride_words_)) {
    number_lookup_ = number_find_or_insert_ = &slot_of_number;
    number_probe_.way = NumberProbe::Way::Index;
    number_probe_.index = {reinterpret_cast<uint8_t*>(values_.get()), d.max_entries,
                           stride_words_ * 8};
  }

  uint8_t* lookup(const uint8_t* key) override { return slot(index(key)); }

  bool update(const uint8_t* key, const uint8_t* value, uint32_t) override {
    uint8_t* v = slot(index(key));
    if (!v) return false;
    std::memcpy(v, value, decl_.value_size);
    return true;
  }

  bool erase(const uint8_t* key, uint32_t) override {
    uint8_t* v = slot(index(key));
    if (!v) return false;
    std::memset(v, 0, size_t(stride_words_) * 8);
    return true;
  }

  uint8_t* find_or_insert(const uint8_t* key) override { return slot(index(key)); }

  // The index is the number's low 4 bytes, as index() reads them from the key.
  static uint8_t* slot_of_number(Table& t, uint64_t number) {
    return static_cast<ArrayTable&>(t).number_probe_.index.find(number);
  }

  size_t size() const override { return decl_.max_entries; }

  bool walk_next(uint64_t* cursor, Entry* e) override {
    if (*cursor >= decl_.max_entries) return false;
    const uint32_t i = uint32_t((*cursor)++);
    be::store32(index_key_, i);
    *e = {index_key_, slot_bytes(i), 32};
    return true;
  }

  void clear() override {
    std::memset(values_.get(), 0, size_t(decl_.max_entries) * stride_words_ * 8);
  }

  void for_each(const Visitor& visit) const override {
    for (uint32_t i = 0; i < decl_.max_entries; ++i) {
      uint8_t key[4];
      be::store32(key, i);
      visit({key, 4}, 32, {slot_bytes(i), decl_.value_size});
    }
  }

 private:
  static uint32_t index(const uint8_t* key) { return be::load32(key); }
  uint8_t* slot_bytes(uint32_t i) const {
    return reinterpret_cast<uint8_t*>(values_.get() + size_t(i) * stride_words_);
  }
  uint8_t* slot(uint32_t i) const { return number_probe_.index.find(i); }

  uint32_t stride_words_;
  std::unique_ptr<uint64_t[]> values_;
  uint8_t index_key_[4] = {};  // the key walk_next() gives
};

// Longest-prefix match as one exact-match hash keyed by (length, masked
// address), probed once per prefix length in use from the longest down. With
// the handful of distinct lengths real routing and ACL tables use, that beats
// a trie's per-bit walk and needs no node allocation.
class LpmTable final : public Table {
 public:
  LpmTable(const TableDecl& d, uint32_t addr_bytes, uint64_t seed)
      : Table(d),
        addr_bytes_(addr_bytes),
        max_len_(addr_bytes * 8),
        core_(addr_bytes + 1, d.value_size, d.max_entries, table_seed(d, seed)) {}

  uint8_t* lookup(const uint8_t* addr) override {
    std::array<uint8_t, kLpm6Bytes + 1> k;
    for (int w = kWords - 1; w >= 0; --w) {
      for (uint64_t bits = in_use_[w]; bits != 0;) {
        int top = 63 - std::countl_zero(bits);
        bits &= ~(uint64_t(1) << top);
        make_key(addr, uint32_t(w * 64 + top), k.data());
        uint32_t i = core_.find(k.data());
        if (i != HashCore::kNone) return core_.value_at(i);
      }
    }
    return nullptr;
  }

  bool update(const uint8_t* addr, const uint8_t* value, uint32_t prefix_len) override {
    uint8_t* v = insert(addr, prefix_len);
    if (!v) return false;
    std::memcpy(v, value, decl_.value_size);
    return true;
  }

  bool erase(const uint8_t* addr, uint32_t prefix_len) override {
    if (prefix_len > max_len_) return false;
    std::array<uint8_t, kLpm6Bytes + 1> k;
    make_key(addr, prefix_len, k.data());
    if (!core_.erase(k.data(), walks_ > 0)) return false;
    if (--count_[prefix_len] == 0) in_use_[prefix_len / 64] &= ~(uint64_t(1) << (prefix_len % 64));
    return true;
  }

  uint8_t* find_or_insert(const uint8_t* addr) override { return insert(addr, max_len_); }

  size_t size() const override { return core_.size(); }

  bool walk_next(uint64_t* cursor, Entry* e) override {
    const uint32_t i = core_.next_occupied(cursor);
    if (i == HashCore::kNone) return false;
    const uint8_t* k = core_.key_at(i);
    *e = {k + 1, core_.value_at(i), k[0]};
    return true;
  }

  void clear() override {
    core_.clear();
    count_.fill(0);
    in_use_.fill(0);
  }

  void for_each(const Visitor& visit) const override {
    for (uint32_t i = 0; i < core_.capacity(); ++i) {
      if (!core_.occupied(i)) continue;
      const uint8_t* k = core_.key_at(i);
      visit({k + 1, addr_bytes_}, k[0], {core_.value_at(i), decl_.value_size});
    }
  }

 private:
  static constexpr int kWords = 3;  // bitmap over prefix lengths 0..128

  void tidy() override { core_.tidy(); }

  // Byte 0 is the length so that 10.0.0.0/8 and 10.0.0.0/16 are distinct keys.
  void make_key(const uint8_t* addr, uint32_t len, uint8_t* k) const {
    k[0] = uint8_t(len);
    uint32_t full = len / 8;
    std::memcpy(k + 1, addr, full);
    if (full < addr_bytes_) {
      k[1 + full] = uint8_t(addr[full] & ~(0xffu >> (len % 8)));
      std::memset(k + 2 + full, 0, addr_bytes_ - full - 1);
    }
  }

  uint8_t* insert(const uint8_t* addr, uint32_t prefix_len) {
    if (prefix_len > max_len_) return nullptr;
    std::array<uint8_t, kLpm6Bytes + 1> k;
    make_key(addr, prefix_len, k.data());
    bool inserted;
    uint32_t i = core_.find_or_insert(k.data(), &inserted);
    if (i == HashCore::kNone) return nullptr;
    if (inserted && count_[prefix_len]++ == 0)
      in_use_[prefix_len / 64] |= uint64_t(1) << (prefix_len % 64);
    return core_.value_at(i);
  }

  uint32_t addr_bytes_;
  uint32_t max_len_;
  HashCore core_;
  std::array<uint32_t, kLpm6Bytes * 8 + 1> count_{};  // prefixes stored per length
  std::array<uint64_t, kWords> in_use_{};             // bit n: count_[n] != 0
};

std::string check(const TableDecl& d) {
  auto fail = [&](const std::string& what) { return "table '" + d.name + "': " + what; };
  if (d.max_entries < 1 || d.max_entries > kMaxTableEntries)
    return fail("max_entries must be 1.." + std::to_string(kMaxTableEntries) + " (got " +
                std::to_string(d.max_entries) + ")");
  if (d.value_size < 1 || d.value_size > kMaxValueSize)
    return fail("values must be 1.." + std::to_string(kMaxValueSize) + " bytes (got " +
                std::to_string(d.value_size) + ")");
  std::string got = " (got " + std::to_string(d.key_size) + ")";
  if (d.idle_ms > kMaxPeriodMs)
    return fail("the idle timeout must be at most a day (" + std::to_string(kMaxPeriodMs) +
                " ms; got " + std::to_string(d.idle_ms) + ")");
  if (d.idle_ms && d.kind != TableKind::Hash && d.kind != TableKind::Lru)
    return fail("only hash and lru tables take an idle timeout");
  switch (d.kind) {
    case TableKind::Hash:
    case TableKind::Lru:
      if (d.key_size < 1 || d.key_size > kMaxKeySize)
        return fail(std::string(d.kind == TableKind::Lru ? "lru" : "hash") + " keys must be 1.." +
                    std::to_string(kMaxKeySize) + " bytes" + got);
      return {};
    case TableKind::Array:
      if (d.key_size != 4) return fail("array tables take 4-byte keys (an index)" + got);
      return {};
    case TableKind::Lpm4:
      if (d.key_size != kLpm4Bytes)
        return fail("lpm4 tables take 4-byte keys (an IPv4 address)" + got);
      return {};
    case TableKind::Lpm6:
      if (d.key_size != kLpm6Bytes)
        return fail("lpm6 tables take 16-byte keys (an IPv6 address)" + got);
      return {};
  }
  return fail("unknown table kind " + std::to_string(unsigned(d.kind)));
}

}  // namespace

std::unique_ptr<Table> Table::create(const TableDecl& decl, std::string* why, uint64_t seed) {
  std::string err = check(decl);
  if (!err.empty()) {
    if (why) *why = std::move(err);
    return nullptr;
  }
  try {
    switch (decl.kind) {
      case TableKind::Hash:
        if (decl.idle_ms) return std::make_unique<TimedHashTable>(decl, seed);
        return std::make_unique<HashTable>(decl, seed);
      case TableKind::Lru:
        return std::make_unique<TimedHashTable>(decl, seed);
      case TableKind::Array:
        return std::make_unique<ArrayTable>(decl);
      case TableKind::Lpm4:
        return std::make_unique<LpmTable>(decl, kLpm4Bytes, seed);
      case TableKind::Lpm6:
        return std::make_unique<LpmTable>(decl, kLpm6Bytes, seed);
    }
  } catch (const std::bad_alloc&) {
    if (why) *why = "table '" + decl.name + "': out of memory preallocating its entries";
    return nullptr;
  }
  return nullptr;  // unreachable: check() rejected any other kind
}

uint64_t Table::memory_bytes(const TableDecl& d) {
  if (!check(d).empty()) return 0;
  const uint64_t stride = value_stride(d.value_size);
  switch (d.kind) {
    case TableKind::Array:
      return uint64_t{d.max_entries} * stride;
    case TableKind::Hash:
    case TableKind::Lru:
    case TableKind::Lpm4:
    case TableKind::Lpm6: {
      // HashCore: a tag, a key and a value per slot, each padded to 8 bytes
      // (LPM keys carry a length byte); a timed table's slots also hold two
      // links and a time.
      const bool lpm = d.kind == TableKind::Lpm4 || d.kind == TableKind::Lpm6;
      const uint64_t key = key_stride(lpm ? d.key_size + 1u : d.key_size);
      const uint64_t timed =
          d.kind == TableKind::Lru || d.idle_ms ? 2 * sizeof(uint32_t) + sizeof(uint64_t) : 0;
      return hash_capacity(d.max_entries) * (sizeof(uint32_t) + key + stride + timed);
    }
  }
  return 0;
}

}  // namespace netcpu
