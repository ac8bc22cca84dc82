#include "infalign/model/llama.h"

#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/function.h>

#include "infalign/checkpoint/safetensors.h"
#include "infalign/checkpoint/safetensors_format.h"
#include "infalign/core/error.h"
#include "infalign/core/fs.h"
#include "infalign/model/hf_io.h"

#include "paths.h"
#include "tensor_compare.h"

namespace infalign::model {
namespace {

using testing::tensors_near;
using testing::test_data_path;

LlamaConfig tiny_config() {
  LlamaConfig c;
  c.vocab_size = 32;
  c.hidden_size = 16;
  c.intermediate_size = 24;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.max_position_embeddings = 32;
  return c;
}

at::Tensor random_ids(std::int64_t B, std::int64_t T, std::int64_t V, at::Generator gen) {
  return at::randint(4, V, {B, T}, gen, at::TensorOptions().dtype(at::kLong));
}

DecoderInput full_input(const at::Tensor& ids, const at::Tensor& mask) {
  return {ids, mask, position_ids_from_mask(mask)};
}

// Logits of `ids` [B, T] decoded with a KV cache: `prefill` positions in one forward, then one
// position at a time.
at::Tensor cached_logits(CausalLm& lm, const at::Tensor& ids, const at::Tensor& mask,
                         std::int64_t prefill) {
  const auto B = ids.size(0), T = ids.size(1);
  KvCache cache(lm->config(), B, T, at::TensorOptions().dtype(at::kFloat));
  const at::Tensor positions = position_ids_from_mask(mask);
  std::vector<at::Tensor> pieces = {lm->forward(
      {ids.narrow(1, 0, prefill), mask.narrow(1, 0, prefill), positions.narrow(1, 0, prefill)},
      &cache)};
  for (std::int64_t t = prefill; t < T; ++t) {
    pieces.push_back(lm->forward(
        {ids.narrow(1, t, 1), mask.narrow(1, 0, t + 1), positions.narrow(1, t, 1)}, &cache));
  }
  EXPECT_EQ(cache.length(), T);
  return at::cat(pieces, 1);
}

// Golden parity: scripts/reference/llama_reference.py computed these in float64 with an
// independent implementation; compared on real (non-padding) positions.
class GoldenParityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    expected_ =
        checkpoint::load_safetensors(test_data_path("golden/llama_tiny_expected.safetensors"));
    ids_ = *expected_.find("input_ids");
    mask_ = *expected_.find("attention_mask");
    real_ = mask_.to(at::kBool);
  }
  checkpoint::SafetensorsContent expected_;
  at::Tensor ids_, mask_, real_;
};

TEST_F(GoldenParityTest, CausalLmWithSeparateHeadMatchesReferenceLogits) {
  CausalLm lm = load_causal_lm(test_data_path("golden/llama_tiny_lm"));
  const at::Tensor logits = lm->forward(full_input(ids_, mask_));
  EXPECT_TRUE(
      tensors_near(logits.index({real_}), expected_.find("lm_logits")->index({real_}), 2e-5));
}

TEST_F(GoldenParityTest, TiedCausalLmMatchesReferenceLogits) {
  CausalLm lm = load_causal_lm(test_data_path("golden/llama_tiny_tied"));
  const at::Tensor logits = lm->forward(full_input(ids_, mask_));
  EXPECT_TRUE(
      tensors_near(logits.index({real_}), expected_.find("tied_logits")->index({real_}), 2e-5));
}

TEST_F(GoldenParityTest, ScalarModelMatchesReferenceValuesAndScores) {
  ScalarModel rm = load_scalar_model(test_data_path("golden/llama_tiny_score"));
  const at::Tensor values = rm->forward(full_input(ids_, mask_));
  EXPECT_TRUE(tensors_near(values.index({real_}), expected_.find("values")->index({real_}), 2e-5));
  EXPECT_TRUE(tensors_near(score_at_last_token(values, mask_), *expected_.find("scores"), 2e-5));
}

// The families (scripts/reference/llama_reference.py FAMILIES): Llama with llama3 and linear
// rope_scaling and attention biases, Mistral, Qwen2 (q/k/v biases, tied and untied). Each model
// directory's outputs against the float64 reference.
class FamilyParityTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FamilyParityTest, MatchesTheReference) {
  const std::string name = GetParam();
  const auto expected =
      checkpoint::load_safetensors(test_data_path("golden/families_expected.safetensors"));
  const at::Tensor ids = *expected.find("input_ids"), mask = *expected.find("attention_mask");
  const at::Tensor real = mask.to(at::kBool);
  const std::string dir = test_data_path("golden/" + name);
  ASSERT_NE(expected.find(name), nullptr) << name;
  const at::Tensor want = *expected.find(name);
  if (name.size() > 6 && name.compare(name.size() - 6, 6, "_score") == 0) {
    ScalarModel rm = load_scalar_model(dir);
    const at::Tensor values = rm->forward(full_input(ids, mask));
    EXPECT_TRUE(tensors_near(values.index({real}), want.index({real}), 2e-5));
  } else {
    CausalLm lm = load_causal_lm(dir);
    const at::Tensor logits = lm->forward(full_input(ids, mask));
    EXPECT_TRUE(tensors_near(logits.index({real}), want.index({real}), 2e-5));
  }
}

INSTANTIATE_TEST_SUITE_P(Families, FamilyParityTest,
                         ::testing::Values("llama3_tiny_lm", "llama3_tiny_score", "linear_tiny_lm",
                                           "linear_tiny_score", "mistral_tiny_lm",
                                           "mistral_tiny_score", "qwen2_tiny_lm",
                                           "qwen2_tiny_score", "qwen2_tiny_tied"));

