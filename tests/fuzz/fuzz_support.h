// Shared by the libFuzzer targets (scripts/fuzz.sh): the input written to a scratch file for the
// parsers that read paths, and the rule every target applies: infalign::Error (a message that
// names the file and what was expected) is the right answer to bad input; anything else that
// escapes (another exception type, a crash, a sanitizer report, a hang) is a bug.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

#include <sys/stat.h>

namespace infalign::fuzz {

// A file named `name` in this process's scratch directory ($TMPDIR or /tmp, then
// infalign-fuzz-<pid>), rewritten with `bytes`.
inline std::string write_scratch(const std::string& name, std::string_view bytes) {
  const char* tmp = std::getenv("TMPDIR");
  const std::string dir = std::string(tmp != nullptr && *tmp != 0 ? tmp : "/tmp") +
                          "/infalign-fuzz-" + std::to_string(::getpid());
  ::mkdir(dir.c_str(), 0700);
  const std::string path = dir + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

inline std::string_view as_view(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace infalign::fuzz
