#include "netcpu/base64.h"

#include <gtest/gtest.h>

namespace netcpu {
namespace {

TEST(Base64, RoundTripsEveryLengthOfPadding) {
  for (const std::string text : {"", "N", "NC", "NCP", "NCPU"}) {
    const std::vector<uint8_t> bytes(text.begin(), text.end());
    const auto back = decode_base64(encode_base64(bytes));
    ASSERT_TRUE(back) << text;
    EXPECT_EQ(*back, bytes);
  }
  EXPECT_EQ(encode_base64({'N', 'C', 'P', 'U'}), "TkNQVQ==");
}

TEST(Base64, TakesTheUrlAlphabetAndNoPaddingAndRefusesOtherCharacters) {
  EXPECT_EQ(decode_base64("TkNQVQ"), (std::vector<uint8_t>{'N', 'C', 'P', 'U'}));
  EXPECT_EQ(decode_base64("-_8="), decode_base64("+/8="));
  EXPECT_FALSE(decode_base64("Tk!Q"));
  EXPECT_FALSE(decode_base64("TQ==TQ"));
}

}  // namespace
}  // namespace netcpu
