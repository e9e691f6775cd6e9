/* netcpu-lwip-node: one process, one lwIPv6 stack on a VDE network, with
 * NetCPU at its hooks (the C API) and a management console. It serves and
 * drives TCP, UDP and ICMP for the demos, the tests and the benchmark.
 *
 *   netcpu-lwip-node --vde vde:///tmp/sw --addr 10.0.0.1/24 --addr fd00::1/64 \
 *       --console /tmp/n1.mgmt --load local_in=drop.ncpu --echo 7 --sink 9
 *   netcpu-lwip-node --vde vde:///tmp/sw --addr 10.0.0.2/24 --connect 10.0.0.1,7
 *
 * Servers: --echo PORT (TCP: a banner line "NAME ready", then echoes),
 * --sink PORT (TCP: reads a line with the length L in hex, then L bytes
 * whose byte i is i % 127, answers "got L ok" or "got N bad"), --udp-echo PORT.
 * Clients (run in order, then exit 0 if all succeeded, 1 if not): --connect
 * ADDR,PORT (prints the banner), --send ADDR,PORT,BYTES (a --sink transfer,
 * prints MB/s; --mark sets bit 7 of every data byte, for a program on the
 * way to clear), --udp ADDR,PORT,TEXT (prints the echo), --ping ADDR.
 * A client step that gets no answer within --timeout seconds (default 10),
 * or a --send that can write nothing for as long, fails the run.
 * It prints "ready" once set up; without clients it then serves until stdin
 * reaches EOF. --stats prints what netcpu/stack says before exiting (a
 * client) or what netcpu/list says at that EOF (a server).
 * --teardown: at that EOF, delete the stack (closing its VDE cables) first. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <lwipv6.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "netcpu_lwip.h"

#if defined(__SANITIZE_ADDRESS__)
/* libvdeplug dlopens its modules with RTLD_DEEPBIND, which AddressSanitizer
 * refuses. This executable's dlopen comes first in symbol lookup, so
 * liblwipv6 and libvdeplug call it; it passes the rest on to the sanitizer's
 * own dlopen. Sanitizer builds only. */
void *dlopen(const char *file, int mode) {
  static void *(*next)(const char *, int);
  if (!next) next = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
  return next(file, mode & ~RTLD_DEEPBIND);
}
#endif

enum { kMaxIfs = 4, kMaxClients = 16 };

static struct stack *g_stack;
static int g_timeout_s = 10;     /* --timeout: how long a client waits for anything */
static unsigned char g_mark = 0; /* --mark: what --send ORs into its data bytes */
static int g_stats = 0;          /* --stats: print netcpu/stack or netcpu/list before exiting */
static int g_teardown = 0;       /* --teardown: delete the stack at stdin EOF */
static struct in6_addr g_src6;   /* the first IPv6 --addr: ICMPv6 checksums need it */
static int g_have_src6 = 0;
static const char *g_name = "node";

static void die(const char *what) {
  fprintf(stderr, "%s: %s: %s\n", g_name, what, strerror(errno));
  exit(2);
}

/* "10.0.0.1/24" or "fd00::1/64" into lwIPv6's address and mask. */
static int parse_prefix(const char *text, struct ip_addr *addr, struct ip_addr *mask) {
  char buf[128];
  snprintf(buf, sizeof buf, "%s", text);
  char *slash = strchr(buf, '/');
  int bits = -1;
  if (slash) {
    *slash = 0;
    bits = atoi(slash + 1);
  }
  struct in_addr a4;
  struct in6_addr a6;
  if (inet_pton(AF_INET, buf, &a4) == 1) {
    if (bits < 0) bits = 32;
    if (bits > 32) return -1;
    bits += 96;
    memset(addr, 0, sizeof *addr);
    addr->addr[2] = htonl(0xffff);
    addr->addr[3] = a4.s_addr;
  } else if (inet_pton(AF_INET6, buf, &a6) == 1) {
    if (bits < 0) bits = 128;
    if (bits > 128) return -1;
    if (!g_have_src6) g_src6 = a6, g_have_src6 = 1;
    memcpy(addr->addr, &a6, 16);
  } else {
    return -1;
  }
  for (int w = 0; w < 4; ++w) {
    int b = bits - 32 * w;
    uint32_t m = b >= 32 ? 0xffffffffu : b <= 0 ? 0 : ~((1u << (32 - b)) - 1);
    mask->addr[w] = htonl(m);
  }
  return 0;
}

