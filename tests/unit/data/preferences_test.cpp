#include "infalign/data/preferences.h"

#include <cmath>
#include <set>
#include <utility>

#include <gtest/gtest.h>

#include "infalign/core/error.h"
#include "infalign/core/fs.h"

namespace infalign::data {
namespace {

TEST(SpearmanTest, RanksWithTiesAveraged) {
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3, 4}, {10, 20, 30, 40}), 1.0);
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3, 4}, {1, 4, 9, 16}), 1.0);  // monotone, not linear
  // Hand-computed: ranks a = 1, 2.5, 2.5, 4; b = 1, 2, 3, 4 -> r = 4.5 / sqrt(4.5 * 5).
  EXPECT_NEAR(spearman({1, 2, 2, 3}, {1, 2, 3, 4}), 4.5 / std::sqrt(4.5 * 5.0), 1e-12);
  EXPECT_EQ(spearman({1, 1, 1}, {1, 2, 3}), 0.0);  // constant side
}

TEST(PreferencesTest, EveryPairInsideAGroupOnce) {
  // 3 prompts x 2 samples, 2 prompts per group: groups {0..3} and {4, 5}.
  const std::vector<double> gold = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6};
  const auto g = label_preferences(gold, {2, 2, 0.1, true, 7});
  ASSERT_EQ(g.groups(), 2u);
  EXPECT_EQ(g.group_size, 4u);
  EXPECT_EQ(g.offsets, (std::vector<std::size_t>{0, 6, 7}));
  std::set<std::pair<std::size_t, std::size_t>> seen;
  for (std::size_t k = 0; k < g.pairs.size(); ++k) {
    const auto& p = g.pairs[k];
    const std::size_t group = k < 6 ? 0 : 1;
    EXPECT_EQ(p.chosen / 4, group);
    EXPECT_EQ(p.rejected / 4, group);
    EXPECT_TRUE(seen.insert(std::minmax(p.chosen, p.rejected)).second);
    EXPECT_EQ(p.same_prompt, p.chosen / 2 == p.rejected / 2);
    // p_chosen is the Bradley-Terry probability of the label that was drawn.
    const double expected = 1.0 / (1.0 + std::exp(-(gold[p.chosen] - gold[p.rejected]) / 0.1));
    EXPECT_NEAR(p.p_chosen, expected, 1e-12);
  }
  EXPECT_EQ(seen.size(), 7u);
}

TEST(PreferencesTest, TiesDroppedWithoutShiftingOtherLabels) {
  const std::vector<double> gold = {0.0, 0.0, 0.5, -0.5, 0.2, 0.1, 0.3, 0.3};
  const auto kept = label_preferences(gold, {4, 1, 0.1, false, 11});
  const auto dropped = label_preferences(gold, {4, 1, 0.1, true, 11});
  EXPECT_EQ(kept.pairs.size(), 12u);
  EXPECT_EQ(dropped.pairs.size(), 10u);
  for (const auto& p : dropped.pairs) EXPECT_NE(gold[p.chosen], gold[p.rejected]);
  std::size_t j = 0;
  for (const auto& p : kept.pairs) {
    if (gold[p.chosen] == gold[p.rejected]) continue;
    EXPECT_EQ(p.chosen, dropped.pairs[j].chosen);
    ++j;
  }
}

TEST(PreferencesTest, LabelsFollowTheBradleyTerryProbability) {
  // 20,000 pairs with gold difference 0.1 at tau 0.1: P(first preferred) = sigmoid(1).
  std::vector<double> gold;
  for (int i = 0; i < 20000; ++i) {
    gold.push_back(0.1);
    gold.push_back(0.0);
  }
  const auto g = label_preferences(gold, {2, 1, 0.1, true, 3});
  double first = 0;
  for (const auto& p : g.pairs) first += p.chosen % 2 == 0 ? 1 : 0;
  const double expected = 1.0 / (1.0 + std::exp(-1.0));
  // 4.5 standard errors of a binomial proportion.
  EXPECT_NEAR(first / 20000.0, expected, 4.5 * std::sqrt(expected * (1 - expected) / 20000.0));
  // Same seed, same labels; another seed, other labels.
  const auto again = label_preferences(gold, {2, 1, 0.1, true, 3});
  const auto other = label_preferences(gold, {2, 1, 0.1, true, 4});
  std::size_t same = 0, differ = 0;
  for (std::size_t k = 0; k < g.pairs.size(); ++k) {
    same += g.pairs[k].chosen == again.pairs[k].chosen ? 1 : 0;
    differ += g.pairs[k].chosen != other.pairs[k].chosen ? 1 : 0;
  }
  EXPECT_EQ(same, g.pairs.size());
  EXPECT_GT(differ, 5000u);
}

TEST(PreferenceFileTest, ReadsPairsAndGroupsThemOneAGroup) {
  fs::TempDir dir;
  const std::string path = dir.path() + "/pairs.jsonl";
  fs::write_file_atomic(
      path,
      "{\"prompt\": \"Q1\", \"chosen\": \"good\\nanswer\", \"rejected\": \"bad\", "
      "\"source\": \"x\"}\n{\"prompt\": \"Q2\", \"chosen\": \"yes\", "
      "\"rejected\": \"no\"}\n");
  const auto pairs = read_preference_pairs(path);
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[0].prompt, "Q1");
  EXPECT_EQ(pairs[0].chosen, "good\nanswer");
  EXPECT_EQ(pairs[1].rejected, "no");
  const PreferenceGroups g = pair_groups(2);
  EXPECT_EQ(g.group_size, 2u);
  ASSERT_EQ(g.groups(), 2u);
  EXPECT_EQ(g.pairs[1].chosen, 2u);
  EXPECT_EQ(g.pairs[1].rejected, 3u);
  EXPECT_EQ(g.pairs[1].p_chosen, 1.0);
  fs::write_file_atomic(path, "{\"prompt\": \"Q\", \"chosen\": \"a\"}\n");
  try {
    read_preference_pairs(path);
    ADD_FAILURE() << "a pair without a rejected response was read";
  } catch (const DataError& e) {
    EXPECT_EQ(std::string(e.what()),
              path +
                  ":1: no member \"rejected\" (reward.preferences_file holds prompt, chosen, "
                  "rejected); the object has members chosen, prompt");
  }
}

}  // namespace
}  // namespace infalign::data
