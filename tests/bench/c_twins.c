/* The benchmark programs hand-written in C (c_twins.h): one function per
   program, with the program's semantics as docs/language.md gives them
   (header fields parsed through VLAN tags and IPv6 extension headers, a
   field a frame lacks reads 0, the first 65,535 bytes parsed), written the
   way a person would write them in C: one pass over the headers a program
   reads, small open-addressing hash tables, memmem, an output token bucket.
   netcpu-bench-core checks each against its program frame by frame. */
#define _GNU_SOURCE /* memmem */
#include "c_twins.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Each program's own copy of what it uses, as if written out in it. */
#define INLINE static inline __attribute__((always_inline))

/* ---- Reading headers ---- */

INLINE uint16_t rd16(const uint8_t* p) { return (uint16_t)(p[0] << 8 | p[1]); }
INLINE uint32_t rd32(const uint8_t* p) { return (uint32_t)rd16(p) << 16 | rd16(p + 2); }

enum { MAX_PARSED = 65535 }; /* headers lie within the first 64 KiB */
enum { ETH_IP = 0x0800, ETH_ARP = 0x0806, ETH_IP6 = 0x86dd };
enum { PROTO_ICMP = 1, PROTO_TCP = 6, PROTO_UDP = 17, PROTO_ICMP6 = 58, PROTO_SCTP = 132 };

/* What the programs read of a frame's headers. */
struct hdrs {
  uint32_t type;    /* eth.type */
  uint32_t l3;      /* network header */
  uint32_t ip4;     /* has.ip4 */
  uint32_t proto;   /* ip.proto (0 without IP) */
  uint32_t fragoff; /* ip.fragoff */
  uint32_t src;     /* ip.src (IPv4) */
  uint32_t dst;     /* ip.dst (IPv4) */
  uint32_t l4;      /* transport header */
  uint32_t has_l4;  /* has.l4: a whole TCP, UDP, SCTP or ICMP header */
  uint32_t ports;   /* TCP, UDP or SCTP: l4.sport and l4.dport exist */
  uint32_t tcp, udp, icmp;
  uint32_t payload; /* 0 without has.l4 */
};

/* The transport header at `off` of a first fragment. */
INLINE void parse_transport(const uint8_t* p, uint32_t n, uint32_t off, int v6, struct hdrs* h) {
  h->l4 = off;
  if (h->fragoff != 0) return;
  const uint32_t room = n - off;
  uint32_t payload = 0;
  switch (h->proto) {
    case PROTO_TCP:
      if (room >= 20 && (p[off + 12] >> 4) * 4u >= 20) {
        const uint32_t end = off + (p[off + 12] >> 4) * 4u;
        h->tcp = 1;
        payload = end < n ? end : n;
      }
      break;
    case PROTO_UDP:
      if (room >= 8) h->udp = 1, payload = off + 8;
      break;
    case PROTO_SCTP:
      if (room >= 12) h->ports = 1, payload = off + 12;
      break;
    case PROTO_ICMP:
    case PROTO_ICMP6:
      if ((h->proto == PROTO_ICMP6) == v6 && room >= 4)
        h->icmp = 1, payload = off + (room >= 8 ? 8 : 4);
      break;
    default:
      break;
  }
  h->ports |= h->tcp | h->udp;
  h->has_l4 = h->ports | h->icmp;
  h->payload = payload;
}

/* IPv6 and its extension headers, as far as they can be walked. */
INLINE void parse_ip6(const uint8_t* p, uint32_t n, struct hdrs* h) {
  if (n - h->l3 < 40 || p[h->l3] >> 4 != 6) return;
  uint32_t next = p[h->l3 + 6], off = h->l3 + 40;
  for (int count = 0;; ++count) {
    uint32_t len;
    const uint32_t byte1 = off + 1 < n ? p[off + 1] : 0;
    switch (next) {
      case 0:  /* hop-by-hop */
      case 43: /* routing */
      case 60: /* destination options */
        len = (byte1 + 1) * 8;
        break;
      case 51: /* AH */
        len = (byte1 + 2) * 4;
        break;
      case 44: /* fragment */
        len = 8;
        break;
      default:
        h->proto = next;
        parse_transport(p, n, off, 1, h);
        return;
    }
    if (count == 16 || off > n || len > n - off) {
      h->proto = next; /* the header it could not pass; no transport */
      return;
    }
    if (next == 44) h->fragoff = rd16(p + off + 2) & 0xfff8u;
    next = p[off];
    off += len;
  }
}

