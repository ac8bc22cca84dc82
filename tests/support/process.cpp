#include "process.h"

#include <cstdlib>

#include <sys/wait.h>

#include "infalign/core/fs.h"

namespace infalign::testing {

ProcessResult run_process(const std::string& command_line) {
  fs::TempDir dir("infalign-proc");
  const std::string out_path = dir.path() + "/out";
  const std::string err_path = dir.path() + "/err";
  const std::string full =
      command_line + " >" + shell_quote(out_path) + " 2>" + shell_quote(err_path) + " </dev/null";
  const int status = std::system(full.c_str());
  ProcessResult result;
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
  }
  result.out = fs::read_file(out_path);
  result.err = fs::read_file(err_path);
  return result;
}

std::string shell_quote(const std::string& arg) {
  std::string quoted = "'";
  for (char c : arg) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

}  // namespace infalign::testing
