#include "infalign/reward/scorer.h"

#include <gtest/gtest.h>

namespace infalign::reward {
namespace {

using Ids = std::vector<std::int64_t>;

TEST(ScoreInputIds, PromptAndResponseOrResponseAloneAlwaysEndingAtEos) {
  const Ids prompt = {1, 40, 41, 42};  // <bos> and three prompt tokens
  const Ids response = {50, 51};
  ScoreFormat f{/*bos_id=*/1, /*eos_id=*/2, config::RewardInput::PromptResponse, /*limit=*/16};
  EXPECT_EQ(score_input_ids(f, prompt, response), (Ids{1, 40, 41, 42, 50, 51, 2}));
  f.input = config::RewardInput::Response;
  EXPECT_EQ(score_input_ids(f, prompt, response), (Ids{1, 50, 51, 2}));
  EXPECT_EQ(score_input_ids(f, prompt, {}), (Ids{1, 2}));
  // Cut at the model's context: the last position is still the <eos> the score is read at.
  f.limit = 3;
  EXPECT_EQ(score_input_ids(f, prompt, response), (Ids{1, 50, 2}));
  f.input = config::RewardInput::PromptResponse;
  f.limit = 5;
  EXPECT_EQ(score_input_ids(f, prompt, response), (Ids{1, 40, 41, 42, 2}));
}

}  // namespace
}  // namespace infalign::reward
