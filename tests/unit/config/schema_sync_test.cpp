// The config headers and the schema must list the same fields: a field declared in
// include/infalign/config/<section>_config.h but not registered in src/config/schema.cpp (or
// the reverse) fails here. It also enforces that every field has a default and a comment.
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include <gtest/gtest.h>

#include "infalign/config/load.h"

#include "paths.h"

namespace infalign::config {
namespace {

struct HeaderFields {
  std::set<std::string> keys;
  std::vector<std::string> problems;
};

// Fields of the `struct <Name>Config {` in `header`, as `section.field`.
HeaderFields parse_header(const std::filesystem::path& header, const std::string& section) {
  HeaderFields out;
  std::ifstream in(header);
  const std::regex struct_open(R"(^struct \w+Config \{$)");
  const std::regex member(R"(^  [A-Za-z_][\w:<>, ]*[\w>] (\w+)( = .+)?;(.*)$)");
  bool inside = false;
  bool previous_is_comment = false;
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (std::regex_match(line, struct_open)) {
      inside = true;
      continue;
    }
    if (inside && line == "};") inside = false;
    std::smatch m;
    if (inside && std::regex_match(line, m, member)) {
      const std::string where = header.filename().string() + ":" + std::to_string(line_number);
      out.keys.insert(section + "." + m[1].str());
      if (!m[2].matched) out.problems.push_back(where + ": field without a default");
      if (!previous_is_comment) out.problems.push_back(where + ": field without a comment above");
    }
    previous_is_comment = line.rfind("  //", 0) == 0;
  }
  return out;
}

TEST(SchemaSyncTest, HeadersAndSchemaListTheSameDocumentedFields) {
  std::set<std::string> from_headers;
  std::size_t headers = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(testing::source_path("include/infalign/config"))) {
    const std::string name = entry.path().filename().string();
    const std::string suffix = "_config.h";
    if (name.size() <= suffix.size() ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0 ||
        name == "experiment_config.h") {
      continue;
    }
    ++headers;
    const auto parsed = parse_header(entry.path(), name.substr(0, name.size() - suffix.size()));
    for (const auto& problem : parsed.problems) ADD_FAILURE() << problem;
    from_headers.insert(parsed.keys.begin(), parsed.keys.end());
  }
  EXPECT_EQ(headers, 13u);
  const auto keys = config_keys();
  const std::set<std::string> from_schema(keys.begin(), keys.end());
  EXPECT_EQ(keys.size(), from_schema.size()) << "a key is registered twice";
  for (const auto& key : from_headers) {
    EXPECT_TRUE(from_schema.count(key)) << key << " is declared but not in src/config/schema.cpp";
  }
  for (const auto& key : from_schema) {
    EXPECT_TRUE(from_headers.count(key)) << key << " is in the schema but not declared in a header";
  }
}

}  // namespace
}  // namespace infalign::config
