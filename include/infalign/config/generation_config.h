// The `generation` section: one decoding setting shared by calibration, PPO rollouts and eval,
// so the calibrated quantiles, the KL and the win rates all refer to the same distribution.
#pragma once

#include <cstdint>

#include "infalign/config/run_config.h"

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
  // Drop rows that ended (sampled EOS) from the batch and the KV cache, in steps of an eighth of
  // the batch, so later steps compute mostly the rows still generating. The samples are the same
  // either way; off only to measure or debug it.
  bool drop_finished_rows = true;
  // Precision of the sampler's forwards: float32, or bfloat16 (the sampler decodes with its own
  // bf16 copy of the weights and a bf16 KV cache: about 2x the tokens/s at batch >= 16 on CPUs
  // with AVX512-BF16 and on GPUs, slower at batch 1). Log-probs for PPO and the KL always come
  // from the training forward (run.dtype); only which tokens get drawn depends on this.
  DType dtype = DType::Float32;
};

}  // namespace infalign::config
