/* NetCPU programs at the userfilter hooks of an lwIPv6 stack: the C API.
 *
 *   struct stack *s = lwip_add_stack(LWIP_STACK_FLAG_USERFILTER);
 *   char why[256];
 *   ncpu_lwip *f = ncpu_lwip_attach(s, why, sizeof why);
 *   if (!f) errx(1, "%s", why);
 *   if (ncpu_lwip_load(f, NCPU_LWIP_LOCAL_IN, "firewall.ncpu") != 0)
 *     errx(1, "%s", ncpu_lwip_message(f));      // file:line:col reason
 *   ncpu_lwip_console(f, "/tmp/app.mgmt");      // vdeterm /tmp/app.mgmt
 *   ...
 *   ncpu_lwip_detach(f);                        // before lwip_del_stack(s)
 *
 * Functions returning int answer 0 or an errno value; the text of the last
 * reply on a handle (an error's file:line:col and reason, a command's
 * output) is ncpu_lwip_message(), valid until the next call on that handle.
 * See netcpu/lwip.hpp for the semantics (verdicts, hot swap). Link with
 * -lnetcpu_lwip -llwipv6. */
#ifndef NETCPU_LWIP_H
#define NETCPU_LWIP_H

#include <stddef.h>

#define NCPU_LWIP_API __attribute__((visibility("default")))

#ifdef __cplusplus
extern "C" {
#endif

struct stack;
typedef struct ncpu_lwip ncpu_lwip;

enum ncpu_lwip_hook {
  NCPU_LWIP_PRE_ROUTING = 0,
  NCPU_LWIP_LOCAL_IN = 1,
  NCPU_LWIP_FORWARD = 2,
  NCPU_LWIP_LOCAL_OUT = 3,
  NCPU_LWIP_POST_ROUTING = 4,
  /* One program (one instance, one set of tables) at two hooks. */
  NCPU_LWIP_LOCAL = 5, /* local_in and local_out: the process's own traffic */
  NCPU_LWIP_EDGE = 6   /* pre_routing and post_routing */
};

/* NULL with why filled when the stack has no userfilter hooks
 * (LWIP_STACK_FLAG_USERFILTER) or already has a NetCPU filter. */
NCPU_LWIP_API ncpu_lwip *ncpu_lwip_attach(struct stack *stack, char *why, size_t why_len);
NCPU_LWIP_API void ncpu_lwip_detach(ncpu_lwip *f);

NCPU_LWIP_API int ncpu_lwip_load(ncpu_lwip *f, int hook, const char *path);
NCPU_LWIP_API int ncpu_lwip_load_source(ncpu_lwip *f, int hook, const char *source,
                                        const char *name);
NCPU_LWIP_API int ncpu_lwip_unload(ncpu_lwip *f, int hook);
/* A console command line, e.g. "netcpu/list"; its output is the message. */
NCPU_LWIP_API int ncpu_lwip_command(ncpu_lwip *f, const char *line);
/* Serves the vde_switch management protocol on a Unix socket at path. */
NCPU_LWIP_API int ncpu_lwip_console(ncpu_lwip *f, const char *path);
NCPU_LWIP_API const char *ncpu_lwip_message(const ncpu_lwip *f);

/* Programs' print/log/dump lines, besides the console's netcpu/log. */
typedef void (*ncpu_lwip_output_fn)(void *arg, int hook, const char *line);
NCPU_LWIP_API void ncpu_lwip_set_output(ncpu_lwip *f, ncpu_lwip_output_fn fn, void *arg);

NCPU_LWIP_API unsigned long long ncpu_lwip_packets(const ncpu_lwip *f, int hook);
NCPU_LWIP_API unsigned long long ncpu_lwip_dropped(const ncpu_lwip *f, int hook);

#ifdef __cplusplus
}
#endif

#endif
