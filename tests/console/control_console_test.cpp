// The console a host serves for its Control: what it lists and how it
// answers a line too long for it, without a socket.
#include "control_console.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <vector>

namespace netcpu::console {
namespace {

Control hook_control() {
  Control::Options o;
  o.point_syntax = "HOOK";
  o.point_words = 1;
  o.resolve = [](const std::vector<std::string>&, std::string*) { return nullptr; };
  o.for_each = [](const std::function<void(AttachPoint&)>&) {};
  return Control(std::move(o));
}

TEST(ControlConsole, ListsEachCommandOfTheControlOnceAsNetcpuSlashName) {
  const Control control = hook_control();
  const MgmtConsole::Options o = control_console_options(control, "/tmp/sock", "banner\n");
  EXPECT_EQ(o.path, "/tmp/sock");
  EXPECT_EQ(o.banner, "banner\n");
  const auto commands = control.commands();
  ASSERT_EQ(o.commands.size(), commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    EXPECT_EQ(o.commands[i].name, "netcpu/" + commands[i].name);
    EXPECT_EQ(o.commands[i].syntax, commands[i].syntax);
    EXPECT_EQ(o.commands[i].help, commands[i].help);
  }
  ASSERT_EQ(o.categories.size(), 2u);
  EXPECT_EQ(o.categories[0].name, kLogCategory);
  EXPECT_EQ(o.categories[1].name, kDropCategory);
}

TEST(ControlConsole, RefusesAnOverlongLineWithTheControlsReply) {
  const Control control = hook_control();
  CommandReply r = refuse_overlong(control, "netcpu/load");
  EXPECT_EQ(r.error, EMSGSIZE);
  EXPECT_EQ(r.text.rfind("netcpu/load: line too long: this console takes at most 4096 "
                         "characters a line; nothing was done",
                         0),
            0u)
      << r.text;
  r = refuse_overlong(control, "help");
  EXPECT_EQ(r.text.rfind("netcpu/COMMAND: line too long", 0), 0u) << r.text;
}

}  // namespace
}  // namespace netcpu::console
