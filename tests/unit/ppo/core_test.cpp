#include "infalign/ppo/core.h"

#include <cmath>
#include <functional>

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "infalign/runtime/adamw.h"
#include "infalign/theory/transform.h"

namespace infalign::ppo {
namespace {

const auto kF64 = at::TensorOptions().dtype(at::kDouble);

TEST(GaeTest, HandComputedWithRowsOfDifferentLengths) {
  const at::Tensor rewards = at::tensor({0.1, -0.2, 1.0, 0.5, 2.0, 9.9}, kF64).view({2, 3});
  const at::Tensor values = at::tensor({0.3, 0.4, 0.5, 0.2, 0.6, 7.0}, kF64).view({2, 3});
  const at::Tensor mask = at::tensor({1, 1, 1, 1, 1, 0}, at::kLong).view({2, 3});
  const Gae g = gae(rewards, values, mask, 0.9, 0.8);
  // Row 0: deltas 0.16, -0.15, 0.5 -> A = 0.3112, 0.21, 0.5. Row 1 ends after 2 tokens (its
  // third reward and value are padding): deltas 0.84, 1.4 -> A = 1.848, 1.4, 0.
  const at::Tensor a = at::tensor({0.3112, 0.21, 0.5, 1.848, 1.4, 0.0}, kF64).view({2, 3});
  const at::Tensor ret = at::tensor({0.6112, 0.61, 1.0, 2.048, 2.0, 0.0}, kF64).view({2, 3});
  EXPECT_TRUE(at::allclose(g.advantages, a, 1e-12, 1e-12)) << g.advantages;
  EXPECT_TRUE(at::allclose(g.returns, ret, 1e-12, 1e-12)) << g.returns;
  // gamma = lambda = 1, V = 0: the advantage is the reward-to-go.
  const Gae mc = gae(rewards, at::zeros_like(values), mask, 1.0, 1.0);
  EXPECT_NEAR(mc.advantages[0][0].item<double>(), 0.9, 1e-12);
  EXPECT_NEAR(mc.advantages[1][0].item<double>(), 2.5, 1e-12);
}

TEST(RewardShapingTest, KlOnEveryTokenAndTheScoreOnTheLastRealToken) {
  const at::Tensor kl = at::tensor({0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, kF64).view({2, 3});
  const at::Tensor mask = at::tensor({1, 1, 1, 1, 0, 0}, at::kLong).view({2, 3});
  const at::Tensor r = shape_rewards(kl, mask, at::tensor({2.0, -1.0}, kF64), 0.5);
  const at::Tensor expected =
      at::tensor({-0.05, -0.1, -0.15 + 2.0, -0.2 - 1.0, 0.0, 0.0}, kF64).view({2, 3});
  EXPECT_TRUE(at::allclose(r, expected, 1e-12, 1e-12)) << r;
  EXPECT_TRUE(at::equal(last_token_index(mask), at::tensor({2, 0}, at::kLong)));
}

TEST(KlEstimateTest, ZeroWhenThePolicyIsTheReferenceAndK3IsNonNegative) {
  const at::Tensor logp = at::log(at::tensor({0.2, 0.5, 0.1, 0.7}, kF64)).view({2, 2});
  const at::Tensor mask = at::ones({2, 2}, at::kLong);
  for (auto est : {config::KlEstimator::K1, config::KlEstimator::K3}) {
    EXPECT_EQ(kl_estimate(logp, logp, mask, est).abs().max().item<double>(), 0.0);
  }
  const at::Tensor ref = at::log(at::tensor({0.4, 0.25, 0.3, 0.05}, kF64)).view({2, 2});
  const at::Tensor k1 = kl_estimate(logp, ref, mask, config::KlEstimator::K1);
  const at::Tensor k3 = kl_estimate(logp, ref, mask, config::KlEstimator::K3);
  EXPECT_NEAR(k1[0][0].item<double>(), std::log(0.2 / 0.4), 1e-12);  // can be negative
  EXPECT_NEAR(k3[0][0].item<double>(), (0.4 / 0.2 - 1) - std::log(0.4 / 0.2), 1e-12);
  EXPECT_GE(k3.min().item<double>(), 0.0);
}

// Central finite differences of a scalar function of `x` against autograd, in float64.
void expect_gradient(const std::function<at::Tensor(const at::Tensor&)>& f, at::Tensor x) {
  x = x.clone().requires_grad_(true);
  f(x).backward();
  const at::Tensor grad = x.grad().clone();
  at::NoGradGuard no_grad;
  const double h = 1e-6;
  auto flat = x.view({-1});
  for (std::int64_t i = 0; i < flat.numel(); ++i) {
    const double v = flat[i].item<double>();
    flat[i] = v + h;
    const double up = f(x).item<double>();
    flat[i] = v - h;
    const double down = f(x).item<double>();
    flat[i] = v;
    EXPECT_NEAR(grad.view({-1})[i].item<double>(), (up - down) / (2 * h), 1e-6) << "entry " << i;
  }
}

TEST(LossGradientTest, PolicyValueAndKlMatchFiniteDifferences) {
  at::manual_seed(0);
  const at::Tensor mask = at::tensor({1, 1, 1, 1, 1, 0, 1, 0}, at::kLong).view({2, 4});
  const at::Tensor old_logp = -at::rand({2, 4}, kF64) - 0.1;
  const at::Tensor adv = at::randn({2, 4}, kF64);
  // Ratios spread over [0.6, 1.4]: some clipped, some not, away from the kinks.
  const at::Tensor logp =
      old_logp + at::tensor({-0.5, -0.05, 0.1, 0.3, 0.02, 0.0, -0.3, 0.0}, kF64).view({2, 4});
  expect_gradient(
      [&](const at::Tensor& x) { return policy_loss(x, old_logp, adv, mask, 0.2).loss; }, logp);
  expect_gradient(
      [&](const at::Tensor& x) { return policy_loss(x, old_logp, adv, mask, 0.2, 3.0).loss; },
      logp);
  const at::Tensor old_v = at::randn({2, 4}, kF64);
  const at::Tensor returns =
      old_v + at::tensor({0.5, -0.1, 0.05, -0.6, 0.3, 0.0, 0.1, 0.0}, kF64).view({2, 4});
  const at::Tensor v =
      old_v + at::tensor({0.3, -0.05, 0.1, 0.1, -0.4, 0.0, 0.05, 0.0}, kF64).view({2, 4});
  expect_gradient(
      [&](const at::Tensor& x) { return value_loss(x, old_v, returns, mask, 0.2).loss; }, v);
  const at::Tensor ref = old_logp - 0.3;
  for (auto est : {config::KlEstimator::K1, config::KlEstimator::K3}) {
    expect_gradient([&](const at::Tensor& x) { return kl_estimate(x, ref, mask, est).sum(); },
                    logp);
  }
  // Clipping is visible in the diagnostics: ratios exp(0.3) and exp(-0.5) are outside 1 +- 0.2.
  const PolicyLoss pl = policy_loss(logp, old_logp, adv, mask, 0.2);
  EXPECT_GT(pl.clipfrac, 0.0);
  EXPECT_LT(pl.clipfrac, 1.0);
  const PolicyLoss same = policy_loss(old_logp, old_logp, adv, mask, 0.2);
  EXPECT_EQ(same.clipfrac, 0.0);
  EXPECT_EQ(same.approxkl, 0.0);
  EXPECT_DOUBLE_EQ(same.ratio_mean, 1.0);
}

TEST(WhitenTest, ZeroMeanUnitVarianceOnTheMask) {
  const at::Tensor x = at::tensor({1.0, 2.0, 3.0, 4.0, 100.0, -50.0}, kF64).view({2, 3});
  const at::Tensor mask = at::tensor({1, 1, 1, 1, 0, 0}, at::kLong).view({2, 3});
  const at::Tensor w = masked_whiten(x, mask);
  EXPECT_NEAR(masked_mean(w, mask).item<double>(), 0.0, 1e-12);
  EXPECT_NEAR(masked_var(w, mask).item<double>(), 1.0, 1e-6);
  EXPECT_EQ(w[1][1].item<double>(), 0.0);
  EXPECT_EQ(w[1][2].item<double>(), 0.0);
}

TEST(KlControllerTest, MovesBetaTowardsTheTarget) {
  KlController fixed(0.1, false, 1.0, 100);
  fixed.update(5.0, 64);
  EXPECT_EQ(fixed.beta(), 0.1);
  KlController c(0.1, true, 1.0, 100);
  c.update(5.0, 50);  // e = +0.2 (clipped): beta * (1 + 0.2 * 50 / 100)
  EXPECT_NEAR(c.beta(), 0.11, 1e-15);
  c.update(0.9, 50);  // e = -0.1
  EXPECT_NEAR(c.beta(), 0.11 * 0.95, 1e-15);
}

// A one-token bandit: after a fixed prompt the policy emits one of 6 tokens. The reward is the
// transformed calibrated reward Phi(u(y)) of a fixed reward table, against a non-uniform
// reference. PPO with KL in the reward (k1, fixed beta), GAE with no value model (V = 0),
// whitened advantages and the clipped loss must reach pi*(y) ~ pi_ref(y) exp(Phi(u(y)) / beta).
// With the full estimator the exact KL is the per-token penalty and a loss term, as in the
// trainer.
double bandit_tv(double beta, const theory::Transform& phi, double* start_tv = nullptr,
                 config::KlEstimator estimator = config::KlEstimator::K1) {
  const at::Tensor ref_logits = at::tensor({1.0, 0.2, -0.5, 0.7, 0.0, -1.0}, kF64);
  const at::Tensor ref_logp = at::log_softmax(ref_logits, 0);
  const std::vector<double> reward = {0.3, 1.5, -0.2, 0.9, 2.0, 0.9};
  // Exact calibration against the reference: u(y) = P_ref(R < R(y)) + P_ref(R = R(y)) / 2.
  const at::Tensor p_ref = ref_logp.exp();
  std::vector<double> score(6);
  for (int y = 0; y < 6; ++y) {
    double u = 0;
    for (int z = 0; z < 6; ++z) {
      const double pz = p_ref[z].item<double>();
      u += reward[z] < reward[y] ? pz : reward[z] == reward[y] ? 0.5 * pz : 0.0;
    }
    score[static_cast<std::size_t>(y)] = phi(u);
  }
  const at::Tensor s_table = at::tensor(score, kF64);
  const at::Tensor target = at::softmax(ref_logp + s_table / beta, 0);
  if (start_tv != nullptr) *start_tv = 0.5 * (p_ref - target).abs().sum().item<double>();

  at::Tensor theta = ref_logits.clone().requires_grad_(true);
  runtime::AdamW opt({{"theta", theta}}, {0.9, 0.999, 1e-8, 0.0});
  at::Generator gen = at::detail::createCPUGenerator(11);
  constexpr std::int64_t kBatch = 512;
  const at::Tensor mask = at::ones({kBatch, 1}, at::kLong);
  for (int iter = 0; iter < 400; ++iter) {
    at::Tensor y, old_logp, adv;
    double kl_coef = 0;  // full: beta over the advantages' sd, as whitening scales the surrogate
    {
      at::NoGradGuard no_grad;
      const at::Tensor logp_all = at::log_softmax(theta, 0);
      y = at::multinomial(logp_all.exp(), kBatch, true, gen);
      old_logp = logp_all.index_select(0, y).view({kBatch, 1});
      const at::Tensor kl =
          estimator == config::KlEstimator::Full
              ? exact_kl(theta, ref_logp, 1.0).expand({kBatch, 1}).to(at::kDouble)
              : kl_estimate(old_logp, ref_logp.index_select(0, y).view({kBatch, 1}), mask,
                            estimator);
      const at::Tensor rewards = shape_rewards(kl, mask, s_table.index_select(0, y), beta);
      const at::Tensor raw = gae(rewards, at::zeros_like(rewards), mask, 1.0, 0.95).advantages;
      adv = masked_whiten(raw, mask);
      kl_coef = beta / std::sqrt(masked_var(raw, mask, true).item<double>() + 1e-8);
    }
    const double lr = 0.05 * (1.0 - iter / 400.0) + 1e-3;
    for (int epoch = 0; epoch < 4; ++epoch) {
      const at::Tensor logp = at::log_softmax(theta, 0).index_select(0, y).view({kBatch, 1});
      at::Tensor loss = policy_loss(logp, old_logp, adv, mask, 0.2).loss;
      if (estimator == config::KlEstimator::Full) {
        loss = loss + kl_coef * exact_kl(theta, ref_logp, 1.0);
      }
      loss.backward();
      opt.step(lr);
      opt.zero_grad();
    }
  }
  at::NoGradGuard no_grad;
  return 0.5 * (at::softmax(theta, 0) - target).abs().sum().item<double>();
}

TEST(BanditTest, PpoReachesTheKlRegularisedOptimum) {
  const theory::Transform exp5{theory::Shape::Exp, 5.0};
  for (double beta : {0.15, 0.4}) {
    double start = 0;
    EXPECT_LT(bandit_tv(beta, exp5, &start), 0.03) << "exp(5u), beta " << beta;
    EXPECT_GT(start, 0.2) << "the optimum must be far from the reference for the test to mean much";
  }
  EXPECT_LT(bandit_tv(0.25, theory::Transform{theory::Shape::Identity}), 0.03) << "identity";
}

TEST(BanditTest, TheExactKlEstimatorReachesTheSameOptimum) {
  const theory::Transform exp5{theory::Shape::Exp, 5.0};
  for (double beta : {0.15, 0.4}) {
    EXPECT_LT(bandit_tv(beta, exp5, nullptr, config::KlEstimator::Full), 0.03) << "beta " << beta;
  }
}

TEST(ExactKl, EqualsTheSumOverTheVocabularyAndIsZeroAgainstItself) {
  const at::Tensor logits = at::tensor({0.3, -1.0, 2.0, 0.5}, kF64).view({1, 1, 4});
  const at::Tensor ref = at::tensor({0.0, 0.4, 1.0, -0.2}, kF64).view({1, 1, 4});
  const double t = 0.7;
  const at::Tensor p = at::softmax(logits / t, -1), q = at::softmax(ref / t, -1);
  const double want = (p * (p.log() - q.log())).sum().item<double>();
  EXPECT_NEAR(exact_kl(logits, at::log_softmax(ref / t, -1), t).item<double>(), want, 1e-6);
  EXPECT_NEAR(exact_kl(logits, at::log_softmax(logits / t, -1), t).item<double>(), 0.0, 1e-7);
  EXPECT_GT(want, 0.05);
}

}  // namespace
}  // namespace infalign::ppo