/* "ADDR,PORT" into a socket address; returns its length, 0 if malformed. */
static socklen_t parse_endpoint(const char *text, struct sockaddr_storage *ss, const char **rest) {
  char buf[128];
  snprintf(buf, sizeof buf, "%s", text);
  char *comma = strchr(buf, ',');
  if (!comma) return 0;
  *comma = 0;
  int port = atoi(comma + 1);
  const char *after = strchr(text, ',');
  after = strchr(after + 1, ',');
  if (rest) *rest = after ? after + 1 : NULL;
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, buf, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    return sizeof *s4;
  }
  if (inet_pton(AF_INET6, buf, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    return sizeof *s6;
  }
  return 0;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

/* Waits until fd is readable, at most g_timeout_s seconds. lwIPv6 1.5a's
   lwip_poll can return 0 at once, long before its timeout: it takes the
   connection's count of unread bytes (recv_avail), which the stack's thread
   and the reading thread change without a lock, as a sign of data; after a
   lost update the count reads -1488 (as a u16: data, so poll does not
   wait), and a segment arriving brings it to 0 before its event is counted,
   so poll's last look finds nothing (docs/lwip.md). Such a 0 is not the
   timeout: poll again for the time left. */
static int readable(int fd) {
  double deadline = now_s() + g_timeout_s;
  for (;;) {
    double left = deadline - now_s();
    if (left <= 0) return 0;
    struct pollfd p = {fd, POLLIN, 0};
    int r = lwip_poll(&p, 1, (int)(left * 1000) + 1);
    if (r > 0) return 1;
    if (r < 0 && errno != EINTR) return 0;
  }
}

static int read_full(int fd, void *buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    if (!readable(fd)) return -1;
    ssize_t n = lwip_read(fd, (char *)buf + got, (int)(len - got));
    if (n <= 0) return -1;
    got += (size_t)n;
  }
  return 0;
}

static int write_full(int fd, const void *buf, size_t len) {
  size_t put = 0;
  while (put < len) {
    ssize_t n = lwip_write(fd, (char *)buf + put, (int)(len - put));
    if (n <= 0) return -1;
    put += (size_t)n;
  }
  return 0;
}

/* ---- servers ---- */

enum kind { kEcho, kSink, kUdpEcho };
struct server {
  enum kind kind;
  int port;
  int fd; /* bound (and listening for TCP) before "ready" is printed */
};

static void *echo_session(void *arg) {
  int fd = (int)(intptr_t)arg;
  char line[160];
  snprintf(line, sizeof line, "%s ready\n", g_name);
  if (write_full(fd, line, strlen(line)) == 0) {
    char buf[4096];
    for (;;) {
      if (!readable(fd)) break;
      ssize_t n = lwip_read(fd, buf, sizeof buf);
      if (n <= 0 || write_full(fd, buf, (size_t)n) != 0) break;
    }
  }
  lwip_close(fd);
  return NULL;
}

