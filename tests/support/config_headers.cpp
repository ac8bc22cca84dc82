#include "config_headers.h"

#include <fstream>
#include <regex>

#include "infalign/core/fs.h"

#include "paths.h"

namespace infalign::testing {

namespace {

void read_section(const std::string& section, ConfigHeaders& out) {
  const std::string file = section + "_config.h";
  std::ifstream in(source_path("include/infalign/config/" + file));
  if (!in) {
    out.problems.push_back(file + ": cannot read");
    return;
  }
  const std::regex struct_open(R"(^struct \w+Config \{$)");
  const std::regex member(R"(^  ([A-Za-z_][\w:<>, ]*[\w>]) (\w+)( = .+)?;$)");
  const std::regex comment(R"(^  // ?(.*)$)");
  bool inside = false;
  std::string pending_comment;
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (std::regex_match(line, struct_open)) {
      inside = true;
      continue;
    }
    if (!inside) continue;
    if (line == "};") break;
    std::smatch m;
    if (std::regex_match(line, m, comment)) {
      pending_comment += (pending_comment.empty() ? "" : " ") + m[1].str();
      continue;
    }
    const std::string where = file + ":" + std::to_string(line_number);
    if (std::regex_match(line, m, member)) {
      if (!m[3].matched) out.problems.push_back(where + ": field without a default");
      if (pending_comment.empty())
        out.problems.push_back(where + ": field without a comment above");
      out.fields.push_back({section + "." + m[2].str(), m[1].str(), pending_comment, where});
    } else if (!line.empty()) {
      out.problems.push_back(where + ": not a `type name = default;` line: " + line);
    }
    pending_comment.clear();
  }
}

}  // namespace

ConfigHeaders read_config_headers() {
  ConfigHeaders out;
  // The sections, in order, from ExperimentConfig's members (`  RunConfig run;`).
  std::ifstream in(source_path("include/infalign/config/experiment_config.h"));
  const std::regex member(R"(^  \w+Config (\w+);$)");
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, member)) out.sections.push_back(m[1].str());
  }
  for (const auto& section : out.sections) read_section(section, out);
  return out;
}

}  // namespace infalign::testing
