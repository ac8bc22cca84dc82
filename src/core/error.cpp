#include "infalign/core/error.h"

#include <exception>

#include "infalign/core/strings.h"

namespace infalign {

namespace {
std::string join_messages(const std::vector<std::string>& messages) {
  if (messages.size() == 1) return messages.front();
  return fmt::format("{} problems:\n  {}", messages.size(), strings::join(messages, "\n  "));
}
}  // namespace

ConfigError::ConfigError(std::vector<std::string> messages)
    : Error(join_messages(messages)), messages_(std::move(messages)) {}

Interrupted::Interrupted(int signal_number)
    : Error(fmt::format("stopped by signal {}", signal_number)), signal_number_(signal_number) {}

std::vector<std::string> exception_chain(const std::exception& e) {
  std::vector<std::string> chain{e.what()};
  try {
    std::rethrow_if_nested(e);
  } catch (const std::exception& inner) {
    auto rest = exception_chain(inner);
    chain.insert(chain.end(), rest.begin(), rest.end());
  } catch (...) {
    chain.emplace_back("unknown non-standard exception");
  }
  return chain;
}

int exit_code_for(const std::exception& e) {
  if (const auto* interrupted = dynamic_cast<const Interrupted*>(&e)) {
    return kExitSignalBase + interrupted->signal_number();
  }
  if (dynamic_cast<const ConfigError*>(&e) != nullptr ||
      dynamic_cast<const UsageError*>(&e) != nullptr) {
    return kExitBadConfig;
  }
  if (dynamic_cast<const CheckpointError*>(&e) != nullptr ||
      dynamic_cast<const DataError*>(&e) != nullptr) {
    return kExitBadInputFile;
  }
  try {
    std::rethrow_if_nested(e);
  } catch (const std::exception& inner) {
    return exit_code_for(inner);
  } catch (...) {
  }
  return kExitRuntimeFailure;
}

namespace detail {
void throw_check_failure(const char* file, int line, const char* condition,
                         const std::string& message) {
  throw Error(fmt::format("{}:{}: check `{}` failed: {}", file, line, condition, message));
}
}  // namespace detail

}  // namespace infalign
