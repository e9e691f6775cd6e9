#include "console_reads.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

namespace netcpu::vde {
namespace {

using ReadFn = ssize_t (*)(int, void*, size_t);

// The last console read, and per connection whether its last read ended
// mid-line. vde_switch runs its console in one thread, and its signal
// handlers read nothing: plain variables.
struct LastRead {
  const char* buf = nullptr;
  ConsoleRead read;
};
LastRead g_last;
constexpr int kTrackedFds = 4096;
std::array<bool, kTrackedFds> g_mid_line{};

ReadFn* g_slot = nullptr;  // the switch's PLT slot for read
ReadFn g_original = nullptr;
void (*g_closed)(int fd) = nullptr;

ssize_t switch_read(int fd, void* buf, size_t count) {
  ssize_t n = ::read(fd, buf, count);
  // consmgmt.c's read(fd, buf, MAXCMD); data ports read other sizes.
  if (count != kSwitchLineBuffer) return n;
  const int saved = errno;
  bool* mid = fd >= 0 && fd < kTrackedFds ? &g_mid_line[static_cast<size_t>(fd)] : nullptr;
  if (n <= 0) {  // end of the connection: its fd may serve another one next
    g_last = {};
    if (mid) *mid = false;
    if (g_closed && (n == 0 || (saved != EINTR && saved != EAGAIN))) g_closed(fd);
  } else {
    const char* b = static_cast<const char*>(buf);
    ConsoleRead r;
    r.fd = fd;
    r.bytes = static_cast<size_t>(n);
    r.newline = b[n - 1] == '\n';
    r.after_cut = mid && *mid;
    g_last = {b, r};
    if (mid) *mid = !r.newline;
  }
  errno = saved;
  return n;
}

// The main program's PLT (or GOT, under -fno-plt) slot for read().
ReadFn* find_read_slot() {
  struct Found {
    ReadFn* slot = nullptr;
  } found;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) -> int {
        auto* f = static_cast<Found*>(data);
        const ElfW(Addr) base = info->dlpi_addr;
        const ElfW(Dyn)* dyn = nullptr;
        for (int i = 0; i < info->dlpi_phnum; ++i)
          if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
            dyn = reinterpret_cast<const ElfW(Dyn)*>(base + info->dlpi_phdr[i].p_vaddr);
        if (dyn == nullptr) return 1;
        // ld.so relocates these entries in place on some systems and not on
        // others: an address below the load base has not been.
        auto addr = [base](ElfW(Addr) a) { return a < base ? a + base : a; };
        const ElfW(Sym)* symtab = nullptr;
        const char* strtab = nullptr;
        struct Table {
          ElfW(Addr) at = 0;
          size_t size = 0;
        } tables[2];  // DT_JMPREL, DT_RELA
        for (const ElfW(Dyn)* d = dyn; d->d_tag != DT_NULL; ++d) {
          switch (d->d_tag) {
            case DT_SYMTAB:
              symtab = reinterpret_cast<const ElfW(Sym)*>(addr(d->d_un.d_ptr));
              break;
            case DT_STRTAB:
              strtab = reinterpret_cast<const char*>(addr(d->d_un.d_ptr));
              break;
            case DT_JMPREL:
              tables[0].at = addr(d->d_un.d_ptr);
              break;
            case DT_PLTRELSZ:
              tables[0].size = d->d_un.d_val;
              break;
            case DT_RELA:
              tables[1].at = addr(d->d_un.d_ptr);
              break;
            case DT_RELASZ:
              tables[1].size = d->d_un.d_val;
              break;
            default:
              break;
          }
        }
        if (symtab == nullptr || strtab == nullptr) return 1;
        for (const Table& t : tables) {
          const auto* rel = reinterpret_cast<const ElfW(Rela)*>(t.at);
          for (size_t i = 0; t.at && i < t.size / sizeof(ElfW(Rela)); ++i) {
            const auto type = ELF64_R_TYPE(rel[i].r_info);
            if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) continue;
            if (std::strcmp(strtab + symtab[ELF64_R_SYM(rel[i].r_info)].st_name, "read") == 0) {
              f->slot = reinterpret_cast<ReadFn*>(base + rel[i].r_offset);
              return 1;
            }
          }
        }
        return 1;  // the first object is the program: look no further
      },
      &found);
  return found.slot;
}

bool set_slot(ReadFn fn) {
  const long page = sysconf(_SC_PAGESIZE);
  auto start = reinterpret_cast<uintptr_t>(g_slot) & ~static_cast<uintptr_t>(page - 1);
  // Lazy binding leaves the slot writable; a RELRO'd one is made so.
  if (mprotect(reinterpret_cast<void*>(start), static_cast<size_t>(page), PROT_READ | PROT_WRITE) !=
      0)
    return false;
  __atomic_store_n(g_slot, fn, __ATOMIC_RELEASE);
  return true;
}

}  // namespace

bool watch_console_reads(void (*closed)(int fd)) {
  g_closed = closed;
  if (g_slot) return true;
  g_slot = find_read_slot();
  if (g_slot == nullptr) return false;
  g_original = __atomic_load_n(g_slot, __ATOMIC_ACQUIRE);
  if (!set_slot(&switch_read)) {
    g_slot = nullptr;
    return false;
  }
  return true;
}

void unwatch_console_reads() {
  if (g_slot && __atomic_load_n(g_slot, __ATOMIC_ACQUIRE) == &switch_read) set_slot(g_original);
  g_slot = nullptr;
  g_closed = nullptr;
  g_last = {};
  g_mid_line.fill(false);
}

std::optional<ConsoleRead> console_read_of(const char* arg) {
  // The switch parses in place: a command from this read has its arguments
  // inside the read's bytes (or at their end, when it has none).
  if (g_last.buf == nullptr || arg < g_last.buf || arg > g_last.buf + g_last.read.bytes)
    return std::nullopt;
  return g_last.read;
}

bool client_uses_libvdehist(int fd) {
  ucred peer{};
  socklen_t len = sizeof peer;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0 || peer.pid <= 0) return false;
  const std::string path = "/proc/" + std::to_string(peer.pid) + "/comm";
  int f = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f < 0) return false;  // gone: it closed the connection mid-line
  char comm[32] = {};
  ssize_t n = ::read(f, comm, sizeof comm - 1);
  close(f);
  if (n <= 0) return false;
  std::string_view name(comm, static_cast<size_t>(n));
  if (name.ends_with('\n')) name.remove_suffix(1);
  return name == "vdeterm" || name == "vdetelweb";
}

std::string fit_lines(std::string_view text, size_t max) {
  std::string out;
  out.reserve(text.size() + text.size() / max + 1);
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    while (line.size() > max) {
      size_t cut = 0;  // after the last comma outside a string within max bytes
      bool in_string = false;
      for (size_t i = 0; i < max; ++i) {
        if (in_string && line[i] == '\\')
          ++i;
        else if (line[i] == '"')
          in_string = !in_string;
        else if (!in_string && line[i] == ',')
          cut = i + 1;
      }
      if (cut == 0) cut = max;
      out.append(line.substr(0, cut)).push_back('\n');
      line.remove_prefix(cut);
    }
    out.append(line).push_back('\n');
  }
  if (!out.empty()) out.pop_back();
  return out;
}

}  // namespace netcpu::vde
