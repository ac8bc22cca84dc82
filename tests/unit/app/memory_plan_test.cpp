#include "infalign/app/memory_plan.h"

#include <string>

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "infalign/config/load.h"
#include "infalign/model/llama.h"
#include "infalign/model/llama_config.h"

namespace infalign::app {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

model::LlamaConfig small_shape(model::ModelFamily family, bool tied) {
  model::LlamaConfig c;
  c.family = family;
  c.vocab_size = 97;
  c.hidden_size = 24;
  c.intermediate_size = 40;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.tie_word_embeddings = tied;
  return c;
}

std::int64_t numel(const std::vector<at::Tensor>& tensors) {
  std::int64_t n = 0;
  for (const auto& t : tensors) n += t.numel();
  return n;
}

// The plan counts what the models really hold: every family, tied or not, scalar heads and
// LoRA adapters on any set of targets.
TEST(MemoryPlanTest, ParameterCountsMatchTheModels) {
  for (const auto family : {model::ModelFamily::Llama, model::ModelFamily::Qwen2}) {
    for (const bool tied : {true, false}) {
      const model::LlamaConfig c = small_shape(family, tied);
      model::CausalLm lm(c);
      EXPECT_EQ(parameter_count(c), numel(lm->parameters()));
      model::ScalarModel scalar(c);
      EXPECT_EQ(parameter_count(c, /*scalar=*/true), numel(scalar->parameters()));
      for (const std::vector<std::string>& targets :
           {config::kLoraProjections, std::vector<std::string>{"q_proj", "down_proj"}}) {
        model::CausalLm with_lora(c);
        const std::int64_t before = numel(with_lora->parameters());
        at::Generator gen = at::detail::createCPUGenerator(7);
        with_lora->backbone()->add_lora({4, 8.0, targets}, gen);
        config::LoraConfig lora;
        lora.rank = 4;
        lora.targets = targets;
        EXPECT_EQ(lora_parameter_count(c, lora), numel(with_lora->parameters()) - before);
      }
    }
  }
  // Packed copies: q, k, v stacked and gate, up stacked, per block.
  const model::LlamaConfig c = small_shape(model::ModelFamily::Llama, true);
  EXPECT_EQ(packed_weight_count(c), 3 * ((4 + 2 * 2) * 6 * 24 + 2 * 40 * 24));
}

config::ExperimentConfig tinyllama() {
  const auto loaded = config::load_experiment_config(
      std::string(INFALIGN_SOURCE_DIR) + "/configs/examples/tinyllama_memory.yaml", {}, {});
  return loaded.config;
}

ModelShapes shapes_of(const config::ExperimentConfig& cfg) {
  ModelShapes s;
  s.policy = model::llama_config_from(cfg.model, cfg.tokenizer);
  return s;
}

// The 1.1B run of docs/memory.md fits 24 GiB with LoRA and bfloat16 frozen models, and does not
// without: then the biggest term is a full-size float32 state and its option is named.
TEST(MemoryPlanTest, TinyLlamaFitsWithLoraAndNotWithout) {
  config::ExperimentConfig cfg = tinyllama();
  ASSERT_EQ(cfg.lora.rank, 8);
  const double runtime = 0.2 * kGiB;
  const MemoryPlan with_lora = plan_memory(cfg, false, shapes_of(cfg), 1, runtime);
  EXPECT_EQ(parameter_count(shapes_of(cfg).policy), 1'100'072'960);
  EXPECT_LT(with_lora.peak_bytes(), 12 * kGiB);
  EXPECT_GT(with_lora.peak_bytes(), 1'100'072'960.0 * 4);  // at least the float32 base

  cfg.lora.rank = 0;
  cfg.run.frozen_dtype = config::DType::Float32;
  const MemoryPlan full = plan_memory(cfg, false, shapes_of(cfg), 1, runtime);
  // Policy, gradient, two moments and the reference: 20 bytes a parameter before the rest.
  EXPECT_GT(full.peak_bytes(), 1'100'072'960.0 * 20);
  EXPECT_GT(full.peak_bytes(), 24 * kGiB);
  EXPECT_EQ(full.peak().name, "update");
  const MemoryTerm& big = full.peak().biggest();
  EXPECT_NE(big.name.find("AdamW moments"), std::string::npos) << big.name;
  EXPECT_DOUBLE_EQ(big.bytes, 1'100'072'960.0 * 8);
  EXPECT_NE(big.shrink.find("lora.rank"), std::string::npos) << big.shrink;

  // bfloat16 frozen models halve the reference.
  cfg.run.frozen_dtype = config::DType::BFloat16;
  const MemoryPlan bf16 = plan_memory(cfg, false, shapes_of(cfg), 1, runtime);
  EXPECT_NEAR(
      full.peak_bytes() - bf16.peak_bytes(),
      1'100'072'960.0 * 2 + static_cast<double>(packed_weight_count(shapes_of(cfg).policy)) * 2,
      1.0);
}

// Terms that scale with the batch: the KV cache with the rollout rows, activations with the
// micro-batch, and checkpointing keeps one block's activations instead of all of them.
TEST(MemoryPlanTest, ActivationsAndCacheFollowTheBatchAndCheckpointing) {
  config::ExperimentConfig cfg = tinyllama();
  auto phase_of = [&](const config::ExperimentConfig& c, const std::string& name) {
    for (const auto& ph : plan_memory(c, false, shapes_of(c), 1, 0).phases) {
      if (ph.name == name) return ph.total();
    }
    ADD_FAILURE() << "no phase " << name;
    return 0.0;
  };
  auto update_of = [&](const config::ExperimentConfig& c) { return phase_of(c, "update"); };
  auto rollout_of = [&](const config::ExperimentConfig& c) {
    return phase_of(c, "rollout (sampling)");
  };
  const double P = static_cast<double>(cfg.data.max_prompt_tokens + 1);
  const double T = P + static_cast<double>(cfg.generation.max_new_tokens);
  config::ExperimentConfig more = cfg;
  more.ppo.rollout_batch_size *= 2;
  // One more rollout batch of rows: its KV cache (2 x layers x kv width x T, float32), the
  // prompt's forward temporaries and logits, per row.
  const double kv_per_row = 2.0 * 22 * 4 * 64 * T * 4;
  EXPECT_GT(rollout_of(more) - rollout_of(cfg),
            kv_per_row * static_cast<double>(cfg.ppo.rollout_batch_size));
  EXPECT_GT(update_of(more), update_of(cfg));

  config::ExperimentConfig plain = cfg;
  plain.train.gradient_checkpointing = false;
  // Without checkpointing the 21 other blocks keep their activations too: at least the block
  // input, normed input, q, attention output, h1 and y (6 H) and gate/up and SwiGLU (3 I) per
  // token, float32; checkpointing kept only the 22 block inputs.
  const double tokens = static_cast<double>(cfg.ppo.rollout_batch_size) * T;
  const double at_least = 21 * (6.0 * 2048 + 3.0 * 5632) * tokens * 4 - 22.0 * 2048 * tokens * 4;
  EXPECT_GT(update_of(plain) - update_of(cfg), at_least);
}

// PPO with a calibrated transform may build the cache first: the base model and its sampling,
// before the policy is loaded; the raw transform has no such phase.
TEST(MemoryPlanTest, PpoPlansTheCalibrationBuildUnlessTheTransformIsRaw) {
  config::ExperimentConfig cfg = tinyllama();
  auto names = [&](const config::ExperimentConfig& c) {
    std::vector<std::string> out;
    for (const auto& ph : plan_memory(c, false, shapes_of(c), 1, 0).phases) out.push_back(ph.name);
    return out;
  };
  EXPECT_EQ(names(cfg).front(), "calibration (when the cache is built first)");
  cfg.transform.kind = config::TransformKind::Raw;
  EXPECT_EQ(names(cfg).front(), "rollout (sampling)");
}

TEST(MemoryPlanTest, LinesNameThePeakPhaseAndItsTermsLargestFirst) {
  config::ExperimentConfig cfg = tinyllama();
  const MemoryPlan plan = plan_memory(cfg, false, shapes_of(cfg), 1, 0.1 * kGiB);
  const auto lines = plan.lines();
  ASSERT_GE(lines.size(), 4u);
  EXPECT_NE(lines[0].find("stage ppo: planned peak"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find(plan.peak().name), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find(plan.peak().biggest().name), std::string::npos) << lines[1];
  EXPECT_NE(lines.back().find("phases:"), std::string::npos);
  EXPECT_EQ(format_bytes(1.5 * kGiB), "1.50 GiB");
  EXPECT_EQ(format_bytes(300.0 * 1024 * 1024), "300 MiB");
}

}  // namespace
}  // namespace infalign::app
