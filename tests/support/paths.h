// Paths of the source tree and test data, from compile definitions set in tests/CMakeLists.txt.
#pragma once

#include <string>

namespace infalign::testing {

inline std::string source_path(const std::string& relative) {
  return std::string(INFALIGN_SOURCE_DIR) + "/" + relative;
}

inline std::string test_data_path(const std::string& relative) {
  return source_path("tests/data/" + relative);
}

}  // namespace infalign::testing
