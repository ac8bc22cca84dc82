// The `lora` section: low-rank adapters on the policy's projections (PPO). The policy is the
// frozen base plus adapters, the reference the same weights with the adapters off, and the
// optimizer holds only the adapters' states.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace infalign::config {

// Every projection of a decoder block, the default targets.
inline const std::vector<std::string> kLoraProjections = {
    "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

struct LoraConfig {
  // Adapter rank r; 0 = no adapters (every policy weight trains).
  std::int64_t rank = 0;
  // The adapters add alpha / r * B A to each targeted weight.
  double alpha = 16.0;
  // Projections that get adapters: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj.
  std::vector<std::string> targets = kLoraProjections;
  // Dropout on the adapters' input; only 0 is implemented (gradient checkpointing and exact
  // resume rely on forwards without randomness).
  double dropout = 0.0;
};

}  // namespace infalign::config
