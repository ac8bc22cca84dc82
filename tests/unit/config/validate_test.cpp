#include "infalign/config/validate.h"

#include <gtest/gtest.h>

#include "infalign/core/error.h"
#include "infalign/core/fs.h"

namespace infalign::config {
namespace {

// Keys of the issues `config` has.
std::vector<std::string> issue_keys(const ExperimentConfig& config) {
  std::vector<std::string> keys;
  for (const auto& issue : validate_config(config)) keys.push_back(issue.key);
  return keys;
}

TEST(ValidateTest, DefaultsAreValid) {
  for (const auto& issue : validate_config(ExperimentConfig{})) ADD_FAILURE() << issue.str();
}

TEST(ValidateTest, GroupedQueryAttentionNeedsDivisibleHeads) {
  ExperimentConfig c;
  c.model.num_key_value_heads = 4;  // 6 query heads
  EXPECT_EQ(issue_keys(c), std::vector<std::string>{"model.num_key_value_heads"});
  c = {};
  c.model.hidden_size = 198;  // 6 heads of 33: odd head size breaks RoPE
  EXPECT_EQ(issue_keys(c), std::vector<std::string>{"model.hidden_size"});
}

TEST(ValidateTest, FreshModelMustCoverTheTokenizerButALoadedOneBringsItsOwn) {
  ExperimentConfig c;
  c.run.stage = Stage::Lm;
  c.model.init_from = "";
  c.model.vocab_size = 1000;
  EXPECT_EQ(issue_keys(c), std::vector<std::string>{"model.vocab_size"});
  c.model.init_from = "runs/x/base_model";
  EXPECT_TRUE(issue_keys(c).empty());
}

TEST(ValidateTest, MicroBatchMustDivideTheMinibatch) {
  ExperimentConfig c;
  c.ppo.rollout_batch_size = 64;
  c.ppo.num_mini_batches = 2;
  c.ppo.micro_batch_size = 8;
  EXPECT_TRUE(issue_keys(c).empty());
  c.ppo.micro_batch_size = 12;
  EXPECT_EQ(issue_keys(c), std::vector<std::string>{"ppo.micro_batch_size"});
}

TEST(ValidateTest, CriticWarmupMustLeaveStepsForThePolicy) {
  ExperimentConfig c;
  c.ppo.total_steps = 10;
  c.ppo.critic_warmup_steps = 10;
  EXPECT_EQ(issue_keys(c), std::vector<std::string>{"ppo.critic_warmup_steps"});
}

TEST(ValidateTest, TheFullKlEstimatorRefusesRewardWhitening) {
  ExperimentConfig c;
  c.ppo.kl_estimator = KlEstimator::Full;
  EXPECT_TRUE(issue_keys(c).empty());
  c.ppo.whiten_rewards = true;
  EXPECT_EQ(issue_keys(c), std::vector<std::string>{"ppo.whiten_rewards"});
  c.ppo.kl_estimator = KlEstimator::K1;
  EXPECT_TRUE(issue_keys(c).empty());
}

TEST(ValidateTest, TruncatedSamplingIsAllowedOutsidePpo) {
  ExperimentConfig c;
  c.generation.top_p = 0.9;
  EXPECT_EQ(issue_keys(c), std::vector<std::string>{"generation.top_p"});
  c.run.stage = Stage::Calibrate;
  EXPECT_TRUE(issue_keys(c).empty());
}

TEST(ValidateTest, LocationsComeFromSources) {
  ConfigSources sources;
  sources.main_file = "exp.yaml";
  sources.set("ppo", {"exp.yaml", 3, 1});
  sources.set("ppo.kl_coef", {"base.yaml", 7, 12});
  ExperimentConfig c;
  c.ppo.kl_coef = -1;
  c.ppo.clip_range = 0;
  const auto issues = validate_config(c, sources);
  ASSERT_EQ(issues.size(), 2u);
  EXPECT_EQ(issues[0].str(), "exp.yaml:3:1: ppo.clip_range: got 0, expected a value in (0, 1]");
  EXPECT_EQ(issues[1].str(), "base.yaml:7:12: ppo.kl_coef: got -1, expected a value >= 0");
  EXPECT_EQ(ConfigSources{}.locate("x.y").str(), "(default)");
}

TEST(CheckInputFilesTest, NamesEachMissingInputOfTheStage) {
  fs::TempDir dir;
  ExperimentConfig c;
  c.run.stage = Stage::Lm;
  c.model.init_from = "";
  c.tokenizer.path = dir.path() + "/tokenizer.model";
  c.data.train_file = dir.path() + "/train.txt";
  c.data.valid_file = dir.path() + "/valid.txt";
  fs::write_file_atomic(c.data.train_file, "text\n");
  try {
    check_input_files(c, {}, false);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.messages().size(), 2u);
    EXPECT_NE(e.messages()[0].find("tokenizer.path: '" + c.tokenizer.path + "' does not exist"),
              std::string::npos);
    EXPECT_NE(e.messages()[1].find("data.valid_file"), std::string::npos);
  }
  fs::write_file_atomic(c.tokenizer.path, "x");
  fs::write_file_atomic(c.data.valid_file, "x");
  EXPECT_NO_THROW(check_input_files(c, {}, false));
  c.checkpoint.resume = dir.path() + "/checkpoints/step_00000005";
  EXPECT_THROW(check_input_files(c, {}, false), ConfigError);
}

TEST(CheckInputFilesTest, EvalNeedsItsPoliciesAndJudges) {
  ExperimentConfig c;
  c.eval.policies = {"/no/policy"};
  c.eval.judges = {Judge::Gold};
  c.reward.lexicon_path = "/no/lexicon.txt";  // the default path exists in a prepared checkout
  try {
    check_input_files(c, {}, true);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    const std::string all = e.what();
    EXPECT_NE(all.find("eval.policies[0]: '/no/policy' does not exist"), std::string::npos) << all;
    EXPECT_NE(all.find("reward.lexicon_path"), std::string::npos) << all;
    EXPECT_EQ(all.find("reward.model_path"), std::string::npos) << all;
  }
}

}  // namespace
}  // namespace infalign::config