TEST(FamilyTest, ConfigsReadAsTheirFamily) {
  const LlamaConfig llama3 = read_model_config(test_data_path("golden/llama3_tiny_lm"));
  EXPECT_EQ(llama3.family, ModelFamily::Llama);
  EXPECT_EQ(llama3.rope_scaling.type, RopeScaling::Type::Llama3);
  EXPECT_EQ(llama3.rope_scaling.factor, 8.0);
  EXPECT_EQ(llama3.rope_scaling.original_max_position_embeddings, 64);
  EXPECT_TRUE(llama3.qkv_bias() && llama3.o_bias());
  const LlamaConfig mistral = read_model_config(test_data_path("golden/mistral_tiny_lm"));
  EXPECT_EQ(mistral.family, ModelFamily::Mistral);
  EXPECT_EQ(mistral.sliding_window, 4096);
  EXPECT_FALSE(mistral.qkv_bias() || mistral.o_bias());
  ModelKind kind = ModelKind::CausalLm;
  const LlamaConfig qwen = read_model_config(test_data_path("golden/qwen2_tiny_score"), &kind);
  EXPECT_EQ(qwen.family, ModelFamily::Qwen2);
  EXPECT_EQ(kind, ModelKind::Scalar);
  EXPECT_EQ(qwen.sliding_window, 0);  // use_sliding_window false
  EXPECT_TRUE(qwen.qkv_bias());
  EXPECT_FALSE(qwen.o_bias());
}

TEST(FamilyTest, Llama3FrequenciesKeepHighDivideLowAndBlendBetween) {
  LlamaConfig c = tiny_config();
  c.hidden_size = 32;  // head_dim 8: frequencies 1, 500^-1/4, 500^-1/2, 500^-3/4
  c.rope_theta = 500.0;
  const at::Tensor plain = rope_inv_freq(c);
  c.rope_scaling = {RopeScaling::Type::Llama3, 8.0, 1.0, 8.0, 64};
  const at::Tensor scaled = rope_inv_freq(c);
  // Wavelengths 2 pi / f: 6.3 (< 64 / 8: kept), 29.7 (between 8 and 64: blended), 140.5 and
  // 664 (> 64: divided by 8).
  const double f1 = std::pow(500.0, -0.25);
  const double smooth = (64.0 / (2 * M_PI / f1) - 1.0) / (8.0 - 1.0);
  EXPECT_NEAR(scaled[0].item<double>(), 1.0, 1e-6);
  EXPECT_NEAR(scaled[1].item<double>(), (1 - smooth) * f1 / 8 + smooth * f1, 1e-6);
  EXPECT_NEAR(scaled[2].item<double>(), plain[2].item<double>() / 8, 1e-7);
  EXPECT_NEAR(scaled[3].item<double>(), plain[3].item<double>() / 8, 1e-8);
  c.rope_scaling = {RopeScaling::Type::Linear, 4.0};
  EXPECT_TRUE(at::allclose(rope_inv_freq(c), plain / 4.0));
}

TEST(FamilyTest, BiasedModelsDecodeWithTheCacheAsAFullForward) {
  LlamaConfig c = tiny_config();
  c.family = ModelFamily::Qwen2;
  c.rope_scaling = {RopeScaling::Type::Llama3, 4.0, 1.0, 4.0, 16};
  CausalLm lm(c);
  at::Generator gen = at::detail::createCPUGenerator(21);
  init_weights(*lm, gen);
  {
    at::NoGradGuard no_grad;
    for (auto& p : lm->named_parameters()) {
      if (p.key().find(".bias") != std::string::npos) {
        EXPECT_TRUE(at::equal(p.value(), at::zeros_like(p.value()))) << p.key();
        p.value().normal_(0.0, 0.5, gen);  // nonzero biases, so the test sees them
      }
    }
  }
  const at::Tensor ids = random_ids(2, 7, c.vocab_size, gen);
  at::Tensor mask = at::ones({2, 7}, at::kLong);
  mask[1][0] = 0;
  const at::Tensor full = lm->forward(full_input(ids, mask));
  const at::Tensor real = mask.to(at::kBool);
  EXPECT_TRUE(
      tensors_near(cached_logits(lm, ids, mask, 3).index({real}), full.index({real}), 1e-5));
  // The biases matter: zeroing them changes the logits.
  {
    at::NoGradGuard no_grad;
    for (auto& p : lm->named_parameters()) {
      if (p.key().find(".bias") != std::string::npos) p.value().zero_();
    }
  }
  EXPECT_FALSE(at::allclose(lm->forward(full_input(ids, mask)), full, 1e-3, 1e-3));
}

