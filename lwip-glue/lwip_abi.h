// What lwip-glue needs of lwIPv6 1.5a that <lwipv6.h> does not declare: the
// userfilter hook registration (exported by liblwipv6.so, C linkage) and the
// head of struct pbuf. Checked against Debian's liblwipv6 1.5a-9 binary
// (inet_chksum_pbuf reads payload at +8 and len at +18) and by the tests.
#pragma once

#include <cstdint>

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
}
