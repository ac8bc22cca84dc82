// Running another program with input on its stdin and its stdout collected, under a deadline
// (external reward commands). POSIX only.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace infalign::subprocess {

struct Result {
  bool timed_out = false;  // killed (with its process group) at the deadline
  int exit_status = -1;    // when it exited normally
  int signal = 0;          // the signal that ended it, else 0
  std::string out;         // everything written to stdout
  std::string err_tail;    // the last `err_tail_bytes` written to stderr

  bool succeeded() const { return !timed_out && signal == 0 && exit_status == 0; }
  // "exited with status 3", "was killed by signal 11 (Segmentation fault)", "timed out".
  std::string describe() const;
};

// Runs `argv` (argv[0] looked up in PATH) in its own process group with `input` written to its
// stdin (then closed), collecting stdout and the tail of stderr, until it exits or
// `timeout_seconds` pass; then the whole group is killed. A program that exits without reading
// all its input is not an error here (the caller judges the output). Throws infalign::Error when
// the program cannot be started.
Result run(const std::vector<std::string>& argv, std::string_view input, double timeout_seconds,
           std::size_t err_tail_bytes = 2000);

}  // namespace infalign::subprocess
