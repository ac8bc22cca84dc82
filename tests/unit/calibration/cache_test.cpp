#include "infalign/calibration/cache.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "infalign/core/error.h"
#include "infalign/core/fs.h"
#include "infalign/core/random.h"

namespace infalign::calibration {
namespace {

TEST(CalibratedRewardTest, MidRanksAndThePlusOneVariant) {
  const std::vector<double> s = {1, 2, 2, 3};
  EXPECT_DOUBLE_EQ(calibrated_reward(s, 0.0, false), 0.0);
  EXPECT_DOUBLE_EQ(calibrated_reward(s, 1.0, false), 0.125);  // (0 + 0.5) / 4
  EXPECT_DOUBLE_EQ(calibrated_reward(s, 2.0, false), 0.5);    // (1 + 0.5 * 2) / 4
  EXPECT_DOUBLE_EQ(calibrated_reward(s, 2.5, false), 0.75);
  EXPECT_DOUBLE_EQ(calibrated_reward(s, 9.0, false), 1.0);
  EXPECT_DOUBLE_EQ(calibrated_reward(s, 0.0, true), 0.1);  // (0 + 0.5) / 5
  EXPECT_DOUBLE_EQ(calibrated_reward(s, 2.0, true), 0.5);  // (2 + 0.5) / 5
  EXPECT_DOUBLE_EQ(calibrated_reward(s, 9.0, true), 0.9);  // (4 + 0.5) / 5
}

// Normal draw by Box-Muller from our generator.
double normal(SplitMix64& rng) {
  const double u1 = 1.0 - rng.uniform(), u2 = rng.uniform();
  return std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
}

TEST(CalibratedRewardTest, FreshBaseSamplesAreUniformAndAWrongCacheIsNot) {
  // 4,000 prompts with their own reward law N(mu_x, sigma_x^2); K = 64 base rewards each and one
  // fresh base sample: K u is uniform on {0..K}. KS test at the 1% level.
  constexpr int kPrompts = 4000;
  constexpr std::int64_t kK = 64;
  SplitMix64 rng(42);
  std::vector<double> right, wrong;
  for (int p = 0; p < kPrompts; ++p) {
    const double mu = 3 * normal(rng), sigma = 0.1 + rng.uniform();
    std::vector<double> base(kK);
    for (auto& v : base) v = mu + sigma * normal(rng);
    std::sort(base.begin(), base.end());
    const double fresh = mu + sigma * normal(rng);
    right.push_back(kK * calibrated_reward(base, fresh, false));
    wrong.push_back(kK * calibrated_reward(base, fresh + 0.1 * sigma, false));  // a shifted law
  }
  const double critical = 1.628 / std::sqrt(static_cast<double>(kPrompts));
  EXPECT_LT(ks_uniform_lattice(right, kK), critical);
  EXPECT_GT(ks_uniform_lattice(wrong, kK), critical);
}

TEST(CalibratedRewardTest, InvariantUnderAMonotoneMapOfTheReward) {
  SplitMix64 rng(3);
  std::vector<double> base(32);
  for (auto& v : base) v = normal(rng);
  std::sort(base.begin(), base.end());
  auto f = [](double x) { return 3 * std::exp(x) + x * x * x - 7; };  // strictly increasing
  std::vector<double> mapped;
  for (double v : base) mapped.push_back(f(v));
  for (int i = 0; i < 200; ++i) {
    const double r = i < 32 ? base[static_cast<std::size_t>(i)] : 2 * normal(rng);  // ties too
    for (bool plus_one : {false, true}) {
      EXPECT_DOUBLE_EQ(calibrated_reward(base, r, plus_one),
                       calibrated_reward(mapped, f(r), plus_one));
    }
  }
}

TEST(KsUniformLatticeTest, HandComputed) {
  // K = 1: law P(0) = P(1) = 1/2. Samples {0, 0, 0, 1}: F_n(0) = 3/4 -> D = 1/4.
  EXPECT_DOUBLE_EQ(ks_uniform_lattice({0, 0, 0, 1}, 1), 0.25);
  // A tie at the half step: {0.5, 0.5}: F_n(0) = 0 (D 1/2 there), F_n(0.5) = 1.
  EXPECT_DOUBLE_EQ(ks_uniform_lattice({0.5, 0.5}, 1), 0.5);
  EXPECT_DOUBLE_EQ(ks_uniform_lattice({0, 1, 2}, 2), 0.0);
}

CacheHeader header() {
  CacheHeader h;
  h.num_samples = 4;
  h.temperature = 0.7;
  h.top_k = 0;
  h.top_p = 1.0;
  h.max_new_tokens = 24;
  h.max_prompt_tokens = 16;
  h.seed = 1234;
  h.base_model_hash = "aaa";
  h.reward_kind = "model";
  h.reward_hash = "bbb";
  h.prompts_hash = "ccc";
  h.num_prompts = 2;
  return h;
}

CalibrationCache sample_cache() {
  return CalibrationCache(header(), {{prompt_key({1, 5, 9}), {-1.5, 0.0, 0.0, 2.25}},
                                     {prompt_key({1, 7}), {0.1, 0.2, 0.3, 0.4}}});
}

TEST(CalibrationCacheTest, RoundTrip) {
  const CalibrationCache cache = sample_cache();
  const CalibrationCache back = CalibrationCache::parse(cache.serialize(), "mem.cache");
  EXPECT_TRUE(back.header() == cache.header());
  ASSERT_EQ(back.records().size(), 2u);
  const auto* r = back.find(prompt_key({1, 5, 9}));
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(*r, (std::vector<double>{-1.5, 0.0, 0.0, 2.25}));
  EXPECT_EQ(back.find(prompt_key({1, 5})), nullptr);
  EXPECT_NE(prompt_key({1, 5, 9}), prompt_key({1, 9, 5}));
  fs::TempDir dir;
  cache.save(dir.path() + "/c.cache");
  EXPECT_EQ(CalibrationCache::load(dir.path() + "/c.cache").serialize(), cache.serialize());
}

TEST(CalibrationCacheTest, EveryHeaderDifferenceIsNamed) {
  const CacheHeader h = header();
  struct Case {
    void (*change)(CacheHeader&);
    const char* expect;
  } cases[] = {
      {[](CacheHeader& x) { x.num_samples = 64; },
       "K (calibration.num_samples): the cache has 4, the config expects 64"},
      {[](CacheHeader& x) { x.temperature = 1.0; }, "generation.temperature"},
      {[](CacheHeader& x) { x.top_k = 5; }, "generation.top_k"},
      {[](CacheHeader& x) { x.top_p = 0.9; }, "generation.top_p"},
      {[](CacheHeader& x) { x.max_new_tokens = 8; }, "generation.max_new_tokens"},
      {[](CacheHeader& x) { x.max_prompt_tokens = 8; }, "data.max_prompt_tokens"},
      {[](CacheHeader& x) { x.seed = 1; }, "run.seed"},
      {[](CacheHeader& x) { x.base_model_hash = "zzz"; },
       "base model sha256: the cache has aaa, the config expects zzz"},
      {[](CacheHeader& x) { x.reward_kind = "gold"; }, "reward.kind"},
      {[](CacheHeader& x) { x.reward_hash = "zzz"; }, "reward sha256"},
      {[](CacheHeader& x) { x.prompts_hash = "zzz"; }, "prompt file sha256"},
      {[](CacheHeader& x) { x.num_prompts = 3; }, "prompt count"},
  };
  EXPECT_TRUE(h.differences(h).empty());
  for (const auto& c : cases) {
    CacheHeader expected = h;
    c.change(expected);
    const auto diffs = h.differences(expected);
    ASSERT_EQ(diffs.size(), 1u) << c.expect;
    EXPECT_NE(diffs[0].find(c.expect), std::string::npos) << diffs[0];
  }
}

TEST(CalibrationCacheTest, EveryTruncationAndCorruptionIsAClearError) {
  const std::string good = sample_cache().serialize();
  for (std::size_t n = 0; n < good.size(); ++n) {
    try {
      CalibrationCache::parse(good.substr(0, n), "t.cache");
      FAIL() << "a file cut to " << n << " bytes parsed";
    } catch (const DataError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("t.cache: ", 0), 0u) << e.what();
    }
  }
  for (std::size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    EXPECT_THROW(CalibrationCache::parse(bad, "t.cache"), DataError) << "byte " << i;
  }
}

// Re-signs a body so that the checksum passes and the structure checks are what fails.
std::string signed_file(const std::string& body) { return body + fs::sha256_hex(body); }

std::string expect_error(const std::string& bytes) {
  try {
    CalibrationCache::parse(bytes, "x.cache");
  } catch (const DataError& e) {
    return e.what();
  }
  return "(parsed)";
}

TEST(CalibrationCacheTest, StructuralErrorsBehindAValidChecksum) {
  const std::string good = sample_cache().serialize();
  const std::string body = good.substr(0, good.size() - 64);
  EXPECT_NE(expect_error("NOTACACHE" + good).find("bad magic"), std::string::npos);
  EXPECT_NE(expect_error(good.substr(0, good.size() - 1) + "0").find("checksum mismatch"),
            std::string::npos);
  // Version 2.
  std::string v2 = body;
  const auto at = v2.find("\"version\":1");
  ASSERT_NE(at, std::string::npos);
  v2[at + 10] = '2';
  EXPECT_NE(expect_error(signed_file(v2)).find("format version 2 is not supported"),
            std::string::npos);
  // Rewards out of order.
  std::string unsorted = body;
  const double big = 99.0;
  std::memcpy(&unsorted[unsorted.size() - 4 * 8], &big, 8);  // first reward of the last record
  EXPECT_NE(expect_error(signed_file(unsorted)).find("ascending"), std::string::npos);
  // Trailing bytes.
  EXPECT_NE(expect_error(signed_file(body + "xx")).find("unexpected bytes"), std::string::npos);
  // A huge record count.
  std::string count = body;
  const std::size_t header_len = 8 + 8 + *reinterpret_cast<const std::uint64_t*>(&body[8]);
  const std::uint64_t huge = 1ull << 60;
  std::memcpy(&count[header_len], &huge, 8);
  EXPECT_NE(expect_error(signed_file(count)).find("record count"), std::string::npos);
}

}  // namespace
}  // namespace infalign::calibration

