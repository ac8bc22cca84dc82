// Reads the config structs' fields, types and comments straight from the headers in
// include/infalign/config/, so tests can hold the schema and the docs to them.
#pragma once

#include <string>
#include <vector>

namespace infalign::testing {

struct HeaderField {
  std::string key;      // "ppo.clip_range"
  std::string type;     // "double"
  std::string comment;  // the comment lines above it, joined with spaces
  std::string where;    // "ppo_config.h:42"
};

struct ConfigHeaders {
  // Section names in the order of ExperimentConfig's members.
  std::vector<std::string> sections;
  std::vector<HeaderField> fields;
  // Fields without a default or without a comment, as "file:line: what".
  std::vector<std::string> problems;
};

ConfigHeaders read_config_headers();

}  // namespace infalign::testing
