// netcpu/capture on a test host whose captures stay in memory.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "control_host.h"

namespace netcpu {
namespace {

using testing::ControlHost;

TEST(ControlCapture, CapturesTheFramesAProgramDropsUntilItsBound) {
  ControlHost host;
  EXPECT_EQ(host.run("capture").text, "no captures");
  EXPECT_EQ(host.run("capture", "0 in").text, "0 in: no capture");
  ASSERT_EQ(host.load("0 in", ".text:\n    drop\n").error, 0);
  ControlReply r = host.run("capture", "0 in drop /tmp/d.pcap 2");
  ASSERT_EQ(r.error, 0) << r.text;
  EXPECT_EQ(r.text,
            "capturing drop frames of 0 in to /tmp/d.pcap\n0 in: drop to /tmp/d.pcap: 0 frames, 24 "
            "bytes, on (until 2 frames or 67108864 bytes)");
  for (int i = 0; i < 3; ++i) host.send("0 in", std::vector<uint8_t>(60));
  EXPECT_EQ(host.captured.size(), 2u);
  EXPECT_EQ(host.run("capture").text,
            "0 in: drop to /tmp/d.pcap: 2 frames, 176 bytes, done: 2 frames captured");
  EXPECT_FALSE(host.at("0 in").capturing());
}

TEST(ControlCapture, OffStopsItAndHostsStopWhatIsLeftWhenTheyGo) {
  ControlHost host;
  ASSERT_EQ(host.run("capture", "0 out all /tmp/a.pcap").error, 0);
  ASSERT_EQ(host.run("capture", "1 in pass /tmp/p.pcap 1M").error, 0);
  ControlReply r = host.run("capture", "0 out off");
  EXPECT_EQ(r.error, 0);
  EXPECT_EQ(r.text, "0 out: all to /tmp/a.pcap: 0 frames, 24 bytes, stopped by netcpu/capture off");
  EXPECT_EQ(host.run("capture", "0 out off").error, ENOENT);
  EXPECT_EQ(host.control.stop_captures("closed"),
            std::vector<std::string>{"1 in: pass to /tmp/p.pcap: 0 frames, 24 bytes, closed"});
}

TEST(ControlCapture, RefusesBadArgumentsAndASecondCapture) {
  ControlHost host;
  const std::string syntax =
      "expected capture [PORT in|out [pass|drop|all FILE [COUNT] [SIZE]|off]]";
  ControlReply r = host.run("capture", "0 in some /tmp/x.pcap");
  EXPECT_EQ(r.error, EINVAL);
  EXPECT_EQ(r.text, syntax + ": what to capture is pass, drop or all, not 'some'");
  EXPECT_EQ(host.run("capture", "0 in drop").text, syntax);
  EXPECT_EQ(host.run("capture", "0 in drop /tmp/x.pcap 5X").error, EINVAL);
  EXPECT_EQ(host.run("capture", "0 in drop '/tmp/x.pcap").text, syntax + ": unmatched quote");
  ASSERT_EQ(host.run("capture", "0 in drop /tmp/x.pcap").error, 0);
  r = host.run("capture", "0 in pass /tmp/y.pcap");
  EXPECT_EQ(r.error, EBUSY);
  r = host.run("capture", "1 in pass /tmp/x.pcap");
  EXPECT_EQ(r.error, EBUSY);
  EXPECT_EQ(r.text, "/tmp/x.pcap is the capture file of 0 in: nothing captured");
}

}  // namespace
}  // namespace netcpu
