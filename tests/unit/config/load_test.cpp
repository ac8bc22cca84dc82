#include "infalign/config/load.h"

#include <gtest/gtest.h>

#include "infalign/core/error.h"
#include "infalign/core/fs.h"

#include "paths.h"

namespace infalign::config {
namespace {

using testing::test_data_path;

// The messages of the ConfigError that loading `yaml` throws.
std::vector<std::string> errors_of(const std::string& yaml,
                                   const std::vector<std::string>& overrides = {}) {
  try {
    parse_experiment_config(yaml, "inline.yaml", overrides);
  } catch (const ConfigError& e) {
    return e.messages();
  }
  ADD_FAILURE() << "expected a ConfigError for:\n" << yaml;
  return {};
}

TEST(LoadTest, EmptyDocumentGivesTheDefaults) {
  const LoadedConfig loaded = parse_experiment_config("", "empty.yaml");
  EXPECT_TRUE(diff_configs(ExperimentConfig{}, loaded.config).empty());
  const LoadedConfig comments_only = parse_experiment_config("# nothing\nppo:\n", "c.yaml");
  EXPECT_TRUE(diff_configs(ExperimentConfig{}, comments_only.config).empty());
}

TEST(LoadTest, DecodesEveryFieldType) {
  const LoadedConfig loaded =
      load_experiment_config(test_data_path("configs/valid/every_type.yaml"));
  const ExperimentConfig& c = loaded.config;
  EXPECT_EQ(c.run.name, "every: type # not a comment");
  EXPECT_EQ(c.run.seed, 18446744073709551615ull);
  EXPECT_EQ(c.run.device.kind, DeviceKind::Cuda);
  EXPECT_EQ(c.run.device.index, 1);
  EXPECT_EQ(c.run.dtype, DType::BFloat16);
  EXPECT_FALSE(c.run.deterministic);
  EXPECT_DOUBLE_EQ(c.model.rms_norm_eps, 1e-6);
  ASSERT_TRUE(c.ppo.target_kl.has_value());
  EXPECT_DOUBLE_EQ(*c.ppo.target_kl, 0.5);
  EXPECT_TRUE(c.ppo.adaptive_kl);
  EXPECT_EQ(c.eval.judges, std::vector<Judge>{Judge::Gold});
  EXPECT_EQ(c.eval.best_of_n, (std::vector<std::int64_t>{1, 2, 4, 8, 16, 32}));
  EXPECT_EQ(c.eval.policies, (std::vector<std::string>{"runs/a", "runs/b c"}));
  // Untouched fields keep their defaults.
  EXPECT_EQ(c.ppo.clip_range, PpoConfig{}.clip_range);
}

TEST(LoadTest, BaseFragmentsMergeInOrderAndTheFileWins) {
  const LoadedConfig loaded = load_experiment_config(test_data_path("configs/valid/child.yaml"));
  const ExperimentConfig& c = loaded.config;
  EXPECT_EQ(c.model.num_attention_heads, 4);  // nested/model_small.yaml (via a.yaml)
  EXPECT_EQ(c.model.hidden_size, 64);         // a.yaml overrides its own base
  EXPECT_DOUBLE_EQ(c.ppo.kl_coef, 0.2);       // b.yaml comes after a.yaml
  EXPECT_DOUBLE_EQ(c.ppo.clip_range, 0.25);   // child.yaml beats both
  EXPECT_EQ(c.eval.best_of_n, (std::vector<std::int64_t>{1, 8}));  // lists replace, not append
  EXPECT_EQ(c.run.name, "child");
  // Every file read, bases first, the main file last.
  ASSERT_EQ(loaded.files.size(), 4u);
  EXPECT_NE(loaded.files[0].find("fragments/nested/model_small.yaml"), std::string::npos);
  EXPECT_NE(loaded.files[3].find("child.yaml"), std::string::npos);
  // Sources say where each value came from.
  const SourceLocation kl = loaded.sources.locate("ppo.kl_coef");
  EXPECT_NE(kl.file.find("fragments/b.yaml"), std::string::npos);
  EXPECT_EQ(kl.line, 2);
  EXPECT_EQ(kl.column, 12);
  EXPECT_NE(loaded.sources.locate("model.num_key_value_heads").file.find("model_small.yaml"),
            std::string::npos);
}

TEST(LoadTest, OverridesComeLastAndAcceptAnyYamlValue) {
  const LoadedConfig loaded =
      load_experiment_config(test_data_path("configs/valid/child.yaml"),
                             {"ppo.clip_range=0.1", "eval.best_of_n=[2, 4]", "run.device=cpu",
                              "run.name=a=b", "ppo.target_kl=0.3", "ppo.target_kl="});
  EXPECT_DOUBLE_EQ(loaded.config.ppo.clip_range, 0.1);
  EXPECT_EQ(loaded.config.eval.best_of_n, (std::vector<std::int64_t>{2, 4}));
  EXPECT_EQ(loaded.config.run.device.kind, DeviceKind::Cpu);
  EXPECT_EQ(loaded.config.run.name, "a=b");               // split at the first '='
  EXPECT_FALSE(loaded.config.ppo.target_kl.has_value());  // the later override wins: null
  EXPECT_EQ(loaded.sources.locate("ppo.clip_range").str(), "--set ppo.clip_range=0.1");
}

TEST(LoadTest, OverlaysMergeOverTheFileAndBeforeTheOverrides) {
  const LoadedConfig loaded =
      load_experiment_config(test_data_path("configs/valid/child.yaml"), {"run.seed=5"},
                             {test_data_path("configs/valid/overlay.yaml")});
  const ExperimentConfig& c = loaded.config;
  EXPECT_DOUBLE_EQ(c.ppo.clip_range, 0.3);  // the overlay beats child.yaml's 0.25
  EXPECT_EQ(c.run.seed, 5u);                // --set beats the overlay's 99
  EXPECT_EQ(c.run.name, "child");           // what the overlay leaves alone stays
  EXPECT_EQ(c.model.hidden_size, 64);
  EXPECT_DOUBLE_EQ(c.ppo.kl_coef, 0.2);  // via the overlay's own base
  ASSERT_EQ(loaded.overlays.size(), 1u);
  EXPECT_NE(loaded.files.back().find("overlay.yaml"), std::string::npos);
  EXPECT_NE(loaded.sources.locate("ppo.clip_range").file.find("overlay.yaml"), std::string::npos);
  // Without the overlay, child.yaml's value.
  EXPECT_DOUBLE_EQ(
      load_experiment_config(test_data_path("configs/valid/child.yaml")).config.ppo.clip_range,
      0.25);
}

TEST(LoadTest, OverridesAreValidatedLikeFileValues) {
  const auto errors =
      errors_of("", {"ppo.clip_range=2", "ppo.clip_rnage=0.1", "noequals", "ppo.kl_coef=[1"});
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_EQ(errors[0], "--set noequals: expected key.path=value, e.g. --set ppo.clip_range=0.1");
  EXPECT_EQ(errors[1], "--set ppo.clip_range=2: ppo.clip_range: got 2, expected a value in (0, 1]");
  EXPECT_EQ(errors[2],
            "--set ppo.clip_rnage=0.1: ppo.clip_rnage: unknown key; did you mean "
            "'clip_range'?");
  EXPECT_NE(errors[3].find("--set ppo.kl_coef=[1"), std::string::npos);
  EXPECT_NE(errors[3].find("YAML syntax error"), std::string::npos);
}

TEST(LoadTest, AllProblemsAreReportedTogetherSortedByKey) {
  const auto errors = errors_of(
      "ppo:\n"
      "  clip_range: 3\n"
      "run:\n"
      "  seed: x\n"
      "eval:\n"
      "  confidence: 1\n");
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0], "inline.yaml:6:15: eval.confidence: got 1, expected a value in (0, 1)");
  EXPECT_EQ(errors[1], "inline.yaml:2:15: ppo.clip_range: got 3, expected a value in (0, 1]");
  EXPECT_EQ(errors[2], "inline.yaml:4:9: run.seed: got 'x', expected a non-negative integer");
}