TEST(FamilyTest, SaveThenLoadKeepsFamilyBiasesAndScaling) {
  fs::TempDir dir;
  for (const ModelFamily family : {ModelFamily::Llama, ModelFamily::Mistral, ModelFamily::Qwen2}) {
    LlamaConfig c = tiny_config();
    c.family = family;
    c.attention_bias = family == ModelFamily::Llama;
    c.sliding_window = family == ModelFamily::Mistral ? 64 : 0;
    c.rope_scaling = {RopeScaling::Type::Linear, 2.0};
    c.tie_word_embeddings = family != ModelFamily::Qwen2;
    CausalLm lm(c);
    at::Generator gen = at::detail::createCPUGenerator(5);
    init_weights(*lm, gen);
    const std::string m = dir.path() + "/" + model_type_name(family);
    save_causal_lm(lm, m);
    const LlamaConfig back = read_model_config(m);
    EXPECT_EQ(back.family, family);
    EXPECT_EQ(back.attention_bias, c.attention_bias);
    EXPECT_EQ(back.sliding_window, c.sliding_window);
    EXPECT_EQ(back.rope_scaling.type, RopeScaling::Type::Linear);
    EXPECT_EQ(back.rope_scaling.factor, 2.0);
    EXPECT_EQ(back.tie_word_embeddings, c.tie_word_embeddings);
    const auto tensors = checkpoint::load_safetensors(m + "/model.safetensors");
    EXPECT_EQ(tensors.find("model.layers.0.self_attn.q_proj.bias") != nullptr,
              family != ModelFamily::Mistral);
    EXPECT_EQ(tensors.find("model.layers.0.self_attn.o_proj.bias") != nullptr,
              family == ModelFamily::Llama);
    const std::string json = fs::read_file(m + "/config.json");
    EXPECT_NE(json.find(fmt::format("\"model_type\": \"{}\"", model_type_name(family))),
              std::string::npos);
    CausalLm loaded = load_causal_lm(m);
    const at::Tensor ids = random_ids(1, 6, c.vocab_size, gen);
    const at::Tensor mask = at::ones({1, 6}, at::kLong);
    EXPECT_TRUE(
        at::equal(loaded->forward(full_input(ids, mask)), lm->forward(full_input(ids, mask))))
        << model_type_name(family);
  }
}

TEST(FamilyTest, UnsupportedVariantsAndLongSequencesAreClearErrors) {
  auto error_of = [](const std::string& json) -> std::string {
    try {
      parse_hf_config_json(json, "m/config.json");
    } catch (const CheckpointError& e) {
      return e.what();
    }
    return "(no error)";
  };
  const std::string shape =
      R"("hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 1, )"
      R"("num_attention_heads": 4, "vocab_size": 32)";
  EXPECT_NE(
      error_of(R"({"model_type": "llama", "rope_scaling": {"rope_type": "yarn", "factor": 4},)" +
               shape + "}")
          .find("rope_scaling {\"factor\":4,\"rope_type\":\"yarn\"} is not supported"),
      std::string::npos);
  EXPECT_NE(
      error_of(R"({"model_type": "llama", "rope_scaling": {"rope_type": "llama3", "factor": 8},)" +
               shape + "}")
          .find("m/config.json: rope_scaling has no 'low_freq_factor'"),
      std::string::npos);
  EXPECT_NE(
      error_of(R"({"model_type": "llama", "rope_scaling": {"type": "linear", "factor": 0.5},)" +
               shape + "}")
          .find("rope_scaling.factor: got 0.5, expected a value >= 1"),
      std::string::npos);
  EXPECT_NE(error_of(R"({"model_type": "mistral", "attention_bias": true, )" + shape + "}")
                .find("Mistral models have no attention biases"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"model_type": "llama", "mlp_bias": true, )" + shape + "}")
                .find("mlp_bias is true"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"model_type": "qwen2", "use_sliding_window": true, )" + shape + "}")
                .find("use_sliding_window is true but sliding_window"),
            std::string::npos);
  EXPECT_EQ(
      error_of(R"({"model_type": "qwen2", "use_sliding_window": false, "sliding_window": 8, )" +
               shape + "}"),
      "(no error)");
  // A sequence longer than a sliding window is refused rather than attended without the window.
  LlamaConfig c = tiny_config();
  c.family = ModelFamily::Mistral;
  c.sliding_window = 6;
  CausalLm lm(c);
  const at::Tensor ids = at::full({1, 7}, 5, at::kLong);
  EXPECT_NO_THROW(lm->forward(full_input(ids.narrow(1, 0, 6), at::ones({1, 6}, at::kLong))));
  try {
    lm->forward(full_input(ids, at::ones({1, 7}, at::kLong)));
    ADD_FAILURE() << "a 7-token sequence ran through a 6-token window";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a sequence of 7 positions is longer than the model's "
                                         "sliding_window (6, model_type mistral)"),
              std::string::npos)
        << e.what();
  }
}

TEST(LlamaTest, IncrementalDecodingWithTheCacheEqualsAFullForward) {
  const LlamaConfig c = tiny_config();
  CausalLm lm(c);
  at::Generator gen = at::detail::createCPUGenerator(11);
  init_weights(*lm, gen);
  const at::Tensor ids = random_ids(2, 9, c.vocab_size, gen);
  at::Tensor mask = at::ones({2, 9}, at::kLong);
  mask[1][0] = 0;  // row 1 is left-padded by two
  mask[1][1] = 0;
  const at::Tensor full = lm->forward(full_input(ids, mask));
  // Prefill 4 positions, then one at a time.
  const at::Tensor incremental = cached_logits(lm, ids, mask, 4);
  const at::Tensor real = mask.to(at::kBool);
  EXPECT_TRUE(tensors_near(incremental.index({real}), full.index({real}), 1e-5));
}

