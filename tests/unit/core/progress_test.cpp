#include "infalign/core/progress.h"

#include <gtest/gtest.h>

namespace infalign {
namespace {

struct Captured {
  std::vector<std::pair<std::string, bool>> lines;
  Progress::Sink sink() {
    return [this](const std::string& line, bool in_place) { lines.emplace_back(line, in_place); };
  }
};

ProgressOptions options(bool interactive) {
  ProgressOptions o;
  o.tag = "ppo";
  o.unit = "step";
  o.interval_seconds = 10;
  o.interactive = interactive;
  return o;
}

TEST(ProgressTest, RendersCountsFieldsRateAndEta) {
  double now = 0;
  Progress p(
      100, options(false), [&] { return now; }, [](const std::string&, bool) {});
  EXPECT_EQ(p.render(0, 0, {}), "[ppo] step 0/100");
  EXPECT_EQ(p.render(50, 10, {{"score", "0.41"}, {"kl", "0.031"}}),
            "[ppo] step 50/100 | score 0.41 | kl 0.031 | 5.0 step/s | eta 10.0s");
  EXPECT_EQ(p.render(10, 32, {}), "[ppo] step 10/100 | 3.20 s/step | eta 4m48s");
  EXPECT_EQ(p.render(100, 200, {}), "[ppo] step 100/100 | 2.00 s/step | took 3m20s");
}

TEST(ProgressTest, AResumedLoopRatesOnlyItsOwnUnits) {
  ProgressOptions o = options(false);
  o.already_done = 40;  // resumed at step 40
  Progress p(
      100, o, [] { return 0.0; }, [](const std::string&, bool) {});
  // 10 steps in 20 s since the resume: 2 s/step, 50 steps left -> 100 s.
  EXPECT_EQ(p.render(50, 20, {}), "[ppo] step 50/100 | 2.00 s/step | eta 1m40s");
  EXPECT_EQ(p.render(40, 5, {}), "[ppo] step 40/100");
}

TEST(ProgressTest, NonInteractivePrintsEveryIntervalAndOnceAtTheEnd) {
  double now = 0;
  Captured out;
  Progress p(
      10, options(false), [&] { return now; }, out.sink());
  p.update(1);  // first update prints
  now = 5;
  p.update(2);  // within the interval: silent
  now = 10.5;
  p.update(3, {{"loss", "1.2"}});  // interval passed
  now = 12;
  p.update(10);  // done: left to finish()
  p.finish();
  p.finish();  // idempotent
  ASSERT_EQ(out.lines.size(), 3u);
  EXPECT_EQ(out.lines[0].first, "[ppo] step 1/10");
  EXPECT_EQ(out.lines[1].first, "[ppo] step 3/10 | loss 1.2 | 3.50 s/step | eta 24.5s");
  EXPECT_EQ(out.lines[2].first, "[ppo] step 10/10 | 1.20 s/step | took 12.0s");
  for (const auto& line : out.lines) EXPECT_FALSE(line.second);
}

TEST(ProgressTest, InteractiveRedrawsInPlaceThenLogsTheFinalLine) {
  double now = 0;
  Captured out;
  Progress p(
      4, options(true), [&] { return now; }, out.sink());
  p.update(1);
  now = 0.05;
  p.update(2);  // throttled: under 0.1 s since the last redraw
  now = 0.2;
  p.update(3);
  now = 0.4;
  p.update(4);
  p.finish();
  ASSERT_EQ(out.lines.size(), 5u);
  EXPECT_TRUE(out.lines[0].second);
  EXPECT_EQ(out.lines[1].first, "[ppo] step 3/4 | 15.0 step/s | eta 0.1s");
  EXPECT_TRUE(out.lines[2].second);
  EXPECT_EQ(out.lines[3], std::make_pair(std::string(), true));  // clear the in-place line
  EXPECT_EQ(out.lines[4].first, "[ppo] step 4/4 | 10.0 step/s | took 0.4s");
  EXPECT_FALSE(out.lines[4].second);
}

}  // namespace
}  // namespace infalign
