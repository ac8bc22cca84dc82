#include "infalign/eval/winrate.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "infalign/core/error.h"
#include "infalign/core/random.h"
#include "infalign/theory/calibrated.h"

namespace infalign::eval {
namespace {

// Small integer-valued samples, so ties within and across the two sides are common.
std::vector<double> draw_small(SplitMix64& rng, std::size_t m, std::uint64_t levels) {
  std::vector<double> v(m);
  for (double& x : v) x = static_cast<double>(rng.below(levels));
  return v;
}

TEST(WinRate, ExactEqualsEnumerationOverAllSubsetsWithTies) {
  SplitMix64 rng(7);
  int cases = 0;
  for (int trial = 0; trial < 40; ++trial) {
    const std::size_t ma = 1 + rng.below(7), mb = 1 + rng.below(7);
    const auto a = draw_small(rng, ma, 1 + rng.below(5));
    const auto b = draw_small(rng, mb, 1 + rng.below(5));
    for (std::int64_t n = 1; n <= static_cast<std::int64_t>(std::min(ma, mb)); ++n) {
      EXPECT_NEAR(best_of_n_win_rate(a, b, n), brute_force_win_rate(a, b, n, true), 1e-12)
          << "trial " << trial << " n " << n;
      EXPECT_NEAR(worst_of_n_win_rate(a, b, n), brute_force_win_rate(a, b, n, false), 1e-12)
          << "trial " << trial << " n " << n;
      ++cases;
    }
  }
  EXPECT_GT(cases, 60);
}

TEST(WinRate, ContinuousValuesMatchEnumeration) {
  SplitMix64 rng(11);
  std::vector<double> a(8), b(9);
  for (double& x : a) x = rng.uniform() + 0.2;
  for (double& x : b) x = rng.uniform();
  for (std::int64_t n = 1; n <= 8; ++n) {
    EXPECT_NEAR(best_of_n_win_rate(a, b, n), brute_force_win_rate(a, b, n, true), 1e-12);
    EXPECT_NEAR(worst_of_n_win_rate(a, b, n), brute_force_win_rate(a, b, n, false), 1e-12);
  }
}

TEST(WinRate, AgainstItselfIsOneHalfAndDominanceIsOne) {
  SplitMix64 rng(3);
  const auto a = draw_small(rng, 32, 6);
  std::vector<double> higher = a, lower = a;
  for (double& x : higher) x += 10;
  for (double& x : lower) x -= 10;
  for (const std::int64_t n : {1, 2, 4, 8, 16, 32}) {
    EXPECT_NEAR(best_of_n_win_rate(a, a, n), 0.5, 1e-12) << n;
    EXPECT_NEAR(worst_of_n_win_rate(a, a, n), 0.5, 1e-12) << n;
    EXPECT_DOUBLE_EQ(best_of_n_win_rate(higher, a, n), 1.0) << n;
    EXPECT_DOUBLE_EQ(worst_of_n_win_rate(higher, a, n), 1.0) << n;
    EXPECT_DOUBLE_EQ(best_of_n_win_rate(lower, a, n), 0.0) << n;
  }
  // All values equal: every duel is a tie.
  EXPECT_DOUBLE_EQ(best_of_n_win_rate({1, 1, 1}, {1, 1}, 2), 0.5);
}

TEST(WinRate, NLargerThanTheSamplesIsAnError) {
  EXPECT_THROW(best_of_n_win_rate({1, 2, 3}, {1, 2}, 3), Error);
  EXPECT_THROW(worst_of_n_win_rate({1, 2}, {1, 2}, 0), Error);
}

TEST(WinRate, ANonFiniteScoreIsAnErrorNotAHang) {
  EXPECT_THROW(best_of_n_win_rate({1, std::nan(""), 3}, {1, 2}, 1), DataError);
  EXPECT_THROW(worst_of_n_win_rate({1, 2}, {INFINITY, 2}, 2), DataError);
}

// Rewards of a policy whose calibrated reward has the density of an RLHF policy (exp transform,
// theory module) against Uniform base rewards: the estimators, averaged over prompts, recover
// the analytic win rates within sampling error.
TEST(WinRate, RecoversTheAnalyticWinRatesOfAKnownDensity) {
  theory::Transform phi;
  phi.shape = theory::Shape::Exp;
  phi.t = 4.0;
  const theory::PhiGrid grid(phi, 20000);
  const theory::Density density(grid, 1.0 / 0.5);
  SplitMix64 rng(2024);
  const std::size_t prompts = 300, m = 32;
  for (const std::int64_t n : {1, 4, 16}) {
    std::vector<double> bon, won;
    for (std::size_t p = 0; p < prompts; ++p) {
      std::vector<double> a(m), b(m);
      for (double& x : a) x = density.quantile(rng.uniform());
      for (double& x : b) x = rng.uniform();
      bon.push_back(best_of_n_win_rate(a, b, n));
      won.push_back(worst_of_n_win_rate(a, b, n));
    }
    const Estimate eb = bootstrap_mean(bon, 500, 0.95, 1), ew = bootstrap_mean(won, 500, 0.95, 2);
    const double want_b = n == 1 ? density.standard() : density.best_of(n);
    const double want_w = n == 1 ? density.standard() : density.worst_of(n);
    EXPECT_NEAR(eb.mean, want_b, 4 * eb.se + 1e-3) << "best-of-" << n;
    EXPECT_NEAR(ew.mean, want_w, 4 * ew.se + 1e-3) << "worst-of-" << n;
    EXPECT_LT(eb.lo, want_b + 2 * eb.se);
    EXPECT_GT(eb.hi, want_b - 2 * eb.se);
  }
  // The density is far from uniform, so the check has power: the win rates are well above 1/2.
  EXPECT_GT(density.best_of(4), 0.6);
}

TEST(Bootstrap, IntervalBracketsTheMeanAndShrinksWithMoreData) {
  SplitMix64 rng(5);
  std::vector<double> small(50), large(2000);
  for (double& x : small) x = rng.uniform();
  for (double& x : large) x = rng.uniform();
  const Estimate s = bootstrap_mean(small, 2000, 0.95, 9), l = bootstrap_mean(large, 2000, 0.95, 9);
  EXPECT_LT(s.lo, s.mean);
  EXPECT_GT(s.hi, s.mean);
  EXPECT_LT(l.hi - l.lo, (s.hi - s.lo) / 3);
  // A 95% interval spans about 2 x 1.96 standard errors.
  EXPECT_NEAR((l.hi - l.lo) / (2 * 1.96 * l.se), 1.0, 0.1);
  // Same seed, same interval; constant data, a point.
  const Estimate again = bootstrap_mean(small, 2000, 0.95, 9);
  EXPECT_EQ(s.lo, again.lo);
  const Estimate c = bootstrap_mean(std::vector<double>(10, 0.25), 100, 0.9, 1);
  EXPECT_DOUBLE_EQ(c.lo, 0.25);
  EXPECT_DOUBLE_EQ(c.hi, 0.25);
}

}  // namespace
}  // namespace infalign::eval
