#include "telnet_screen.h"

namespace netcpu::cli {

namespace {
// What recent() shows: enough to tell a user what a server said last.
constexpr size_t kRecentLines = 6;
}  // namespace

std::string TelnetScreen::feed(std::string_view bytes) {
  using namespace telnet;
  std::string answers;
  for (char ch : bytes) {
    const auto b = static_cast<uint8_t>(ch);
    switch (state_) {
      case State::kText:
        if (b == kIac)
          state_ = State::kIac;
        else
          text(ch);
        break;
      case State::kIac:
        if (b == kIac) {  // a doubled IAC is the byte 255 itself
          text(ch);
          state_ = State::kText;
        } else if (b == kWill || b == kWont || b == kDo || b == kDont) {
          verb_ = b;
          state_ = State::kOption;
        } else {
          state_ = b == kSb ? State::kSub : State::kText;  // NOP, GA, ...: nothing to show
        }
        break;
      case State::kOption:
        state_ = State::kText;
        // WONT and DONT need no answer: this side has nothing on.
        if ((verb_ == kWill || verb_ == kDo) && answered_.insert({verb_, b}).second) {
          answers += static_cast<char>(kIac);
          answers += static_cast<char>(verb_ == kWill ? kDont : kWont);
          answers += static_cast<char>(b);
        }
        break;
      case State::kSub:  // no option is on, so no subnegotiation is wanted: skipped
        if (b == kIac) state_ = State::kSubIac;
        break;
      case State::kSubIac:
        state_ = b == kSe ? State::kText : State::kSub;
        break;
      case State::kEscape:  // vdetelweb's line editing: "\033[C", "\033[P", ...
        state_ = ch == '[' ? State::kCsi : State::kText;
        break;
      case State::kCsi:
        if (b >= 0x40 && b <= 0x7e) state_ = State::kText;
        break;
    }
  }
  return answers;
}

void TelnetScreen::text(char c) {
  received_text_ = true;
  switch (c) {
    case '\n':
      recent_.push_back(partial_);
      if (recent_.size() > kRecentLines) recent_.pop_front();
      lines_.push_back(std::move(partial_));
      partial_.clear();
      break;
    case '\b':  // vdetelweb erases its prompt before the switch's output
      if (!partial_.empty()) partial_.pop_back();
      break;
    case '\033':
      state_ = State::kEscape;
      break;
    case '\r':  // only ever before '\n' here
    case '\0':  // "Password: " is written with its terminating NUL
      break;
    default:
      if (static_cast<uint8_t>(c) >= 0x20) partial_ += c;
  }
}

std::string TelnetScreen::recent() const {
  std::string text;
  for (const auto& line : recent_) text += line + "\n";
  return text + partial_;
}

std::optional<std::string> TelnetScreen::take_line() {
  if (lines_.empty()) return std::nullopt;
  std::string line = std::move(lines_.front());
  lines_.pop_front();
  return line;
}

}  // namespace netcpu::cli
