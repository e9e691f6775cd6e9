/* Preloaded (before the sanitizer runtimes) into the uninstrumented vde_plug
   that the sanitizer build of vdeplug_module_test starts. libvdeplug loads
   modules with dlopen(RTLD_DEEPBIND), which AddressSanitizer refuses outright
   ("incompatible with sanitizer runtime"); without the flag the instrumented
   libvdeplug_netcpu.so loads like any plugin. DEEPBIND only changes which
   definition a module's symbols bind to first, and the module exports and
   imports nothing the process defines differently. */
#define _GNU_SOURCE
#include <dlfcn.h>

void *dlopen(const char *file, int flags) {
  static void *(*next)(const char *, int);
  if (!next) next = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
  return next(file, flags & ~RTLD_DEEPBIND);
}
