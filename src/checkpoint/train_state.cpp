#include "infalign/checkpoint/train_state.h"

#include <limits>

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
  // A counter: a non-negative integer that fits int64 (a float, a negative or a huge number is
  // a damaged file, not something to convert).
  const auto counter = [&](const char* key) -> std::int64_t {
    if (!j.contains(key)) throw CheckpointError(fmt::format("{}: missing '{}'", path, key));
    const nlohmann::json& v = j[key];
    const bool ok = v.is_number_unsigned()
                        ? v.get<std::uint64_t>() <=
                              static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
                        : v.is_number_integer() && v.get<std::int64_t>() >= 0;
    if (!ok) {
      throw CheckpointError(
          fmt::format("{}: '{}' is {}, expected a non-negative integer", path, key, v.dump()));
    }
    return v.get<std::int64_t>();
  };
  TrainState s;
  s.step = counter("step");
  s.epoch = counter("epoch");
  s.position = counter("position");
  s.tokens_seen = counter("tokens_seen");
  try {
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
