#include "infalign/ppo/core.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>

#include "infalign/core/error.h"
#include "infalign/model/fused_ops.h"

namespace infalign::ppo {

at::Tensor masked_mean(const at::Tensor& x, const at::Tensor& mask) {
  const at::Tensor m = mask.to(x.scalar_type());
  return (x * m).sum() / m.sum().clamp_min(1.0);
}

at::Tensor masked_var(const at::Tensor& x, const at::Tensor& mask, bool unbiased) {
  const at::Tensor m = mask.to(x.scalar_type());
  const at::Tensor n = m.sum();
  const at::Tensor mean = (x * m).sum() / n.clamp_min(1.0);
  const at::Tensor sq = ((x - mean).pow(2) * m).sum();
  return unbiased ? sq / (n - 1).clamp_min(1.0) : sq / n.clamp_min(1.0);
}

at::Tensor masked_whiten(const at::Tensor& x, const at::Tensor& mask, bool shift_mean) {
  const at::Tensor mean = masked_mean(x, mask);
  const at::Tensor var = masked_var(x, mask, true);
  at::Tensor w = (x - mean) * at::rsqrt(var + 1e-8);
  if (!shift_mean) w = w + mean;
  return w * mask.to(x.scalar_type());
}

at::Tensor kl_estimate(const at::Tensor& logp, const at::Tensor& ref_logp, const at::Tensor& mask,
                       config::KlEstimator estimator) {
  INFALIGN_CHECK(estimator != config::KlEstimator::Full,
                 "kl_estimate: the full estimator needs the logits (exact_kl)");
  return estimator == config::KlEstimator::K1 ? generation::kl_k1(logp, ref_logp, mask)
                                              : generation::kl_k3(logp, ref_logp, mask);
}

at::Tensor token_entropy(const at::Tensor& logits, double temperature) {
  return model::fused::softmax_stats(logits, at::Tensor(), temperature).entropy;
}

at::Tensor exact_kl(const at::Tensor& logits, const at::Tensor& ref_logsoftmax,
                    double temperature) {
  return model::fused::softmax_stats(logits, at::Tensor(), temperature, ref_logsoftmax).kl;
}

at::Tensor last_token_index(const at::Tensor& mask) {
  const at::Tensor lengths = mask.to(at::kLong).sum(1);
  INFALIGN_CHECK(lengths.min().item<std::int64_t>() >= 1,
                 "every response needs at least one token");
  return lengths - 1;
}

at::Tensor shape_rewards(const at::Tensor& kl, const at::Tensor& mask, const at::Tensor& scores,
                         double beta) {
  at::Tensor r = -beta * kl * mask.to(kl.scalar_type());
  const at::Tensor last = last_token_index(mask);
  return r.scatter_add(1, last.unsqueeze(1), scores.to(r.scalar_type()).unsqueeze(1));
}

Gae gae(const at::Tensor& rewards, const at::Tensor& values, const at::Tensor& mask, double gamma,
        double lam) {
  const at::Tensor m = mask.to(rewards.scalar_type());
  const at::Tensor r = rewards * m;
  const at::Tensor v = values.to(rewards.scalar_type()) * m;
  const auto steps = r.size(1);
  std::vector<at::Tensor> advantages(static_cast<std::size_t>(steps));
  at::Tensor running = at::zeros({r.size(0)}, r.options());
  for (std::int64_t t = steps - 1; t >= 0; --t) {
    const at::Tensor next_value = t + 1 < steps ? v.select(1, t + 1) : at::zeros_like(running);
    const at::Tensor delta = r.select(1, t) + gamma * next_value - v.select(1, t);
    running = delta + gamma * lam * running;
    advantages[static_cast<std::size_t>(t)] = running;
  }
  const at::Tensor a = at::stack(advantages, 1) * m;
  return {a, (a + v) * m};
}

namespace {
// returns [B] as [B / k, k], checked.
at::Tensor by_prompt(const at::Tensor& returns, std::int64_t k) {
  INFALIGN_CHECK(returns.dim() == 1 && k >= 2 && returns.size(0) % k == 0,
                 "per-prompt advantages need [B] returns with B divisible by k >= 2; got {} "
                 "values, k = {}",
                 returns.numel(), k);
  return returns.view({returns.size(0) / k, k});
}
}  // namespace

at::Tensor rloo_advantages(const at::Tensor& returns, std::int64_t k) {
  const at::Tensor g = by_prompt(returns, k);
  const at::Tensor others = (g.sum(1, true) - g) / static_cast<double>(k - 1);
  return (g - others).reshape({-1});
}

at::Tensor group_advantages(const at::Tensor& returns, std::int64_t k) {
  const at::Tensor g = by_prompt(returns, k);
  const at::Tensor mean = g.mean(1, true);
  const at::Tensor sd = g.std(1, /*unbiased=*/true, /*keepdim=*/true);
  return ((g - mean) / (sd + 1e-6)).reshape({-1});
}

Advantages compute_advantages(const AdvantageInputs& in, const AdvantageOptions& o) {
  Advantages out;
  const at::Tensor m = in.mask.to(at::kFloat);
  at::Tensor raw;  // before whitening, [B, R]
  if (o.kind == config::Advantage::Gae) {
    at::Tensor rewards = shape_rewards(in.kl, in.mask, in.scores.to(at::kFloat), o.beta);
    if (o.whiten_rewards) rewards = masked_whiten(rewards, in.mask, /*shift_mean=*/false);
    const Gae g = gae(rewards, in.values, in.mask, o.gamma, o.lam);
    out.returns = g.returns;
    raw = g.advantages;
  } else {
    INFALIGN_CHECK(!o.whiten_rewards, "reward whitening applies to gae only");
    out.sequence_returns = in.scores.to(at::kFloat) - o.beta * (in.kl.to(at::kFloat) * m).sum(1);
    const at::Tensor a = o.kind == config::Advantage::Rloo
                             ? rloo_advantages(out.sequence_returns, o.samples_per_prompt)
                             : group_advantages(out.sequence_returns, o.samples_per_prompt);
    raw = a.unsqueeze(1) * m;
  }
  if (o.whiten_advantages) {
    const double sd = std::sqrt(masked_var(raw, in.mask, true).item<double>() + 1e-8);
    out.advantages = masked_whiten(raw, in.mask);
    out.kl_loss_coef = o.beta / sd;
  } else {
    out.advantages = raw;
    out.kl_loss_coef = o.beta;
  }
  return out;
}

PolicyLoss policy_loss(const at::Tensor& logp, const at::Tensor& old_logp,
                       const at::Tensor& advantages, const at::Tensor& mask, double clip,
                       double dual_clip) {
  const at::Tensor m = mask.to(logp.scalar_type());
  const at::Tensor log_ratio = logp - old_logp;
  const at::Tensor ratio = log_ratio.exp();
  const at::Tensor a = advantages.to(logp.scalar_type());
  const at::Tensor unclipped = -a * ratio;
  const at::Tensor clipped = -a * ratio.clamp(1.0 - clip, 1.0 + clip);
  at::Tensor per_token = at::max(unclipped, clipped);
  if (dual_clip > 1.0) {
    per_token = at::where(a < 0, at::min(per_token, -dual_clip * a), per_token);
  }
  PolicyLoss out;
  out.loss = masked_mean(per_token, m);
  at::NoGradGuard no_grad;
  out.clipfrac = masked_mean((clipped > unclipped).to(logp.scalar_type()), m).item<double>();
  out.approxkl = 0.5 * masked_mean(log_ratio.pow(2), m).item<double>();
  out.ratio_mean = masked_mean(ratio, m).item<double>();
  out.ratio_var = masked_var(ratio, m, false).item<double>();
  return out;
}

ValueLoss value_loss(const at::Tensor& values, const at::Tensor& old_values,
                     const at::Tensor& returns, const at::Tensor& mask, double clip) {
  const at::Tensor m = mask.to(values.scalar_type());
  const at::Tensor v_clip = old_values + (values - old_values).clamp(-clip, clip);
  const at::Tensor l1 = (values - returns).pow(2);
  const at::Tensor l2 = (v_clip - returns).pow(2);
  ValueLoss out;
  out.loss = 0.5 * masked_mean(at::max(l1, l2), m);
  at::NoGradGuard no_grad;
  out.clipfrac = masked_mean((l2 > l1).to(values.scalar_type()), m).item<double>();
  return out;
}

double explained_variance(const at::Tensor& values, const at::Tensor& returns,
                          const at::Tensor& mask) {
  at::NoGradGuard no_grad;
  const double var_returns = masked_var(returns, mask, false).item<double>();
  if (var_returns <= 0) return 0.0;
  return 1.0 - masked_var(returns - values, mask, false).item<double>() / var_returns;
}

KlController::KlController(double beta, bool adaptive, double target, std::int64_t horizon)
    : beta_(beta), adaptive_(adaptive), target_(target), horizon_(horizon) {}

void KlController::update(double observed_kl, std::int64_t sequences) {
  if (!adaptive_) return;
  const double e = std::clamp(observed_kl / target_ - 1.0, -0.2, 0.2);
  beta_ *= 1.0 + e * static_cast<double>(sequences) / static_cast<double>(horizon_);
}

}  // namespace infalign::ppo
