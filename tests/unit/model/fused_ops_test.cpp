#include "infalign/model/fused_ops.h"

#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/autograd.h>

namespace infalign::model::fused {
namespace {

struct Result {
  at::Tensor out;
  std::vector<at::Tensor> grads;
};

// out and the gradients of sum(out * probe) with respect to `inputs`.
Result run(const std::function<at::Tensor(const std::vector<at::Tensor>&)>& f,
           const std::vector<at::Tensor>& inputs, const at::Tensor& probe) {
  std::vector<at::Tensor> leaves;
  for (const auto& t : inputs) leaves.push_back(t.detach().clone().set_requires_grad(true));
  Result r;
  r.out = f(leaves);
  const at::Tensor loss = (r.out.to(at::kDouble) * probe.to(at::kDouble)).sum();
  r.grads = torch::autograd::grad({loss}, leaves);
  r.out = r.out.detach();
  return r;
}

double max_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

double max_abs(const at::Tensor& a) { return a.to(at::kDouble).abs().max().item<double>(); }

// Rows that exercise the vector loops' tails: widths that are not multiples of 8.
class FusedOps : public ::testing::TestWithParam<std::int64_t> {};

TEST_P(FusedOps, RmsNormMatchesTheAtenCompositionInValueAndGradient) {
  const std::int64_t width = GetParam();
  at::Generator g = at::detail::createCPUGenerator(11);
  for (const auto dtype : {at::kFloat, at::kBFloat16}) {
    SCOPED_TRACE(c10::toString(dtype));
    // Rows of very different scales: the normalisation must take each row's own.
    const at::Tensor x = (at::randn({3, 37, width}, g) * at::rand({3, 37, 1}, g) * 10).to(dtype);
    const at::Tensor w = at::randn({width}, g) + 1;
    const at::Tensor probe = at::randn({3, 37, width}, g);
    const auto fused = run([](const auto& v) { return rms_norm(v[0], v[1], 1e-5); }, {x, w}, probe);
    const auto ref =
        run([](const auto& v) { return rms_norm_reference(v[0], v[1], 1e-5); }, {x, w}, probe);
    ASSERT_EQ(fused.out.scalar_type(), ref.out.scalar_type());  // promoted, as HF
    ASSERT_EQ(fused.grads[0].scalar_type(), dtype);
    const bool bf16 = dtype == at::kBFloat16;
    // bf16: the normalised value is rounded to bf16 (8 bits), in both.
    EXPECT_LE(max_diff(fused.out, ref.out), (bf16 ? 1e-2 : 1e-5) * max_abs(ref.out));
    EXPECT_LE(max_diff(fused.grads[0], ref.grads[0]), (bf16 ? 2e-2 : 1e-4) * max_abs(ref.grads[0]));
    EXPECT_LE(max_diff(fused.grads[1], ref.grads[1]), (bf16 ? 1e-2 : 1e-4) * max_abs(ref.grads[1]));
  }
}

TEST_P(FusedOps, SwiGluMatchesTheAtenCompositionInValueAndGradient) {
  const std::int64_t width = GetParam();
  at::Generator g = at::detail::createCPUGenerator(12);
  for (const auto dtype : {at::kFloat, at::kBFloat16}) {
    SCOPED_TRACE(c10::toString(dtype));
    // Gate values far into both tails of the sigmoid as well as around 0.
    const at::Tensor gu = (at::randn({2, 41, 2 * width}, g) * 6).to(dtype);
    const at::Tensor probe = at::randn({2, 41, width}, g);
    const auto fused = run([](const auto& v) { return swiglu(v[0]); }, {gu}, probe);
    const auto ref = run([](const auto& v) { return swiglu_reference(v[0]); }, {gu}, probe);
    ASSERT_EQ(fused.out.scalar_type(), dtype);
    ASSERT_EQ(fused.out.sizes(), ref.out.sizes());
    const bool bf16 = dtype == at::kBFloat16;
    EXPECT_LE(max_diff(fused.out, ref.out), (bf16 ? 1e-2 : 1e-5) * max_abs(ref.out));
    EXPECT_LE(max_diff(fused.grads[0], ref.grads[0]), (bf16 ? 2e-2 : 1e-5) * max_abs(ref.grads[0]));
  }
}

// log p(ids), entropy and KL stacked [3, rows...], so one probe weighs all three.
at::Tensor stacked(const SoftmaxStats& s) { return at::stack({s.logp, s.entropy, s.kl}); }

TEST_P(FusedOps, SoftmaxStatsMatchTheAtenCompositionInValueAndGradient) {
  const std::int64_t width = GetParam();
  at::Generator g = at::detail::createCPUGenerator(14);
  for (const auto dtype : {at::kFloat, at::kBFloat16}) {
    for (const double t : {1.0, 0.7}) {
      SCOPED_TRACE(std::string(c10::toString(dtype)) + " temperature " + std::to_string(t));
      // Rows from nearly flat to nearly one-hot.
      const at::Tensor z = (at::randn({3, 7, width}, g) * at::rand({3, 7, 1}, g) * 12).to(dtype);
      const at::Tensor ids = at::randint(width, {3, 7}, g);
      const at::Tensor ref = at::log_softmax(at::randn({3, 7, width}, g) * 3, -1);
      const at::Tensor probe = at::randn({3, 3, 7}, g);
      const auto fused =
          run([&](const auto& v) { return stacked(softmax_stats(v[0], ids, t, ref)); }, {z}, probe);
      const auto want =
          run([&](const auto& v) { return stacked(softmax_stats_reference(v[0], ids, t, ref)); },
              {z}, probe);
      ASSERT_EQ(fused.out.scalar_type(), at::kFloat);
      ASSERT_EQ(fused.grads[0].scalar_type(), dtype);
      const bool bf16 = dtype == at::kBFloat16;
      EXPECT_LE(max_diff(fused.out, want.out), 1e-4 * (1 + max_abs(want.out)));
      EXPECT_LE(max_diff(fused.grads[0], want.grads[0]),
                (bf16 ? 1e-2 : 1e-4) * max_abs(want.grads[0]));
      // One statistic alone (the others get no gradient): the entropy.
      const auto fused_h = run(
          [&](const auto& v) { return softmax_stats(v[0], ids, t, ref).entropy; }, {z}, probe[1]);
      const auto want_h =
          run([&](const auto& v) { return softmax_stats_reference(v[0], ids, t, ref).entropy; },
              {z}, probe[1]);
      EXPECT_LE(max_diff(fused_h.grads[0], want_h.grads[0]),
                (bf16 ? 1e-2 : 1e-4) * max_abs(want_h.grads[0]));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Widths, FusedOps, ::testing::Values(5, 16, 192, 515));

// Attention: rotary tables, grouped queries and a causal + padding mask as the model builds
// them; float32, and bf16 under CPU autocast (as run.dtype: bfloat16 trains).
TEST(FusedOpsTest, AttentionMatchesTheAtenCompositionInValueAndGradient) {
  const AttentionShape s{3, 7, 6, 2, 8};  // B, T, heads, kv heads, head dim
  at::Generator g = at::detail::createCPUGenerator(14);
  const at::Tensor qkv =
      at::randn({s.batch * s.length, (s.heads + 2 * s.kv_heads) * s.head_dim}, g);
  const at::Tensor angles =
      at::rand({s.batch, s.length, 1, s.head_dim / 2}, g) * 6;  // any positions' angles
  const at::Tensor cos = at::cat({angles.cos(), angles.cos()}, -1);
  const at::Tensor sin = at::cat({-angles.sin(), angles.sin()}, -1);
  // Row 1 is left-padded by 2: its first two keys are hidden; causal everywhere.
  at::Tensor mask = at::ones({s.batch, s.length});
  mask[1].narrow(0, 0, 2).zero_();
  const at::Tensor future = at::arange(s.length).unsqueeze(0) > at::arange(s.length).unsqueeze(1);
  const at::Tensor bias = ((mask - 1.0) * 1e30)
                              .view({s.batch, 1, 1, s.length})
                              .masked_fill(future.view({1, 1, s.length, s.length}), -1e30);
  const at::Tensor probe = at::randn({s.batch * s.length, s.heads * s.head_dim}, g);
  for (const bool bf16 : {false, true}) {
    SCOPED_TRACE(bf16 ? "bf16 autocast" : "float32");
    auto under = [&](auto f) {
      return [f, bf16](const std::vector<at::Tensor>& v) {
        at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
        at::autocast::set_cpu_enabled(bf16);
        at::Tensor y;
        try {
          y = f(v);
        } catch (...) {
          at::autocast::set_cpu_enabled(false);
          throw;
        }
        at::autocast::set_cpu_enabled(false);
        return y;
      };
    };
    // The bf16 matrix products take bf16 inputs, as the projection's output is under autocast.
    const at::Tensor input = bf16 ? qkv.to(at::kBFloat16) : qkv;
    const auto fused = run(under([&](const auto& v) { return attention(v[0], cos, sin, bias, s); }),
                           {input}, probe);
    const auto ref =
        run(under([&](const auto& v) { return attention_reference(v[0], cos, sin, bias, s); }),
            {input}, probe);
    ASSERT_EQ(fused.out.sizes(), ref.out.sizes());
    ASSERT_EQ(fused.out.scalar_type(), ref.out.scalar_type());
    ASSERT_EQ(fused.grads[0].scalar_type(), input.scalar_type());
    EXPECT_LE(max_diff(fused.out, ref.out), (bf16 ? 2e-2 : 1e-5) * max_abs(ref.out));
    EXPECT_LE(max_diff(fused.grads[0], ref.grads[0]), (bf16 ? 3e-2 : 1e-5) * max_abs(ref.grads[0]));
  }
  // Padded keys get no weight: changing their values changes nothing in row 1.
  at::Tensor edited = qkv.view({s.batch, s.length, -1}).clone();
  edited[1][0].normal_(0, 5, g);
  const at::Tensor a = attention(qkv, cos, sin, bias, s).view({s.batch, s.length, -1});
  const at::Tensor b =
      attention(edited.view_as(qkv), cos, sin, bias, s).view({s.batch, s.length, -1});
  EXPECT_TRUE(at::equal(a[1].narrow(0, 2, s.length - 2), b[1].narrow(0, 2, s.length - 2)));
}

TEST(FusedOpsTest, GradientsAgreeWithFiniteDifferences) {
  // The hand-written backward passes against central differences of the fused forward itself,
  // in float32 on a small problem (the reference comparison above could share a mistake only if
  // ATen's autograd were wrong too; this one checks the calculus directly).
  at::Generator g = at::detail::createCPUGenerator(13);
  const at::Tensor x = at::randn({4, 9}, g), w = at::randn({9}, g) + 1;
  const at::Tensor gu = at::randn({4, 18}, g) * 2;
  const at::Tensor probe_n = at::randn({4, 9}, g), probe_s = at::randn({3, 4}, g);
  const at::Tensor ids = at::randint(9, {4}, g), ref = at::log_softmax(at::randn({4, 9}, g), -1);
  auto check = [&](const std::function<at::Tensor(const std::vector<at::Tensor>&)>& f,
                   const std::vector<at::Tensor>& inputs, const at::Tensor& probe_n) {
    const auto analytic = run(f, inputs, probe_n);
    for (std::size_t k = 0; k < inputs.size(); ++k) {
      const at::Tensor base = inputs[k].contiguous();
      for (std::int64_t i = 0; i < base.numel(); i += 3) {
        const double h = 1e-2;
        auto at_offset = [&](double delta) {
          std::vector<at::Tensor> v = inputs;
          v[k] = base.clone();
          v[k].view(-1)[i] += delta;
          at::NoGradGuard no_grad;
          return (f(v).to(at::kDouble) * probe_n.to(at::kDouble)).sum().item<double>();
        };
        const double numeric = (at_offset(h) - at_offset(-h)) / (2 * h);
        EXPECT_NEAR(analytic.grads[k].reshape(-1)[i].item<double>(), numeric,
                    2e-3 * (1 + std::abs(numeric)))
            << "input " << k << " element " << i;
      }
    }
  };
  check([](const auto& v) { return rms_norm(v[0], v[1], 1e-5); }, {x, w}, probe_n);
  check([](const auto& v) { return swiglu(v[0]); }, {gu}, probe_n);
  check([&](const auto& v) { return stacked(softmax_stats(v[0], ids, 0.8, ref)); }, {x * 2},
        probe_s);
}

TEST(FusedOpsTest, ServesCpuFloatAndBfloat16Only) {
  EXPECT_TRUE(applies(at::zeros({2, 2})) || std::getenv("INFALIGN_FUSED_OPS") != nullptr);
  EXPECT_FALSE(applies(at::zeros({2, 2}, at::kDouble)));
  // Other dtypes take the composite path and still compute the function.
  const at::Tensor gu = at::randn({3, 8}, at::kDouble);
  EXPECT_TRUE(at::allclose(swiglu(gu), swiglu_reference(gu)));
}

TEST(FusedOpsTest, SoftmaxStatsRefuseATokenOutsideTheVocabulary) {
  const at::Tensor z = at::randn({2, 5});
  EXPECT_THROW(softmax_stats(z, at::tensor({1, 5}, at::kLong), 1.0), std::exception);
  EXPECT_THROW(softmax_stats(z, at::tensor({-1, 0}, at::kLong), 1.0), std::exception);
  // Against a distribution itself the KL is 0; the entropy of a uniform row is log V.
  const SoftmaxStats s = softmax_stats(at::zeros({2, 5}), at::tensor({0, 4}, at::kLong), 1.0,
                                       at::log_softmax(at::zeros({2, 5}), -1));
  EXPECT_NEAR(s.kl.abs().max().item<double>(), 0.0, 1e-6);
  EXPECT_NEAR(s.entropy[0].item<double>(), std::log(5.0), 1e-6);
  EXPECT_NEAR(s.logp[1].item<double>(), -std::log(5.0), 1e-6);
}

TEST(FusedOpsTest, LogSoftmaxMatchesAtenAndGivesExactlyZeroKlAgainstItself) {
  at::Generator g = at::detail::createCPUGenerator(15);
  for (const auto dtype : {at::kFloat, at::kBFloat16}) {
    const at::Tensor z = (at::randn({4, 6, 515}, g) * 5).to(dtype);
    const at::Tensor ls = log_softmax(z, 0.7);
    ASSERT_EQ(ls.scalar_type(), at::kFloat);
    EXPECT_LE(max_diff(ls, at::log_softmax(z.to(at::kFloat) / 0.7, -1)), 1e-5 * max_abs(ls));
    // The same lse as softmax_stats: a model against itself (PPO's first iteration) has KL 0.
    EXPECT_EQ(softmax_stats(z, at::Tensor(), 0.7, ls).kl.abs().max().item<float>(), 0.0f);
  }
}

}  // namespace
}  // namespace infalign::model::fused