namespace infalign::calibration {
namespace {

TEST(Heterogeneity, HandComputedShares) {
  // Prompt means 1 and 5 (between-prompt variance 8), within-prompt variances 2 and 2.
  const Heterogeneity h = reward_heterogeneity({{1, {0.0, 2.0}}, {2, {4.0, 6.0}}});
  EXPECT_NEAR(h.between_share, 8.0 / 10.0, 1e-12);
  EXPECT_NEAR(h.sd_mean, std::sqrt(2.0), 1e-12);
  EXPECT_NEAR(h.sd_cv, 0.0, 1e-12);
  EXPECT_EQ(h.tie_fraction, 0.0);
  // SDs 1 and 3 (sd of the SDs sqrt(2), mean 2); one tie among 4 adjacent pairs.
  const Heterogeneity g = reward_heterogeneity({{1, {0.0, 0.0, 1.0, 2.0, 1.0}}, {2, {-3.0, 3.0}}});
  EXPECT_NEAR(g.tie_fraction, 1.0 / 5.0, 1e-12);
  const Heterogeneity s = reward_heterogeneity({{1, {0.0, 2.0}}, {2, {0.0, 6.0}}});
  EXPECT_NEAR(s.sd_mean, 2 * std::sqrt(2.0), 1e-12);
  EXPECT_NEAR(s.sd_cv, std::sqrt(2.0) * std::sqrt(2.0) / (2 * std::sqrt(2.0)), 1e-12);
  EXPECT_NEAR(s.sd_p10, std::sqrt(2.0) + 0.1 * 2 * std::sqrt(2.0), 1e-12);
}

}  // namespace
}  // namespace infalign::calibration
