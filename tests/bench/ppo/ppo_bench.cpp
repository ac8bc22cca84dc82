// Throughput of the PPO policy update step with its Python peer, from one invocation:
//   (a) infalign, float32: training forward of prompt + response, log-probs of the response at
//       the rollout temperature, clipped surrogate loss, backward, gradient-norm clip, AdamW step
//   (b) the same under bf16 autocast (run.dtype: bfloat16)
//   (c) the Python peer (ppo_peer.py on Debian's python3-torch, same weights, same step)
// on the default experiment's model size and lengths (prompt 16, response 24 tokens). Usage:
//   build/tests/bench/bench_ppo [--config configs/default/ctrl_bon4.yaml] [--batches 16,64]
//       [--repeats 5] [--threads N] [--python /usr/bin/python3] [--no-python] [--device cuda]
//       [--profile PREFIX]
// Variants run in turn, `repeats` rounds after a warm-up; prints tokens/s (medians) and ratios.
// The whole PPO iteration's phase times (generate, score, reference, update) are in the
// metrics.jsonl of a run (timing/*); docs/benchmarks.md records both.
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/cuda.h>

#include "infalign/checkpoint/resume.h"
#include "infalign/config/load.h"
#include "infalign/core/fs.h"
#include "infalign/core/timer.h"
#include "infalign/generation/generate.h"
#include "infalign/model/hf_io.h"
#include "infalign/model/llama_config.h"
#include "infalign/ppo/core.h"
#include "infalign/runtime/adamw.h"
#include "infalign/runtime/blas.h"
#include "infalign/runtime/device.h"

#include "../bench_util.h"

using namespace infalign;

