// Everything besides tensors that a resumed run needs to continue exactly: counters, the data
// cursor, the config hash, the KL controller and named extra numbers; stored as state.json.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace infalign::checkpoint {

struct TrainState {
  static constexpr std::int64_t kFormatVersion = 1;
  std::int64_t step = 0;      // optimizer steps (or PPO iterations) completed
  std::int64_t epoch = 0;     // data cursor: epoch ...
  std::int64_t position = 0;  // ... and index into that epoch's order
  std::int64_t tokens_seen = 0;
  double wall_seconds = 0;               // training time so far, across resumes
  std::string config_hash;               // of the resolved config that produced it
  std::map<std::string, double> values;  // e.g. "kl_coef" for the adaptive controller
  // Content hashes of inputs a run must not silently change (reference, reward model,
  // calibration cache); verified on resume. Optional in the file.
  std::map<std::string, std::string> hashes;

  std::string to_json() const;
  // Throws CheckpointError naming `path` on a bad or unknown-version file.
  static TrainState from_json(const std::string& text, const std::string& path);
};

}  // namespace infalign::checkpoint
