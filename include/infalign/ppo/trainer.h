// Stage ppo: KL-regularised PPO with a frozen reference on the calibrated and transformed
// reward (InfAlign-CTRL), or on the raw reward-model score (transform.kind raw: standard RLHF).
// Exact resume from checkpoints taken at iteration boundaries.
#pragma once

#include <string>

#include "infalign/config/load.h"

namespace infalign::runtime {
class Distributed;
}

namespace infalign::ppo {

struct PpoResult {
  std::string policy_dir;  // HF-style export of the final policy
  std::int64_t steps = 0;
};

// With `dist` over W > 1 processes (scripts/launch.sh), each rank samples, scores and runs the
// no-gradient forwards of its B / W rows of every rollout batch; the per-row results are
// gathered so every rank holds the whole batch (advantages, whitening, KL controller and metrics
// are those of the single-process run); each minibatch's rows are split by owner, gradients are
// summed across ranks before clipping, and rank 0 writes metrics, checkpoints and the export.
// Null or one process: the single-process trainer.
PpoResult train_ppo(const config::LoadedConfig& loaded, runtime::Distributed* dist = nullptr);

}  // namespace infalign::ppo