static void *sink_session(void *arg) {
  int fd = (int)(intptr_t)arg;
  char hdr[17];
  if (read_full(fd, hdr, sizeof hdr) == 0 && hdr[16] == '\n') {
    hdr[16] = 0;
    uint64_t want = strtoull(hdr, NULL, 16), got = 0;
    int ok = 1;
    static __thread unsigned char buf[65536];
    while (got < want) {
      if (!readable(fd)) {
        fprintf(stderr, "%s: sink: nothing to read for %d s after %llu of %llu bytes\n", g_name,
                g_timeout_s, (unsigned long long)got, (unsigned long long)want);
        break;
      }
      size_t ask = want - got < sizeof buf ? (size_t)(want - got) : sizeof buf;
      ssize_t n = lwip_read(fd, buf, (int)ask);
      if (n <= 0) {
        fprintf(stderr, "%s: sink: read after %llu of %llu bytes: %s\n", g_name,
                (unsigned long long)got, (unsigned long long)want,
                n == 0 ? "the peer closed" : strerror(errno));
        break;
      }
      for (ssize_t i = 0; i < n; ++i) ok &= buf[i] == (unsigned char)((got + (uint64_t)i) % 127);
      got += (uint64_t)n;
    }
    char line[80];
    snprintf(line, sizeof line, "got %llu %s\n", (unsigned long long)got,
             ok && got == want ? "ok" : "bad");
    write_full(fd, line, strlen(line));
    /* The client closes first: an early lwip_close can cut what is in flight. */
    char c;
    if (readable(fd)) lwip_read(fd, &c, 1);
  }
  lwip_close(fd);
  return NULL;
}

