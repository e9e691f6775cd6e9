// Table keys and values as consoles type them (table/set, table/del) and
// print them (table/dump): parsing any text never crashes, and what
// format_key / format_value print parses back to the same bytes and prefix,
// so a dumped entry can always be typed back in.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "netcpu/program.h"
#include "table_text.h"

namespace {

using namespace netcpu;

// Declarations covering every kind and every key size format_key treats
// differently (4: IPv4, 6: MAC, 16: IPv6, up to 8: a number, else hex).
const TableDecl kDecls[] = {
    {"h4", TableKind::Hash, 4, 8, 64},   {"h1", TableKind::Hash, 1, 1, 64},
    {"h2", TableKind::Hash, 2, 2, 64},   {"h6", TableKind::Hash, 6, 4, 64},
    {"h8", TableKind::Hash, 8, 8, 64},   {"h13", TableKind::Hash, 13, 16, 64},
    {"h16", TableKind::Hash, 16, 3, 64}, {"h64", TableKind::Hash, 64, 256, 64},
    {"ar", TableKind::Array, 4, 8, 100}, {"l4", TableKind::Lpm4, 4, 8, 64},
    {"l6", TableKind::Lpm6, 16, 12, 64},
};

std::string describe(const TableDecl& d, const std::string& text, const std::string& printed) {
  return std::string(table_kind_name(d.kind)) + " key " + std::to_string(d.key_size) + " value " +
         std::to_string(d.value_size) + ": typed '" + text + "', printed '" + printed + "'";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const TableDecl& d = kDecls[data[0] % std::size(kDecls)];
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  // The console splits KEY and VALUE at a space.
  const size_t space = text.find(' ');
  const std::string key_text = text.substr(0, space);
  const std::string value_text = space == std::string::npos ? "" : text.substr(space + 1);

  std::vector<uint8_t> key, key_again;
  uint32_t prefix = 0, prefix_again = 0;
  std::string why;
  if (parse_key(d, key_text, key, prefix, &why)) {
    if (key.size() != d.key_size)
      fuzz::fail("parse_key gave a key of the wrong size", describe(d, key_text, ""));
    const std::string printed = format_key(d, key, prefix);
    if (!parse_key(d, printed, key_again, prefix_again, &why))
      fuzz::fail("a printed key does not parse back", describe(d, key_text, printed) + ": " + why);
    if (key_again != key || prefix_again != prefix)
      fuzz::fail("a printed key parses back to another key", describe(d, key_text, printed));
  }
  std::vector<uint8_t> value, value_again;
  if (parse_value(d, value_text, value, &why)) {
    if (value.size() != d.value_size)
      fuzz::fail("parse_value gave a value of the wrong size", describe(d, value_text, ""));
    const std::string printed = format_value(d, value);
    if (!parse_value(d, printed, value_again, &why))
      fuzz::fail("a printed value does not parse back",
                 describe(d, value_text, printed) + ": " + why);
    if (value_again != value)
      fuzz::fail("a printed value parses back to another value", describe(d, value_text, printed));
  }
  return 0;
}
