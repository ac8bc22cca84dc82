// The `ppo` section: KL-regularised PPO against the frozen reference (CTRL step 3). Defaults and
// their reasons: docs/method.md section 7 and
// docs/benchmarks.md ("Choosing the solver").
#pragma once

#include <cstdint>
#include <optional>

#include "infalign/config/train_config.h"

namespace infalign::config {

// Per-token KL in the reward: k1 = log(pi/pi_ref), k3 = (r - 1) - log r of the sampled token,
// or full = the exact KL of the next-token distributions (sum over the vocabulary).
enum class KlEstimator { K1, K3, Full };

// How the value model starts: from the reward model (default) or from the policy backbone with
// a fresh scalar head.
enum class ValueInit { RewardModel, Policy };

// How advantages are estimated: gae (GAE over a learned value model), rloo (each sample's return
// minus the mean return of the other samples of its prompt) or group (each sample's return
// normalised by its prompt's group mean and standard deviation). rloo and group need several
// samples per prompt and no value model.
enum class Advantage { Gae, Rloo, Group };

struct PpoConfig {
  // PPO iterations (rollout batches) to run.
  std::int64_t total_steps = 200;
  // Sequences generated per iteration (B): rollout_batch_size / samples_per_prompt prompts.
  std::int64_t rollout_batch_size = 64;
  // Samples of each prompt in a rollout batch (k); rloo and group need k >= 2.
  std::int64_t samples_per_prompt = 1;
  // Advantage estimator: gae (value model), rloo or group (no value model).
  Advantage advantage = Advantage::Gae;
  // Whiten the advantages over the rollout batch's tokens (mean 0, variance 1).
  bool whiten_advantages = true;
  // Minibatches per epoch; must divide rollout_batch_size.
  std::int64_t num_mini_batches = 1;
  // Passes over each rollout batch.
  std::int64_t ppo_epochs = 4;
  // Discount gamma, in [0, 1].
  double gamma = 1.0;
  // GAE lambda, in [0, 1].
  double lam = 0.95;
  // Policy ratio clip epsilon, in (0, 1].
  double clip_range = 0.2;
  // Value clip epsilon_v, > 0.
  double clip_range_value = 0.2;
  // Dual-clip constant c > 1 for negative advantages; 0 = off.
  double dual_clip = 0.0;
  // Initial KL coefficient beta; compare transforms at matched measured KL, not equal beta.
  double kl_coef = 0.05;
  // Replace kl_coef by the theory tool's beta for target_kl: the beta whose KL-regularised
  // optimum of the (normalised, calibrated) transform has that KL.
  bool kl_coef_from_theory = false;
  // KL in the per-token reward: k1, k3, or full (exact over the vocabulary, also as a loss term;
  // keeps B x R x V reference log-probs in memory).
  KlEstimator kl_estimator = KlEstimator::K1;
  // Adapt beta towards target_kl with the standard proportional controller.
  bool adaptive_kl = false;
  // Target sequence KL for the adaptive controller; required when adaptive_kl is true.
  std::optional<double> target_kl = std::nullopt;
  // Horizon (in sequences) of the adaptive controller.
  std::int64_t kl_horizon = 10000;
  // Whiten per-token rewards (off: it rescales Phi and so changes the effective beta).
  bool whiten_rewards = false;
  // Entropy bonus weight; 0 = off (entropy is logged anyway).
  double entropy_coef = 0.0;
  // Subtracted from the score of responses that end without EOS; 0 = off.
  double missing_eos_penalty = 1.0;
  // Policy AdamW learning rate.
  double policy_lr = 3e-6;
  // Value AdamW learning rate.
  double value_lr = 1e-5;
  // Learning-rate shape for both optimizers: constant, linear or cosine.
  LrSchedule lr_schedule = LrSchedule::Linear;
  // Linear warmup iterations.
  std::int64_t warmup_steps = 0;
  // AdamW epsilon for both optimizers.
  double adam_eps = 1e-5;
  // AdamW weight decay (0: beta, not decay, keeps the policy near the reference).
  double weight_decay = 0.0;
  // Gradient-norm clip per optimizer; 0 = off.
  double max_grad_norm = 1.0;
  // Value model start: reward_model or policy.
  ValueInit value_init = ValueInit::RewardModel;
  // Iterations at the start that train only the value model (policy frozen).
  std::int64_t critic_warmup_steps = 0;
  // Parity mode: one optimizer over L_pg + vf_coef * L_vf, as TRL and N+ do.
  bool joint_optimizer = false;
  // Value-loss weight in joint_optimizer mode.
  double vf_coef = 0.1;
  // Sequences per forward/backward chunk inside a minibatch; 0 = the whole minibatch.
  std::int64_t micro_batch_size = 0;
  // Log metrics every this many iterations.
  std::int64_t log_every_steps = 1;
};

}  // namespace infalign::config
