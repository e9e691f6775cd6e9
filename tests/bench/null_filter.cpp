// netcpu-null-filter.so: a vde_switch plugin whose packet/in callback returns
// at once. The switch benchmark's configuration (d): what vde_switch itself
// charges any packet filter plugin per frame (its packetfilter() dispatch and
// the call into a shared object), the floor under netcpu.so's (c).
#include "vde_abi.h"

namespace {

int pass(dbgcl*, void*, va_list) { return 0; }

__attribute__((constructor)) void subscribe() { eventadd(pass, "packet/in", nullptr); }
__attribute__((destructor)) void unsubscribe() { eventdel(pass, "packet/in", nullptr); }

}  // namespace

extern "C" {
__attribute__((visibility("default")))
plugin vde_plugin_data = {"null-filter", "a packet/in filter that does nothing", nullptr, nullptr};
}
