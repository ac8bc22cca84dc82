// Every fixture in tests/data/configs/invalid/ lists the errors it must produce as
//   # expect: [OTHER_FILE:]LINE:COL KEY | SUBSTRING
// Loading it must throw ConfigError with exactly those messages (any order): each starts with
// `file:line:col: key:` and contains the substring.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include <gtest/gtest.h>

#include "infalign/config/load.h"
#include "infalign/core/error.h"

#include "paths.h"

namespace infalign::config {
namespace {

struct Expectation {
  std::string prefix;     // "tests/data/.../x.yaml:3:5: ppo.kl_coef: "
  std::string substring;  // must appear after the prefix
};

std::vector<Expectation> read_expectations(const std::string& relative_path) {
  std::ifstream in(testing::source_path(relative_path));
  const std::string dir = std::filesystem::path(relative_path).parent_path().string();
  const std::regex pattern(R"(^# expect: (?:(\S+\.yaml):)?(\d+):(\d+) ?(\S*) \| (.+)$)");
  std::vector<Expectation> out;
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (!std::regex_match(line, m, pattern)) continue;
    const std::string file = m[1].matched ? dir + "/" + m[1].str() : relative_path;
    std::string prefix = file + ":" + m[2].str() + ":" + m[3].str() + ": ";
    if (!m[4].str().empty()) prefix += m[4].str() + ": ";
    out.push_back({prefix, m[5].str()});
  }
  return out;
}

class InvalidConfigTest : public ::testing::TestWithParam<std::string> {};

TEST_P(InvalidConfigTest, ReportsExactlyTheExpectedErrors) {
  // Paths in messages are as given, so load relative to the source root.
  ASSERT_EQ(::chdir(INFALIGN_SOURCE_DIR), 0);
  const std::string path = "tests/data/configs/invalid/" + GetParam();
  const auto expected = read_expectations(path);
  ASSERT_FALSE(expected.empty()) << path << " has no '# expect:' lines";
  std::vector<std::string> messages;
  try {
    load_experiment_config(path);
    FAIL() << path << " loaded without a ConfigError";
  } catch (const ConfigError& e) {
    messages = e.messages();
  }
  std::vector<bool> used(messages.size(), false);
  for (const auto& want : expected) {
    bool found = false;
    for (std::size_t i = 0; i < messages.size() && !found; ++i) {
      const std::string& m = messages[i];
      if (!used[i] && m.rfind(want.prefix, 0) == 0 &&
          m.find(want.substring, want.prefix.size()) != std::string::npos) {
        used[i] = found = true;
      }
    }
    EXPECT_TRUE(found) << "no message matches `" << want.prefix << "... " << want.substring << "`";
  }
  for (std::size_t i = 0; i < messages.size(); ++i) {
    EXPECT_TRUE(used[i]) << "unexpected message: " << messages[i];
  }
}

std::vector<std::string> fixtures() {
  std::vector<std::string> names;
  for (const auto& entry :
       std::filesystem::directory_iterator(testing::test_data_path("configs/invalid"))) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, InvalidConfigTest, ::testing::ValuesIn(fixtures()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param.substr(0, info.param.find('.'));
                         });

}  // namespace
}  // namespace infalign::config
