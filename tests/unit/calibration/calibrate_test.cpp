#include "infalign/calibration/calibrate.h"

#include <cmath>

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "infalign/core/error.h"

namespace infalign::calibration {
namespace {

CalibrationCache two_prompts() {
  CacheHeader h;
  h.num_samples = 4;
  return CalibrationCache(
      h, {{prompt_key({1, 2}), {1, 2, 2, 3}}, {prompt_key({1, 3}), {10, 20, 30, 40}}});
}

TEST(CalibrateRewardsTest, BatchedLookupMatchesTheScalarOne) {
  const CalibrationCache cache = two_prompts();
  const std::vector<std::uint64_t> keys = {prompt_key({1, 2}), prompt_key({1, 3}),
                                           prompt_key({1, 2}), prompt_key({1, 3})};
  const at::Tensor r = at::tensor({2.0f, 25.0f, 5.0f, 0.0f});
  const at::Tensor u = calibrate_rewards(cache, keys, r, false, {}, "c");
  EXPECT_EQ(u.scalar_type(), at::kDouble);
  EXPECT_TRUE(at::allclose(u, at::tensor({0.5, 0.5, 1.0, 0.0}, at::kDouble)));
  const at::Tensor u1 = calibrate_rewards(cache, keys, r, true, {}, "c");
  EXPECT_TRUE(at::allclose(u1, at::tensor({0.5, 0.5, 0.9, 0.1}, at::kDouble)));
}

TEST(CalibrateRewardsTest, AMissingPromptIsNamed) {
  const CalibrationCache cache = two_prompts();
  try {
    calibrate_rewards(cache, {prompt_key({1, 2}), prompt_key({9})}, at::tensor({1.0, 2.0}), false,
                      {"first prompt", "an unknown prompt"}, "runs/x/calibration.cache");
    FAIL();
  } catch (const DataError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("runs/x/calibration.cache: prompt 'an unknown prompt' is not in the "
                     "calibration cache"),
              std::string::npos)
        << m;
  }
}

TEST(TransformConfigTest, MapsOntoTheTheoryTransformAndAppliesElementwise) {
  config::TransformConfig t;
  t.kind = config::TransformKind::Exp;
  t.t = 4.0;
  const theory::Transform phi = make_transform(t, 64);
  const at::Tensor u = at::tensor({0.0, 0.25, 1.0}, at::kDouble);
  const at::Tensor r = apply_transform(phi, u);
  EXPECT_NEAR(r[1].item<double>(), std::expm1(1.0) / std::expm1(4.0), 1e-15);
  EXPECT_DOUBLE_EQ(r[0].item<double>(), 0.0);
  EXPECT_DOUBLE_EQ(r[2].item<double>(), 1.0);
  // log with floor 0 means half a lattice step: 1 / (2K).
  t.kind = config::TransformKind::Log;
  EXPECT_DOUBLE_EQ(make_transform(t, 64).eps, 1.0 / 128);
  t.log_floor = 0.01;
  EXPECT_DOUBLE_EQ(make_transform(t, 64).eps, 0.01);
  t.kind = config::TransformKind::Raw;
  EXPECT_THROW(make_transform(t, 64), Error);
  t.kind = config::TransformKind::NegExp;
  t.t = -1;
  EXPECT_THROW(make_transform(t, 64), Error);
}

}  // namespace
}  // namespace infalign::calibration
