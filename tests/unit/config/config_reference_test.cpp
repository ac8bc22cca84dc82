// docs/config-reference.md is generated from the config headers (types, comments) and the
// struct defaults; this test fails when it is stale. Regenerate with
//   INFALIGN_UPDATE_DOCS=1 build/tests/infalign_base_tests --gtest_filter='ConfigReference*'
#include <cstdlib>
#include <map>

#include <gtest/gtest.h>

#include "infalign/config/experiment_config.h"
#include "infalign/config/load.h"
#include "infalign/core/error.h"
#include "infalign/core/fs.h"

#include "config_headers.h"
#include "paths.h"

namespace infalign::config {
namespace {

std::string escape_cell(std::string text) {
  std::string out;
  for (char c : text) {
    if (c == '|')
      out += "\\|";
    else
      out += c;
  }
  return out;
}

// The YAML kind of a C++ field type: "integer", "list of integer", "enum", ...
std::string yaml_type(const std::string& cpp) {
  static const std::map<std::string, std::string> kinds = {
      {"std::string", "string"}, {"std::int64_t", "integer"}, {"std::uint64_t", "integer >= 0"},
      {"int", "integer"},        {"double", "number"},        {"bool", "bool"},
      {"DeviceSpec", "device"}};
  const std::string optional = "std::optional<", vector = "std::vector<";
  if (cpp.rfind(optional, 0) == 0) {
    return yaml_type(cpp.substr(optional.size(), cpp.size() - optional.size() - 1)) + " or null";
  }
  if (cpp.rfind(vector, 0) == 0) {
    return "list of " + yaml_type(cpp.substr(vector.size(), cpp.size() - vector.size() - 1));
  }
  const auto it = kinds.find(cpp);
  return it != kinds.end() ? it->second : "enum";
}

std::string generate_reference() {
  const auto headers = testing::read_config_headers();
  std::map<std::string, std::string> defaults;
  for (const auto& [key, value] : config_values(ExperimentConfig{})) defaults[key] = value;
  std::string md =
      "# Config reference\n\n"
      "<!-- Generated from include/infalign/config/*_config.h by\n"
      "     tests/unit/config/config_reference_test.cpp; do not edit by hand. -->\n\n"
      "Every key of an experiment config, its type, its default and its meaning. YAML nesting\n"
      "equals struct nesting: `ppo.clip_range` is `clip_range:` under `ppo:`. How files, `base:`\n"
      "fragments and `--set` overrides combine: [README.md](../README.md#configs).\n";
  std::string section;
  for (const auto& field : headers.fields) {
    const std::string s = field.key.substr(0, field.key.find('.'));
    if (s != section) {
      section = s;
      md += "\n## `" + section + "`\n\n| key | type | default | meaning |\n|---|---|---|---|\n";
    }
    md += "| `" + field.key + "` | " + yaml_type(field.type) + " | `" +
          escape_cell(defaults[field.key]) + "` | " + escape_cell(field.comment) + " |\n";
  }
  return md;
}

TEST(ConfigReferenceTest, DocsMatchTheHeaders) {
  const std::string path = testing::source_path("docs/config-reference.md");
  const std::string generated = generate_reference();
  if (const char* update = std::getenv("INFALIGN_UPDATE_DOCS"); update && *update == '1') {
    fs::write_file_atomic(path, generated);
  }
  std::string current;
  try {
    current = fs::read_file(path);
  } catch (const infalign::Error&) {
  }
  EXPECT_EQ(current, generated) << path << " is stale; regenerate it with INFALIGN_UPDATE_DOCS=1 "
                                << "(see the comment at the top of this test)";
}

}  // namespace
}  // namespace infalign::config
