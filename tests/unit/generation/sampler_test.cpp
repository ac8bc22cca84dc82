#include "infalign/generation/sampler.h"

#include <cmath>

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "tensor_compare.h"

namespace infalign::generation {
namespace {

using testing::tensors_near;

// logits = log of these probabilities, so softmax(logits) gives them back exactly.
at::Tensor logits_of(std::vector<double> probs) {
  return at::log(at::tensor(probs, at::kDouble)).to(at::kFloat).unsqueeze(0);
}

TEST(SamplerTest, TemperatureSharpensAndFlattens) {
  const at::Tensor logits = logits_of({0.5, 0.25, 0.25});
  // p^(1/T) renormalised: T = 0.5 squares the probabilities.
  EXPECT_TRUE(tensors_near(sampling_probs(logits, {0.5, 0, 1.0}),
                           at::tensor({0.25 / 0.375, 0.0625 / 0.375, 0.0625 / 0.375}).unsqueeze(0),
                           1e-6));
  EXPECT_TRUE(tensors_near(sampling_probs(logits, {1.0, 0, 1.0}),
                           at::tensor({0.5, 0.25, 0.25}).unsqueeze(0), 1e-6));
}

TEST(SamplerTest, TopKKeepsTheKMostLikely) {
  const at::Tensor logits = logits_of({0.1, 0.4, 0.2, 0.3});
  EXPECT_TRUE(tensors_near(sampling_probs(logits, {1.0, 2, 1.0}),
                           at::tensor({0.0, 0.4 / 0.7, 0.0, 0.3 / 0.7}).unsqueeze(0), 1e-6));
  EXPECT_TRUE(tensors_near(sampling_probs(logits, {1.0, 1, 1.0}),
                           at::tensor({0.0, 1.0, 0.0, 0.0}).unsqueeze(0), 1e-6));
  EXPECT_TRUE(tensors_near(sampling_probs(logits, {1.0, 4, 1.0}),
                           at::tensor({0.1, 0.4, 0.2, 0.3}).unsqueeze(0), 1e-6));
}

TEST(SamplerTest, TopPKeepsTheSmallestSetReachingP) {
  const at::Tensor logits = logits_of({0.1, 0.4, 0.2, 0.3});
  // Sorted: 0.4, 0.3 (0.7), 0.2 (0.9), 0.1. p = 0.7 keeps {0.4, 0.3}; p = 0.71 adds 0.2.
  EXPECT_TRUE(tensors_near(sampling_probs(logits, {1.0, 0, 0.7}),
                           at::tensor({0.0, 0.4 / 0.7, 0.0, 0.3 / 0.7}).unsqueeze(0), 1e-6));
  EXPECT_TRUE(tensors_near(sampling_probs(logits, {1.0, 0, 0.71}),
                           at::tensor({0.0, 0.4 / 0.9, 0.2 / 0.9, 0.3 / 0.9}).unsqueeze(0), 1e-6));
  EXPECT_TRUE(tensors_near(sampling_probs(logits, {1.0, 0, 0.05}),
                           at::tensor({0.0, 1.0, 0.0, 0.0}).unsqueeze(0), 1e-6));
  // Top-k then top-p: k = 3 leaves {0.4, 0.3, 0.2}/0.9; p = 0.5 keeps 0.4/0.9 and 0.3/0.9.
  EXPECT_TRUE(tensors_near(sampling_probs(logits, {1.0, 3, 0.5}),
                           at::tensor({0.0, 0.4 / 0.7, 0.0, 0.3 / 0.7}).unsqueeze(0), 1e-6));
}

TEST(SamplerTest, TemperatureComesBeforeTopP) {
  // As transformers orders its warpers: T = 0.5 turns (0.5, 0.3, 0.2) into (0.658, 0.237, 0.105),
  // whose top token alone reaches p = 0.6. Filtering first would keep (0.5, 0.3) and then
  // sharpen them to (0.735, 0.265).
  const at::Tensor logits = logits_of({0.5, 0.3, 0.2});
  EXPECT_TRUE(tensors_near(sampling_probs(logits, {0.5, 0, 0.6}),
                           at::tensor({1.0, 0.0, 0.0}).unsqueeze(0), 1e-6));
  // At T = 1 the same p keeps two tokens: the temperature changed the kept set.
  EXPECT_TRUE(tensors_near(sampling_probs(logits, {1.0, 0, 0.6}),
                           at::tensor({0.5 / 0.8, 0.3 / 0.8, 0.0}).unsqueeze(0), 1e-6));
}

TEST(SamplerTest, InverseCdfDrawFollowsTheCumulativeMass) {
  const at::Tensor probs = at::tensor({0.1, 0.0, 0.6, 0.3}).unsqueeze(0).repeat({6, 1});
  const at::Tensor u = at::tensor({0.0, 0.05, 0.1, 0.69, 0.7, 0.999}, at::kDouble);
  // cdf = 0.1, 0.1, 0.7, 1.0: zero-mass token 1 is never drawn.
  EXPECT_TRUE(at::equal(draw_tokens(probs, u), at::tensor({0, 0, 2, 2, 3, 3}, at::kLong)));
}

TEST(SamplerTest, ADrawAtTheTopOfTheUnitIntervalNeverLandsOnAFilteredToken) {
  // The CPU draw scales u by each row's total mass: float probabilities sum to 1 only up to
  // rounding, and an unscaled u just below 1 would run past the last kept token (5) onto the
  // vocabulary's last one, which top-k removed here (it is each row's least likely).
  at::Tensor logits = at::randn({1000, 7}, at::detail::createCPUGenerator(3));
  logits.select(1, 6).fill_(-20.0);
  const at::Tensor u = at::full({1000}, 1.0 - 1e-12, at::kDouble);
  const Sample s = sample_tokens(logits, {1.0, 6, 1.0}, u);
  EXPECT_EQ(s.ids.eq(6).sum().item<std::int64_t>(), 0);
  EXPECT_EQ(s.ids.eq(5).sum().item<std::int64_t>(), 1000);  // the last kept token
}

TEST(SamplerTest, EmpiricalFrequenciesMatchTheFilteredDistribution) {
  const at::Tensor logits = logits_of({0.1, 0.4, 0.2, 0.3}).repeat({20000, 1});
  at::Generator gen = at::detail::createCPUGenerator(5);
  const Sample s = sample_tokens(logits, {1.0, 3, 1.0}, gen);
  const at::Tensor freq = at::bincount(s.ids, {}, 4).to(at::kDouble) / 20000.0;
  // Binomial standard error at n = 20000 is <= 0.0036; allow 4 of them.
  EXPECT_TRUE(
      tensors_near(freq, at::tensor({0.0, 0.4 / 0.9, 0.2 / 0.9, 0.3 / 0.9}, at::kDouble), 0.015));
  // The returned log-probs are log_softmax(logits / T) at the ids, unfiltered.
  const at::Tensor expected = at::log(at::tensor({0.1, 0.4, 0.2, 0.3})).index({s.ids});
  EXPECT_TRUE(tensors_near(s.logprobs, expected, 1e-6));
}

TEST(SamplerTest, SameSeedSameTokens) {
  const at::Tensor logits = at::randn({64, 50});
  const Sample a = sample_tokens(logits, {0.8, 0, 0.95}, at::detail::createCPUGenerator(42));
  const Sample b = sample_tokens(logits, {0.8, 0, 0.95}, at::detail::createCPUGenerator(42));
  const Sample c = sample_tokens(logits, {0.8, 0, 0.95}, at::detail::createCPUGenerator(43));
  EXPECT_TRUE(at::equal(a.ids, b.ids));
  EXPECT_FALSE(at::equal(a.ids, c.ids));
}

}  // namespace
}  // namespace infalign::generation