TEST(LlamaTest, LeftPaddingDoesNotChangeARowsLogits) {
  const LlamaConfig c = tiny_config();
  CausalLm lm(c);
  at::Generator gen = at::detail::createCPUGenerator(12);
  init_weights(*lm, gen);
  const at::Tensor row = random_ids(1, 5, c.vocab_size, gen);
  const at::Tensor alone = lm->forward(full_input(row, at::ones({1, 5}, at::kLong)));
  // The same row behind 3 pads, batched with a full-length row.
  at::Tensor ids = at::full({2, 8}, c.pad_token_id, at::kLong);
  ids.select(0, 0).narrow(0, 3, 5).copy_(row[0]);
  ids.select(0, 1).copy_(random_ids(1, 8, c.vocab_size, gen)[0]);
  at::Tensor mask = at::ones({2, 8}, at::kLong);
  mask.select(0, 0).narrow(0, 0, 3).zero_();
  const at::Tensor batched = lm->forward(full_input(ids, mask));
  EXPECT_TRUE(tensors_near(batched[0].narrow(0, 3, 5), alone[0], 1e-5));
}

TEST(LlamaTest, ParameterNamesAreHuggingFaceNames) {
  LlamaConfig c = tiny_config();
  c.tie_word_embeddings = false;
  CausalLm lm(c);
  std::vector<std::string> names;
  for (const auto& p : lm->named_parameters()) names.push_back(p.key());
  const std::vector<std::string> expected_prefix = {
      "model.embed_tokens.weight",
      "model.layers.0.input_layernorm.weight",
      "model.layers.0.self_attn.q_proj.weight",
      "model.layers.0.self_attn.k_proj.weight",
      "model.layers.0.self_attn.v_proj.weight",
      "model.layers.0.self_attn.o_proj.weight",
      "model.layers.0.post_attention_layernorm.weight",
      "model.layers.0.mlp.gate_proj.weight",
      "model.layers.0.mlp.up_proj.weight",
      "model.layers.0.mlp.down_proj.weight"};
  ASSERT_EQ(names.size(), 1 + 9 * 2 + 1 + 1u);
  for (std::size_t i = 0; i < expected_prefix.size(); ++i) EXPECT_EQ(names[i], expected_prefix[i]);
  EXPECT_EQ(names[names.size() - 2], "model.norm.weight");
  EXPECT_EQ(names.back(), "lm_head.weight");
  EXPECT_EQ(lm->named_parameters()["model.layers.1.self_attn.k_proj.weight"].sizes(),
            at::IntArrayRef({2 * 4, 16}));
  ScalarModel rm(tiny_config());
  EXPECT_NE(rm->named_parameters().find("score.weight"), nullptr);
  EXPECT_EQ(rm->named_parameters()["score.weight"].sizes(), at::IntArrayRef({1, 16}));
}

TEST(LlamaTest, GradientCheckpointingGivesTheSameGradientsAndKeepsOnlyBlockInputs) {
  for (const bool qwen2 : {false, true}) {  // with q/k/v biases too
    LlamaConfig c = tiny_config();
    c.tie_word_embeddings = false;
    if (qwen2) c.family = ModelFamily::Qwen2;
    CausalLm lm(c);
    at::Generator gen = at::detail::createCPUGenerator(21);
    init_weights(*lm, gen);
    const at::Tensor ids = random_ids(3, 7, c.vocab_size, gen);
    at::Tensor mask = at::ones({3, 7}, at::kLong);
    mask[2][0] = 0;  // a left-padded row
    const at::Tensor weights = at::randn({3, 7, c.vocab_size}, gen);
    const auto gradients = [&](bool checkpointing) {
      lm->backbone()->set_gradient_checkpointing(checkpointing);
      lm->zero_grad();
      const at::Tensor logits = lm->forward(full_input(ids, mask));
      (logits * weights).sum().backward();
      std::vector<at::Tensor> out;
      for (const auto& p : lm->parameters()) out.push_back(p.grad().clone());
      return std::make_pair(out, logits.detach().clone());
    };
    const auto [plain, plain_logits] = gradients(false);
    const auto [checkpointed, checkpointed_logits] = gradients(true);
    EXPECT_TRUE(at::equal(plain_logits, checkpointed_logits));
    ASSERT_EQ(plain.size(), checkpointed.size());
    for (std::size_t i = 0; i < plain.size(); ++i) {
      EXPECT_TRUE(at::equal(plain[i], checkpointed[i])) << "parameter " << i;
      EXPECT_GT(plain[i].abs().sum().item<double>(), 0.0) << "parameter " << i;
    }
    // Frozen blocks (only the head trains): the input gradient still flows where it must.
    for (auto& p : lm->backbone()->parameters()) p.set_requires_grad(false);
    lm->backbone()->set_gradient_checkpointing(true);
    lm->zero_grad();
    (lm->forward(full_input(ids, mask)) * weights).sum().backward();
    EXPECT_TRUE(
        at::equal(lm->named_parameters()["lm_head.weight"].grad(), plain[plain.size() - 1]));
  }
}

TEST(LlamaTest, CheckpointedForwardRecordsOneNodePerBlock) {
  LlamaConfig c = tiny_config();
  CausalLm lm(c);
  lm->backbone()->set_gradient_checkpointing(true);
  at::Generator gen = at::detail::createCPUGenerator(22);
  const at::Tensor ids = random_ids(1, 5, c.vocab_size, gen);
  const at::Tensor hidden = lm->backbone()->forward(full_input(ids, at::ones({1, 5}, at::kLong)));
  // Walk the graph from the output: every block appears as one CheckpointedBlock node.
  std::vector<torch::autograd::Node*> stack = {hidden.grad_fn().get()};
  std::set<torch::autograd::Node*> seen;
  int blocks = 0;
  while (!stack.empty()) {
    torch::autograd::Node* node = stack.back();
    stack.pop_back();
    if (node == nullptr || !seen.insert(node).second) continue;
    if (node->name().find("CheckpointedBlock") != std::string::npos) ++blocks;
    for (const auto& edge : node->next_edges()) stack.push_back(edge.function.get());
  }
  EXPECT_EQ(blocks, c.num_hidden_layers);
  // Without gradients (sampling, scoring) nothing is checkpointed.
  at::NoGradGuard no_grad;
  EXPECT_FALSE(
      lm->backbone()->forward(full_input(ids, at::ones({1, 5}, at::kLong))).requires_grad());
}