static int bind_socket(int type, int port) {
  int fd = lwip_msocket(g_stack, AF_INET6, type, 0);
  if (fd < 0) die("socket");
  struct sockaddr_in6 a;
  memset(&a, 0, sizeof a);
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  a.sin6_addr = in6addr_any;
  if (lwip_bind(fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
  return fd;
}

static void *serve(void *arg) {
  struct server *s = arg;
  int fd = s->fd;
  if (s->kind == kUdpEcho) {
    char buf[2048];
    for (;;) {
      struct sockaddr_storage from;
      socklen_t flen = sizeof from;
      ssize_t n = lwip_recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
      if (n > 0) lwip_sendto(fd, buf, (int)n, 0, (struct sockaddr *)&from, flen);
    }
  }
  for (;;) {
    int c = lwip_accept(fd, NULL, NULL);
    if (c < 0) continue;
    pthread_t t;
    pthread_create(&t, NULL, s->kind == kEcho ? echo_session : sink_session, (void *)(intptr_t)c);
    pthread_detach(t);
  }
  return NULL;
}

/* ---- clients ---- */

/* The clients' watchdog, which ends the process when its step made no
   progress for g_timeout_s seconds. lwip_connect has no timeout of its own
   (a dropped SYN would block for minutes), and lwIPv6 1.5a has no persist
   timer and sends no RST when its application closes with data unread, so
   a transfer whose peer stopped reading, or whose window update was lost,
   blocks lwip_write for ever. It is woken to stop, not cancelled: a thread
   cancelled in sleep() leaves AddressSanitizer its frame poisoned, and its
   exit then reports a use after scope. */
struct watchdog {
  const char *step, *spec; /* "connect ADDR,PORT" or "send ADDR,PORT,BYTES" */
  int counts_bytes;        /* send: written moves, of total */
  uint64_t written, total;
  int stop;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  pthread_t thread;
};

static void *watchdog_run(void *arg) {
  struct watchdog *w = arg;
  uint64_t seen = 0;
  double since = now_s();
  pthread_mutex_lock(&w->lock);
  while (!w->stop) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += 1;
    pthread_cond_timedwait(&w->wake, &w->lock, &t);
    if (w->stop) break;
    if (w->written != seen) {
      seen = w->written, since = now_s();
    } else if (now_s() - since >= g_timeout_s) {
      if (w->counts_bytes)
        fprintf(stderr,
                "%s: %s %s: nothing written for %d s after %llu of %llu bytes (the peer "
                "stopped reading)\n",
                g_name, w->step, w->spec, g_timeout_s, (unsigned long long)w->written,
                (unsigned long long)w->total);
      else
        fprintf(stderr, "%s: %s %s: no answer within %d s\n", g_name, w->step, w->spec,
                g_timeout_s);
      fflush(stdout);
      _exit(1);
    }
  }
  pthread_mutex_unlock(&w->lock);
  return NULL;
}

static void watchdog_start(struct watchdog *w, const char *step, const char *spec, int counts_bytes,
                           uint64_t total) {
  *w = (struct watchdog){.step = step,
                         .spec = spec,
                         .counts_bytes = counts_bytes,
                         .total = total,
                         .lock = PTHREAD_MUTEX_INITIALIZER,
                         .wake = PTHREAD_COND_INITIALIZER};
  pthread_create(&w->thread, NULL, watchdog_run, w);
}

static void watchdog_written(struct watchdog *w, uint64_t written) {
  pthread_mutex_lock(&w->lock);
  w->written = written;
  pthread_mutex_unlock(&w->lock);
}

static void watchdog_stop(struct watchdog *w) {
  pthread_mutex_lock(&w->lock);
  w->stop = 1;
  pthread_cond_signal(&w->wake);
  pthread_mutex_unlock(&w->lock);
  pthread_join(w->thread, NULL);
}

static int connect_to(const char *spec, const char **rest) {
  struct sockaddr_storage ss;
  socklen_t len = parse_endpoint(spec, &ss, rest);
  if (!len) {
    fprintf(stderr, "%s: bad endpoint '%s' (ADDR,PORT)\n", g_name, spec);
    return -1;
  }
  int fd = lwip_msocket(g_stack, ss.ss_family, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct watchdog watchdog;
  watchdog_start(&watchdog, "connect", spec, 0, 0);
  int r = lwip_connect(fd, (struct sockaddr *)&ss, len);
  watchdog_stop(&watchdog);
  if (r < 0) {
    fprintf(stderr, "%s: connect %s: %s\n", g_name, spec, strerror(errno));
    lwip_close(fd);
    return -1;
  }
  return fd;
}

static int read_line(int fd, char *line, size_t size) {
  size_t n = 0;
  while (n + 1 < size) {
    if (!readable(fd)) return -1;
    if (lwip_read(fd, line + n, 1) != 1) return -1;
    if (line[n++] == '\n') break;
  }
  line[n] = 0;
  return 0;
}

static int client_connect(const char *spec) {
  int fd = connect_to(spec, NULL);
  if (fd < 0) return 1;
  char line[160];
  int r = read_line(fd, line, sizeof line);
  if (r == 0)
    printf("connect %s: %s", spec, line);
  else
    fprintf(stderr, "%s: connect %s: no banner within %d s\n", g_name, spec, g_timeout_s);
  lwip_close(fd);
  return r == 0 ? 0 : 1;
}

static int client_send(const char *spec) {
  const char *rest = NULL;
  int fd = connect_to(spec, &rest);
  if (fd < 0) return 1;
  uint64_t total = rest ? strtoull(rest, NULL, 10) : 0;
  struct watchdog watchdog;
  watchdog_start(&watchdog, "send", spec, 1, total);
  /* A text header: bytes below 0x80, which --mark programs leave alone. */
  char hdr[18];
  snprintf(hdr, sizeof hdr, "%016llx\n", (unsigned long long)total);
  double t0 = now_s();
  int ok = write_full(fd, hdr, 17) == 0;
  static unsigned char buf[65536];
  uint64_t sent = 0;
  while (ok && sent < total) {
    size_t n = total - sent < sizeof buf ? (size_t)(total - sent) : sizeof buf;
    for (size_t i = 0; i < n; ++i) buf[i] = (unsigned char)((sent + i) % 127) | g_mark;
    ok = write_full(fd, buf, n) == 0;
    sent += n;
    watchdog_written(&watchdog, sent);
  }
  watchdog_stop(&watchdog);
  char line[80] = "";
  ok = ok && read_line(fd, line, sizeof line) == 0;
  double secs = now_s() - t0;
  lwip_close(fd);
  printf("send %s: %llu bytes in %.3f s, %.2f MB/s; peer: %s", spec, (unsigned long long)sent, secs,
         secs > 0 ? sent / secs / 1e6 : 0.0, ok ? line : "no answer\n");
  char want[80];
  snprintf(want, sizeof want, "got %llu ok\n", (unsigned long long)total);
  return ok && strcmp(line, want) == 0 ? 0 : 1;
}

static int client_udp(const char *spec) {
  struct sockaddr_storage ss;
  const char *text = NULL;
  socklen_t len = parse_endpoint(spec, &ss, &text);
  if (!len || !text) {
    fprintf(stderr, "%s: bad --udp '%s' (ADDR,PORT,TEXT)\n", g_name, spec);
    return 1;
  }
  int fd = lwip_msocket(g_stack, ss.ss_family, SOCK_DGRAM, 0);
  /* Address resolution may swallow the first datagram: try a few times. */
  for (int attempt = 0; attempt < 5; ++attempt) {
    lwip_sendto(fd, text, (int)strlen(text), 0, (struct sockaddr *)&ss, len);
    struct pollfd p = {fd, POLLIN, 0};
    if (lwip_poll(&p, 1, 1000) > 0) {
      char buf[2048];
      ssize_t n = lwip_recv(fd, buf, sizeof buf - 1, 0);
      if (n > 0) {
        buf[n] = 0;
        printf("udp %s: %s\n", spec, buf);
        lwip_close(fd);
        return 0;
      }
    }
  }
  fprintf(stderr, "%s: udp %s: no echo\n", g_name, spec);
  lwip_close(fd);
  return 1;
}

static uint16_t inet_sum_from(uint32_t s, const unsigned char *p, size_t n) {
  for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) s += (uint32_t)(p[n - 1] << 8);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)~s;
}