/* The headers of an Ethernet frame; IPv6 only when `v6` (a constant: a
   program that reads only IPv4 fields parses only IPv4). */
INLINE void parse(const uint8_t* p, uint32_t len, int v6, struct hdrs* h) {
  memset(h, 0, sizeof *h);
  const uint32_t n = len < MAX_PARSED ? len : MAX_PARSED;
  if (n < 14) return;
  uint32_t type = rd16(p + 12), l3 = 14;
  while (type == 0x8100 || type == 0x88a8 || type == 0x9100) {
    if (n - l3 < 4) return; /* a tag cut short: no EtherType */
    type = rd16(p + l3 + 2);
    l3 += 4;
  }
  h->type = type;
  h->l3 = l3;
  if (type == ETH_IP) {
    if (n - l3 < 20) return;
    const uint32_t hlen = (p[l3] & 15) * 4u;
    if (p[l3] >> 4 != 4 || hlen < 20 || n - l3 < hlen) return;
    h->ip4 = 1;
    h->proto = p[l3 + 9];
    h->fragoff = (rd16(p + l3 + 6) & 0x1fffu) * 8;
    h->src = rd32(p + l3 + 12);
    h->dst = rd32(p + l3 + 16);
    parse_transport(p, n, l3 + hlen, 0, h);
  } else if (v6 && type == ETH_IP6) {
    parse_ip6(p, n, h);
  }
}

/* Only the EtherType after any VLAN tags (0 if a tag is cut short). */
INLINE uint32_t eth_type(const uint8_t* p, uint32_t len, uint32_t* l3) {
  const uint32_t n = len < MAX_PARSED ? len : MAX_PARSED;
  if (n < 14) return 0;
  uint32_t type = rd16(p + 12), off = 14;
  while (type == 0x8100 || type == 0x88a8 || type == 0x9100) {
    if (n - off < 4) return 0;
    type = rd16(p + off + 2);
    off += 4;
  }
  *l3 = off;
  return type;
}

INLINE uint32_t sport(const uint8_t* p, const struct hdrs* h) {
  return h->ports ? rd16(p + h->l4) : 0;
}
INLINE uint32_t dport(const uint8_t* p, const struct hdrs* h) {
  return h->ports ? rd16(p + h->l4 + 2) : 0;
}

/* ---- Tables: open addressing, at most half full ---- */

struct slot {
  uint64_t key, value;
  uint32_t used;
};
struct hash {
  struct slot* slots;
  uint32_t mask, shift; /* slots - 1; 64 - log2(slots) */
  uint32_t count, max;  /* entries; the declared max */
};

INLINE uint32_t hash_home(const struct hash* t, uint64_t key) {
  return (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> t->shift);
}

/* The value of `key`, or NULL. */
INLINE uint64_t* hash_lookup(struct hash* t, uint64_t key) {
  for (uint32_t i = hash_home(t, key);; i = (i + 1) & t->mask) {
    if (!t->slots[i].used) return NULL;
    if (t->slots[i].key == key) return &t->slots[i].value;
  }
}

/* The value of `key`, inserted as 0 if missing; NULL when the table is full. */
INLINE uint64_t* hash_find_or_insert(struct hash* t, uint64_t key) {
  uint32_t i = hash_home(t, key);
  for (; t->slots[i].used; i = (i + 1) & t->mask)
    if (t->slots[i].key == key) return &t->slots[i].value;
  if (t->count == t->max) return NULL;
  ++t->count;
  t->slots[i].used = 1;
  t->slots[i].key = key;
  t->slots[i].value = 0;
  return &t->slots[i].value;
}

static void hash_clear(struct hash* t) {
  memset(t->slots, 0, (t->mask + 1) * sizeof *t->slots);
  t->count = 0;
}

/* ---- Output: NetCPU's token bucket, formatting only what it lets through ---- */

