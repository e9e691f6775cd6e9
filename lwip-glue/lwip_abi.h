// What lwip-glue needs of lwIPv6 1.5a that <lwipv6.h> does not declare: the
// userfilter hook registration (exported by liblwipv6.so, C linkage) and the
// head of struct pbuf, the MTU of a struct netif, and the pbuf allocator.
// Checked against Debian's liblwipv6 1.5a-9 binary (inet_chksum_pbuf reads
// payload at +8 and len at +18; ip4_frag reads its netif's mtu at +0x60) and
// by the tests.
#pragma once

#include <cstdint>
#include <cstring>

struct stack;
struct netif;

namespace netcpu::lwip::abi {

struct pbuf {
  pbuf* next;
  void* payload;
  uint16_t tot_len;  // this piece and the rest of the chain
  uint16_t len;      // this piece
  // lwIPv6 keeps flags, ref and more after this: never read or written here.
};

// A netif's MTU: the size above which ip_output_if fragments a packet.
inline uint16_t netif_mtu(const struct netif* n) {
  uint16_t mtu;
  std::memcpy(&mtu, reinterpret_cast<const char*>(n) + 0x60, sizeof mtu);
  return mtu;
}

// pbuf_alloc's layer (the header room it reserves) and kind.
enum : int { kPbufLayerRaw = 3 };
enum : int { kPbufRef = 2 };

// Verdicts a hook returns.
enum : int { kDrop = 0, kAccept = 1, kRepeat = 2, kStolen = 3 };

using hookfun = int(struct stack*, int hooknum, pbuf** p, struct netif* in, struct netif* out);

// The stack keeps a pointer to the handler: it lives as long as the registration.
struct uf_hook_handler {
  int hooknum;
  hookfun* hook;
  short priority;  // ascending order
};

}  // namespace netcpu::lwip::abi

extern "C" {
// Both return 1 on success, -1 on error (e.g. a stack without
// LWIP_STACK_FLAG_USERFILTER has no hook table).
int uf_register_hook(struct stack* stack, netcpu::lwip::abi::uf_hook_handler* h);
int uf_unregister_hook(struct stack* stack, netcpu::lwip::abi::uf_hook_handler* h);
// A pbuf (kPbufRef: one whose payload the caller points at memory it
// keeps), or null.
netcpu::lwip::abi::pbuf* pbuf_alloc(int layer, uint16_t size, int kind);
// Takes and drops one reference.
void pbuf_ref(netcpu::lwip::abi::pbuf* p);
uint8_t pbuf_free(netcpu::lwip::abi::pbuf* p);
}