static uint16_t inet_sum(const unsigned char *p, size_t n) { return inet_sum_from(0, p, n); }

static int client_ping(const char *target) {
  struct sockaddr_storage ss;
  char spec[140];
  snprintf(spec, sizeof spec, "%s,0", target);
  socklen_t len = parse_endpoint(spec, &ss, NULL);
  if (!len) {
    fprintf(stderr, "%s: bad --ping address '%s'\n", g_name, target);
    return 1;
  }
  int v6 = ss.ss_family == AF_INET6;
  int fd = lwip_msocket(g_stack, ss.ss_family, SOCK_RAW, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
  if (fd < 0) die("raw socket");
  for (int seq = 1; seq <= 5; ++seq) {
    unsigned char req[16] = {v6 ? 128 : 8, 0,   0,   0,   0x4e, 0x43, 0,   (unsigned char)seq,
                             'n',          'e', 't', 'c', 'p',  'u',  '!', '!'};
    uint16_t c = inet_sum(req, sizeof req);
    if (v6) {
      /* ICMPv6's checksum covers a pseudo-header, which lwIPv6 leaves to us. */
      unsigned char pseudo[40] = {0};
      memcpy(pseudo, &g_src6, 16);
      memcpy(pseudo + 16, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
      pseudo[35] = sizeof req;
      pseudo[39] = IPPROTO_ICMPV6;
      uint32_t partial = (uint16_t)~inet_sum(pseudo, sizeof pseudo);
      c = inet_sum_from(partial, req, sizeof req);
    }
    req[2] = (unsigned char)(c >> 8), req[3] = (unsigned char)c;
    lwip_sendto(fd, req, sizeof req, 0, (struct sockaddr *)&ss, len);
    double until = now_s() + 1;
    while (now_s() < until) {
      struct pollfd p = {fd, POLLIN, 0};
      if (lwip_poll(&p, 1, 200) <= 0) continue;
      unsigned char buf[2048];
      ssize_t n = lwip_recv(fd, buf, sizeof buf, 0);
      /* IPv4 raw sockets deliver the IP header, IPv6 ones do not. */
      size_t off = v6 ? 0 : (size_t)(buf[0] & 15) * 4;
      if (n >= (ssize_t)(off + 8) && buf[off] == (v6 ? 129 : 0) && buf[off + 7] == seq) {
        printf("ping %s: reply to echo %d\n", target, seq);
        lwip_close(fd);
        return 0;
      }
    }
  }
  fprintf(stderr, "%s: ping %s: no reply\n", g_name, target);
  lwip_close(fd);
  return 1;
}

/* ---- setup ---- */

static void print_output(void *arg, int hook, const char *line) {
  (void)arg;
  static const char *names[] = {"pre_routing",  "local_in", "forward", "local_out",
                                "post_routing", "local",    "edge"};
  fprintf(stderr, "%s: %s: %s\n", g_name, names[hook], line);
}

static void usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s --vde URL [--addr PREFIX]... [--vde URL [--addr PREFIX]...]... [--route "
          "PREFIX,GW]...\n"
          "          [--forward] [--name NAME] [--console PATH] [--load HOOK=FILE]...\n"
          "          [--echo PORT] [--sink PORT] [--udp-echo PORT]\n"
          "          [--connect ADDR,PORT] [--send ADDR,PORT,BYTES] [--udp ADDR,PORT,TEXT] "
          "[--ping ADDR]...\n"
          "          [--mark] [--stats] [--teardown] [--timeout SECONDS] [--no-filter]\n",
          argv0);
  exit(2);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"vde", 1, 0, 'v'},      {"addr", 1, 0, 'a'},
      {"route", 1, 0, 'r'},    {"forward", 0, 0, 'f'},
      {"name", 1, 0, 'n'},     {"console", 1, 0, 'c'},
      {"load", 1, 0, 'l'},     {"echo", 1, 0, 'e'},
      {"sink", 1, 0, 's'},     {"udp-echo", 1, 0, 'u'},
      {"connect", 1, 0, 'C'},  {"send", 1, 0, 'S'},
      {"udp", 1, 0, 'U'},      {"ping", 1, 0, 'P'},
      {"mark", 0, 0, 'x'},     {"stats", 0, 0, 'z'},
      {"teardown", 0, 0, 'T'}, {"no-filter", 0, 0, 'F'},
      {"timeout", 1, 0, 't'},  {0, 0, 0, 0},
  };
  /* Two passes: the stack's flags (forwarding) must be known before it exists. */
  int forward = 0;
  for (int i = 1; i < argc; ++i)
    if (strcmp(argv[i], "--forward") == 0) forward = 1;
  for (int i = 1; i + 1 < argc; ++i)
    if (strcmp(argv[i], "--name") == 0) g_name = argv[i + 1];
  /* --no-filter: a plain stack, the benchmark's baseline. */
  int plain = 0;
  for (int i = 1; i < argc; ++i)
    if (strcmp(argv[i], "--no-filter") == 0) plain = 1;
  g_stack = lwip_add_stack((plain ? 0 : LWIP_STACK_FLAG_USERFILTER) |
                           (forward ? LWIP_STACK_FLAG_FORWARDING : 0));
  if (!g_stack) die("lwip_add_stack");
  char why[512];
  ncpu_lwip *filter = NULL;
  if (!plain) {
    filter = ncpu_lwip_attach(g_stack, why, sizeof why);
    if (!filter) {
      fprintf(stderr, "%s: %s\n", g_name, why);
      return 2;
    }
    ncpu_lwip_set_output(filter, print_output, NULL);
  }

  struct netif *ifs[kMaxIfs];
  int nifs = 0;
  struct server servers[8];
  int nservers = 0;
  struct {
    int opt;
    const char *arg;
  } clients[kMaxClients];
  int nclients = 0;
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    struct ip_addr a, m;
    switch (c) {
      case 'v':
        if (nifs == kMaxIfs) usage(argv[0]);
        ifs[nifs] = lwip_vdeif_add(g_stack, optarg);
        if (!ifs[nifs]) {
          fprintf(stderr, "%s: cannot open VDE interface %s\n", g_name, optarg);
          return 2;
        }
        ++nifs;
        break;
      case 'a':
        if (!nifs || parse_prefix(optarg, &a, &m) < 0) usage(argv[0]);
        if (lwip_add_addr(ifs[nifs - 1], &a, &m) < 0) die("lwip_add_addr");
        break;
      case 'r': {
        char net[128];
        snprintf(net, sizeof net, "%s", optarg);
        char *gw = strchr(net, ',');
        struct ip_addr g, gm;
        if (!gw) usage(argv[0]);
        *gw++ = 0;
        if (parse_prefix(net, &a, &m) < 0 || parse_prefix(gw, &g, &gm) < 0) usage(argv[0]);
        if (lwip_add_route(g_stack, &a, &m, &g, nifs ? ifs[nifs - 1] : NULL, 0) < 0)
          die("lwip_add_route");
        break;
      }
      case 'f':
      case 'n':
      case 'F':
        break;
      case 'x':
        g_mark = 0x80;
        break;
      case 'z':
        g_stats = 1;
        break;
      case 'T':
        g_teardown = 1;
        break;
      case 't':
        g_timeout_s = atoi(optarg) > 0 ? atoi(optarg) : 10;
        break;
      case 'c':
        if (!filter) usage(argv[0]);
        if (ncpu_lwip_console(filter, optarg) != 0) {
          fprintf(stderr, "%s: console: %s\n", g_name, ncpu_lwip_message(filter));
          return 2;
        }
        break;
      case 'l': {
        const char *eq = strchr(optarg, '=');
        if (!filter || !eq || eq - optarg > 32) usage(argv[0]);
        char line[4200];
        snprintf(line, sizeof line, "netcpu/load %.*s %s", (int)(eq - optarg), optarg, eq + 1);
        if (ncpu_lwip_command(filter, line) != 0) {
          fprintf(stderr, "%s: %s\n", g_name, ncpu_lwip_message(filter));
          return 2;
        }
        break;
      }
      case 'e':
      case 's':
      case 'u':
        if (nservers == 8) usage(argv[0]);
        servers[nservers].kind = c == 'e' ? kEcho : c == 's' ? kSink : kUdpEcho;
        servers[nservers].port = atoi(optarg);
        ++nservers;
        break;
      case 'C':
      case 'S':
      case 'U':
      case 'P':
        if (nclients == kMaxClients) usage(argv[0]);
        clients[nclients].opt = c;
        clients[nclients].arg = optarg;
        ++nclients;
        break;
      default:
        usage(argv[0]);
    }
  }
  if (!nifs || optind != argc) usage(argv[0]);
  for (int i = 0; i < nifs; ++i) lwip_ifup(ifs[i]);
  /* A client started on "ready" must find the ports open, not get a reset. */
  for (int i = 0; i < nservers; ++i) {
    struct server *s = &servers[i];
    s->fd = bind_socket(s->kind == kUdpEcho ? SOCK_DGRAM : SOCK_STREAM, s->port);
    if (s->kind != kUdpEcho && lwip_listen(s->fd, 16) < 0) die("listen");
    pthread_t t;
    pthread_create(&t, NULL, serve, &servers[i]);
    pthread_detach(t);
  }
  printf("ready\n");
  fflush(stdout);
  if (nclients) {
    int failed = 0;
    for (int i = 0; i < nclients; ++i) {
      const char *arg = clients[i].arg;
      switch (clients[i].opt) {
        case 'C':
          failed |= client_connect(arg);
          break;
        case 'S':
          failed |= client_send(arg);
          break;
        case 'U':
          failed |= client_udp(arg);
          break;
        case 'P':
          failed |= client_ping(arg);
          break;
      }
      fflush(stdout);
    }
    if (g_stats && filter && ncpu_lwip_command(filter, "netcpu/stack") == 0) {
      char line[256];
      snprintf(line, sizeof line, "%s", ncpu_lwip_message(filter));
      for (char *nl = strchr(line, '\n'); nl; nl = strchr(nl, '\n')) *nl = ' ';
      printf("stack: %s\n", line);
    }
    fflush(stdout);
    /* Exit without tearing the stack down: lwIPv6 1.5a may crash in its shutdown. */
    _exit(failed);
  }
  char buf[256];
  while (read(0, buf, sizeof buf) > 0) {
  }
  if (g_stats && filter && ncpu_lwip_command(filter, "netcpu/list") == 0)
    printf("%s\n", ncpu_lwip_message(filter));
  fflush(stdout);
  if (filter) ncpu_lwip_detach(filter);
  /* Deleting the stack closes its VDE connections, so a netcpu:// cable
   * writes its stats; lwIPv6 1.5a may crash in a shutdown under traffic,
   * hence opt-in, for a server that is idle by then. */
  if (g_teardown) lwip_del_stack(g_stack);
  _exit(0);
}
