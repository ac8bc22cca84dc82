// The CUDA path against the CPU path on the same weights (CTest label gpu). Every test skips
// when this LibTorch sees no CUDA device, so the label passes on CPU-only machines; on a GPU
// machine scripts/gpu_check.sh runs it.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/cuda.h>

#include "infalign/checkpoint/resume.h"
#include "infalign/generation/generate.h"
#include "infalign/runtime/adamw.h"
#include "infalign/runtime/device.h"

#include "tensor_compare.h"
#include "tiny_lm.h"

namespace infalign {
namespace {

using testing::tensors_near;
using testing::tiny_lm;

#define SKIP_WITHOUT_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device here"

const c10::Device kCuda(c10::kCUDA, 0);

model::CausalLm on_cuda(std::uint64_t seed, double scale) {
  model::CausalLm lm = tiny_lm(seed, scale);
  lm->to(kCuda);
  return lm;
}

TEST(CudaTest, AutoDevicePicksTheGpu) {
  SKIP_WITHOUT_CUDA();
  EXPECT_TRUE(runtime::resolve_device({}).is_cuda());
}

TEST(CudaTest, ForwardAndGradientsMatchTheCpu) {
  SKIP_WITHOUT_CUDA();
  model::CausalLm cpu = tiny_lm(11, 3.0);
  model::CausalLm gpu = on_cuda(11, 3.0);
  const at::Tensor ids =
      at::randint(4, 32, {3, 10}, at::detail::createCPUGenerator(1), at::TensorOptions(at::kLong));
  at::Tensor mask = at::ones({3, 10}, at::kLong);
  mask[1].narrow(0, 0, 4).zero_();  // left padding
  const at::Tensor pos = model::position_ids_from_mask(mask);
  const at::Tensor a = cpu->forward({ids, mask, pos});
  const at::Tensor b = gpu->forward({ids.to(kCuda), mask.to(kCuda), pos.to(kCuda)});
  EXPECT_TRUE(tensors_near(a, b.cpu(), 1e-4));
  a.logsumexp(-1).sum().backward();
  b.logsumexp(-1).sum().backward();
  const auto pc = cpu->named_parameters(), pg = gpu->named_parameters();
  for (const auto& p : pc) {
    EXPECT_TRUE(tensors_near(p.value().grad(), pg[p.key()].grad().cpu(), 1e-3)) << p.key();
  }
}

TEST(CudaTest, RowSeededSamplingDrawsTheCpuTokens) {
  SKIP_WITHOUT_CUDA();
  model::CausalLm cpu = tiny_lm(12, 3.0);
  model::CausalLm gpu = on_cuda(12, 3.0);
  generation::GenerationOptions o;
  o.max_new_tokens = 8;
  o.eos_id = -1;
  std::vector<std::vector<std::int64_t>> prompts;
  for (int i = 0; i < 32; ++i) {
    prompts.push_back({1, 5 + i % 7, 9});
    o.row_seeds.push_back(100 + static_cast<std::uint64_t>(i));
  }
  const auto a = generation::generate(cpu, prompts, o, at::Generator());
  const auto b = generation::generate(gpu, prompts, o, at::Generator());
  // The uniforms come from the same CPU streams; only float rounding near a boundary can differ.
  const double same = a.response_ids.eq(b.response_ids.cpu()).to(at::kFloat).mean().item<double>();
  EXPECT_GT(same, 0.95);
  // The bf16 sampling copy runs on the GPU too.
  generation::SamplingModel bf16(gpu, config::DType::BFloat16);
  const auto c = generation::generate(bf16.get(), prompts, o, at::Generator());
  EXPECT_EQ(c.response_ids.device().type(), c10::kCUDA);
  EXPECT_GT(a.response_ids.eq(c.response_ids.cpu()).to(at::kFloat).mean().item<double>(), 0.8);
}

TEST(CudaTest, AdamWStepMatchesTheCpuAndBf16AutocastRuns) {
  SKIP_WITHOUT_CUDA();
  model::CausalLm cpu = tiny_lm(13, 1.0);
  model::CausalLm gpu = on_cuda(13, 1.0);
  runtime::AdamW oc(checkpoint::named_parameters(*cpu), {0.9, 0.999, 1e-8, 0.1});
  runtime::AdamW og(checkpoint::named_parameters(*gpu), {0.9, 0.999, 1e-8, 0.1});
  const at::Tensor ids =
      at::randint(4, 32, {4, 12}, at::detail::createCPUGenerator(2), at::TensorOptions(at::kLong));
  const at::Tensor mask = at::ones({4, 12}, at::kLong);
  const at::Tensor pos = model::position_ids_from_mask(mask);
  for (int step = 0; step < 3; ++step) {
    cpu->forward({ids, mask, pos}).pow(2).mean().backward();
    oc.step(1e-2);
    oc.zero_grad();
    {
      const runtime::AutocastGuard autocast(kCuda, config::DType::Float32);
      gpu->forward({ids.to(kCuda), mask.to(kCuda), pos.to(kCuda)}).pow(2).mean().backward();
    }
    og.step(1e-2);
    og.zero_grad();
  }
  const auto pc = cpu->named_parameters(), pg = gpu->named_parameters();
  for (const auto& p : pc) {
    EXPECT_TRUE(tensors_near(p.value(), pg[p.key()].cpu(), 1e-4)) << p.key();
  }
  // bf16 autocast on the GPU: the matmuls in bf16, the logits float32.
  const runtime::AutocastGuard autocast(kCuda, config::DType::BFloat16);
  const at::Tensor logits = gpu->forward({ids.to(kCuda), mask.to(kCuda), pos.to(kCuda)});
  EXPECT_EQ(logits.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::isfinite(logits).all().item<bool>());
}

}  // namespace
}  // namespace infalign