TEST(LlamaTest, Bfloat16FrozenModelLogProbsStayWithinToleranceOfFloat32) {
  // run.frozen_dtype bfloat16: the reference stored and run in bf16, log-probs in float32. The
  // stated tolerance (docs/memory.md): per-token log-prob within 0.05, the per-sequence sum (what
  // the KL penalty uses) within 0.1 on a 16-token response, at half the bytes.
  LlamaConfig c = tiny_config();
  c.vocab_size = 256;
  c.hidden_size = 64;
  c.intermediate_size = 128;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.max_position_embeddings = 64;
  CausalLm lm(c);
  at::Generator gen = at::detail::createCPUGenerator(31);
  init_weights(*lm, gen);
  {
    at::NoGradGuard no_grad;  // weights of a trained model's scale, not the init's near-zero
    for (auto& p : lm->parameters()) {
      if (p.dim() == 2) p.normal_(0.0, 0.08, gen);
    }
  }
  const at::Tensor ids = random_ids(4, 24, c.vocab_size, gen);
  const at::Tensor mask = at::ones({4, 24}, at::kLong);
  const auto logprobs = [&] {
    const at::Tensor logits = lm->forward(full_input(ids, mask)).narrow(1, 7, 16);
    EXPECT_EQ(logits.scalar_type(), at::kFloat);
    return at::log_softmax(logits, -1).gather(2, ids.narrow(1, 8, 16).unsqueeze(2)).squeeze(2);
  };
  const auto bytes = [&] {
    std::int64_t n = 0;
    for (const auto& p : lm->parameters()) n += p.numel() * p.element_size();
    return n;
  };
  const at::Tensor f32 = logprobs();
  const std::int64_t f32_bytes = bytes();
  lm->to(at::kBFloat16);
  const at::Tensor bf16 = logprobs();
  EXPECT_EQ(bytes() * 2, f32_bytes);
  const double token = (bf16 - f32).abs().max().item<double>();
  const double sequence = (bf16.sum(1) - f32.sum(1)).abs().max().item<double>();
  EXPECT_LT(token, 0.05);
  EXPECT_LT(sequence, 0.1);
  EXPECT_GT(token, 0.0);  // it did run in bf16
  std::cout << "bf16 frozen log-probs: max token diff " << token << ", max sequence diff "
            << sequence << " (mean |log p| " << f32.abs().mean().item<double>() << ")\n";
}

// ---- LoRA ----

LlamaConfig lora_config() {
  LlamaConfig c = tiny_config();
  c.tie_word_embeddings = false;
  c.family = ModelFamily::Qwen2;  // q/k/v biases beside the adapters
  return c;
}
const LoraSpec kLora{4, 8.0, {"q_proj", "v_proj", "o_proj", "gate_proj", "down_proj"}};

TEST(LoraTest, ZeroInitialisedAdaptersLeaveOutputsIdenticalAndAdaptersOffIsTheBase) {
  CausalLm lm(lora_config());
  at::Generator gen = at::detail::createCPUGenerator(41);
  init_weights(*lm, gen);
  const at::Tensor ids = random_ids(2, 6, 32, gen);
  at::Tensor mask = at::ones({2, 6}, at::kLong);
  mask[1][0] = 0;
  const at::Tensor base = lm->forward(full_input(ids, mask)).detach();
  lm->backbone()->add_lora(kLora, gen);
  EXPECT_TRUE(at::equal(lm->forward(full_input(ids, mask)), base));  // B = 0, with gradients
  {
    at::NoGradGuard no_grad;  // merged weights
    EXPECT_TRUE(at::equal(lm->forward(full_input(ids, mask)), base));
  }
  // Trained adapters change the outputs; switched off, the model is the base exactly.
  {
    at::NoGradGuard no_grad;
    for (auto& [name, t] : lora_named_weights(*lm)) t.normal_(0.0, 0.3, gen);
  }
  EXPECT_FALSE(tensors_near(lm->forward(full_input(ids, mask)), base, 1e-3));
  lm->backbone()->set_adapters_enabled(false);
  EXPECT_TRUE(at::equal(lm->forward(full_input(ids, mask)), base));
  {
    at::NoGradGuard no_grad;
    EXPECT_TRUE(at::equal(lm->forward(full_input(ids, mask)), base));
  }
  lm->backbone()->set_adapters_enabled(true);
  // The merged forward (no gradients) and the adapters beside the weights agree.
  const at::Tensor beside = lm->forward(full_input(ids, mask)).detach();
  at::NoGradGuard no_grad;
  EXPECT_TRUE(tensors_near(lm->forward(full_input(ids, mask)), beside, 1e-5));
}

