// Runs a command line through /bin/sh and captures its exit code, stdout and stderr (e2e tests).
#pragma once

#include <string>

namespace infalign::testing {

struct ProcessResult {
  int exit_code = -1;  // 128 + N when killed by signal N
  std::string out;
  std::string err;
};

ProcessResult run_process(const std::string& command_line);

// Quotes `arg` for /bin/sh.
std::string shell_quote(const std::string& arg);

}  // namespace infalign::testing
