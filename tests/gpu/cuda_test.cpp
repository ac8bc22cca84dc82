// The CUDA path against the CPU path on the same weights (CTest label gpu). Every test skips
// when this LibTorch sees no CUDA device, so the label passes on CPU-only machines; on a GPU
// machine scripts/gpu_check.sh runs it.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/cuda.h>

#include "infalign/checkpoint/resume.h"
#include "infalign/generation/generate.h"
#include "infalign/model/llama.h"
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

// LoRA on the GPU: the same adapters as on the CPU give the same outputs and adapter gradients;
// the frozen base gets none; with the adapters off the model is the base; the sampler's merged
// weights give the adapters' outputs; and the memory plan can ask the device its size.
TEST(CudaTest, LoraMatchesTheCpuAndTheDeviceMemoryIsKnown) {
  SKIP_WITHOUT_CUDA();
  model::CausalLm cpu = tiny_lm(17, 1.0);
  model::CausalLm gpu = on_cuda(17, 1.0);
  const at::Tensor ids =
      at::randint(4, 32, {3, 9}, at::detail::createCPUGenerator(3), at::TensorOptions(at::kLong));
  const at::Tensor mask = at::ones({3, 9}, at::kLong);
  const at::Tensor pos = model::position_ids_from_mask(mask);
  const at::Tensor base = cpu->forward({ids, mask, pos}).detach();
  for (model::CausalLm* m : {&cpu, &gpu}) {
    for (auto& t : (*m)->parameters()) t.set_requires_grad(false);
    at::Generator gen = at::detail::createCPUGenerator(5);
    (*m)->backbone()->add_lora({4, 8.0, {"q_proj", "v_proj", "down_proj"}}, gen);
    at::NoGradGuard no_grad;
    // Non-zero adapters so that they change the outputs.
    for (const auto& [name, t] : model::lora_named_weights(**m)) {
      if (name.find("lora_B") != std::string::npos) {
        t.copy_(at::randn(t.sizes(), at::detail::createCPUGenerator(9)).mul(0.05).to(t.device()));
      }
    }
  }
  const at::Tensor a = cpu->forward({ids, mask, pos});
  const at::Tensor b = gpu->forward({ids.to(kCuda), mask.to(kCuda), pos.to(kCuda)});
  EXPECT_TRUE(tensors_near(a, b.cpu(), 1e-4));
  EXPECT_FALSE(tensors_near(a, base, 1e-3));
  a.logsumexp(-1).sum().backward();
  b.logsumexp(-1).sum().backward();
  const auto pc = cpu->named_parameters(), pg = gpu->named_parameters();
  for (const auto& p : pc) {
    if (!p.value().requires_grad()) {
      EXPECT_FALSE(pg[p.key()].grad().defined()) << p.key();
      continue;
    }
    EXPECT_TRUE(tensors_near(p.value().grad(), pg[p.key()].grad().cpu(), 1e-3)) << p.key();
  }
  {
    at::NoGradGuard no_grad;
    gpu->backbone()->set_adapters_enabled(false);
    const at::Tensor off = gpu->forward({ids.to(kCuda), mask.to(kCuda), pos.to(kCuda)});
    EXPECT_TRUE(tensors_near(off.cpu(), base, 1e-4));
    gpu->backbone()->set_adapters_enabled(true);
    generation::SamplingModel sampler(gpu, config::DType::BFloat16);
    const at::Tensor merged =
        sampler.get()->forward({ids.to(kCuda), mask.to(kCuda), pos.to(kCuda)});
    EXPECT_TRUE(tensors_near(merged.cpu(), a.detach(), 0.1));  // bfloat16 weights
  }
  EXPECT_GT(runtime::cuda_device_memory(kCuda), 1ull << 30);
  EXPECT_EQ(runtime::cuda_device_memory(c10::Device(c10::kCPU)), 0u);
}

}  // namespace
}  // namespace infalign
