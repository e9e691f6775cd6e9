// Two-phase loads, for a client changing many points or many hosts at once
// (netcpu fleet): `stage` verifies programs and holds them for the console
// connection that sent them, `commit` swaps them all in, `rollback` puts back
// what the last commit replaced, `discard` forgets both. A host runs console
// commands between two packets, so a commit changes every point it names
// before the next packet: no packet sees half of it.
//
// Staged programs belong to the connection, not the host: two clients
// staging at once never commit each other's. A connection's id may be
// reused after it closes, so a client starts with `discard`.
#include <cerrno>
#include <string>

#include "console_words.h"
#include "netcpu/bytecode.h"
#include "netcpu/control.h"

namespace netcpu {

namespace {

std::string program_name(const Instance* vm) { return vm ? vm->program().name : "no program"; }

}  // namespace

void Control::stage(Transaction& t, AttachPoint& at, std::unique_ptr<Instance> vm,
                    std::string origin) {
  std::erase_if(t.staged, [&](const Transaction::Entry& e) { return e.at == &at; });
  t.staged.push_back({&at, std::move(vm), std::move(origin), {}});
}

ControlReply Control::cmd_stage(std::string_view args, int session) {
  const std::vector<std::string> w = split_words(args);
  Transaction& t = transactions_[session];
  if (w.empty()) {
    if (t.staged.empty()) return {0, "nothing staged"};
    std::string text = std::to_string(t.staged.size()) + " staged for netcpu/commit:";
    for (const auto& e : t.staged)
      text += "\n" + e.at->name() + ": " +
              (e.vm ? e.vm->program().name + " (" + hash_hex(e.vm->hash()) + ")" : "unload");
    return {0, text};
  }
  ControlReply err;
  size_t used;
  AttachPoint* at = point(w, used, err);
  if (!at) return err;
  const std::string syntax =
      "expected " + opt_.point_syntax + " load FILE|put BASE64|filter EXPR|unload";
  if (w.size() <= used) return fail(EINVAL, syntax);
  const std::string& verb = w[used];
  if (verb == "load") return load_file(*at, args, used + 1, &t);
  if (verb == "put") {
    if (w.size() != used + 2) return fail(EINVAL, "expected " + opt_.point_syntax + " put BASE64");
    return put_chunk(*at, w[used + 1], t.arriving, &t);
  }
  if (verb == "filter") return filter_expr(*at, args, used + 1, &t);
  if (verb == "unload" && w.size() == used + 1) {
    stage(t, *at, nullptr, {});
    return {0, "staged unload for " + at->name() + "; netcpu/commit removes its program"};
  }
  return fail(EINVAL, syntax);
}

ControlReply Control::cmd_commit(int session) {
  auto found = transactions_.find(session);
  if (found == transactions_.end() || found->second.staged.empty())
    return fail(ENOENT, "nothing staged: netcpu/stage verifies programs for netcpu/commit");
  Transaction& t = found->second;
  t.replaced.clear();
  std::string text = "committed " + std::to_string(t.staged.size()) + ":";
  const char* sep = " ";
  for (auto& e : t.staged) {
    const std::string origin = e.at->origin();
    const auto loaded_at = e.at->loaded_at();
    text += sep + program_name(e.vm.get()) + " on " + e.at->name();
    sep = ", ";
    std::unique_ptr<Instance> old = e.at->replace(std::move(e.vm));
    e.at->set_origin(e.at->program() ? e.origin : std::string());
    t.replaced.push_back({e.at, std::move(old), origin, loaded_at});
  }
  t.staged.clear();
  return {0, text};
}

ControlReply Control::cmd_rollback(int session) {
  auto found = transactions_.find(session);
  if (found == transactions_.end() || found->second.replaced.empty())
    return fail(ENOENT,
                "nothing to roll back: no netcpu/commit on this connection since the last "
                "rollback or discard");
  Transaction& t = found->second;
  std::string text = "rolled back " + std::to_string(t.replaced.size()) + ":";
  const char* sep = " ";
  for (auto& e : t.replaced) {
    text += sep + program_name(e.vm.get()) + " on " + e.at->name() + " again";
    sep = ", ";
    e.at->replace(std::move(e.vm));
    e.at->set_origin(e.origin, e.loaded_at);
  }
  t.replaced.clear();
  return {0, text};
}

void Control::end_session(int session) {
  transactions_.erase(session);
  std::erase_if(continued_, [&](const auto& entry) { return entry.first.first == session; });
}

ControlReply Control::cmd_discard(int session) {
  auto found = transactions_.find(session);
  size_t staged = 0;
  if (found != transactions_.end()) {
    staged = found->second.staged.size();
    transactions_.erase(found);
  }
  return {0, "discarded " + std::to_string(staged) + " staged"};
}

}  // namespace netcpu