static struct {
  double tokens, burst, per_second, last;
  int started;
  uint64_t lines, suppressed;
  char line[512];
} out = {0, 200, 100, 0, 0, 0, 0, {0}};

static int out_allowed(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const double now = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
  if (!out.started) {
    out.tokens = out.burst;
    out.started = 1;
  } else {
    const double t = out.tokens + (now - out.last) * out.per_second;
    out.tokens = t < out.burst ? t : out.burst;
  }
  out.last = now;
  if (out.tokens < 1) {
    ++out.suppressed;
    return 0;
  }
  out.tokens -= 1;
  return 1;
}

/* print and log: a line, if the bucket has a token for it. */
#define OUT(...)                                        \
  do {                                                  \
    if (out_allowed()) {                                \
      snprintf(out.line, sizeof out.line, __VA_ARGS__); \
      ++out.lines;                                      \
    }                                                   \
  } while (0)
#define IP4_FMT "%u.%u.%u.%u"
#define IP4(a)                                                                    \
  (unsigned)((a) >> 24), (unsigned)((a) >> 16 & 255), (unsigned)((a) >> 8 & 255), \
      (unsigned)((a)&255)

void twin_output_limits(uint32_t burst, uint32_t per_second) {
  out.burst = burst;
  out.per_second = per_second;
  out.started = 0;
}

void twin_output_counts(uint64_t* lines, uint64_t* suppressed) {
  *lines = out.lines;
  *suppressed = out.suppressed;
  out.lines = out.suppressed = 0;
}

/* ---- The programs ---- */

static void no_state(void) {}
static const struct twin_var no_vars[] = {{NULL, NULL, 0}};

/* .text: end */
static int empty(uint8_t* p, uint32_t len) {
  (void)p, (void)len;
  return TWIN_PASS;
}

/* examples/slides.ncpu: print the length, count, print 666. */
static uint64_t slides_cnt;
static int slides(uint8_t* p, uint32_t len) {
  (void)p;
  OUT("%" PRId64, (int64_t)len);
  ++slides_cnt;
  OUT("666");
  return TWIN_PASS;
}
static void slides_reset(void) { slides_cnt = 0; }
static const struct twin_var slides_vars[] = {{"cnt", &slides_cnt, 1}, {NULL, NULL, 0}};

/* examples/ip_pair.ncpu: IPv4 from 128.3.112.15 to 128.3.112.35 only. */
static int ip_pair(uint8_t* p, uint32_t len) {
  struct hdrs h;
  parse(p, len, 0, &h);
  if (h.type != ETH_IP || h.src != 0x8003700f || h.dst != 0x80037023) return TWIN_DROP;
  return TWIN_PASS;
}

/* examples/arp_only.ncpu */
static int arp_only(uint8_t* p, uint32_t len) {
  uint32_t l3;
  return eth_type(p, len, &l3) == ETH_ARP ? TWIN_PASS : TWIN_DROP;
}

/* examples/tcp_firewall.ncpu: TCP only to or from ssh, http, https. */
static struct slot allowed_slots[128];
static struct hash allowed = {allowed_slots, 127, 64 - 7, 0, 64};
static int tcp_firewall(uint8_t* p, uint32_t len) {
  struct hdrs h;
  parse(p, len, 1, &h);
  if (h.proto != PROTO_TCP) return TWIN_PASS;
  if (hash_lookup(&allowed, dport(p, &h)) || hash_lookup(&allowed, sport(p, &h))) return TWIN_PASS;
  return TWIN_DROP;
}
static void tcp_firewall_reset(void) {
  hash_clear(&allowed);
  *hash_find_or_insert(&allowed, 22) = 1;
  *hash_find_or_insert(&allowed, 80) = 1;
  *hash_find_or_insert(&allowed, 443) = 1;
}

/* examples/drop_string.ncpu: drop (and log) payloads containing "freebsd". */
static int drop_string(uint8_t* p, uint32_t len) {
  struct hdrs h;
  parse(p, len, 1, &h);
  if (!h.has_l4 || h.payload >= len || !memmem(p + h.payload, len - h.payload, "freebsd", 7))
    return TWIN_PASS;
  OUT("drop " IP4_FMT " -> " IP4_FMT ": payload has \"freebsd\"", IP4(h.src), IP4(h.dst));
  return TWIN_DROP;
}

