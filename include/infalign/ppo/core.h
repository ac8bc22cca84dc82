// The PPO arithmetic, as pure tensor functions over a rollout (shapes [B, R]: rows, response
// positions; `mask` is 1 on real response tokens up to and including EOS, 0 after). Formulas and
// their reasons: docs/method.md section 7. Everything here is unit-tested against hand-computed
// values and finite differences; the trainer only wires it together.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

#include "infalign/config/ppo_config.h"
#include "infalign/generation/generate.h"

namespace infalign::ppo {

// sum(x * mask) / sum(mask) (0 when the mask is empty).
at::Tensor masked_mean(const at::Tensor& x, const at::Tensor& mask);
// Variance over the masked entries, with Bessel's correction when `unbiased`.
at::Tensor masked_var(const at::Tensor& x, const at::Tensor& mask, bool unbiased = true);
// (x - mean) / sqrt(var + 1e-8) over the masked entries (mean added back unless shift_mean);
// entries off the mask become 0.
at::Tensor masked_whiten(const at::Tensor& x, const at::Tensor& mask, bool shift_mean = true);

// Entropy of softmax(logits / T) per position: [B, R, V] -> [B, R] float32.
at::Tensor token_entropy(const at::Tensor& logits, double temperature);

// The per-token KL penalty ppo.kl_estimator selects: k1 or k3 of the sampled tokens
// (generation::kl_k1 / kl_k3, which evaluation uses too). [B, R], 0 off the mask. The full
// estimator needs the logits: exact_kl.
at::Tensor kl_estimate(const at::Tensor& logp, const at::Tensor& ref_logp, const at::Tensor& mask,
                       config::KlEstimator estimator);

// The exact KL(pi(.|s_t) || pi_ref(.|s_t)) of each position's next-token distributions at
// temperature T, summed over the vocabulary: logits [.., V] of the policy and the reference's
// log_softmax(logits_ref / T) [.., V] -> [..] float32 (differentiable in `logits`). The
// kl_estimator `full`: no sampling noise, and its gradient is the direct KL term of the loss.
at::Tensor exact_kl(const at::Tensor& logits, const at::Tensor& ref_logsoftmax, double temperature);

// Index of each row's last real response token (the EOS if any, else the last kept token);
// rows must have at least one. mask [B, R] -> [B] int64.
at::Tensor last_token_index(const at::Tensor& mask);

// r_t = -beta * kl_t on the mask, plus each row's score at its last real token. [B, R].
at::Tensor shape_rewards(const at::Tensor& kl, const at::Tensor& mask, const at::Tensor& scores,
                         double beta);

// Generalised advantage estimation by a reverse scan; values and rewards count only on the mask
// (V = 0 beyond a row's end). Returns are advantages + values, before any whitening.
struct Gae {
  at::Tensor advantages, returns;  // [B, R], 0 off the mask
};
Gae gae(const at::Tensor& rewards, const at::Tensor& values, const at::Tensor& mask, double gamma,
        double lam);

// Critic-free advantages from several samples per prompt: `returns` [B] holds k consecutive
// samples of each prompt (rows g k .. g k + k - 1), B divisible by k >= 2.
// RLOO (Kool et al. 2019; Ahmadian et al. 2024): A_i = G_i - mean_{j != i, same prompt} G_j,
// an unbiased baseline because it excludes the sample itself. [B]
at::Tensor rloo_advantages(const at::Tensor& returns, std::int64_t k);
// Group-normalised (GRPO, Shao et al. 2024): A_i = (G_i - mean_g G) / (std_g G + 1e-6), std
// with Bessel's correction, over the k samples of the prompt. [B]
at::Tensor group_advantages(const at::Tensor& returns, std::int64_t k);

// The advantages of one rollout batch, as the trainer computes them (the bandit tests run the
// same function). Per-token rewards are -beta * kl_t with the score on the last real token.
//   gae:          GAE over `values` (returns = advantages + values: the value targets);
//   rloo / group: each sequence's return G = score - beta * sum_t kl_t, turned into a sequence
//                 advantage by rloo_advantages / group_advantages over the k samples of each
//                 prompt and given to every token of the sequence.
// Then optionally whitened over the batch's tokens. `kl_loss_coef` is the weight of the direct
// KL term in the loss (the full estimator): beta, divided by the advantages' standard deviation
// when they were whitened, so that beta keeps its meaning against the surrogate.
struct AdvantageInputs {
  at::Tensor kl;      // [B, R] per-token KL penalty of the rollout policy (k1, k3 or full)
  at::Tensor scores;  // [B] sequence scores: Phi(u) (or the raw reward) minus penalties
  at::Tensor mask;    // [B, R]
  at::Tensor values;  // [B, R] value estimates (gae only)
};
struct AdvantageOptions {
  config::Advantage kind = config::Advantage::Gae;
  std::int64_t samples_per_prompt = 1;
  double beta = 0, gamma = 1, lam = 0.95;
  bool whiten_rewards = false, whiten_advantages = true;
};
struct Advantages {
  at::Tensor advantages;        // [B, R], 0 off the mask
  at::Tensor returns;           // [B, R] value targets (gae); undefined otherwise
  at::Tensor sequence_returns;  // [B] G (rloo / group); undefined for gae
  double kl_loss_coef = 0;
};
Advantages compute_advantages(const AdvantageInputs& in, const AdvantageOptions& o);

// Clipped surrogate: mean_m(max(-A rho, -A clip(rho, 1 - eps, 1 + eps))), rho = exp(logp -
// old_logp); with dual_clip c > 1 the loss of a token with A < 0 is capped at -c A.
struct PolicyLoss {
  at::Tensor loss;                                                   // scalar, differentiable
  double clipfrac = 0, approxkl = 0, ratio_mean = 0, ratio_var = 0;  // diagnostics
};
PolicyLoss policy_loss(const at::Tensor& logp, const at::Tensor& old_logp,
                       const at::Tensor& advantages, const at::Tensor& mask, double clip,
                       double dual_clip = 0.0);

// 0.5 mean_m(max((V - G)^2, (V_old + clip(V - V_old, -eps_v, eps_v) - G)^2)).
struct ValueLoss {
  at::Tensor loss;
  double clipfrac = 0;
};
ValueLoss value_loss(const at::Tensor& values, const at::Tensor& old_values,
                     const at::Tensor& returns, const at::Tensor& mask, double clip);

// 1 - Var(returns - values) / Var(returns) over the mask.
double explained_variance(const at::Tensor& values, const at::Tensor& returns,
                          const at::Tensor& mask);

// beta, fixed or adapted once per rollout batch towards a target sequence KL:
// e = clip(KL / target - 1, -0.2, 0.2), beta <- beta (1 + e n / horizon).
class KlController {
 public:
  KlController(double beta, bool adaptive, double target, std::int64_t horizon);
  double beta() const { return beta_; }
  void set_beta(double beta) { beta_ = beta; }
  void update(double observed_kl, std::int64_t sequences);

 private:
  double beta_;
  bool adaptive_;
  double target_;
  std::int64_t horizon_;
};

}  // namespace infalign::ppo
