// The config schema: one entry per field with its YAML codec and its range check, written once
// in schema.cpp and used by loading, dumping, validation and diffs.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "infalign/config/experiment_config.h"

#include "detail/tree.h"

namespace YAML {
class Emitter;
}

namespace infalign::config::detail {

struct Field {
  std::string section;
  std::string key;
  // Decodes `node` into the field; returns "got X, expected Y" when it cannot.
  std::function<std::optional<std::string>(const Node& node, ExperimentConfig& config)> decode;
  std::function<void(YAML::Emitter& out, const ExperimentConfig& config)> emit;
  // Exact text of the value (for diffs and equality).
  std::function<std::string(const ExperimentConfig& config)> text;
  // Range check; returns "got X, expected Y" when violated.
  std::function<std::optional<std::string>(const ExperimentConfig& config)> check;

  std::string path() const { return section + "." + key; }
};

// Every field, sections in ExperimentConfig order, fields in struct order.
const std::vector<Field>& schema();
// Section names in order.
const std::vector<std::string>& section_names();

}  // namespace infalign::config::detail