TEST(LoraTest, GradientsReachOnlyTheAdaptersAndCheckpointingKeepsThem) {
  CausalLm lm(lora_config());
  at::Generator gen = at::detail::createCPUGenerator(42);
  init_weights(*lm, gen);
  for (auto& t : lm->parameters()) t.set_requires_grad(false);
  lm->backbone()->add_lora(kLora, gen);
  {
    at::NoGradGuard no_grad;
    for (auto& [name, t] : lora_named_weights(*lm)) {
      if (name.find("lora_B") != std::string::npos) t.normal_(0.0, 0.1, gen);
    }
  }
  const at::Tensor ids = random_ids(2, 6, 32, gen);
  const at::Tensor mask = at::ones({2, 6}, at::kLong);
  const at::Tensor weights = at::randn({2, 6, 32}, gen);
  const auto gradients = [&](bool checkpointing) {
    lm->backbone()->set_gradient_checkpointing(checkpointing);
    lm->zero_grad();
    (lm->forward(full_input(ids, mask)) * weights).sum().backward();
    std::map<std::string, at::Tensor> out;
    for (const auto& p : lm->named_parameters()) {
      if (p.value().grad().defined()) out[p.key()] = p.value().grad().clone();
    }
    return out;
  };
  const auto plain = gradients(false);
  // 5 targets x 2 layers x (A, B), nothing else.
  ASSERT_EQ(plain.size(), 5u * 2u * 2u);
  for (const auto& [name, g] : plain) {
    EXPECT_TRUE(name.find(".lora_A.weight") != std::string::npos ||
                name.find(".lora_B.weight") != std::string::npos)
        << name;
    EXPECT_GT(g.abs().sum().item<double>(), 0.0) << name;
  }
  const auto checkpointed = gradients(true);
  ASSERT_EQ(checkpointed.size(), plain.size());
  for (const auto& [name, g] : plain) EXPECT_TRUE(at::equal(checkpointed.at(name), g)) << name;
}

TEST(LoraTest, MergedExportIsBasePlusScaledAdaptersAndPeftLayoutHasPeftNames) {
  CausalLm lm(lora_config());
  at::Generator gen = at::detail::createCPUGenerator(43);
  init_weights(*lm, gen);
  const at::Tensor q = lm->named_parameters()["model.layers.1.self_attn.q_proj.weight"].clone();
  lm->backbone()->add_lora(kLora, gen);
  {
    at::NoGradGuard no_grad;
    for (auto& [name, t] : lora_named_weights(*lm)) t.normal_(0.0, 0.2, gen);
  }
  auto params = lm->named_parameters();
  const at::Tensor a = params["model.layers.1.self_attn.q_proj.lora_A.weight"];
  const at::Tensor b = params["model.layers.1.self_attn.q_proj.lora_B.weight"];
  std::map<std::string, at::Tensor> merged;
  for (const auto& [name, t] : hf_named_weights(*lm)) merged[name] = t;
  EXPECT_EQ(merged.count("model.layers.1.self_attn.q_proj.lora_A.weight"), 0u);
  EXPECT_EQ(merged.size(), 1 + 2 * (9 + 3) + 1 + 1u);  // the base's tensors, biases included
  EXPECT_TRUE(tensors_near(merged.at("model.layers.1.self_attn.q_proj.weight"),
                           q + at::mm(b, a) * (8.0 / 4.0), 1e-6));
  EXPECT_TRUE(at::equal(merged.at("model.layers.1.self_attn.k_proj.weight"),
                        params["model.layers.1.self_attn.k_proj.weight"]));  // not a target
  // The exported directory loads as a plain model that computes what the adapted one does.
  fs::TempDir dir("lora-export");
  save_causal_lm(lm, dir.path() + "/merged");
  CausalLm plain = load_causal_lm(dir.path() + "/merged");
  const at::Tensor ids = random_ids(2, 5, 32, gen);
  const at::Tensor mask = at::ones({2, 5}, at::kLong);
  at::NoGradGuard no_grad;
  EXPECT_TRUE(tensors_near(plain->forward(full_input(ids, mask)),
                           lm->forward(full_input(ids, mask)), 1e-5));
  save_peft_adapter(lm, dir.path() + "/adapter", "base/model");
  const auto content =
      checkpoint::load_safetensors(dir.path() + "/adapter/adapter_model.safetensors");
  EXPECT_EQ(content.tensors.size(), 5u * 2u * 2u);
  const at::Tensor* saved_a =
      content.find("base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight");
  ASSERT_NE(saved_a, nullptr);
  EXPECT_TRUE(at::equal(*saved_a, a));
  const auto config =
      nlohmann::json::parse(fs::read_file(dir.path() + "/adapter/adapter_config.json"));
  EXPECT_EQ(config.at("peft_type"), "LORA");
  EXPECT_EQ(config.at("r"), 4);
  EXPECT_EQ(config.at("lora_alpha"), 8.0);
  EXPECT_EQ(config.at("base_model_name_or_path"), "base/model");
  EXPECT_EQ(config.at("target_modules").size(), 5u);
}

TEST(LlamaTest, TwoTrainModeForwardsAreIdentical) {  // no dropout or other randomness
  CausalLm lm(tiny_config());
  lm->train();
  at::Generator gen = at::detail::createCPUGenerator(3);
  const at::Tensor ids = random_ids(2, 6, 32, gen);
  const at::Tensor mask = at::ones({2, 6}, at::kLong);
  EXPECT_TRUE(at::equal(lm->forward(full_input(ids, mask)), lm->forward(full_input(ids, mask))));
}

TEST(LlamaTest, Bfloat16ForwardStaysCloseToFloat32) {
  CausalLm lm(tiny_config());
  at::Generator gen = at::detail::createCPUGenerator(4);
  init_weights(*lm, gen);
  const at::Tensor ids = random_ids(2, 6, 32, gen);
  const at::Tensor mask = at::ones({2, 6}, at::kLong);
  const at::Tensor f32 = lm->forward(full_input(ids, mask));
  lm->to(at::kBFloat16);
  const at::Tensor bf16 = lm->forward(full_input(ids, mask));
  EXPECT_EQ(bf16.scalar_type(), at::kFloat);  // logits are always float32
  EXPECT_TRUE(tensors_near(bf16, f32, 0.05));
}

