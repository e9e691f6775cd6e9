/* LD_PRELOAD shim for User-Mode Linux (linux.uml) on hosts whose XSAVE area is
   larger than the buffer UML hands to ptrace.

   UML keeps each guest process's FPU state in a buffer of its own size and
   restores it with ptrace(PTRACE_SETREGSET, pid, NT_X86_XSTATE, &iov). Host
   kernels since 5.16 accept only a buffer of at least the host's full XSAVE
   size there and answer anything shorter with EFAULT. On CPUs with a large
   area (AVX-512 plus AMX: 10752 bytes) UML's buffer is shorter (Debian's
   UML 6.1 passes 2696 bytes), UML logs
   "userspace - ptrace set fp regs failed, errno = 14" and the guest's init
   dies with SIGSEGV. tools/guest-images.sh preloads this library only after
   it has seen that failure (docs: README.md, section Guests).

   The repair: after the kernel refuses a short XSTATE write, read the
   tracee's full current state, lay UML's bytes over its start and write the
   full size. UML's bytes hold the legacy area, the header and the components
   that fit; the components beyond them keep whatever the host process holds,
   which is the state UML could not save in the first place (no worse than
   the host's view of them; guests that rely on AVX-512 or AMX registers
   across context switches are not served correctly either way). Everything
   else goes to glibc's ptrace untouched, including PEEK requests, for which
   glibc returns the peeked word rather than a status. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

typedef long (*ptrace_fn)(enum __ptrace_request, ...);

/* The largest XSAVE layout Linux defines today is about 11 KiB (AMX); the
   kernel shortens a larger read buffer to the real size. */
#define FULL_XSTATE_MAX (64 * 1024)

/* UML calls ptrace from its kernel stacks, which are a few pages, so the
   full-size buffer cannot live on the stack. One static buffer serves the
   usual case; a nested call (from a signal handler interrupting a repair)
   maps a private one instead. */
static unsigned char full_buffer[FULL_XSTATE_MAX] __attribute__((aligned(64)));
static atomic_flag full_buffer_busy = ATOMIC_FLAG_INIT;
/* Once the kernel has refused a short write, later ones go straight to the
   repair instead of costing a failed system call on every context switch. */
static atomic_int short_writes_refused;
static atomic_int announced;

static ptrace_fn real_ptrace(void) {
  static _Atomic(ptrace_fn) next;
  ptrace_fn f = atomic_load_explicit(&next, memory_order_acquire);
  if (f == NULL) {
    f = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
    atomic_store_explicit(&next, f, memory_order_release);
  }
  return f;
}

static void say(const char* text) {
  /* write(2), not stdio: this may run inside a signal handler of UML's. */
  size_t len = strlen(text);
  while (len > 0) {
    ssize_t n = write(STDERR_FILENO, text, len);
    if (n <= 0) return;
    text += n;
    len -= (size_t)n;
  }
}

static void announce(size_t uml_bytes, size_t host_bytes) {
  if (atomic_exchange(&announced, 1)) return;
  char line[160] = "netcpu uml_xsave_shim: UML wrote ";
  char num[24];
  const size_t values[2] = {uml_bytes, host_bytes};
  const char* after[2] = {" bytes of XSAVE state, the host wants ", "; completing each write\n"};
  for (int i = 0; i < 2; ++i) {
    size_t v = values[i], k = sizeof num;
    num[--k] = '\0';
    do {
      num[--k] = (char)('0' + v % 10);
      v /= 10;
    } while (v != 0 && k > 0);
    strncat(line, num + k, sizeof line - strlen(line) - 1);
    strncat(line, after[i], sizeof line - strlen(line) - 1);
  }
  say(line);
}

/* A short XSTATE write made full: 0 or -1 with errno, like ptrace. */
static long complete_xstate_write(ptrace_fn next, pid_t pid, const struct iovec* uml) {
  int nested = atomic_flag_test_and_set(&full_buffer_busy);
  unsigned char* buffer = full_buffer;
  if (nested) {
    buffer =
        mmap(NULL, FULL_XSTATE_MAX, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buffer == MAP_FAILED) {
      errno = EFAULT;
      return -1;
    }
  }
  struct iovec full = {buffer, FULL_XSTATE_MAX};
  long r = next(PTRACE_GETREGSET, pid, (void*)(uintptr_t)NT_X86_XSTATE, &full);
  if (r == 0 && full.iov_len <= uml->iov_len) {
    /* Not short after all: the refusal had another cause. */
    errno = EFAULT;
    r = -1;
  } else if (r == 0) {
    memcpy(buffer, uml->iov_base, uml->iov_len);
    r = next(PTRACE_SETREGSET, pid, (void*)(uintptr_t)NT_X86_XSTATE, &full);
    if (r == 0) announce(uml->iov_len, full.iov_len);
  }
  int saved = errno;
  if (nested) {
    munmap(buffer, FULL_XSTATE_MAX);
  } else {
    atomic_flag_clear(&full_buffer_busy);
  }
  errno = saved;
  return r;
}

long ptrace(enum __ptrace_request request, ...) {
  /* glibc's own ptrace reads all three arguments whatever the request; so
     does this, and it passes them on unchanged. */
  va_list ap;
  va_start(ap, request);
  pid_t pid = va_arg(ap, pid_t);
  void* addr = va_arg(ap, void*);
  void* data = va_arg(ap, void*);
  va_end(ap);

  ptrace_fn next = real_ptrace();
  if (next == NULL) {
    errno = ENOSYS;
    return -1;
  }
  if (request != PTRACE_SETREGSET || (uintptr_t)addr != NT_X86_XSTATE || data == NULL) {
    return next(request, pid, addr, data);
  }
  const struct iovec* uml = data;
  if (atomic_load(&short_writes_refused) && uml->iov_len < FULL_XSTATE_MAX) {
    long r = complete_xstate_write(next, pid, uml);
    if (r == 0 || errno != EFAULT) return r;
    /* The host's size changed under us (it cannot) or the write was never
       short: let the kernel judge the caller's own buffer. */
    return next(request, pid, addr, data);
  }
  long r = next(request, pid, addr, data);
  if (r == 0 || errno != EFAULT) return r;
  long repaired = complete_xstate_write(next, pid, uml);
  if (repaired == 0) {
    atomic_store(&short_writes_refused, 1);
    return 0;
  }
  errno = EFAULT;
  return -1;
}
