#include "infalign/generation/generate.h"

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
  model::CausalLm lm = tiny_lm(7);
  GenerationOptions o;
  o.max_new_tokens = 6;
  o.eos_id = -1;
  o.sampling.temperature = 1e-3;  // near-greedy: the draw no longer depends on the batch's uniforms
  const GenerationResult batched = generate(lm, kPrompts, o, at::detail::createCPUGenerator(1));
  const GenerationResult alone = generate(lm, {kPrompts[1]}, o, at::detail::createCPUGenerator(1));
  EXPECT_TRUE(at::equal(batched.response_ids[1], alone.response_ids[0]));
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
  EXPECT_TRUE(at::equal(batched.response_ids[1], alone.response_ids[0]));
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

}  // namespace
}  // namespace infalign::generation
