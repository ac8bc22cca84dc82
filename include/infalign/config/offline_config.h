// The `offline` section: stage offline, the offline solver of the KL-regularised objective.
// It draws base samples of every training prompt, weights each by exp(R / beta) within its
// prompt (R = Phi(u), or the raw reward), and fits the policy by weighted maximum likelihood: the
// forward-KL projection of pi*_beta = pi_ref exp(R / beta) / Z onto the model. The optimizer,
// schedule and steps are train.*; beta is ppo.kl_coef, or the theory tool's beta for
// ppo.target_kl with ppo.kl_coef_from_theory (the objective both solvers share).
#pragma once

#include <cstdint>

namespace infalign::config {

struct OfflineConfig {
  // Base samples drawn and weighted per training prompt.
  std::int64_t samples_per_prompt = 64;
  // Prompts per optimizer step (each with all its weighted samples).
  std::int64_t prompts_per_step = 8;
  // Sequences per forward/backward chunk; 0 = a step's samples at once.
  std::int64_t micro_batch_size = 128;
  // The policy's check at every train.eval_every_steps (and the last step): this many training
  // prompts x eval_samples samples, for the KL to the base and the calibrated reward.
  std::int64_t eval_prompts = 64;
  // Samples per checked prompt.
  std::int64_t eval_samples = 4;
};

}  // namespace infalign::config