TEST(HfIoTest, ShardedDirectoryLoadsTheSameModel) {
  fs::TempDir dir;
  CausalLm lm(tiny_config());
  init_weights(*lm, at::detail::createCPUGenerator(9));
  save_causal_lm(lm, dir.path() + "/m");
  // Split model.safetensors into two shards with an index, as transformers writes large models.
  const auto all = checkpoint::load_safetensors(dir.path() + "/m/model.safetensors");
  checkpoint::NamedTensors first, second;
  std::string map;
  for (std::size_t i = 0; i < all.tensors.size(); ++i) {
    const bool one = i % 2 == 0;
    (one ? first : second).push_back(all.tensors[i]);
    map += fmt::format("{}\"{}\": \"model-0000{}-of-00002.safetensors\"", map.empty() ? "" : ", ",
                       all.tensors[i].first, one ? 1 : 2);
  }
  checkpoint::save_safetensors(dir.path() + "/m/model-00001-of-00002.safetensors", first);
  checkpoint::save_safetensors(dir.path() + "/m/model-00002-of-00002.safetensors", second);
  fs::write_file_atomic(dir.path() + "/m/model.safetensors.index.json",
                        "{\"weight_map\": {" + map + "}}");
  std::filesystem::remove(dir.path() + "/m/model.safetensors");
  CausalLm loaded = load_causal_lm(dir.path() + "/m");
  const at::Tensor ids = random_ids(2, 5, 32, at::detail::createCPUGenerator(6));
  const at::Tensor mask = at::ones({2, 5}, at::kLong);
  EXPECT_TRUE(
      at::equal(loaded->forward(full_input(ids, mask)), lm->forward(full_input(ids, mask))));
}

TEST(HfIoTest, ShardsAreWrittenAboveTheSizeAndReadBackIdentically) {
  fs::TempDir dir;
  LlamaConfig c = tiny_config();
  c.family = ModelFamily::Qwen2;  // biases too
  CausalLm lm(c);
  init_weights(*lm, at::detail::createCPUGenerator(31));
  // About 14 KB of float32 weights; shards of at most 4 KB (the 2 KB embedding alone fits).
  save_causal_lm(lm, dir.path() + "/sharded", "", at::kFloat, 4096);
  const std::string index_path = dir.path() + "/sharded/model.safetensors.index.json";
  ASSERT_TRUE(std::filesystem::exists(index_path));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/sharded/model.safetensors"));
  const auto index = checkpoint::parse_safetensors_index(fs::read_file(index_path), index_path);
  EXPECT_GE(index.shards.size(), 3u);
  std::uint64_t total = 0;
  for (const auto& shard : index.shards) {
    EXPECT_EQ(shard.rfind("model-0000", 0), 0u) << shard;
    const std::string path = dir.path() + "/sharded/" + shard;
    EXPECT_LE(std::filesystem::file_size(path), 4096u + 2048u) << shard;  // + header
    for (const auto& [name, t] : checkpoint::load_safetensors(path).tensors) {
      total += static_cast<std::uint64_t>(t.numel() * t.element_size());
    }
  }
  EXPECT_NE(fs::read_file(index_path).find(fmt::format("\"total_size\": {}", total)),
            std::string::npos);
  CausalLm back = load_causal_lm(dir.path() + "/sharded");
  const auto a = lm->named_parameters(), b = back->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& p : a) EXPECT_TRUE(at::equal(p.value(), *b.find(p.key()))) << p.key();
  // Below the size (or 0): one file.
  save_causal_lm(lm, dir.path() + "/single", "", at::kFloat, 0);
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/single/model.safetensors"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/single/model.safetensors.index.json"));
  EXPECT_EQ(checkpoint::shard_starts({5, 5, 20, 1, 1}, 10), (std::vector<std::size_t>{0, 2, 3}));
  EXPECT_EQ(checkpoint::shard_starts({5, 5, 20}, 0), (std::vector<std::size_t>{0}));
}

TEST(HfIoTest, SaveThenLoadGivesTheSameModelAndHfFiles) {
  fs::TempDir dir;
  LlamaConfig c = tiny_config();
  c.tie_word_embeddings = true;
  CausalLm lm(c);
  init_weights(*lm, at::detail::createCPUGenerator(5));
  save_causal_lm(lm, dir.path() + "/m");
  const auto files = checkpoint::load_safetensors(dir.path() + "/m/model.safetensors");
  EXPECT_EQ(files.find("lm_head.weight"), nullptr);  // tied: not stored, as transformers does
  EXPECT_EQ(files.metadata.at("format"), "pt");
  ModelKind kind = ModelKind::Scalar;
  const LlamaConfig back = read_model_config(dir.path() + "/m", &kind);
  EXPECT_EQ(kind, ModelKind::CausalLm);
  EXPECT_EQ(back.num_key_value_heads, 2);
  EXPECT_TRUE(back.tie_word_embeddings);
  const std::string json = fs::read_file(dir.path() + "/m/config.json");
  EXPECT_NE(json.find("\"architectures\": [\n    \"LlamaForCausalLM\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"model_type\": \"llama\""), std::string::npos);

  CausalLm loaded = load_causal_lm(dir.path() + "/m");
  const at::Tensor ids = random_ids(2, 5, 32, at::detail::createCPUGenerator(6));
  const at::Tensor mask = at::ones({2, 5}, at::kLong);
  EXPECT_TRUE(
      at::equal(loaded->forward(full_input(ids, mask)), lm->forward(full_input(ids, mask))));

  // Saving again replaces the directory atomically (no leftovers).
  save_causal_lm(loaded, dir.path() + "/m", "", at::kBFloat16);
  EXPECT_EQ(checkpoint::load_safetensors(dir.path() + "/m/model.safetensors")
                .tensors[0]
                .second.scalar_type(),
            at::kBFloat16);
  std::size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) entries += e.is_directory();
  EXPECT_EQ(entries, 1u);
}

