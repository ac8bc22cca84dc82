#include "infalign/reward/vader.h"

#include <cmath>

#include <gtest/gtest.h>

#include "infalign/core/error.h"
#include "infalign/core/fs.h"

namespace infalign::reward {
namespace {

// A small lexicon with the vader-sentiment means of these words; expected compounds are
// computed by hand: compound = s / sqrt(s^2 + 15).
double c(double s) { return s / std::sqrt(s * s + 15.0); }

VaderScorer scorer() {
  return VaderScorer({{"good", 1.9}, {"bad", -2.5}, {"great", 3.1}, {":)", 2.0}});
}

TEST(VaderTest, SingleWordAndNormalisation) {
  EXPECT_NEAR(scorer().compound("good"), c(1.9), 1e-12);
  EXPECT_NEAR(scorer().compound("good"), 0.4404, 1e-4);  // VADER's published value
  EXPECT_EQ(scorer().compound("a table and a chair"), 0.0);
  EXPECT_EQ(scorer().compound(""), 0.0);
  EXPECT_EQ(scorer().compound("!!! ???"), 0.0);  // punctuation alone carries no sentiment
}

TEST(VaderTest, NegationFlipsAndDampens) {
  EXPECT_NEAR(scorer().compound("not good"), c(1.9 * -0.74), 1e-12);
  EXPECT_NEAR(scorer().compound("it isn't bad"), c(-2.5 * -0.74), 1e-12);
  EXPECT_NEAR(scorer().compound("never was it good"), c(1.9 * -0.74), 1e-12);     // 3 words back
  EXPECT_NEAR(scorer().compound("never was it so good"), c(1.9 + 0.293), 1e-12);  // 4 back: too far
}

TEST(VaderTest, IntensifiersAndDampenersScaleByDistance) {
  EXPECT_NEAR(scorer().compound("very good"), c(1.9 + 0.293), 1e-12);
  EXPECT_NEAR(scorer().compound("very very good"), c(1.9 + 0.293 + 0.293 * 0.95), 1e-12);
  EXPECT_NEAR(scorer().compound("slightly bad"), c(-2.5 + 0.293), 1e-12);
  EXPECT_NEAR(scorer().compound("the book was kind of good"), c(1.9 - 0.293), 1e-12);
  EXPECT_NEAR(VaderScorer({{"good", 1.9}, {"kind", 2.4}}).compound("kind of good"), c(1.9 - 0.293),
              1e-12);
  const auto v = scorer().valences("really very bad");  // -2.5 - 0.293 - 0.27835
  ASSERT_EQ(v.size(), 3u);
  EXPECT_NEAR(v[2], -3.07135, 1e-9);
  EXPECT_EQ(v[0], 0.0);  // boosters carry no sentiment of their own
}

TEST(VaderTest, ButShiftsWeightToTheSecondClause) {
  // good * 0.5 = 0.95, bad * 1.5 = -3.75: sum -2.8.
  EXPECT_NEAR(scorer().compound("The food was good, but the service was bad"),
              c(1.9 * 0.5 - 2.5 * 1.5), 1e-12);
}

TEST(VaderTest, CapsAndPunctuationEmphasis) {
  EXPECT_NEAR(scorer().compound("GOOD day"), c(1.9 + 0.733), 1e-12);  // mixed case
  EXPECT_NEAR(scorer().compound("GOOD"), c(1.9), 1e-12);  // all caps everywhere: no boost
  EXPECT_NEAR(scorer().compound("good!!"), c(1.9 + 2 * 0.292), 1e-12);
  EXPECT_NEAR(scorer().compound("good!!!!!!"), scorer().compound("good!!!!"), 1e-12);  // at most 4
  EXPECT_NEAR(scorer().compound("good?"), c(1.9), 1e-12);  // one question mark: nothing
  EXPECT_NEAR(scorer().compound("good??"), c(1.9 + 2 * 0.18), 1e-12);
  EXPECT_NEAR(scorer().compound("bad?????"), c(-2.5 - 0.96), 1e-12);
}

TEST(VaderTest, EmoticonsKeepTheirPunctuation) {
  EXPECT_NEAR(scorer().compound("nice :)"), 2.0 / std::sqrt(19.0), 1e-12);
}

TEST(VaderTest, ScoresStayInsideMinusOneToOne) {
  std::string text;
  for (int i = 0; i < 200; ++i) text += "GREAT very great ";
  const double c = scorer().compound(text + "!!!!");
  EXPECT_LE(c, 1.0);
  EXPECT_GT(c, 0.99);
}

TEST(VaderTest, LexiconFileErrorsNameFileAndLine) {
  fs::TempDir dir;
  const std::string path = dir.path() + "/lexicon.txt";
  fs::write_file_atomic(path, "good\t1.9\t0.9\t[2, 2]\nbad\tminus\t1\t[]\n");
  try {
    VaderScorer::load(path);
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ":2: expected `token<TAB>mean valence"),
              std::string::npos)
        << e.what();
  }
  fs::write_file_atomic(path, "");
  EXPECT_THROW(VaderScorer::load(path), DataError);
  EXPECT_THROW(VaderScorer::load(dir.path() + "/missing.txt"), DataError);
  fs::write_file_atomic(path, "good\t1.9\t0.9\t[2, 2]\n\nbad\t-2.5\t0.5\t[-2]\n");
  const VaderScorer loaded = VaderScorer::load(path);
  EXPECT_EQ(loaded.lexicon_size(), 2u);
  EXPECT_NEAR(loaded.compound("not bad"), c(-2.5 * -0.74), 1e-12);
}

}  // namespace
}  // namespace infalign::reward
