// The binaries as a user runs them: help, usage errors, config errors, --dump-config, --check.
#include <filesystem>

#include <gtest/gtest.h>

#include "infalign/config/load.h"
#include "infalign/core/fs.h"

#include "paths.h"
#include "process.h"

namespace infalign {
namespace {

using testing::run_process;
using testing::shell_quote;
using testing::source_path;

const std::string kTrain = INFALIGN_TRAIN_BIN;
const std::string kEval = INFALIGN_EVAL_BIN;

TEST(CliTest, HelpAndVersionExitZero) {
  for (const std::string& bin : {kTrain, kEval}) {
    const auto help = run_process(bin + " --help");
    EXPECT_EQ(help.exit_code, 0) << help.err;
    EXPECT_NE(help.out.find("--config"), std::string::npos) << help.out;
    EXPECT_NE(help.out.find("Exit codes"), std::string::npos) << help.out;
    const auto version = run_process(bin + " --version");
    EXPECT_EQ(version.exit_code, 0);
    EXPECT_NE(version.out.find("0.1.0"), std::string::npos) << version.out;
  }
}

TEST(CliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(run_process(kTrain).exit_code, 2);  // --config is required
  EXPECT_EQ(run_process(kTrain + " --config x.yaml --no-such-flag").exit_code, 2);
  EXPECT_EQ(run_process(kEval + " --config x.yaml --log-level loud").exit_code, 2);
}

TEST(CliTest, BadConfigExitsTwoAndNamesEveryKeyOnStderr) {
  const std::string config = source_path("tests/data/configs/invalid/three_mistakes.yaml");
  for (const std::string& bin : {kTrain, kEval}) {
    const auto result = run_process(bin + " --config " + shell_quote(config));
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_NE(result.err.find("invalid config (3 problems)"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("three_mistakes.yaml:7:3: ppo.clip_rnage: unknown key"),
              std::string::npos)
        << result.err;
    EXPECT_NE(result.err.find("three_mistakes.yaml:9:9: transform.kind: got 'expo'"),
              std::string::npos)
        << result.err;
    EXPECT_NE(result.err.find("three_mistakes.yaml:11:16: generation.temperature: got 'hot'"),
              std::string::npos)
        << result.err;
    EXPECT_TRUE(result.out.empty()) << result.out;
  }
}

TEST(CliTest, BadOverrideExitsTwo) {
  const auto result =
      run_process(kTrain + " --config " + shell_quote(source_path("configs/tests/tiny.yaml")) +
                  " --set ppo.clip_range=7 --dump-config");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("--set ppo.clip_range=7: ppo.clip_range: got 7"), std::string::npos)
      << result.err;
}

TEST(CliTest, DumpConfigOfEveryShippedConfigLoadsBackEqual) {
  fs::TempDir dir;
  std::size_t count = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(source_path("configs"))) {
    if (entry.path().extension() != ".yaml") continue;
    const std::string path = entry.path().string();
    const auto dumped = run_process(kTrain + " --config " + shell_quote(path) + " --dump-config");
    ASSERT_EQ(dumped.exit_code, 0) << path << "\n" << dumped.err;
    const std::string copy = dir.path() + "/dump.yaml";
    fs::write_file_atomic(copy, dumped.out);
    const auto again = run_process(kTrain + " --config " + shell_quote(copy) + " --dump-config");
    ASSERT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(again.out, dumped.out) << path;
    const auto original = config::load_experiment_config(path);
    const auto reloaded = config::load_experiment_config(copy);
    EXPECT_TRUE(config::diff_configs(original.config, reloaded.config).empty()) << path;
    ++count;
  }
  EXPECT_GE(count, 4u);
}

TEST(CliTest, CheckSetsUpTheRunDirectoryAndReportsTheRuntime) {
  fs::TempDir dir;
  const std::string run_dir = dir.path() + "/run";
  const auto result = run_process(kTrain + " --config " +
                                  shell_quote(source_path("configs/default/ctrl_bon4.yaml")) +
                                  " --check --set run.run_dir=" + shell_quote(run_dir));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const std::string log = fs::read_file(run_dir + "/train.log");
  EXPECT_NE(log.find("[run] BLAS: "), std::string::npos) << log;
  EXPECT_NE(log.find("[run] LibTorch "), std::string::npos) << log;
  EXPECT_NE(log.find("GFLOP/s"), std::string::npos) << log;
  EXPECT_NE(log.find("check finished"), std::string::npos) << log;
  // The resolved copy is the config, overrides included.
  const auto resolved = config::load_experiment_config(run_dir + "/config.resolved.yaml");
  EXPECT_EQ(resolved.config.run.run_dir, run_dir);
  EXPECT_EQ(resolved.config.run.name, "ctrl_bon4");
}

TEST(CliTest, RunningAStageWithMissingInputsExitsTwoNamingThem) {
  fs::TempDir dir;
  const auto result =
      run_process(kTrain + " --config " + shell_quote(source_path("configs/tests/tiny.yaml")) +
                  " --set run.run_dir=" + shell_quote(dir.path() + "/run") +
                  " --set model.init_from=" + shell_quote(dir.path() + "/missing_base"));
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("model.init_from: '" + dir.path() + "/missing_base' does not exist"),
            std::string::npos)
      << result.err;
}

}  // namespace
}  // namespace infalign