/* examples/rate_limit.ncpu: at most 20 packets per IPv4 source (the timer
   that empties the table does not run in the benchmark, as in netcpu bench). */
static struct slot seen_slots[8192];
static struct hash seen = {seen_slots, 8191, 64 - 13, 0, 4096};
static uint64_t rate_limited;
static int rate_limit(uint8_t* p, uint32_t len) {
  struct hdrs h;
  parse(p, len, 0, &h);
  if (!h.ip4) return TWIN_PASS;
  uint64_t* count = hash_find_or_insert(&seen, h.src);
  if (count == NULL || ++*count <= 20) return TWIN_PASS; /* a full table fails open */
  ++rate_limited;
  return TWIN_DROP;
}
static void rate_limit_reset(void) {
  hash_clear(&seen);
  rate_limited = 0;
}
static const struct twin_var rate_limit_vars[] = {{"limited", &rate_limited, 1}, {NULL, NULL, 0}};

/* examples/counter.ncpu: packets and bytes by family, a summary every 10. */
static uint64_t counter_packets, counter_bytes, counter_family[4];
static int counter(uint8_t* p, uint32_t len) {
  ++counter_packets;
  counter_bytes += len;
  uint32_t l3;
  const uint32_t type = eth_type(p, len, &l3);
  ++counter_family[type == ETH_IP ? 0 : type == ETH_IP6 ? 1 : type == ETH_ARP ? 2 : 3];
  if (counter_packets % 10 == 0) {
    OUT("%" PRIu64 " packets, %" PRIu64 " bytes", counter_packets, counter_bytes);
    OUT("ipv4 %" PRIu64, counter_family[0]);
    OUT("ipv6 %" PRIu64, counter_family[1]);
    OUT("arp %" PRIu64, counter_family[2]);
    OUT("other %" PRIu64, counter_family[3]);
  }
  return TWIN_PASS;
}
static void counter_reset(void) {
  counter_packets = counter_bytes = 0;
  memset(counter_family, 0, sizeof counter_family);
}
static const struct twin_var counter_vars[] = {{"packets", &counter_packets, 1},
                                               {"bytes", &counter_bytes, 1},
                                               {"family", counter_family, 4},
                                               {NULL, NULL, 0}};

/* RFC 1624: the checksum at `sum` after a 32-bit value changed. */
INLINE void csum_update32(uint8_t* sum, uint32_t from, uint32_t to, int udp) {
  uint32_t s = (uint16_t)~rd16(sum);
  s += (uint16_t) ~(from >> 16) + (to >> 16) + (uint16_t)~from + (to & 0xffff);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  uint16_t r = (uint16_t)~s;
  if (udp && r == 0) r = 0xffff; /* 0 would mean "no checksum" */
  sum[0] = (uint8_t)(r >> 8);
  sum[1] = (uint8_t)r;
}

/* Writes an IPv4 address at `at` (12: source, 16: destination) and updates
   the IPv4 header checksum and the TCP or UDP one (the pseudo-header). */
INLINE void rewrite_ip4(uint8_t* p, const struct hdrs* h, uint32_t at, uint32_t to) {
  uint8_t* ip = p + h->l3;
  const uint32_t from = rd32(ip + at);
  ip[at] = (uint8_t)(to >> 24), ip[at + 1] = (uint8_t)(to >> 16);
  ip[at + 2] = (uint8_t)(to >> 8), ip[at + 3] = (uint8_t)to;
  csum_update32(ip + 10, from, to, 0);
  if (h->tcp) {
    csum_update32(p + h->l4 + 16, from, to, 0);
  } else if (h->udp && rd16(p + h->l4 + 6) != 0) { /* 0: no checksum, and it stays 0 */
    csum_update32(p + h->l4 + 6, from, to, 1);
  }
}

/* examples/nat.ncpu: 10.0.0.X <-> 198.51.100.X. */
static int nat(uint8_t* p, uint32_t len) {
  struct hdrs h;
  parse(p, len, 0, &h);
  if (!h.ip4) return TWIN_PASS;
  if ((h.src & 0xffffff00) == 0x0a000000) {
    rewrite_ip4(p, &h, 12, (h.src & 0xff) | 0xc6336400);
  } else if ((h.dst & 0xffffff00) == 0xc6336400) {
    rewrite_ip4(p, &h, 16, (h.dst & 0xff) | 0x0a000000);
  }
  return TWIN_PASS;
}

