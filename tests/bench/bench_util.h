// Helpers shared by the benchmarks: medians, and a Python peer kept running as a child process
// (one request per line on its stdin, one figure per line back) so that its runs interleave with
// ours on a noisy machine.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>

namespace infalign::bench {

// Flags every benchmark takes.
struct CommonArgs {
  std::string config = std::string(INFALIGN_SOURCE_DIR) + "/configs/default/ctrl_bon4.yaml";
  std::vector<std::int64_t> batches;
  int repeats = 3;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::string python = "/usr/bin/python3";
  bool run_python = true;
  std::string device = "cpu";  // --device cuda (or cuda:k): the Python peers then stay off
};

// Consumes flag `k` (its value from `next`) if it is a common one; false otherwise.
inline bool parse_common(const std::string& k, const std::function<std::string()>& next,
                         CommonArgs& a) {
  if (k == "--config") {
    a.config = next();
  } else if (k == "--repeats") {
    a.repeats = std::stoi(next());
  } else if (k == "--threads") {
    a.threads = std::stoi(next());
  } else if (k == "--python") {
    a.python = next();
  } else if (k == "--no-python") {
    a.run_python = false;
  } else if (k == "--device") {
    a.device = next();
    if (a.device != "cpu") a.run_python = false;
  } else if (k == "--batches") {
    a.batches.clear();
    std::stringstream s(next());
    for (std::string part; std::getline(s, part, ',');) a.batches.push_back(std::stoll(part));
  } else {
    return false;
  }
  return true;
}

// Parses argv: a benchmark's own flags through `own(flag, next)` (true when it took the flag),
// then the common ones; anything else is an error.
inline void parse_flags(
    int argc, char** argv, CommonArgs& a,
    const std::function<bool(const std::string&, const std::function<std::string()>&)>& own) {
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    const std::function<std::string()> next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error("missing value for " + k);
      return argv[++i];
    };
    if (!own(k, next) && !parse_common(k, next, a)) {
      throw std::runtime_error("unknown argument " + k);
    }
  }
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

class PythonPeer {
 public:
  // Runs `python script args...` with pipes on its stdin and stdout.
  PythonPeer(const std::string& python, const std::string& script,
             const std::vector<std::string>& args) {
    int to_child[2], from_child[2];
    if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(to_child[0], 0);
      ::dup2(from_child[1], 1);
      ::close(to_child[1]);
      ::close(from_child[0]);
      std::vector<char*> argv = {const_cast<char*>(python.c_str()),
                                 const_cast<char*>(script.c_str())};
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(python.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    in_ = ::fdopen(to_child[1], "w");
    out_ = ::fdopen(from_child[0], "r");
  }
  ~PythonPeer() {
    std::fclose(in_);
    std::fclose(out_);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  PythonPeer(const PythonPeer&) = delete;
  PythonPeer& operator=(const PythonPeer&) = delete;

  // Sends one request line; returns the number on the answer line, or -1 on failure.
  double request(const std::string& line) {
    std::fprintf(in_, "%s\n", line.c_str());
    std::fflush(in_);
    char answer[256];
    if (std::fgets(answer, sizeof(answer), out_) == nullptr) return -1;
    return std::atof(answer);
  }

 private:
  pid_t pid_;
  std::FILE* in_;
  std::FILE* out_;
};

}  // namespace infalign::bench
