#include "infalign/ppo/core.h"

#include <cmath>
#include <functional>
#include <tuple>

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "infalign/config/names.h"
#include "infalign/core/error.h"
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

TEST(PolicyLossTest, ValueIsThePessimisticClippedSurrogateByHand) {
  // Ratios 1.5, 0.5, 1.5, 0.5 with advantages +1, +1, -1, -1 and clip 0.2: per token
  // max(-A r, -A clip(r)) = max(-1.5, -1.2), max(-0.5, -0.8), max(1.5, 1.2), max(0.5, 0.8)
  // = -1.2, -0.5, 1.5, 0.8; mean 0.15. The fifth token is masked out.
  const at::Tensor old_logp = at::zeros({1, 5}, kF64);
  const at::Tensor logp =
      at::tensor({std::log(1.5), std::log(0.5), std::log(1.5), std::log(0.5), 5.0}, kF64)
          .view({1, 5});
  const at::Tensor adv = at::tensor({1.0, 1.0, -1.0, -1.0, 100.0}, kF64).view({1, 5});
  const at::Tensor mask = at::tensor({1, 1, 1, 1, 0}, at::kLong).view({1, 5});
  const PolicyLoss pl = policy_loss(logp, old_logp, adv, mask, 0.2);
  EXPECT_NEAR(pl.loss.item<double>(), 0.15, 1e-12);
  EXPECT_NEAR(pl.clipfrac, 0.5, 1e-12);  // tokens 1 and 4 take the clipped term
  EXPECT_NEAR(pl.ratio_mean, 1.0, 1e-12);
  // Dual clip 3 bounds a negative advantage's term by 3 |A|: ratio 5 with A = -1 gives
  // max(5, 1.2) = 5, cut to 3.
  const at::Tensor big = at::tensor({std::log(5.0)}, kF64).view({1, 1});
  const at::Tensor one = at::ones({1, 1}, at::kLong);
  EXPECT_NEAR(policy_loss(big, at::zeros({1, 1}, kF64), -at::ones({1, 1}, kF64), one, 0.2, 3.0)
                  .loss.item<double>(),
              3.0, 1e-12);
  EXPECT_NEAR(policy_loss(big, at::zeros({1, 1}, kF64), -at::ones({1, 1}, kF64), one, 0.2)
                  .loss.item<double>(),
              5.0, 1e-12);
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

TEST(CriticFreeAdvantagesTest, RlooExcludesTheSampleAndGroupsArePerPrompt) {
  // Two prompts of k = 4 samples.
  const at::Tensor g = at::tensor({1.0, 2.0, 3.0, 6.0, 10.0, 10.0, 12.0, 8.0}, kF64);
  const at::Tensor rloo = rloo_advantages(g, 4);
  EXPECT_NEAR(rloo[0].item<double>(), 1.0 - (2.0 + 3.0 + 6.0) / 3.0, 1e-12);  // not 1 - 3
  EXPECT_NEAR(rloo[3].item<double>(), 6.0 - 2.0, 1e-12);
  EXPECT_NEAR(rloo[6].item<double>(), 12.0 - 28.0 / 3.0, 1e-12);  // the second prompt's others
  const at::Tensor group = group_advantages(g, 4);
  const double sd1 = std::sqrt(14.0 / 3.0), sd2 = std::sqrt(8.0 / 3.0);
  EXPECT_NEAR(group[0].item<double>(), (1.0 - 3.0) / (sd1 + 1e-6), 1e-9);
  EXPECT_NEAR(group[6].item<double>(), (12.0 - 10.0) / (sd2 + 1e-6), 1e-9);
  EXPECT_THROW(rloo_advantages(g, 3), Error);  // 8 rows are not groups of 3
}

TEST(CriticFreeAdvantagesTest, SequenceReturnsCarryTheKlOnEveryToken) {
  // Two prompts x k = 2, two tokens each (the second row of prompt 2 is one token long).
  AdvantageInputs in;
  in.kl = at::tensor({0.1, 0.2, 0.0, 0.4, 0.3, 0.1, 0.5, 9.0}, kF64).view({4, 2}).to(at::kFloat);
  in.mask = at::tensor({1, 1, 1, 1, 1, 1, 1, 0}, at::kLong).view({4, 2});
  in.scores = at::tensor({1.0, 0.0, 2.0, 2.0}, kF64);
  AdvantageOptions o;
  o.kind = config::Advantage::Rloo;
  o.samples_per_prompt = 2;
  o.beta = 0.5;
  o.whiten_advantages = false;
  const Advantages a = compute_advantages(in, o);
  // G = score - beta * sum of the masked KL: 0.85, -0.2, 1.8, 1.75.
  const std::vector<double> g = {0.85, -0.2, 1.8, 1.75};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(a.sequence_returns[i].item<double>(), g[i], 1e-6);
  EXPECT_NEAR(a.advantages[0][1].item<double>(), 0.85 + 0.2, 1e-6);
  EXPECT_NEAR(a.advantages[3][0].item<double>(), 1.75 - 1.8, 1e-6);
  EXPECT_EQ(a.advantages[3][1].item<double>(), 0.0);  // off the mask
  EXPECT_NEAR(a.kl_loss_coef, 0.5, 1e-12);
}

TEST(CriticFreeAdvantagesTest, WhitenedAdvantagesScaleTheKlLossCoefficient) {
  // Whitening divides the advantages by their masked standard deviation, so the direct KL term's
  // coefficient is divided by it too (the loss keeps the ratio of reward to KL).
  AdvantageInputs in;
  in.kl = at::zeros({4, 1}, at::kFloat);
  in.mask = at::ones({4, 1}, at::kLong);
  in.scores = at::tensor({1.0, 3.0, 0.0, 4.0}, kF64);
  AdvantageOptions o;
  o.kind = config::Advantage::Rloo;
  o.samples_per_prompt = 2;
  o.beta = 0.3;
  // RLOO advantages: 1 - 3, 3 - 1, 0 - 4, 4 - 0 = -2, 2, -4, 4; unbiased sd sqrt(40 / 3).
  const Advantages a = compute_advantages(in, o);
  const double sd = std::sqrt(40.0 / 3.0);
  EXPECT_NEAR(a.kl_loss_coef, 0.3 / sd, 1e-6);
  EXPECT_NEAR(a.advantages[3][0].item<double>(), 4.0 / sd, 1e-5);
}

TEST(ValueLossTest, ThePessimisticClippedSquaredErrorByHand) {
  // Old values 0, new values 1, -0.1, 0.05 with clip 0.2, returns 0.5, 0.5, -1: unclipped
  // errors 0.25, 0.36, 1.1025; clipped values 0.2, -0.1, 0.05 give 0.09, 0.36, 1.1025; the larger
  // of each: 0.25, 0.36, 1.1025, halved mean 0.285417 (the fourth token is masked out).
  const at::Tensor old_v = at::zeros({1, 4}, kF64);
  const at::Tensor v = at::tensor({1.0, -0.1, 0.05, 50.0}, kF64).view({1, 4});
  const at::Tensor g = at::tensor({0.5, 0.5, -1.0, 0.0}, kF64).view({1, 4});
  const at::Tensor mask = at::tensor({1, 1, 1, 0}, at::kLong).view({1, 4});
  const ValueLoss vl = value_loss(v, old_v, g, mask, 0.2);
  EXPECT_NEAR(vl.loss.item<double>(), 0.5 * (0.25 + 0.36 + 1.1025) / 3.0, 1e-12);
  EXPECT_NEAR(vl.clipfrac, 0.0, 1e-12);  // no token takes the clipped term
  // Returns 2: the clipped value 0.2 is further from it than 1, so the clipped error counts.
  const at::Tensor far = at::full({1, 4}, 2.0, kF64);
  EXPECT_NEAR(value_loss(v, old_v, far, mask, 0.2).loss.item<double>(),
              0.5 * (3.24 + 4.41 + 3.8025) / 3.0, 1e-12);
}

// Toy problems with a known optimum. After a fixed prompt the policy emits `tokens` tokens (one:
// a bandit over 6 actions; two: a two-token LM over 4 x 4 sequences). The score is the
// transformed calibrated reward Phi(u(y)) of a fixed reward table, calibrated exactly against a
// non-uniform reference. The policy is trained as the trainer trains it: rollouts of B = 512
// (B / k prompts x k samples), compute_advantages with the KL in the reward (k1, or the full
// estimator with its direct loss term), whitened advantages, 4 epochs of the clipped loss; gae
// learns a tabular value per state. It must reach pi*(y) ~ pi_ref(y) exp(Phi(u(y)) / beta).
struct Toy {
  int tokens = 1;
  config::Advantage kind = config::Advantage::Gae;
  config::KlEstimator estimator = config::KlEstimator::K1;
};

double toy_tv(const Toy& toy, double beta, const theory::Transform& phi,
              double* start_tv = nullptr) {
  const int v = toy.tokens == 1 ? 6 : 4, seqs = toy.tokens == 1 ? 6 : 16;
  // Reference logits: the first token's, then (two tokens) each first token's next-token row.
  const at::Tensor ref1 =
      at::log_softmax(toy.tokens == 1 ? at::tensor({1.0, 0.2, -0.5, 0.7, 0.0, -1.0}, kF64)
                                      : at::tensor({0.8, -0.3, 0.1, 0.4}, kF64),
                      0);
  const at::Tensor ref2 = at::log_softmax(at::tensor({0.5, -0.5, 0.2, 0.0, -0.4, 0.9, 0.1, 0.3, 0.0,
                                                      0.0, 1.0, -1.0, 0.7, 0.2, -0.2, 0.1},
                                                     kF64)
                                              .view({4, 4}),
                                          1);
  auto seq_logp = [&](const at::Tensor& l1, const at::Tensor& l2) {  // [seqs] log-probs
    return toy.tokens == 1 ? l1 : (l1.unsqueeze(1) + l2).reshape({-1});
  };
  const at::Tensor ref_logp = seq_logp(ref1, ref2);
  const std::vector<double> reward =
      toy.tokens == 1 ? std::vector<double>{0.3, 1.5, -0.2, 0.9, 2.0, 0.9}
                      : std::vector<double>{0.3, 1.5, -0.2, 0.9, 2.0,  0.9, 0.1, -1.0,
                                            1.2, 0.4, 0.6,  1.5, -0.5, 0.0, 2.2, 0.8};
  const at::Tensor p_ref = ref_logp.exp();
  std::vector<double> score(static_cast<std::size_t>(seqs));
  for (int y = 0; y < seqs; ++y) {
    double u = 0;
    for (int z = 0; z < seqs; ++z) {
      const double pz = p_ref[z].item<double>();
      u += reward[z] < reward[y] ? pz : reward[z] == reward[y] ? 0.5 * pz : 0.0;
    }
    score[static_cast<std::size_t>(y)] = phi(u);
  }
  const at::Tensor s_table = at::tensor(score, kF64);
  const at::Tensor target = at::softmax(ref_logp + s_table / beta, 0);
  if (start_tv != nullptr) *start_tv = 0.5 * (p_ref - target).abs().sum().item<double>();

  at::Tensor theta1 = ref1.clone().requires_grad_(true);
  at::Tensor theta2 = ref2.clone().requires_grad_(true);
  at::Tensor value = at::zeros({1 + v}, kF64).requires_grad_(true);  // V(root), V(after y1)
  runtime::AdamW opt({{"theta1", theta1}, {"theta2", theta2}}, {0.9, 0.999, 1e-8, 0.0});
  runtime::AdamW value_opt({{"value", value}}, {0.9, 0.999, 1e-8, 0.0});
  at::Generator gen = at::detail::createCPUGenerator(11);
  constexpr std::int64_t kBatch = 512;
  const std::int64_t k = toy.kind == config::Advantage::Gae ? 1 : 4;
  const auto r = static_cast<std::int64_t>(toy.tokens);
  const at::Tensor mask = at::ones({kBatch, r}, at::kLong);
  // Per-token log-probs [B, R] of the sampled sequences, and per-position exact KL.
  auto token_logp = [&](const at::Tensor& y1, const at::Tensor& y2) {
    const at::Tensor l1 = at::log_softmax(theta1, 0).index_select(0, y1);
    if (r == 1) return l1.view({kBatch, 1});
    const at::Tensor l2 =
        at::log_softmax(theta2, 1).index_select(0, y1).gather(1, y2.view({-1, 1}));
    return at::stack({l1, l2.view({-1})}, 1);
  };
  auto full_kl = [&](const at::Tensor& y1) {
    const at::Tensor k1 = exact_kl(theta1, ref1, 1.0).expand({kBatch});
    if (r == 1) return k1.view({kBatch, 1});
    const at::Tensor k2 = exact_kl(theta2, ref2, 1.0).index_select(0, y1);
    return at::stack({k1, k2}, 1);
  };
  auto state_values = [&](const at::Tensor& y1) {
    const at::Tensor root = value.narrow(0, 0, 1).expand({kBatch});
    if (r == 1) return root.view({kBatch, 1});
    return at::stack({root, value.narrow(0, 1, v).index_select(0, y1)}, 1);
  };
  constexpr int kIterations = 150;
  for (int iter = 0; iter < kIterations; ++iter) {
    at::Tensor y1, y2, old_logp, old_values;
    Advantages adv;
    {
      at::NoGradGuard no_grad;
      y1 = at::multinomial(at::softmax(theta1, 0), kBatch, true, gen);
      y2 = r == 1 ? y1
                  : at::multinomial(at::softmax(theta2, 1).index_select(0, y1), 1, true, gen)
                        .view({-1});
      old_logp = token_logp(y1, y2);
      const at::Tensor seq = r == 1 ? y1 : y1 * v + y2;
      const at::Tensor ref_tokens =
          r == 1 ? ref1.index_select(0, y1).view({kBatch, 1})
                 : at::stack({ref1.index_select(0, y1),
                              ref2.index_select(0, y1).gather(1, y2.view({-1, 1})).view({-1})},
                             1);
      AdvantageInputs in;
      in.mask = mask;
      in.scores = s_table.index_select(0, seq);
      in.kl = toy.estimator == config::KlEstimator::Full
                  ? full_kl(y1)
                  : kl_estimate(old_logp, ref_tokens, mask, toy.estimator);
      old_values = state_values(y1).clone();
      in.values = old_values;
      AdvantageOptions o;
      o.kind = toy.kind;
      o.samples_per_prompt = k;
      o.beta = beta;
      adv = compute_advantages(in, o);
    }
    const double lr = 0.05 * (1.0 - iter / static_cast<double>(kIterations)) + 1e-3;
    for (int epoch = 0; epoch < 4; ++epoch) {
      at::Tensor loss = policy_loss(token_logp(y1, y2), old_logp, adv.advantages, mask, 0.2).loss;
      if (toy.estimator == config::KlEstimator::Full) {
        loss = loss + adv.kl_loss_coef * masked_mean(full_kl(y1), mask);
      }
      loss.backward();
      opt.step(lr);
      opt.zero_grad();
      if (toy.kind == config::Advantage::Gae) {
        value_loss(state_values(y1), old_values, adv.returns, mask, 1e9).loss.backward();
        value_opt.step(0.05);
        value_opt.zero_grad();
      }
    }
  }
  at::NoGradGuard no_grad;
  const at::Tensor learned = seq_logp(at::log_softmax(theta1, 0), at::log_softmax(theta2, 1)).exp();
  return 0.5 * (learned - target).abs().sum().item<double>();
}

TEST(ToyTest, EveryEstimatorReachesTheKlRegularisedOptimumOfABandit) {
  const theory::Transform exp5{theory::Shape::Exp, 5.0};
  for (const auto kind :
       {config::Advantage::Gae, config::Advantage::Rloo, config::Advantage::Group}) {
    for (double beta : {0.15, 0.4}) {
      double start = 0;
      EXPECT_LT(toy_tv({1, kind}, beta, exp5, &start), 0.03)
          << config::enum_name(kind) << ", exp(5u), beta " << beta;
      EXPECT_GT(start, 0.2)
          << "the optimum must be far from the reference for the test to mean much";
    }
  }
}

TEST(ToyTest, EveryEstimatorAndTransformReachesTheOptimumOfATwoTokenLm) {
  const theory::Transform identity{theory::Shape::Identity};
  const theory::Transform exp5{theory::Shape::Exp, 5.0}, negexp5{theory::Shape::NegExp, 5.0};
  for (const auto kind :
       {config::Advantage::Gae, config::Advantage::Rloo, config::Advantage::Group}) {
    for (const auto& [name, phi, beta] :
         {std::tuple{"identity", identity, 0.2}, std::tuple{"exp(5u)", exp5, 0.25},
          std::tuple{"negexp(5u)", negexp5, 0.25}}) {
      double start = 0;
      EXPECT_LT(toy_tv({2, kind}, beta, phi, &start), 0.03)
          << config::enum_name(kind) << ", " << name;
      EXPECT_GT(start, 0.15) << name;
    }
  }
}

TEST(ToyTest, TheExactKlEstimatorReachesTheSameOptimum) {
  const theory::Transform exp5{theory::Shape::Exp, 5.0};
  for (const auto kind : {config::Advantage::Gae, config::Advantage::Rloo}) {
    EXPECT_LT(toy_tv({1, kind, config::KlEstimator::Full}, 0.15, exp5), 0.03)
        << config::enum_name(kind);
    EXPECT_LT(toy_tv({2, kind, config::KlEstimator::Full}, 0.25, exp5), 0.03)
        << config::enum_name(kind);
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
