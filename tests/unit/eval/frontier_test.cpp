#include "infalign/eval/frontier.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "infalign/config/eval_config.h"
#include "infalign/core/error.h"
#include "infalign/core/random.h"
#include "infalign/theory/calibrated.h"

namespace infalign::eval {
namespace {

std::vector<double> draw_levels(SplitMix64& rng, std::size_t count, std::uint64_t levels) {
  std::vector<double> v(count);
  for (double& x : v) x = static_cast<double>(rng.below(levels));
  return v;
}

TEST(WeightedWinRate, EqualsEnumerationOfTuplesAndSubsetsWithTies) {
  SplitMix64 rng(5);
  int cases = 0;
  for (int trial = 0; trial < 60; ++trial) {
    const std::size_t m = 1 + rng.below(5), opponents = 1 + rng.below(6);
    const auto values = draw_levels(rng, m, 1 + rng.below(4));
    const auto against = draw_levels(rng, opponents, 1 + rng.below(4));
    std::vector<double> weights(m);
    for (double& w : weights) w = rng.below(4) == 0 ? 0.0 : rng.uniform();  // some zero weights
    if (*std::max_element(weights.begin(), weights.end()) == 0) weights[0] = 1;
    for (std::int64_t n = 1; n <= std::min<std::int64_t>(3, static_cast<std::int64_t>(opponents));
         ++n) {
      for (const bool best : {true, false}) {
        EXPECT_NEAR(weighted_win_rate(values, weights, against, n, best),
                    brute_force_weighted_win_rate(values, weights, against, n, best), 1e-12)
            << "trial " << trial << " n " << n << (best ? " best" : " worst");
        ++cases;
      }
    }
  }
  EXPECT_GT(cases, 150);
}

TEST(WeightedWinRate, HandComputedCase) {
  // Candidates 1 (weight 1/4) and 3 (3/4) against opponents {0, 2, 3}: a draw of 1 beats 0;
  // a draw of 3 beats 0 and 2 and ties 3. Standard: 1/4 * 1/3 + 3/4 * (2 + 0.5) / 3 = 0.7083.
  const std::vector<double> v = {3, 1}, w = {3, 1}, opp = {0, 2, 3};
  EXPECT_NEAR(weighted_win_rate(v, w, opp, 1, true), 1.0 / 12 + 0.625, 1e-12);
  // Best of 2: the policy's max is 1 with probability 1/16, else 3; the opponents' max over the
  // three pairs is 2, 3, 3. P(win) = 1/16 * 0 + 15/16 * (1/3 * 1 + 2/3 * 0.5) = 0.625.
  EXPECT_NEAR(weighted_win_rate(v, w, opp, 2, true), 0.625, 1e-12);
}

TEST(WeightedWinRate, RejectsBadInputs) {
  EXPECT_THROW(weighted_win_rate({}, {}, {1.0}, 1, true), Error);
  EXPECT_THROW(weighted_win_rate({1.0}, {1.0}, {1.0}, 2, true), Error);  // N > opponents
  EXPECT_THROW(weighted_win_rate({1.0}, {0.0}, {1.0}, 1, true), Error);  // zero total weight
  EXPECT_THROW(weighted_win_rate({std::nan("")}, {1.0}, {1.0}, 1, true), DataError);
}

TEST(OracleTransformTest, SpecsReadBackAndBadSpecsAreConfigErrors) {
  for (const char* spec :
       {"raw", "identity", "log", "exp:12.63", "negexp:9.68", "logistic:10:0.5"}) {
    EXPECT_EQ(OracleTransform::parse(spec, 64).spec(), spec);
  }
  EXPECT_FALSE(OracleTransform::parse("raw", 64).phi.has_value());
  EXPECT_EQ(OracleTransform::parse("exp:12.63", 64).describe(), "exp(t=12.63, normalised)");
  for (const char* bad : {"", "expo:3", "exp", "exp:-1", "exp:1:2", "logistic:5:1.5", "raw:1"}) {
    EXPECT_THROW(OracleTransform::parse(bad, 64), ConfigError) << bad;
  }
}

TEST(Oracle, HandComputedOnePromptTwoCandidates) {
  // Candidates 0 and 1, each calibrated against the other: u = 0 and 1, identity R = u. At
  // beta = 1 the weights are 1 / (1 + e) and e / (1 + e); the opponent 0.5 loses to 1 only.
  const Oracle oracle({{{}, {1.0, 0.0}, {0.5}}}, OracleTransform::parse("identity", 1), {1},
                      /*leave_one_out=*/true);
  const double w1 = std::exp(1.0) / (1 + std::exp(1.0)), w0 = 1 - w1;
  const OracleRates r = oracle.at_beta(1.0);
  EXPECT_NEAR(r.kl, w0 * std::log(2 * w0) + w1 * std::log(2 * w1), 1e-12);
  EXPECT_NEAR(r.best[0].mean, w1, 1e-12);
  EXPECT_NEAR(oracle.max_kl(), std::log(2.0), 1e-12);
  EXPECT_NEAR(oracle.solve_beta(r.kl), 1.0, 1e-8);
  EXPECT_THROW(oracle.solve_beta(std::log(2.0)), Error);  // the candidates cannot reach it
}

TEST(Oracle, KlFallsWithBetaAndRawRewardNeedsNoCalibration) {
  SplitMix64 rng(9);
  std::vector<OracleSamples> prompts(20);
  for (auto& p : prompts) {
    for (int i = 0; i < 16; ++i) p.candidates.push_back(rng.uniform() * 3);
    for (int i = 0; i < 8; ++i) p.opponents.push_back(rng.uniform() * 3);
  }
  const Oracle raw(prompts, OracleTransform::parse("raw", 0), {1, 4}, /*leave_one_out=*/false);
  double previous = raw.max_kl();
  for (const double beta : {0.01, 0.1, 1.0, 10.0, 1000.0}) {
    const double kl = raw.kl(beta);
    EXPECT_LT(kl, previous) << beta;
    previous = kl;
  }
  EXPECT_LT(previous, 1e-4);
  // At a huge beta the weights are uniform: the standard win rate is the plain pairwise one.
  double plain = 0;
  for (const auto& p : prompts) plain += best_of_n_win_rate(p.candidates, p.opponents, 1);
  EXPECT_NEAR(raw.at_beta(1e9).best[0].mean, plain / 20, 1e-6);
}

TEST(Oracle, RejectsEmptyCandidatesNonFiniteScoresAndTooFewOpponents) {
  const auto t = OracleTransform::parse("identity", 4);
  EXPECT_THROW(Oracle({{{}, {}, {0.5}}}, t, {1}, true), Error);
  EXPECT_THROW(Oracle({{{}, {0.1}, {0.5}}}, t, {1}, true), Error);  // one candidate, leave-one-out
  EXPECT_THROW(Oracle({{{}, {0.1, 0.2}, {0.5}}}, t, {1}, false), Error);  // no calibration set
  EXPECT_THROW(Oracle({{{}, {0.1, std::nan("")}, {0.5}}}, t, {1}, true), DataError);
  EXPECT_THROW(Oracle({{{}, {0.1, 0.2}, {0.5, 0.6}}}, t, {4}, true), Error);  // N > opponents
}

// The oracle on uniform rewards at the eval's default calibration set (every candidate
// calibrated against the others) against the theory module: standard, best-of-4 and worst-of-4
// within 0.01 (2,000 prompts, so the comparison measures the bias, not the sampling noise).
TEST(OracleSynthetic, MatchesTheoryAtTheDefaultCandidateCount) {
  const std::int64_t candidates = config::EvalConfig{}.calibration_samples;
  const auto samples = synthetic_uniform_samples(2000, 0, candidates, 32, 17);
  for (const char* spec : {"identity", "exp:12.63", "negexp:9.68"}) {
    const Oracle oracle(samples, OracleTransform::parse(spec, candidates - 1), {1, 4}, true);
    const theory::PhiGrid grid(*oracle.transform().phi);
    for (const double kl : {0.1, 0.5, 1.0}) {
      const OracleRates r = oracle.at_kl(kl);
      const theory::TheoryPoint t = theory::at_kl(grid, kl, 4);
      EXPECT_NEAR(r.kl, kl, 1e-6);
      EXPECT_NEAR(r.best[0].mean, t.standard, 0.01) << spec << " KL " << kl;
      EXPECT_NEAR(r.best[1].mean, t.bon, 0.01) << spec << " KL " << kl;
      EXPECT_NEAR(r.worst[1].mean, t.won, 0.01) << spec << " KL " << kl;
    }
  }
}

// u_kl on samples whose u has the density p(u) ~ exp(Phi(u) / beta) of a known KL, at the eval's
// sizes (200 prompts x 32 samples, a calibration set of 256 per prompt): within the bias stated
// in calibration/u_kl.h (-4% of the KL, +0.005) plus three bootstrap standard deviations.
TEST(UKlEstimatorTest, RecoversTheKlOfKnownDensities) {
  const std::int64_t k = config::EvalConfig{}.calibration_samples;
  for (const char* spec : {"identity", "exp:12.63", "negexp:9.68"}) {
    const auto t = OracleTransform::parse(spec, k);
    const theory::PhiGrid grid(*t.phi);
    for (const double kl : {0.1, 0.5, 1.0}) {
      const theory::Density d(grid, 1.0 / theory::solve_beta(grid, kl));
      SplitMix64 rng(23);
      calibration::UKlEstimator estimator;
      for (int p = 0; p < 200; ++p) {
        std::vector<double> calibration(static_cast<std::size_t>(k)), rewards(32);
        for (double& x : calibration) x = rng.uniform();
        std::sort(calibration.begin(), calibration.end());
        for (double& x : rewards) x = d.quantile(rng.uniform());
        estimator.add_prompt(calibration, rewards);
      }
      const calibration::UDistribution u = estimator.finish(200, 0.95, 3);
      EXPECT_GT(u.u_kl.se, 0);
      EXPECT_NEAR(u.u_kl.mean, d.kl(), 0.04 * d.kl() + 0.005 + 3 * u.u_kl.se) << spec << " " << kl;
      EXPECT_NEAR(u.mean_u, d.standard(), 0.02) << spec << " " << kl;
    }
  }
}

TEST(UKlEstimatorTest, BaseSamplesGiveAboutZeroEvenWithTies) {
  // Rewards on 3 levels: many ties. Spreading a tied sample over its cells (what random
  // tie-breaking gives in expectation) keeps the base's law uniform on the lattice; counting it at
  // its mid-rank alone would not.
  SplitMix64 rng(31);
  calibration::UKlEstimator estimator;
  for (int p = 0; p < 200; ++p) {
    std::vector<double> calibration = draw_levels(rng, 256, 3);
    std::sort(calibration.begin(), calibration.end());
    estimator.add_prompt(calibration, draw_levels(rng, 32, 3));
  }
  const calibration::UDistribution u = estimator.finish(200, 0.95, 3);
  EXPECT_LT(u.u_kl.mean, 0.005 + 3 * u.u_kl.se);
  EXPECT_NEAR(u.mean_u, 0.5, 0.02);
  double total = 0;
  for (const double h : u.histogram) total += h;
  EXPECT_NEAR(total, 1.0, 1e-12);
}

TEST(GainFraction, HandValuesAndUndefinedWithoutAnOracleGain) {
  const auto f = gain_fraction({0.6, 0.7}, {0.8, 0.8}, 100, 0.95, 1);
  ASSERT_TRUE(f.has_value());
  EXPECT_NEAR(f->mean, (0.65 - 0.5) / (0.8 - 0.5), 1e-12);
  EXPECT_LE(f->lo, f->mean);
  EXPECT_GE(f->hi, f->mean);
  EXPECT_NEAR(gain_fraction({0.7, 0.9}, {0.7, 0.9}, 100, 0.95, 1)->mean, 1.0, 1e-12);
  // A policy equal to the base against an oracle at KL ~ 0: no ratio of noise.
  EXPECT_FALSE(gain_fraction({0.5, 0.51}, {0.501, 0.5}, 100, 0.95, 1).has_value());
}

}  // namespace
}  // namespace infalign::eval
