#include "infalign/checkpoint/train_state.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "infalign/core/error.h"

namespace infalign::checkpoint {

std::string TrainState::to_json() const {
  nlohmann::ordered_json j;
  j["format_version"] = kFormatVersion;
  j["step"] = step;
  j["epoch"] = epoch;
  j["position"] = position;
  j["tokens_seen"] = tokens_seen;
  j["wall_seconds"] = wall_seconds;
  j["config_hash"] = config_hash;
  j["values"] = values;
  j["hashes"] = hashes;
  return j.dump(2) + "\n";
}

TrainState TrainState::from_json(const std::string& text, const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw CheckpointError(fmt::format("{}: not valid JSON: {}", path, e.what()));
  }
  if (!j.is_object() || !j.contains("format_version") || !j["format_version"].is_number_integer()) {
    throw CheckpointError(fmt::format("{}: missing integer format_version", path));
  }
  if (j["format_version"].get<std::int64_t>() != kFormatVersion) {
    throw CheckpointError(fmt::format("{}: format_version {} is not supported; expected {}", path,
                                      j["format_version"].dump(), kFormatVersion));
  }
  TrainState s;
  try {
    s.step = j.at("step").get<std::int64_t>();
    s.epoch = j.at("epoch").get<std::int64_t>();
    s.position = j.at("position").get<std::int64_t>();
    s.tokens_seen = j.at("tokens_seen").get<std::int64_t>();
    s.wall_seconds = j.at("wall_seconds").get<double>();
    s.config_hash = j.at("config_hash").get<std::string>();
    s.values = j.at("values").get<std::map<std::string, double>>();
    if (j.contains("hashes")) s.hashes = j.at("hashes").get<std::map<std::string, std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw CheckpointError(fmt::format("{}: {}", path, e.what()));
  }
  return s;
}

}  // namespace infalign::checkpoint
