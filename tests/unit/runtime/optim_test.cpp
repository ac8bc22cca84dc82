#include <cmath>

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "infalign/core/error.h"
#include "infalign/runtime/adamw.h"
#include "infalign/runtime/rng.h"
#include "infalign/runtime/schedule.h"

namespace infalign::runtime {
namespace {

using config::LrSchedule;

TEST(ScheduleTest, WarmupThenDecayToTheFloor) {
  // peak 1e-3, 10 warmup of 110 steps, floor 10%.
  EXPECT_DOUBLE_EQ(learning_rate(0, 110, 10, 1e-3, LrSchedule::Cosine, 0.1), 1e-4);
  EXPECT_DOUBLE_EQ(learning_rate(9, 110, 10, 1e-3, LrSchedule::Cosine, 0.1), 1e-3);
  EXPECT_DOUBLE_EQ(learning_rate(10, 110, 10, 1e-3, LrSchedule::Cosine, 0.1), 1e-3);
  EXPECT_NEAR(learning_rate(60, 110, 10, 1e-3, LrSchedule::Cosine, 0.1), 1e-4 + 9e-4 * 0.5, 1e-15);
  EXPECT_NEAR(learning_rate(110, 110, 10, 1e-3, LrSchedule::Cosine, 0.1), 1e-4, 1e-15);
  EXPECT_NEAR(learning_rate(35, 110, 10, 1e-3, LrSchedule::Linear, 0.0), 7.5e-4, 1e-15);
  EXPECT_DOUBLE_EQ(learning_rate(500, 110, 10, 1e-3, LrSchedule::Constant, 0.1), 1e-3);
}

TEST(AdamWTest, MatchesAHandComputedUpdate) {
  at::Tensor p = at::tensor({1.0, -2.0}, at::kDouble).requires_grad_(true);
  AdamW opt({{"w", p}}, {0.9, 0.999, 1e-8, 0.1});
  p.mutable_grad() = at::tensor({0.5, -1.0}, at::kDouble);
  opt.step(0.01);
  // Step 1: decay p *= 1 - 0.01 * 0.1; m = 0.1 g, v = 0.001 g^2; m_hat = g, v_hat = g^2;
  // p -= 0.01 * g / (|g| + 1e-8).
  const double p0 = 1.0 * (1 - 0.001) - 0.01 * 0.5 / (0.5 + 1e-8);
  const double p1 = -2.0 * (1 - 0.001) + 0.01 * 1.0 / (1.0 + 1e-8);
  EXPECT_NEAR(p[0].item<double>(), p0, 1e-12);
  EXPECT_NEAR(p[1].item<double>(), p1, 1e-12);
  EXPECT_EQ(opt.steps(), 1);
}

TEST(AdamWTest, StateRoundTripContinuesIdentically) {
  auto make = [] { return at::arange(6, at::kFloat).reshape({2, 3}).requires_grad_(true); };
  at::Tensor a = make(), b = make();
  AdamW first({{"w", a}}, {0.9, 0.95, 1e-8, 0.0});
  for (int i = 0; i < 3; ++i) {
    a.mutable_grad() = at::full({2, 3}, 0.1 * (i + 1));
    first.step(1e-2);
  }
  AdamW second({{"w", b}}, {0.9, 0.95, 1e-8, 0.0});
  {
    at::NoGradGuard g;
    b.copy_(a);
  }
  second.load_state(first.state(), "opt.safetensors");
  a.mutable_grad() = at::full({2, 3}, 0.7);
  b.mutable_grad() = at::full({2, 3}, 0.7);
  first.step(1e-2);
  second.step(1e-2);
  EXPECT_TRUE(at::equal(a, b));
  AdamW other({{"v", make()}}, {});
  EXPECT_THROW(other.load_state(first.state(), "opt.safetensors"), CheckpointError);
}

// float32 CPU parameters take the fused one-pass update (fused_optim.h); float64 ones the ATen
// operations. Same steps on the same values: the float32 run must track the float64 one, over
// parameters larger than one parallel chunk (16,384 values) and with a tail.
TEST(AdamWTest, TheFusedFloat32UpdateTracksTheAtenUpdate) {
  at::Generator g = at::detail::createCPUGenerator(21);
  const at::Tensor init = at::randn({40000}, g);
  at::Tensor p32 = init.clone().requires_grad_(true);
  at::Tensor p64 = init.to(at::kDouble).requires_grad_(true);
  const AdamWOptions o{0.9, 0.95, 1e-6, 0.1};
  AdamW a({{"w", p32}}, o), b({{"w", p64}}, o);
  for (int step = 0; step < 5; ++step) {
    const at::Tensor grad = at::randn({40000}, g) * (step + 1);
    p32.mutable_grad() = grad.clone();
    p64.mutable_grad() = grad.to(at::kDouble);
    a.step(1e-2);
    b.step(1e-2);
  }
  const double moved = (p64 - init.to(at::kDouble)).abs().max().item<double>();
  EXPECT_GT(moved, 1e-2);  // the steps did something
  EXPECT_LT((p32.to(at::kDouble) - p64).abs().max().item<double>(), 1e-5);
  const auto s32 = a.state(), s64 = b.state();
  for (std::size_t i = 1; i < s32.size(); ++i) {
    const at::Tensor x = s32[i].second.to(at::kDouble), y = s64[i].second;
    EXPECT_LT((x - y).abs().max().item<double>(), 1e-5 * (1 + y.abs().max().item<double>()))
        << s32[i].first;
  }
}

TEST(AdamWTest, ClipGradNormOfFloatAndBfloat16GradientsIsTheDoubleNorm) {
  at::Generator g = at::detail::createCPUGenerator(22);
  for (const auto dtype : {at::kFloat, at::kBFloat16}) {
    at::Tensor p = at::zeros({50001}, dtype).requires_grad_(true);
    p.mutable_grad() = at::randn({50001}, g).to(dtype);
    const double expected = p.grad().to(at::kDouble).norm().item<double>();
    EXPECT_NEAR(clip_grad_norm({p}, 0.0), expected, 1e-9 * expected) << c10::toString(dtype);
  }
}

TEST(AdamWTest, ClipGradNormScalesToTheLimit) {
  at::Tensor p = at::zeros({2}).requires_grad_(true);
  p.mutable_grad() = at::tensor({3.0f, 4.0f});
  EXPECT_NEAR(clip_grad_norm({p}, 1.0), 5.0, 1e-9);
  EXPECT_NEAR(p.grad().norm().item<double>(), 1.0, 1e-5);
  EXPECT_NEAR(clip_grad_norm({p}, 10.0), 1.0, 1e-5);  // under the limit: untouched
}

TEST(RngSetTest, NamedStreamsAreIndependentAndRestorable) {
  RngSet a(7), b(7);
  const at::Tensor x = at::rand({4}, a.get("sampler"));
  EXPECT_TRUE(at::equal(x, at::rand({4}, b.get("sampler"))));
  EXPECT_FALSE(at::equal(at::rand({4}, a.get("other")), at::rand({4}, a.get("sampler"))));
  const auto saved = a.state();
  const at::Tensor next = at::rand({4}, a.get("sampler"));
  RngSet c(99);
  c.load_state(saved);
  EXPECT_TRUE(at::equal(at::rand({4}, c.get("sampler")), next));
  EXPECT_NE(RngSet::derive_seed(7, "a"), RngSet::derive_seed(7, "b"));
}

}  // namespace
}  // namespace infalign::runtime
