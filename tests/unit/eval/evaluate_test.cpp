#include "infalign/eval/evaluate.h"

#include <cmath>
#include <filesystem>

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "infalign/calibration/cache.h"
#include "infalign/core/error.h"
#include "infalign/core/fs.h"
#include "infalign/eval/winrate.h"

#include "tiny_lm.h"

namespace infalign::eval {
namespace {

using testing::tiny_lm;

calibration::PromptSet prompt_set(const std::vector<std::vector<std::int64_t>>& ids) {
  calibration::PromptSet s;
  for (const auto& p : ids) {
    s.texts.emplace_back("prompt");
    s.ids.push_back(p);
    s.keys.push_back(calibration::prompt_key(p));
  }
  return s;
}

SamplingPlan plan(std::int64_t max_new_tokens, double temperature, std::int64_t eos) {
  SamplingPlan p;
  p.options.max_new_tokens = max_new_tokens;
  p.options.sampling.temperature = temperature;
  p.options.eos_id = eos;
  p.options.pad_id = 3;
  p.batch_size = 256;
  p.seed = 17;
  p.stream = "policy";
  return p;
}

TEST(EvalKl, TheBaseAgainstItselfIsExactlyZero) {
  model::CausalLm base = tiny_lm(1, 20), same = tiny_lm(1, 20);
  const auto prompts = prompt_set({{1, 5, 9}, {1, 7}, {1, 20, 21, 4}});
  const ModelSamples s = sample_and_score(same, &base, nullptr, prompts, 8, plan(6, 0.7, 2), {});
  ASSERT_EQ(s.k1.size(), 24u);
  ASSERT_EQ(s.lengths.size(), 24u);
  std::int64_t tokens = 0;
  for (std::size_t i = 0; i < s.k1.size(); ++i) {
    EXPECT_EQ(s.k1[i], 0.0) << i;
    EXPECT_EQ(s.k3[i], 0.0) << i;
    tokens += s.lengths[i];
  }
  EXPECT_GT(tokens, 24);  // multi-token responses: the sum runs over positions
}

// One response token after a fixed prompt: KL(policy || base) is a sum over the vocabulary of
// the two next-token distributions at temperature T, and the sampled estimates converge to it.
TEST(EvalKl, EstimatesMatchTheExactKlOfAOneTokenResponse) {
  model::CausalLm base = tiny_lm(1, 6), policy = tiny_lm(2, 6);
  const std::vector<std::int64_t> prompt = {1, 5, 9, 11};
  const double temperature = 1.5;
  double exact = 0;
  {
    at::NoGradGuard no_grad;
    const at::Tensor ids = at::tensor(prompt, at::kLong).unsqueeze(0);
    const at::Tensor mask = at::ones_like(ids);
    auto last = [&](model::CausalLm& lm) {
      const at::Tensor logits = lm->forward({ids, mask, model::position_ids_from_mask(mask)});
      return at::log_softmax(
          logits.select(1, ids.size(1) - 1).squeeze(0).to(at::kDouble) / temperature, -1);
    };
    const at::Tensor lp = last(policy), lq = last(base);
    exact = (lp.exp() * (lp - lq)).sum().item<double>();
  }
  ASSERT_GT(exact, 0.05);  // the two models differ enough for the check to have power
  const ModelSamples s = sample_and_score(policy, &base, nullptr, prompt_set({prompt}), 4000,
                                          plan(1, temperature, -1), {});
  const Estimate k1 = mean_and_se(s.k1), k3 = mean_and_se(s.k3);
  EXPECT_NEAR(k1.mean, exact, 4 * k1.se) << "k1 " << k1.mean << " +- " << k1.se;
  EXPECT_NEAR(k3.mean, exact, 4 * k3.se) << "k3 " << k3.mean << " +- " << k3.se;
  EXPECT_LT(k1.se, 0.2 * exact);
}

TEST(EvalSampling, RowsDependOnTheirSeedsNotOnTheBatch) {
  model::CausalLm lm = tiny_lm(3, 20), base = tiny_lm(4, 20);
  const auto prompts = prompt_set({{1, 5, 9}, {1, 7}});
  SamplingPlan a = plan(5, 1.0, 2), b = a;
  b.batch_size = 3;
  const ModelSamples sa = sample_and_score(lm, &base, nullptr, prompts, 6, a, {});
  const ModelSamples sb = sample_and_score(lm, &base, nullptr, prompts, 6, b, {});
  EXPECT_EQ(sa.lengths, sb.lengths);
  for (std::size_t i = 0; i < sa.k1.size(); ++i)
    EXPECT_NEAR(sa.k1[i], sb.k1[i], 1e-5);  // other batch shapes: float32 rounding
  b.stream = "base";                        // another stream, other samples
  const ModelSamples sc = sample_and_score(lm, &base, nullptr, prompts, 6, b, {});
  EXPECT_NE(sa.k1, sc.k1);
}

TEST(ResolvePolicy, ModelDirectoriesCheckpointsAndRunDirectories) {
  fs::TempDir dir;
  const std::string root = dir.path();
  auto touch = [](const std::string& path) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    fs::write_file_atomic(path, "x");
  };
  touch(root + "/base/config.json");
  touch(root + "/base/model.safetensors");
  touch(root + "/run_a/config.resolved.yaml");
  touch(root + "/run_a/final/config.json");
  touch(root + "/run_a/final/model.safetensors");
  touch(root + "/run_b/checkpoints/step_00000040/policy.safetensors");
  touch(root + "/run_b/checkpoints/step_00000040/config.resolved.yaml");
  fs::write_file_atomic(root + "/run_b/checkpoints/latest", "step_00000040\n");

  const PolicySource model = resolve_policy(root + "/base/", root + "/base");
  EXPECT_EQ(model.name, "base");
  EXPECT_EQ(model.weights_file, root + "/base/model.safetensors");
  EXPECT_EQ(model.resolved_config, "");
  const PolicySource run = resolve_policy(root + "/run_a", root + "/base");
  EXPECT_EQ(run.name, "run_a");
  EXPECT_EQ(run.config_dir, root + "/run_a/final");
  EXPECT_EQ(run.resolved_config, root + "/run_a/config.resolved.yaml");
  const PolicySource ckpt = resolve_policy(root + "/run_b", root + "/base");
  EXPECT_EQ(ckpt.name, "run_b@40");
  EXPECT_EQ(ckpt.config_dir, root + "/base");
  EXPECT_EQ(ckpt.weights_file, root + "/run_b/checkpoints/step_00000040/policy.safetensors");
  EXPECT_EQ(ckpt.resolved_config, root + "/run_b/checkpoints/step_00000040/config.resolved.yaml");
  // A sharded export: config.json and model.safetensors.index.json (the shards beside it).
  touch(root + "/run_c/final/config.json");
  touch(root + "/run_c/final/model.safetensors.index.json");
  const PolicySource sharded = resolve_policy(root + "/run_c", root + "/base");
  EXPECT_EQ(sharded.name, "run_c");
  EXPECT_EQ(sharded.weights_file, root + "/run_c/final/model.safetensors.index.json");
  try {
    resolve_policy(root + "/nothing", root + "/base");
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(root + "/nothing: not a policy"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace infalign::eval
