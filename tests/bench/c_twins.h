/* The benchmark programs hand-written in C: for each program that
   tools/bench-core.sh times (examples/, tests/bench/firewall10.ncpu and
   payload_sum.ncpu, an empty program), a C function with the same
   semantics, what the program would cost if a person had written it in C
   and compiled it with the project's flags. netcpu-bench-core runs each
   next to its program on the same frames, checks that both agree on every
   frame (verdict, packet bytes, output lines, heap variables) and times
   them side by side. Tables are small open-addressing hash tables, output
   goes through the same token bucket as NetCPU's (counted, formatted only
   when the bucket allows), `find` is memmem. */
#ifndef NETCPU_BENCH_C_TWINS_H
#define NETCPU_BENCH_C_TWINS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { TWIN_PASS = 0, TWIN_DROP = 1 };

/* A heap variable or array of the program that the twin keeps too: its
   `count` 8-byte numbers must equal the program's after the same frames. */
struct twin_var {
  const char* name;
  const uint64_t* value;
  size_t count;
};

struct twin {
  const char* name; /* the program's file name without .ncpu */
  /* One frame: TWIN_PASS or TWIN_DROP; may rewrite pkt[0..len) in place. */
  int (*run)(uint8_t* pkt, uint32_t len);
  void (*reset)(void);         /* the state a fresh load has */
  const struct twin_var* vars; /* ended by a null name */
  /* For a loop GCC vectorizes at -O2 (NetCPU's JIT does not): the same
     function compiled without vectorization, timed beside it; else NULL. */
  int (*scalar)(uint8_t* pkt, uint32_t len);
};

/* The twin named `name`, or NULL. */
const struct twin* twin_find(const char* name);
/* The twins' output bucket, as Limits::output_burst and output_per_second
   (it starts full, as NetCPU's does). */
void twin_output_limits(uint32_t burst, uint32_t per_second);
/* Lines written and lines the bucket refused, since the last call. */
void twin_output_counts(uint64_t* lines, uint64_t* suppressed);

#ifdef __cplusplus
}
#endif

#endif
