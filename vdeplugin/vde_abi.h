// The vde_switch 2.3.2 plugin ABI, declared here because Debian ships no
// header for it. Layouts and signatures as the switch binary uses them (see
// ../shared/docs/vde-lwip-abi.md); the integration tests check them against
// the real /usr/bin/vde_switch.
#pragma once

#include <sys/types.h>

#include <cstdarg>
#include <cstdio>
#include <ctime>

extern "C" {

// Command types.
constexpr unsigned char kNoArg = 0;
constexpr unsigned char kIntArg = 1;
constexpr unsigned char kStrArg = 2;
constexpr unsigned char kWithFile =
    0x40;  // doit(FILE*, ...): output in a "0000 DATA END WITH '.'" block
constexpr unsigned char kWithFd = 0x80;

struct comlist {
  const char* path;
  const char* syntax;
  const char* help;
  int (*doit)();  // called with the arguments its type implies
  unsigned char type;
  comlist* next;  // the switch's
};

struct dbgcl {
  const char* path;
  const char* help;  // null: an event only plugins subscribe to
  int tag;
  int* fds;  // the switch's, from here on
  int (**fun)();
  void** funarg;
  unsigned short nfds, nfun, maxfds, maxfun;
  dbgcl* next;
};

struct plugin {
  const char* name;
  const char* help;
  void* handle;  // the switch's
  plugin* next;  // the switch's
};

struct option;
struct swmodule {
  const char* swmname;
  char swmtag;
  char swmnopts;
  option* swmopts;
  void (*usage)();
  int (*parseopt)(int parm, char* optarg);
  void (*init)();
  void (*handle_io)(unsigned char type, int fd, int revents, void* private_data);
  void (*cleanup)(unsigned char type, int fd, void* private_data);
  swmodule* next;
};

using event_fn = int (*)(dbgcl* event, void* arg, va_list v);

void addcl(int n, comlist* cl);
void delcl(int n, comlist* cl);
void adddbgcl(int n, dbgcl* cl);
void deldbgcl(int n, dbgcl* cl);
int eventadd(event_fn fun, const char* path, void* arg);
int eventdel(event_fn fun, const char* path, void* arg);
void debugout(dbgcl* cl, const char* format, ...);
void printoutc(FILE* f, const char* format, ...);
void printlog(int priority, const char* format, ...);
uid_t port_user(int port);
void port_send_packet(int port, void* packet, int len);
unsigned int qtimer_add(time_t period_s, int times, void (*call)(void*), void* arg);
void qtimer_del(unsigned int n);
unsigned char add_type(swmodule* mgr, int prio);
void del_type(unsigned char type);
void add_fd(int fd, unsigned char type, void* private_data);
void remove_fd(int fd);
}

// A frame buffer on the switch: 14-byte Ethernet header and 1504 bytes of
// data, so a rewrite may grow a frame to 1518 bytes.
constexpr int kSwitchFrameMax = 1518;