/* tests/bench/firewall10.ncpu: ten rules, the first match wins. */
static uint64_t fw_denied;
static int firewall10(uint8_t* p, uint32_t len) {
  enum { SERVER = 0x0a000002, LAN = 0x0a000000 };
  struct hdrs h;
  parse(p, len, 0, &h);
  if (!h.ip4) return TWIN_PASS;                      /* 1 */
  if ((h.src & 0xff000000) == 0x7f000000) goto deny; /* 2 */
  if ((h.src & 0xf0000000) == 0xe0000000) goto deny; /* 3 */
  if (h.fragoff != 0) goto deny;                     /* 4 */
  const uint32_t dp = dport(p, &h), lan = (h.src & 0xffffff00) == LAN;
  if (h.proto == PROTO_TCP) {
    if (dp == 23) goto deny;                                                      /* 5 */
    if (h.dst == SERVER && (dp == 22 || dp == 80 || dp == 443)) return TWIN_PASS; /* 6 */
  }
  if (h.proto == PROTO_ICMP && h.dst == SERVER && h.icmp && p[h.l4] == 8) return TWIN_PASS; /* 7 */
  if (h.proto == PROTO_UDP && lan) {
    if (h.dst == SERVER && dp == 53) return TWIN_PASS;      /* 8 */
    if (sport(p, &h) == 123 && dp == 123) return TWIN_PASS; /* 9 */
    if (h.dst == SERVER && dp == 9) return TWIN_PASS;       /* 10 */
  }
deny:
  ++fw_denied;
  return TWIN_DROP;
}
static void firewall10_reset(void) { fw_denied = 0; }
static const struct twin_var firewall10_vars[] = {{"denied", &fw_denied, 1}, {NULL, NULL, 0}};

/* tests/bench/payload_sum.ncpu: the first 64 payload bytes summed in a loop. */
static uint64_t payload_total;
INLINE int payload_sum_loop(uint8_t* p, uint32_t len) {
  struct hdrs h;
  parse(p, len, 1, &h);
  if (!h.has_l4 || (uint64_t)h.payload + 64 > len) return TWIN_PASS;
  uint64_t sum = 0;
  for (uint32_t i = 0; i < 64; ++i) sum += p[h.payload + i];
  payload_total += sum;
  return sum >= 8192 ? TWIN_DROP : TWIN_PASS;
}
static int payload_sum(uint8_t* p, uint32_t len) { return payload_sum_loop(p, len); }
__attribute__((optimize("no-tree-vectorize"))) static int payload_sum_scalar(uint8_t* p,
                                                                             uint32_t len) {
  return payload_sum_loop(p, len);
}
static void payload_sum_reset(void) { payload_total = 0; }
static const struct twin_var payload_sum_vars[] = {{"total", &payload_total, 1}, {NULL, NULL, 0}};

static const struct twin twins[] = {
    {"empty", empty, no_state, no_vars, NULL},
    {"slides", slides, slides_reset, slides_vars, NULL},
    {"ip_pair", ip_pair, no_state, no_vars, NULL},
    {"arp_only", arp_only, no_state, no_vars, NULL},
    {"tcp_firewall", tcp_firewall, tcp_firewall_reset, no_vars, NULL},
    {"drop_string", drop_string, no_state, no_vars, NULL},
    {"rate_limit", rate_limit, rate_limit_reset, rate_limit_vars, NULL},
    {"counter", counter, counter_reset, counter_vars, NULL},
    {"nat", nat, no_state, no_vars, NULL},
    {"firewall10", firewall10, firewall10_reset, firewall10_vars, NULL},
    {"payload_sum", payload_sum, payload_sum_reset, payload_sum_vars, payload_sum_scalar},
};

const struct twin* twin_find(const char* name) {
  for (size_t i = 0; i < sizeof twins / sizeof twins[0]; ++i)
    if (strcmp(twins[i].name, name) == 0) return &twins[i];
  return NULL;
}
