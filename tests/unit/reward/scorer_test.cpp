#include "infalign/reward/scorer.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "infalign/core/error.h"
#include "infalign/core/fs.h"

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

TEST(ModelContentHash, CoversEveryShardOfAShardedModel) {
  fs::TempDir dir;
  const std::string m = dir.path();
  fs::write_file_atomic(m + "/config.json", "{}");
  fs::write_file_atomic(m + "/model.safetensors.index.json",
                        R"({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}})");
  fs::write_file_atomic(m + "/s1.safetensors", "one");
  fs::write_file_atomic(m + "/s2.safetensors", "two");
  const std::string before = model_content_hash(m);
  fs::write_file_atomic(m + "/s2.safetensors", "two, changed");
  EXPECT_NE(model_content_hash(m), before);
  fs::write_file_atomic(m + "/s2.safetensors", "two");
  EXPECT_EQ(model_content_hash(m), before);
  std::filesystem::remove(m + "/s2.safetensors");
  EXPECT_THROW(model_content_hash(m), CheckpointError);
}

}  // namespace
}  // namespace infalign::reward
