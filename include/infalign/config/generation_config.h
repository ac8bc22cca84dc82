// The `generation` section: one decoding setting shared by calibration, PPO rollouts and eval,
// so the calibrated quantiles, the KL and the win rates all refer to the same distribution.
#pragma once

#include <cstdint>

namespace infalign::config {

struct GenerationConfig {
  // Response length cap (R); responses that hit it without EOS are penalised in PPO.
  std::int64_t max_new_tokens = 24;
  // Sampling temperature T, > 0; log-probs everywhere use logits / T.
  double temperature = 1.0;
  // Keep only the k most likely tokens; 0 = off (must stay off for PPO rollouts).
  std::int64_t top_k = 0;
  // Nucleus sampling mass in (0, 1]; 1 = off (must stay off for PPO rollouts).
  double top_p = 1.0;
  // Sequences decoded together in one batched generate call.
  std::int64_t batch_size = 64;
  // Reuse keys/values across decoding steps (off only to debug the cache).
  bool use_kv_cache = true;
};

}  // namespace infalign::config