TEST(LoadTest, AFieldThatFailedToDecodeIsNotAlsoReportedByRules) {
  // num_mini_batches = 'three' keeps its default (1); the divisibility rule must stay quiet
  // rather than report a value the user never wrote.
  const auto errors = errors_of("ppo:\n  num_mini_batches: three\n  rollout_batch_size: 64\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "inline.yaml:2:21: ppo.num_mini_batches: got 'three', expected an integer");
}

TEST(LoadTest, MissingMainFileIsAConfigErrorNamingIt) {
  try {
    load_experiment_config("/no/such/experiment.yaml");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.messages().size(), 1u);
    EXPECT_NE(e.messages()[0].find("/no/such/experiment.yaml"), std::string::npos);
  }
}

TEST(LoadTest, DiffListsChangedFieldsWithOldAndNewValues) {
  ExperimentConfig a;
  ExperimentConfig b;
  b.ppo.kl_coef = 0.1;
  b.eval.best_of_n = {1, 4};
  b.run.name = "x";
  const auto changes = diff_configs(a, b);
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0].key, "run.name");
  EXPECT_EQ(changes[0].old_value, "\"default\"");
  EXPECT_EQ(changes[0].new_value, "\"x\"");
  EXPECT_EQ(changes[1].key, "ppo.kl_coef");
  EXPECT_EQ(changes[1].old_value, "0.05");
  EXPECT_EQ(changes[1].new_value, "0.1");
  EXPECT_EQ(changes[2].key, "eval.best_of_n");
  EXPECT_EQ(changes[2].new_value, "[1, 4]");
}

TEST(LoadTest, ConfigHashChangesWithAnyField) {
  ExperimentConfig a;
  ExperimentConfig b;
  EXPECT_EQ(config_hash(a), config_hash(b));
  EXPECT_EQ(config_hash(a).size(), 64u);
  b.transform.t = 10.000000001;
  EXPECT_NE(config_hash(a), config_hash(b));
}

TEST(LoadTest, RecordedConfigsOfOtherVersionsSkipUnknownKeysButNotBadValues) {
  fs::TempDir dir;
  const std::string file = dir.path() + "/config.resolved.yaml";
  fs::write_file_atomic(file,
                        "run:\n  stage: ppo\n  retired_key: 3\nfuture_section:\n  x: 1\n"
                        "transform:\n  kind: negexp\n  t: 9.68\n");
  std::vector<std::string> skipped;
  const LoadedConfig loaded = load_recorded_config(file, &skipped);
  EXPECT_EQ(loaded.config.transform.kind, TransformKind::NegExp);
  EXPECT_DOUBLE_EQ(loaded.config.transform.t, 9.68);
  EXPECT_EQ(skipped, (std::vector<std::string>{"run.retired_key", "future_section"}));
  EXPECT_THROW(load_experiment_config(file), ConfigError);  // strict as an experiment
  fs::write_file_atomic(file, "transform:\n  t: -1\n");
  EXPECT_THROW(load_recorded_config(file), ConfigError);  // known keys stay strict
}

}  // namespace
}  // namespace infalign::config
