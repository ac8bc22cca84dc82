#include "infalign/core/strings.h"

#include <charconv>

#include <gtest/gtest.h>

namespace infalign::strings {
namespace {

TEST(StringsTest, EditDistanceCountsInsertDeleteSubstitute) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("clip_rnage", "clip_range"), 2u);
  EXPECT_EQ(edit_distance("flaw", "lawn"), 2u);
}

TEST(StringsTest, ClosestMatchSuggestsOnlyPlausibleTypos) {
  const std::vector<std::string> keys = {"clip_range", "clip_range_value", "kl_coef", "lam"};
  EXPECT_EQ(closest_match("clip_rnage", keys), "clip_range");
  EXPECT_EQ(closest_match("kl_coeff", keys), "kl_coef");
  EXPECT_EQ(closest_match("lamm", keys), "lam");
  EXPECT_EQ(closest_match("optimizer", keys), std::nullopt);
  EXPECT_EQ(closest_match("lr", keys),
            std::nullopt);  // 2 edits from "lam" is too far for 2 letters
  EXPECT_EQ(closest_match("x", {}), std::nullopt);
}

TEST(StringsTest, JoinPutsSeparatorBetweenParts) {
  EXPECT_EQ(join({}, ", "), "");
  EXPECT_EQ(join({"a"}, ", "), "a");
  EXPECT_EQ(join({"a", "b", "c"}, ", "), "a, b, c");
}

TEST(StringsTest, TsvFieldEscapesWhatWouldSplitTheLine) {
  EXPECT_EQ(tsv_field("plain text"), "plain text");
  EXPECT_EQ(tsv_field("a\tb\nc\r\\d"), "a\\tb\\nc\\r\\\\d");
  // The escape of a backslash keeps "\\n" (backslash, n) apart from a newline.
  EXPECT_NE(tsv_field("\\n"), tsv_field("\n"));
}

TEST(StringsTest, FormatDoubleIsShortestAndRoundTrips) {
  EXPECT_EQ(format_double(0.1), "0.1");
  EXPECT_EQ(format_double(3.0), "3");
  EXPECT_EQ(format_double(-2.5), "-2.5");
  for (double v : {0.1, 1e-5, 1.0 / 3.0, 12.63, 6.02214076e23, -0.000123}) {
    const std::string text = format_double(v);
    double back = 0;
    std::from_chars(text.data(), text.data() + text.size(), back);
    EXPECT_EQ(back, v) << text;
  }
}

TEST(StringsTest, FormatDurationPicksAUnit) {
  EXPECT_EQ(format_duration(12.34), "12.3s");
  EXPECT_EQ(format_duration(185), "3m05s");
  EXPECT_EQ(format_duration(4 * 3600 + 12 * 60 + 10), "4h12m");
  EXPECT_EQ(format_duration(-1), "?");
}

}  // namespace
}  // namespace infalign::strings