namespace {

struct Args : bench::CommonArgs {
  Args() {
    batches = {16, 64};
    repeats = 5;
  }
  std::string profile;  // --profile PREFIX: Chrome traces of 3 steps per variant, then exit
};

Args parse(int argc, char** argv) {
  Args a;
  bench::parse_flags(argc, argv, a, [&](const std::string& k, const auto& next) {
    if (k != "--profile") return false;
    a.profile = next();
    return true;
  });
  return a;
}

constexpr std::int64_t kPrompt = 16, kResponse = 24;

// One update step of `lm` on a random batch; returns tokens (B x T) per second.
double update_step(model::CausalLm& lm, runtime::AdamW& opt, std::int64_t batch,
                   config::DType dtype, at::Generator& g) {
  const std::int64_t T = kPrompt + kResponse, V = lm->config().vocab_size;
  const c10::Device device = lm->parameters().front().device();
  const at::Tensor ids = at::randint(4, V, {batch, T}, g, at::TensorOptions(at::kLong)).to(device);
  const at::Tensor mask = at::ones({batch, T}, at::kLong).to(device);
  const at::Tensor positions = model::position_ids_from_mask(mask);
  const at::Tensor old_logp = (-3.0 - at::rand({batch, kResponse}, g)).to(device);
  const at::Tensor adv = at::randn({batch, kResponse}, g).to(device);
  if (device.is_cuda()) torch::cuda::synchronize();
  Timer timer;
  at::Tensor logits;
  {
    const runtime::AutocastGuard autocast(device, dtype);
    const at::Tensor hidden = lm->backbone()->forward({ids, mask, positions});
    logits = lm->logits(hidden.narrow(1, kPrompt - 1, kResponse));
  }
  const at::Tensor logp =
      generation::token_logprobs(logits, ids.narrow(1, kPrompt, kResponse), 1.0);
  ppo::policy_loss(logp, old_logp, adv, at::ones({batch, kResponse}, at::kLong).to(device), 0.2)
      .loss.backward();
  runtime::clip_grad_norm(lm->parameters(), 1.0);
  opt.step(1e-5);
  opt.zero_grad();
  if (device.is_cuda()) torch::cuda::synchronize();
  return static_cast<double>(batch * T) / timer.seconds();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args a = parse(argc, argv);
    at::set_num_threads(a.threads);
    runtime::tune_allocator();
    const auto loaded = config::load_experiment_config(a.config);
    model::LlamaConfig mc = model::llama_config_from(loaded.config.model, loaded.config.tokenizer);
    model::CausalLm lm(mc);
    model::init_weights(*lm, at::detail::createCPUGenerator(3));
    std::int64_t params = 0;
    for (const auto& p : lm->parameters()) params += p.numel();
    fs::TempDir dir("bench-ppo");
    const std::string model_dir = dir.path() + "/model";
    model::save_causal_lm(lm, model_dir);
    lm->to(c10::Device(a.device));
    runtime::AdamW opt(checkpoint::named_parameters(*lm), {0.9, 0.999, 1e-5, 0.0});

    std::cout << fmt::format(
        "bench_ppo on {}: policy update step, {} params (hidden {}, layers {}, vocab {}), prompt "
        "{} + "
        "response {} tokens, {} intra-op thread(s), median of {}\n",
        a.device, params, mc.hidden_size, mc.num_hidden_layers, mc.vocab_size, kPrompt, kResponse,
        at::get_num_threads(), a.repeats);
    std::cout << "BLAS: " << runtime::detect_blas().summary() << "\n\n";
    std::cout
        << "| batch | (a) infalign fp32 tok/s | (b) infalign bf16 autocast | (c) Python fp32 | "
           "(d) Python bf16 autocast | a/c | b/d | b/a |\n|---|---|---|---|---|---|---|---|\n";
    std::unique_ptr<bench::PythonPeer> peer;
    if (a.run_python) {
      peer = std::make_unique<bench::PythonPeer>(
          a.python, std::string(INFALIGN_SOURCE_DIR) + "/tests/bench/ppo/ppo_peer.py",
          std::vector<std::string>{"--model", model_dir, "--prompt-len", std::to_string(kPrompt),
                                   "--response-len", std::to_string(kResponse), "--threads",
                                   std::to_string(a.threads)});
    }
    at::Generator g = at::detail::createCPUGenerator(5);
    if (!a.profile.empty()) {
      // Operator-level traces (legacy autograd profiler, Chrome trace format) of the last batch
      // size: PREFIX.fp32.json and PREFIX.bf16.json; tests/bench/ppo/trace_summary.py sums the
      // self time per operator.
      const std::int64_t batch = a.batches.back();
      for (const auto dtype : {config::DType::Float32, config::DType::BFloat16}) {
        update_step(lm, opt, batch, dtype, g);
        const bool bf16 = dtype == config::DType::BFloat16;
        torch::autograd::profiler::RecordProfile guard(a.profile +
                                                       (bf16 ? ".bf16.json" : ".fp32.json"));
        for (int r = 0; r < 3; ++r) update_step(lm, opt, batch, dtype, g);
      }
      std::cout << "traces: " << a.profile << ".{fp32,bf16}.json\n";
      return 0;
    }
    for (const std::int64_t batch : a.batches) {
      update_step(lm, opt, batch, config::DType::Float32, g);
      update_step(lm, opt, batch, config::DType::BFloat16, g);
      std::vector<double> fp32, bf16, py, py_bf16;
      for (int r = 0; r < a.repeats; ++r) {
        fp32.push_back(update_step(lm, opt, batch, config::DType::Float32, g));
        bf16.push_back(update_step(lm, opt, batch, config::DType::BFloat16, g));
        if (peer) {
          py.push_back(peer->request(std::to_string(batch)));
          py_bf16.push_back(peer->request(std::to_string(batch) + " bf16"));
        }
      }
      const double f = bench::median(fp32), b = bench::median(bf16);
      const double p = py.empty() ? -1 : bench::median(py);
      const double pb = py_bf16.empty() ? -1 : bench::median(py_bf16);
      auto figure = [](double x) { return x > 0 ? fmt::format("{:.0f}", x) : std::string("n/a"); };
      auto ratio = [](double x, double y) {
        return y > 0 ? fmt::format("{:.2f}x", x / y) : std::string("n/a");
      };
      std::cout << fmt::format("| {} | {:.0f} | {:.0f} | {} | {} | {} | {} | {:.2f}x |\n", batch, f,
                               b, figure(p), figure(pb), ratio(f, p), ratio(b, pb), b / f)
                << std::flush;
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench_ppo: " << e.what() << "\n";
    return 1;
  }
}