TEST(HfIoTest, ScalarModelRoundTripAndFreshHeadFromACausalLm) {
  fs::TempDir dir;
  ScalarModel rm(tiny_config());
  init_weights(*rm, at::detail::createCPUGenerator(8));
  save_scalar_model(rm, dir.path() + "/rm");
  ScalarModel back = load_scalar_model(dir.path() + "/rm");
  EXPECT_TRUE(
      at::equal(back->named_parameters()["score.weight"], rm->named_parameters()["score.weight"]));
  // A causal LM directory seeds a value model only when a fresh head is allowed.
  CausalLm lm(tiny_config());
  save_causal_lm(lm, dir.path() + "/lm");
  EXPECT_THROW(load_scalar_model(dir.path() + "/lm"), CheckpointError);
  ScalarModel value = load_scalar_model(dir.path() + "/lm", {}, /*allow_fresh_head=*/true);
  EXPECT_TRUE(at::equal(value->named_parameters()["model.norm.weight"],
                        lm->named_parameters()["model.norm.weight"]));
}

// A reward model records what it reads; models made elsewhere (no key) read prompt + response.
TEST(HfIoTest, ScalarModelRecordsWhatItReads) {
  fs::TempDir dir;
  ScalarModel rm(tiny_config());
  save_scalar_model(rm, dir.path() + "/rm", "", at::kFloat, config::RewardInput::Response);
  EXPECT_EQ(read_score_input(dir.path() + "/rm"), config::RewardInput::Response);
  save_scalar_model(rm, dir.path() + "/rm");
  EXPECT_EQ(read_score_input(dir.path() + "/rm"), config::RewardInput::PromptResponse);
  const std::string path = dir.path() + "/rm/config.json";
  std::string text = fs::read_file(path);
  text.replace(text.find("\"infalign_score_input\": \"prompt_response\""),
               std::string("\"infalign_score_input\": \"prompt_response\"").size(),
               "\"another_tool\": 1");
  fs::write_file_atomic(path, text);
  EXPECT_EQ(read_score_input(dir.path() + "/rm"), config::RewardInput::PromptResponse);
  fs::write_file_atomic(path, R"({"infalign_score_input": "answer"})");
  try {
    read_score_input(dir.path() + "/rm");
    ADD_FAILURE() << "an unknown infalign_score_input was accepted";
  } catch (const CheckpointError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find("\"answer\""), std::string::npos) << what;
    EXPECT_NE(what.find("prompt_response, response"), std::string::npos) << what;
  }
}

// Each broken directory is a CheckpointError that names the file and the tensor.
TEST(HfIoTest, BrokenDirectoriesAreCheckpointErrorsNamingTheProblem) {
  fs::TempDir dir;
  const std::string m = dir.path() + "/m";
  CausalLm lm(tiny_config());
  auto expect_error = [&](const std::string& what, const std::string& needle) {
    try {
      load_causal_lm(m);
      ADD_FAILURE() << what << ": loaded without error";
    } catch (const CheckpointError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << what << ": " << e.what();
    }
  };
  auto rewrite = [&](const std::function<void(checkpoint::NamedTensors&)>& edit) {
    save_causal_lm(lm, m);
    auto content = checkpoint::load_safetensors(m + "/model.safetensors");
    edit(content.tensors);
    checkpoint::save_safetensors(m + "/model.safetensors", content.tensors);
  };
  rewrite([](checkpoint::NamedTensors& t) { t.erase(t.begin() + 3); });
  expect_error("missing", "missing tensor 'model.layers.0.self_attn.k_proj.weight'");
  rewrite([](checkpoint::NamedTensors& t) { t.emplace_back("model.extra.weight", at::ones({2})); });
  expect_error("unexpected", "unexpected tensor 'model.extra.weight'");
  rewrite([](checkpoint::NamedTensors& t) { t[0].second = at::ones({31, 16}); });
  expect_error("shape", "tensor 'model.embed_tokens.weight' has shape [31, 16], expected [32, 16]");
  rewrite([](checkpoint::NamedTensors& t) {
    t.emplace_back("lm_head.weight", at::zeros({32, 16}));
  });
  expect_error("tied head differs", "lm_head.weight differs");
  save_causal_lm(lm, m);
  fs::write_file_atomic(m + "/config.json", R"({"model_type": "llama", "hidden_size": 16})");
  expect_error("config", m + "/config.json: missing 'intermediate_size'");
  fs::write_file_atomic(m + "/config.json", R"({"model_type": "gpt2"})");
  expect_error("model type", "model_type is \"gpt2\", expected \"llama\"");
  save_causal_lm(lm, m);
  fs::write_file_atomic(m + "/model.safetensors", "garbage!");
  expect_error("garbage", m + "/model.safetensors: header length");
  std::filesystem::remove_all(m);
  expect_error("no directory", "expected a Hugging Face model directory");
}

}  // namespace
}  // namespace infalign::model
