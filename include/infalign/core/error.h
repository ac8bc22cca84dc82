// Error types of the library and INFALIGN_CHECK. Library code throws; only src/cli/ maps the
// type to an exit code (0 ok, 1 runtime, 2 config/usage, 3 checkpoint/weights/data, 130/143
// signal).
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace infalign {

// Base of every error the library throws on purpose. Exit code 1.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad config or usage; carries every problem found, one line each. Exit code 2.
class ConfigError : public Error {
 public:
  explicit ConfigError(std::vector<std::string> messages);
  const std::vector<std::string>& messages() const { return messages_; }

 private:
  std::vector<std::string> messages_;
};

// Bad command-line usage (a flag value or a combination of flags). Exit code 2.
class UsageError : public Error {
 public:
  using Error::Error;
};

// Missing, incomplete, incompatible or corrupt checkpoint or weights file. Exit code 3.
class CheckpointError : public Error {
 public:
  using Error::Error;
};

// Bad data file, cache or tokenizer input, naming the file (and line). Exit code 3.
class DataError : public Error {
 public:
  using Error::Error;
};

// A run stopped on SIGINT/SIGTERM after saving its state. Exit code 128 + signal.
class Interrupted : public Error {
 public:
  explicit Interrupted(int signal_number);
  int signal_number() const { return signal_number_; }

 private:
  int signal_number_;
};

// Process exit codes (documented in README.md); only src/cli/ exits with them.
constexpr int kExitOk = 0;
constexpr int kExitRuntimeFailure = 1;  // I/O, numerical blow-up, unexpected exception
constexpr int kExitBadConfig = 2;       // bad usage or bad config
constexpr int kExitBadInputFile = 3;    // bad checkpoint, weights or data file
constexpr int kExitSignalBase = 128;    // + signal number: 130 SIGINT, 143 SIGTERM

// The exit code for `e`: the first typed error along its chain of nested exceptions decides, so
// a DataError wrapped with context by std::throw_with_nested still maps to 3.
int exit_code_for(const std::exception& e);

// Messages of `e` and every exception nested in it (std::throw_with_nested), outermost first.
std::vector<std::string> exception_chain(const std::exception& e);

namespace detail {
[[noreturn]] void throw_check_failure(const char* file, int line, const char* condition,
                                      const std::string& message);
}  // namespace detail

}  // namespace infalign

// Throws infalign::Error "file:line: check `cond` failed: <message>" when `cond` is false.
#define INFALIGN_CHECK(cond, ...)                                          \
  do {                                                                     \
    if (!(cond)) {                                                         \
      ::infalign::detail::throw_check_failure(__FILE__, __LINE__, #cond,   \
                                              ::fmt::format(__VA_ARGS__)); \
    }                                                                      \
  } while (false)
