// What a telnet client's screen shows of a vdetelweb session, as lines.
// vdetelweb (libvdehist) writes for a terminal: telnet option negotiation
// (IAC ...), "\r\n" line ends, and around every piece of the switch's
// output it erases its prompt with backspaces ("\b" x N, " " x N, "\b" x N)
// and draws it again. TelnetScreen keeps the option bytes out of the text
// (and says how to refuse each option the server offers or asks for), and
// applies the backspaces to the line being written, so that what remains is
// the lines a user would read and, unfinished, the prompt.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace netcpu::cli {

namespace telnet {
inline constexpr uint8_t kIac = 255;  // RFC 854's "interpret as command"
inline constexpr uint8_t kDont = 254;
inline constexpr uint8_t kDo = 253;
inline constexpr uint8_t kWont = 252;
inline constexpr uint8_t kWill = 251;
inline constexpr uint8_t kSb = 250;  // subnegotiation begins ...
inline constexpr uint8_t kSe = 240;  // ... and ends
inline constexpr uint8_t kEcho = 1;  // RFC 857
}  // namespace telnet

class TelnetScreen {
 public:
  // Takes bytes from the server. Returns the answers to send it: this
  // client takes up no option (WILL x is answered DONT x, DO x WONT x),
  // once per option, so that two refusing sides never loop (RFC 1143).
  std::string feed(std::string_view bytes);

  // The next finished line (without its "\r\n"), oldest first.
  std::optional<std::string> take_line();
  // The line being written: after each piece of output, vdetelweb's prompt.
  const std::string& partial() const { return partial_; }
  // The last lines and the line being written, for messages about what a
  // server said; and whether it said anything at all.
  std::string recent() const;
  bool received_text() const { return received_text_; }

 private:
  void text(char c);

  enum class State { kText, kIac, kOption, kSub, kSubIac, kEscape, kCsi };
  State state_ = State::kText;
  uint8_t verb_ = 0;
  std::set<std::pair<uint8_t, uint8_t>> answered_;  // (verb received, option)
  std::string partial_;
  std::deque<std::string> lines_;
  std::deque<std::string> recent_;  // the last kRecentLines finished lines
  bool received_text_ = false;
};

}  // namespace netcpu::cli
