// --dump-config output loads back to the same config, for every shipped config and for values
// that are awkward to write as YAML.
#include <filesystem>

#include <gtest/gtest.h>

#include "infalign/config/load.h"

#include "paths.h"

namespace infalign::config {
namespace {

void expect_round_trip(const ExperimentConfig& config, const std::string& what) {
  const std::string dumped = dump_config(config);
  const LoadedConfig back = parse_experiment_config(dumped, "dump.yaml");
  const auto changes = diff_configs(config, back.config);
  for (const auto& change : changes) {
    ADD_FAILURE() << what << ": " << change.key << " was " << change.old_value << ", came back as "
                  << change.new_value;
  }
  EXPECT_EQ(dump_config(back.config), dumped) << what;
}

TEST(RoundTripTest, EveryShippedConfigRoundTrips) {
  std::size_t count = 0;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(testing::source_path("configs"))) {
    if (entry.path().extension() != ".yaml") continue;
    const LoadedConfig loaded = load_experiment_config(entry.path().string());
    expect_round_trip(loaded.config, entry.path().string());
    ++count;
  }
  EXPECT_GE(count, 4u);
}

TEST(RoundTripTest, AwkwardValuesRoundTrip) {
  ExperimentConfig c;
  c.run.name = "quote \" colon: hash # null";
  c.run.run_dir = "null";
  c.run.stage = Stage::Lm;
  c.model.init_from = "";
  c.reward.model_path = "true";
  c.data.train_file = "  leading and trailing spaces  ";
  c.eval.output_dir = "ünïcödé/ディレクトリ";
  c.eval.policies = {"a", "", "[not, a, list]", "~"};
  c.run.seed = 18446744073709551615ull;
  c.run.device = DeviceSpec{DeviceKind::Cuda, 3};
  c.transform.t = 0.1 + 0.2;  // 0.30000000000000004
  c.model.rms_norm_eps = 1e-300;
  c.ppo.target_kl = 6.0;
  c.ppo.kl_coef = 1.0 / 3.0;
  c.eval.judges = {Judge::Gold, Judge::RewardModel};
  c.eval.best_of_n = {32, 1};
  expect_round_trip(c, "awkward values");
}

}  // namespace
}  // namespace infalign::config
