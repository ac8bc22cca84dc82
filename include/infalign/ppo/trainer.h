// Stage ppo: KL-regularised PPO with a frozen reference on the calibrated and transformed
// reward (InfAlign-CTRL), or on the raw reward-model score (transform.kind raw: standard RLHF).
// Exact resume from checkpoints taken at iteration boundaries.
#pragma once

#include <string>

#include "infalign/config/load.h"

namespace infalign::ppo {

struct PpoResult {
  std::string policy_dir;  // HF-style export of the final policy
  std::int64_t steps = 0;
};

PpoResult train_ppo(const config::LoadedConfig& loaded);

}  // namespace infalign::ppo
