/* Test-only LD_PRELOAD for linux.uml: makes this host's kernel look like one
   on a CPU with a larger XSAVE area than UML's buffer (guests.md: AVX-512
   plus AMX, 10752 bytes), so that the detection of UML's failure there and
   the shim guests/uml_xsave_shim.c can be tested on any x86-64 host.

   Host kernels since 5.16 accept an XSTATE regset write only of exactly the
   full size, and a read of any length returns at most the full size. This
   library plays such a kernel for a full size of NETCPU_LARGE_XSTATE bytes:
   the bytes past the real area read as zeros and are ignored on write
   (like AMX tile state no guest program uses), and a write of any other
   length is refused with EFAULT. UML sizes its buffer from the real CPU, so
   its writes are now short, and it fails as on such a CPU.

   Preload it after the shim (LD_PRELOAD="shim.so large.so"): UML's calls
   reach the shim first, and the shim's reach this library, which passes
   the real part on to glibc. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

#define NETCPU_LARGE_XSTATE 10752

typedef long (*ptrace_fn)(enum __ptrace_request, ...);

static ptrace_fn next_ptrace(void) {
  static ptrace_fn next;
  if (next == NULL) next = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
  return next;
}

/* The real kernel's full size, learnt once with a read into a large buffer. */
static size_t real_size(pid_t pid) {
  static size_t size;
  static unsigned char scratch[NETCPU_LARGE_XSTATE];
  if (size == 0) {
    struct iovec iov = {scratch, sizeof scratch};
    if (next_ptrace()(PTRACE_GETREGSET, pid, (void*)(uintptr_t)NT_X86_XSTATE, &iov) == 0) {
      size = iov.iov_len;
    }
  }
  return size;
}

long ptrace(enum __ptrace_request request, ...) {
  va_list ap;
  va_start(ap, request);
  pid_t pid = va_arg(ap, pid_t);
  void* addr = va_arg(ap, void*);
  void* data = va_arg(ap, void*);
  va_end(ap);

  ptrace_fn next = next_ptrace();
  if ((request != PTRACE_GETREGSET && request != PTRACE_SETREGSET) ||
      (uintptr_t)addr != NT_X86_XSTATE || data == NULL) {
    return next(request, pid, addr, data);
  }
  size_t real = real_size(pid);
  if (real == 0 || real >= NETCPU_LARGE_XSTATE) return next(request, pid, addr, data);
  struct iovec* iov = data;
  if (request == PTRACE_SETREGSET) {
    if (iov->iov_len < NETCPU_LARGE_XSTATE) {
      errno = EFAULT;
      return -1;
    }
    struct iovec part = {iov->iov_base, real};
    return next(request, pid, addr, &part);
  }
  size_t want = iov->iov_len < NETCPU_LARGE_XSTATE ? iov->iov_len : NETCPU_LARGE_XSTATE;
  struct iovec part = {iov->iov_base, want < real ? want : real};
  long r = next(request, pid, addr, &part);
  if (r != 0) return r;
  if (want > part.iov_len)
    memset((unsigned char*)iov->iov_base + part.iov_len, 0, want - part.iov_len);
  iov->iov_len = want;
  return 0;
}
