#include "infalign/generation/generate.h"

#include <algorithm>
#include <set>

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "infalign/core/error.h"

#include "tensor_compare.h"
#include "tiny_lm.h"

namespace infalign::generation {
namespace {

using testing::tensors_near;
using testing::tiny_lm;

const std::vector<std::vector<std::int64_t>> kPrompts = {{1, 5, 9, 11}, {1, 7}, {1, 20, 21}};

TEST(GenerateTest, LogprobsEqualAFreshForwardAtTheSampledTokens) {
  model::CausalLm lm = tiny_lm(1);
  GenerationOptions o;
  o.max_new_tokens = 6;
  o.sampling.temperature = 0.7;
  o.eos_id = -1;
  const GenerationResult r = generate(lm, kPrompts, o, at::detail::createCPUGenerator(3));
  ASSERT_EQ(r.response_ids.sizes(), at::IntArrayRef({3, 6}));
  const at::Tensor sequence = at::cat({r.prompt_ids, r.response_ids}, 1);
  const at::Tensor mask = at::cat({r.prompt_mask, r.response_mask}, 1);
  const at::Tensor logits = lm->forward({sequence, mask, model::position_ids_from_mask(mask)});
  const auto P = r.prompt_ids.size(1);
  // Logits at position t predict token t + 1.
  const at::Tensor predicting = logits.narrow(1, P - 1, 6) / 0.7;
  const at::Tensor expected =
      at::log_softmax(predicting, -1).gather(2, r.response_ids.unsqueeze(2)).squeeze(2);
  EXPECT_TRUE(tensors_near(r.logprobs, expected, 1e-5));
  EXPECT_EQ(r.generated_tokens, 18);
}

TEST(GenerateTest, CacheAndFullRecomputeDrawTheSameTokens) {
  model::CausalLm lm = tiny_lm(2);
  GenerationOptions o;
  o.max_new_tokens = 8;
  o.eos_id = -1;
  const GenerationResult cached = generate(lm, kPrompts, o, at::detail::createCPUGenerator(9));
  o.use_kv_cache = false;
  const GenerationResult recomputed = generate(lm, kPrompts, o, at::detail::createCPUGenerator(9));
  EXPECT_TRUE(at::equal(cached.response_ids, recomputed.response_ids));
  EXPECT_TRUE(tensors_near(cached.logprobs, recomputed.logprobs, 1e-5));
}

TEST(GenerateTest, RowsStopAtEosAndArePaddedAfterIt) {
  model::CausalLm lm = tiny_lm(4);
  // Make EOS (id 2) likely everywhere so rows finish at different steps.
  {
    at::NoGradGuard no_grad;
    lm->named_parameters()["model.embed_tokens.weight"][2].mul_(3.0);
  }
  GenerationOptions o;
  o.max_new_tokens = 10;
  o.eos_id = 2;
  o.pad_id = 3;
  const GenerationResult r = generate(lm, kPrompts, o, at::detail::createCPUGenerator(5));
  bool some_row_ended = false;
  for (std::int64_t b = 0; b < 3; ++b) {
    const auto ids = r.response_ids[b];
    const auto m = r.response_mask[b];
    const auto length = r.response_lengths[b].item<std::int64_t>();
    EXPECT_EQ(m.sum().item<std::int64_t>(), length);
    EXPECT_TRUE(at::equal(m.narrow(0, 0, length), at::ones({length}, at::kLong)));
    if (r.ended_with_eos[b].item<bool>()) {
      some_row_ended = true;
      EXPECT_EQ(ids[length - 1].item<std::int64_t>(), 2) << "row " << b << " ends on EOS";
      for (std::int64_t t = length; t < ids.size(0); ++t) {
        EXPECT_EQ(ids[t].item<std::int64_t>(), 3);
        EXPECT_EQ(r.logprobs[b][t].item<float>(), 0.0f);
      }
    } else {
      EXPECT_EQ(length, r.response_ids.size(1));
    }
  }
  EXPECT_TRUE(some_row_ended);
  EXPECT_EQ(r.generated_tokens, r.response_lengths.sum().item<std::int64_t>());
}

TEST(GenerateTest, DroppingFinishedRowsChangesNoSample) {
  // Rows end at different steps; the sampler drops ended rows (and their cache rows) in steps of
  // an eighth of the batch (one row here) and goes on with the rest. The samples must be those of
  // a run that keeps every row to the end, with row seeds and with the shared generator, with the
  // cache and without. Two KV heads, so the cache's rows are groups of heads.
  model::LlamaConfig config = testing::tiny_config();
  config.num_attention_heads = 4;
  config.num_key_value_heads = 2;
  model::CausalLm lm = testing::tiny_model<model::CausalLm>(config, 4, 25.0);
  {
    at::NoGradGuard no_grad;
    lm->named_parameters()["model.embed_tokens.weight"][2].mul_(3.0);
  }
  std::vector<std::vector<std::int64_t>> prompts;
  for (std::int64_t i = 0; i < 12; ++i) prompts.push_back({1, 5 + i, 9 + (i % 5), 11 + (i % 3)});
  prompts[3] = {1, 7};
  prompts[8] = {1, 20, 21};
  GenerationOptions o;
  o.max_new_tokens = 10;
  o.eos_id = 2;
  o.pad_id = 3;
  for (const bool seeded : {true, false}) {
    for (const bool cache : {true, false}) {
      SCOPED_TRACE(::testing::Message() << "row seeds " << seeded << ", cache " << cache);
      o.row_seeds.clear();
      if (seeded) {
        for (std::uint64_t i = 0; i < prompts.size(); ++i) o.row_seeds.push_back(40 + i);
      }
      o.use_kv_cache = cache;
      o.drop_finished_rows = true;
      const GenerationResult dropped = generate(lm, prompts, o, at::detail::createCPUGenerator(5));
      o.drop_finished_rows = false;
      const GenerationResult kept = generate(lm, prompts, o, at::detail::createCPUGenerator(5));
      EXPECT_TRUE(at::equal(dropped.response_ids, kept.response_ids))
          << dropped.response_ids << kept.response_ids;
      EXPECT_TRUE(at::equal(dropped.response_mask, kept.response_mask));
      EXPECT_TRUE(at::equal(dropped.ended_with_eos, kept.ended_with_eos));
      EXPECT_TRUE(tensors_near(dropped.logprobs, kept.logprobs, 1e-5));  // matmul rounding
      // Not vacuous: rows ended at several steps while others went on, and every drop happened.
      // With one-row steps, the rows fed after step t are those whose response is longer than
      // t + 1 tokens.
      const auto steps = kept.response_ids.size(1);
      std::set<std::int64_t> end_steps;
      std::int64_t expected_decoded = 0;
      for (std::int64_t b = 0; b < 12; ++b) {
        const auto length = kept.response_lengths[b].item<std::int64_t>();
        if (kept.ended_with_eos[b].item<bool>() && length < steps) end_steps.insert(length);
        expected_decoded += std::max<std::int64_t>(0, std::min(length, steps) - 1);
      }
      EXPECT_GE(end_steps.size(), 3u) << "rows should end at three or more different steps";
      EXPECT_EQ(kept.decoded_rows, 12 * (steps - 1));
      EXPECT_EQ(dropped.decoded_rows, expected_decoded);
      EXPECT_LT(dropped.decoded_rows, kept.decoded_rows);
    }
  }
}

TEST(GenerateTest, OptionsFromConfigCarryTheGenerationSection) {
  config::GenerationConfig g;
  g.max_new_tokens = 7;
  g.temperature = 0.5;
  g.top_k = 3;
  g.top_p = 0.9;
  g.use_kv_cache = false;
  g.drop_finished_rows = false;
  const GenerationOptions o = options_from_config(g, 5, 6);
  EXPECT_EQ(o.max_new_tokens, 7);
  EXPECT_EQ(o.sampling.temperature, 0.5);
  EXPECT_EQ(o.sampling.top_k, 3);
  EXPECT_EQ(o.sampling.top_p, 0.9);
  EXPECT_FALSE(o.use_kv_cache);
  EXPECT_FALSE(o.drop_finished_rows);
  EXPECT_EQ(o.eos_id, 5);
  EXPECT_EQ(o.pad_id, 6);
  g.use_kv_cache = true;
  g.drop_finished_rows = true;
  EXPECT_TRUE(options_from_config(g, 5, 6).use_kv_cache);
  EXPECT_TRUE(options_from_config(g, 5, 6).drop_finished_rows);
}

TEST(GenerateTest, SameSeedSameSamplesAndPromptsAreLeftPadded) {
  model::CausalLm lm = tiny_lm(6);
  GenerationOptions o;
  o.max_new_tokens = 5;
  o.eos_id = -1;
  const GenerationResult a = generate(lm, kPrompts, o, at::detail::createCPUGenerator(77));
  const GenerationResult b = generate(lm, kPrompts, o, at::detail::createCPUGenerator(77));
  EXPECT_TRUE(at::equal(a.response_ids, b.response_ids));
  EXPECT_TRUE(at::equal(a.prompt_ids[1], at::tensor({3, 3, 1, 7}, at::kLong)));
  EXPECT_TRUE(at::equal(a.prompt_mask[1], at::tensor({0, 0, 1, 1}, at::kLong)));
}

TEST(GenerateTest, BatchedRowMatchesTheRowGeneratedAlone) {
  model::CausalLm lm = tiny_lm(7, 3.0);
  GenerationOptions o;
  o.max_new_tokens = 6;
  o.eos_id = -1;
  // Near-greedy, and row 1 draws the same uniforms in both calls: a near-tie of two tokens (this
  // model has one at step 3) then falls the same way unless padding or batching changed the
  // logits, which is what this checks.
  o.sampling.temperature = 1e-3;
  o.row_seeds = {11, 12, 13};
  const GenerationResult batched = generate(lm, kPrompts, o, at::Generator());
  o.row_seeds = {12};
  const GenerationResult alone = generate(lm, {kPrompts[1]}, o, at::Generator());
  EXPECT_TRUE(at::equal(batched.response_ids[1], alone.response_ids[0]))
      << batched.response_ids[1] << alone.response_ids[0];
  EXPECT_TRUE(tensors_near(batched.logprobs[1], alone.logprobs[0], 1e-3));
}

TEST(GenerateTest, PaddingIsToldApartByMasksWhateverItsId) {
  // A tokenizer without a pad piece pads with another piece's id (often unk's). Padding with an
  // id the prompts and responses also use (9, in prompt 0) samples exactly what padding with a
  // dedicated id does: left padding of the shorter prompts and the filler after a row's EOS are
  // never read.
  model::CausalLm lm = tiny_lm(9, 3.0);
  GenerationOptions o;
  o.max_new_tokens = 8;
  o.eos_id = 4;
  o.row_seeds = {5, 6, 7};
  o.pad_id = 3;
  const GenerationResult dedicated = generate(lm, kPrompts, o, at::Generator());
  o.pad_id = 9;
  const GenerationResult reused = generate(lm, kPrompts, o, at::Generator());
  ASSERT_TRUE(at::equal(dedicated.response_mask, reused.response_mask));
  const at::Tensor real = dedicated.response_mask.to(at::kBool);
  EXPECT_TRUE(at::equal(dedicated.response_ids.index({real}), reused.response_ids.index({real})));
  EXPECT_TRUE(at::equal(dedicated.logprobs.index({real}), reused.logprobs.index({real})));
  // The filler differs where there is padding, so the check above is not vacuous.
  EXPECT_FALSE(at::equal(dedicated.prompt_ids, reused.prompt_ids));
}

TEST(GenerateTest, RowSeedsMakeARowIndependentOfItsBatch) {
  // At temperature 1, each row sampled with its own seed draws the same tokens alone, in another
  // batch order, or next to other prompts; without row seeds it would not (shared uniforms).
  model::CausalLm lm = tiny_lm(8);
  GenerationOptions o;
  o.max_new_tokens = 8;
  o.eos_id = -1;
  o.row_seeds = {101, 202, 303};
  const GenerationResult batched = generate(lm, kPrompts, o, at::Generator());
  o.row_seeds = {202};
  const GenerationResult alone = generate(lm, {kPrompts[1]}, o, at::Generator());
  EXPECT_TRUE(at::equal(batched.response_ids[1], alone.response_ids[0]))
      << batched.response_ids << alone.response_ids << batched.logprobs << alone.logprobs;
  o.row_seeds = {303, 202, 101};
  const GenerationResult reversed =
      generate(lm, {kPrompts[2], kPrompts[1], kPrompts[0]}, o, at::Generator());
  EXPECT_TRUE(at::equal(batched.response_ids[0], reversed.response_ids[2]));
  EXPECT_TRUE(at::equal(batched.response_ids[2], reversed.response_ids[0]));
  // Another seed, other tokens (8 draws from a peaky 32-token vocabulary).
  o.row_seeds = {203};
  const GenerationResult other = generate(lm, {kPrompts[1]}, o, at::Generator());
  EXPECT_FALSE(at::equal(other.response_ids[0], alone.response_ids[0]));
  o.row_seeds = {1, 2};
  EXPECT_THROW(generate(lm, kPrompts, o, at::Generator()), Error);
}

TEST(GenerateTest, Bf16SamplingCopyFollowsTheModelOnlyAfterSync) {
  model::CausalLm lm = tiny_lm(6);
  SamplingModel sampler(lm, config::DType::BFloat16);
  const auto master = lm->named_parameters();
  const auto copy = sampler.get()->named_parameters();
  ASSERT_EQ(copy.size(), master.size());
  for (const auto& p : master) {
    const at::Tensor c = copy[p.key()];
    ASSERT_EQ(c.scalar_type(), at::kBFloat16) << p.key();
    EXPECT_TRUE(at::equal(c, p.value().to(at::kBFloat16))) << p.key();
  }
  {
    at::NoGradGuard no_grad;
    master["model.embed_tokens.weight"].add_(0.5);
  }
  EXPECT_FALSE(at::equal(copy["model.embed_tokens.weight"],
                         master["model.embed_tokens.weight"].to(at::kBFloat16)));
  sampler.sync();
  EXPECT_TRUE(at::equal(copy["model.embed_tokens.weight"],
                        master["model.embed_tokens.weight"].to(at::kBFloat16)));
  // float32 sampling decodes with the model itself.
  SamplingModel same(lm, config::DType::Float32);
  EXPECT_EQ(same.get().get(), lm.get());
}

TEST(GenerateTest, Bf16SamplerDrawsFromNearlyTheFloat32Distribution) {
  model::CausalLm lm = tiny_lm(7, 3.0);
  SamplingModel sampler(lm, config::DType::BFloat16);
  GenerationOptions o;
  o.max_new_tokens = 8;
  o.eos_id = -1;
  std::vector<std::vector<std::int64_t>> prompts;
  for (int i = 0; i < 64; ++i) {
    prompts.push_back(kPrompts[static_cast<std::size_t>(i % 3)]);
    o.row_seeds.push_back(1000 + static_cast<std::uint64_t>(i));
  }
  const GenerationResult b = generate(sampler.get(), prompts, o, at::Generator());
  const GenerationResult f = generate(lm, prompts, o, at::Generator());
  // The sampler's log-probs are the bf16 model's; a float32 forward of the same tokens differs
  // by bf16 rounding only.
  const at::Tensor sequence = at::cat({b.prompt_ids, b.response_ids}, 1);
  const at::Tensor mask = at::cat({b.prompt_mask, b.response_mask}, 1);
  const at::Tensor lp =
      token_logprobs(response_logits(lm, sequence, mask, model::position_ids_from_mask(mask),
                                     b.prompt_ids.size(1), 8, config::DType::Float32),
                     b.response_ids, 1.0);
  const double dev = (b.logprobs - lp).abs().max().item<double>();
  EXPECT_GT(dev, 0.0);  // it really decoded in bf16
  EXPECT_LT(dev, 0.1);
  // Same uniforms, nearly the same distribution: almost every token is the same draw.
  const double same = b.response_ids.eq(f.response_ids).to(at::kFloat).mean().item<double>();
  EXPECT_GT(same, 0.9);
}

}  // namespace
}  // namespace infalign::generation
