#include "infalign/model/llama.h"

#include <filesystem>
#include <functional>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "infalign/checkpoint/safetensors.h"
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

  KvCache cache(c, 2, 9, at::TensorOptions().dtype(at::kFloat));
  const at::Tensor positions = position_ids_from_mask(mask);
  // Prefill 4 positions, then one at a time.
  std::vector<at::Tensor> pieces = {
      lm->forward({ids.narrow(1, 0, 4), mask.narrow(1, 0, 4), positions.narrow(1, 0, 4)}, &cache)};
  for (std::int64_t t = 4; t < 9; ++t) {
    pieces.push_back(lm->forward(
        {ids.narrow(1, t, 1), mask.narrow(1, 0, t + 1), positions.narrow(1, t, 1)}, &cache));
  }
  EXPECT_EQ(cache.length(), 9);
  const at::Tensor incremental = at::cat(pieces, 1);
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
