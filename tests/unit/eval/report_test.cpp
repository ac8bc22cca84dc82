// results.json round trip of the per-prompt values, and `compare`'s paired differences.
#include "infalign/eval/report.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "infalign/core/random.h"

namespace infalign::eval {
namespace {

// One policy, one judge, N = 1, with the given per-prompt standard win rates.
EvalResults one_policy(const std::string& name, const std::vector<double>& per_prompt,
                       const std::string& pairing_key) {
  EvalResults r;
  r.version = "test";
  r.config_hash = "c";
  r.prompts = static_cast<std::int64_t>(per_prompt.size());
  r.samples_per_prompt = 4;
  r.bootstrap_resamples = 2000;
  r.pairing_key = pairing_key;
  PolicyResult p;
  p.name = name;
  p.kl_k1 = {0.5, 0.45, 0.55, 0.02};
  p.kl_k1_per_prompt.assign(per_prompt.size(), 0.5);
  JudgeResult j;
  j.judge = "reward_model";
  WinRateRow row;
  row.n = 1;
  row.best = row.worst = bootstrap_mean(per_prompt, 2000, 0.95, 3);
  row.best_per_prompt = row.worst_per_prompt = per_prompt;
  j.rows.push_back(row);
  p.judges.push_back(j);
  r.policies.push_back(p);
  return r;
}

// Prompts of very different difficulty (a shared per-prompt level from 0.1 to 0.9) and a
// second policy that wins 0.02 more on every prompt, plus a little noise: the unpaired
// intervals overlap widely, the paired difference is clearly above 0.
std::pair<std::vector<double>, std::vector<double>> correlated(std::size_t prompts) {
  SplitMix64 rng(11);
  std::vector<double> a(prompts), b(prompts);
  for (std::size_t i = 0; i < prompts; ++i) {
    const double level = 0.1 + 0.8 * rng.uniform();
    a[i] = level;
    b[i] = level + 0.02 + 0.1 * (rng.uniform() - 0.5);
  }
  return {a, b};
}

std::string row_of(const std::string& table, const std::string& key) {
  const auto at = table.find("\n" + key);
  if (at == std::string::npos) return "";
  return table.substr(at + 1, table.find('\n', at + 1) - at - 1);
}

TEST(ResultsJson, PerPromptValuesAndThePairingKeyRoundTrip) {
  const EvalResults r = one_policy("a", {0.25, 0.5, 0.8125, 1.0 / 3.0}, "abc123");
  const EvalResults back = parse_results(results_json(r), "results.json");
  EXPECT_EQ(back.pairing_key, "abc123");
  ASSERT_EQ(back.policies.size(), 1u);
  const auto& row = back.policies[0].judges[0].rows[0];
  ASSERT_EQ(row.best_per_prompt.size(), 4u);
  EXPECT_DOUBLE_EQ(row.best_per_prompt[2], 0.8125);
  EXPECT_NEAR(row.best_per_prompt[3], 1.0 / 3.0, 1e-6);  // stored at 1e-6
  EXPECT_EQ(back.policies[0].kl_k1_per_prompt.size(), 4u);
}

TEST(ResultsJson, FilesWithoutPerPromptValuesStillParse) {
  const EvalResults r = one_policy("a", {0.25, 0.5}, "");
  std::string text = results_json(r);
  for (const std::string key :
       {"\"best_of_n_per_prompt\"", "\"worst_of_n_per_prompt\"", "\"kl_k1_per_prompt\""}) {
    // An older version's file: rename the key so it is unknown, as if absent.
    for (auto at = text.find(key); at != std::string::npos; at = text.find(key)) {
      text.replace(at, key.size(), "\"old_" + key.substr(1));
    }
  }
  const EvalResults back = parse_results(text, "old.json");
  EXPECT_TRUE(back.policies[0].judges[0].rows[0].best_per_prompt.empty());
  EXPECT_TRUE(back.policies[0].kl_k1_per_prompt.empty());
}

TEST(CompareTable, SameBaseSamplesGiveAPairedIntervalThatSeesWhatOverlapHides) {
  const auto [a, b] = correlated(200);
  const EvalResults ra = one_policy("a", a, "same"), rb = one_policy("b", b, "same");
  // The unpaired intervals overlap...
  const Estimate ea = ra.policies[0].judges[0].rows[0].best;
  const Estimate eb = rb.policies[0].judges[0].rows[0].best;
  ASSERT_TRUE(ea.lo <= eb.hi && eb.lo <= ea.hi);
  // ...the paired difference does not include 0.
  const Estimate d = paired_difference(a, b, 2000, 0.95, 5);
  EXPECT_NEAR(d.mean, 0.02, 0.005);
  EXPECT_GT(d.lo, 0.01);
  EXPECT_LT(d.hi, 0.03);
  const std::string table = compare_table({{"a.json", ra}, {"b.json", rb}});
  const std::string row = row_of(table, "reward_model standard");
  ASSERT_FALSE(row.empty()) << table;
  EXPECT_NE(row.find(fmt::format("{:+.3f} [+0.0", d.mean)), std::string::npos) << table;
  EXPECT_EQ(row.back(), '*') << table;
  EXPECT_NE(table.find("paired 95% bootstrap interval"), std::string::npos) << table;

  // Different base samples: no pairing; the overlapping intervals give no '*'.
  const EvalResults other = one_policy("b", b, "different");
  const std::string unpaired = compare_table({{"a.json", ra}, {"c.json", other}});
  const std::string row2 = row_of(unpaired, "reward_model standard");
  EXPECT_EQ(row2.find("[+"), std::string::npos) << unpaired;
  EXPECT_NE(row2.back(), '*') << unpaired;
  EXPECT_NE(unpaired.find("not paired"), std::string::npos) << unpaired;

  // Two policies of one evaluation pair with each other too (the key is the file's).
  EvalResults both = ra;
  both.policies.push_back(rb.policies[0]);
  EXPECT_EQ(row_of(compare_table({{"ab.json", both}}), "reward_model standard").back(), '*');
}

TEST(CompareTable, PairedDifferenceAgreesWithTheHandCountAndEveryResample) {
  // Five prompts; the second policy is the first plus d = (0, 0.1, 0.3, 0.35, 0.9) prompt by
  // prompt. By hand: mean 1.65 / 5 = 0.33; sum of squared deviations 0.488, so the standard
  // error is sqrt(0.488 / 4 / 5) = 0.156205.
  const std::vector<double> a = {0.5, 0.2, 0.7, 0.4, 0.05};
  const std::vector<double> d = {0.0, 0.1, 0.3, 0.35, 0.9};
  std::vector<double> b(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) b[i] = a[i] + d[i];
  const Estimate e = paired_difference(a, b, 200000, 0.95, 11);
  EXPECT_NEAR(e.mean, 0.33, 1e-12);
  EXPECT_NEAR(e.se, std::sqrt(0.488 / 4 / 5), 1e-9);
  // Brute force: all 5^5 resamples of the prompts, equally likely, give the exact bootstrap
  // distribution of the mean difference; its percentiles are what the sampled bootstrap
  // approaches.
  std::vector<double> every;
  for (int i = 0; i < 3125; ++i) {
    double sum = 0;
    for (int k = 0, code = i; k < 5; ++k, code /= 5) sum += d[static_cast<std::size_t>(code % 5)];
    every.push_back(sum / 5);
  }
  const Estimate exact = bootstrap_interval(0.33, every, 0.95);
  EXPECT_NEAR(e.lo, exact.lo, 0.01) << exact.lo;
  EXPECT_NEAR(e.hi, exact.hi, 0.01) << exact.hi;
  EXPECT_LT(exact.lo, 0.33);
  EXPECT_GT(exact.hi, 0.33);
  // A policy shifted by 0.05 on every prompt: the difference is the shift, without spread.
  std::vector<double> shifted = a;
  for (double& v : shifted) v += 0.05;
  const Estimate s = paired_difference(a, shifted, 1000, 0.95, 3);
  EXPECT_NEAR(s.mean, 0.05, 1e-12);
  EXPECT_NEAR(s.lo, 0.05, 1e-12);
  EXPECT_NEAR(s.hi, 0.05, 1e-12);
}

TEST(CompareTable, PairedDifferenceOfEqualSidesIsExactlyZero) {
  const auto [a, b] = correlated(50);
  (void)b;
  const Estimate d = paired_difference(a, a, 500, 0.95, 1);
  EXPECT_EQ(d.mean, 0.0);
  EXPECT_EQ(d.lo, 0.0);
  EXPECT_EQ(d.hi, 0.0);
  EXPECT_THROW(paired_difference(a, std::vector<double>(a.size() - 1, 0.5), 100, 0.95, 1),
               std::exception);
}

}  // namespace
}  // namespace infalign::eval
