// Generation throughput of the sampling engine, with its peers, from one invocation:
//   (a) KV cache, float32  (b) full recompute every step, float32  (c) KV cache, bfloat16
//   (d) the Python peer (generate_peer.py on Debian's python3-torch, same weights, KV cache)
// on the default experiment's model size, 8-token prompts, no early stop. Usage:
//   build/tests/bench/bench_generate [--config configs/default/ctrl_bon4.yaml] [--batches 1,16,64]
//       [--new-tokens 64] [--repeats 3] [--threads N] [--python /usr/bin/python3] [--no-python]
//       [--device cuda]
// The four variants run in turn, `repeats` rounds after a warm-up each (the Python peer stays up
// as a child process), so machine noise hits all of them alike. Prints tokens/s (medians) and the
// ratios; docs/benchmarks.md records the output.

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "infalign/config/load.h"
#include "infalign/core/fs.h"
#include "infalign/core/timer.h"
#include "infalign/generation/generate.h"
#include "infalign/model/hf_io.h"
#include "infalign/runtime/blas.h"
#include "infalign/runtime/device.h"

#include "../bench_util.h"

using namespace infalign;

namespace {

struct Args : bench::CommonArgs {
  Args() { batches = {1, 16, 64}; }
  std::int64_t new_tokens = 64;
};

Args parse(int argc, char** argv) {
  Args a;
  bench::parse_flags(argc, argv, a, [&](const std::string& k, const auto& next) {
    if (k != "--new-tokens") return false;
    a.new_tokens = std::stoll(next());
    return true;
  });
  return a;
}

std::vector<std::vector<std::int64_t>> make_prompts(std::int64_t batch, std::int64_t vocab) {
  at::Generator g = at::detail::createCPUGenerator(1);
  const at::Tensor ids = at::randint(4, vocab, {batch, 8}, g, at::TensorOptions().dtype(at::kLong));
  std::vector<std::vector<std::int64_t>> prompts;
  for (std::int64_t b = 0; b < batch; ++b) {
    prompts.emplace_back(ids[b].data_ptr<std::int64_t>(), ids[b].data_ptr<std::int64_t>() + 8);
  }
  return prompts;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args a = parse(argc, argv);
    at::set_num_threads(a.threads);
    runtime::tune_allocator();  // as infalign-train and infalign-eval do at start-up
    const auto loaded = config::load_experiment_config(a.config);
    model::LlamaConfig mc = model::llama_config_from(loaded.config.model, loaded.config.tokenizer);
    mc.max_position_embeddings = 8 + a.new_tokens;
    const c10::Device device(a.device);
    model::CausalLm lm(mc);
    model::init_weights(*lm, at::detail::createCPUGenerator(3));
    std::int64_t params = 0;
    for (const auto& p : lm->parameters()) params += p.numel();
    fs::TempDir dir("bench-generate");
    const std::string model_dir = dir.path() + "/model";
    model::save_causal_lm(lm, model_dir);
    lm->to(device);

    std::cout << fmt::format(
        "bench_generate on {}: {} params (hidden {}, layers {}, heads {}/{} kv, vocab {}), prompt "
        "8, "
        "{} new tokens, {} intra-op thread(s), median of {}\n",
        device.str(), params, mc.hidden_size, mc.num_hidden_layers, mc.num_attention_heads,
        mc.num_key_value_heads, mc.vocab_size, a.new_tokens, at::get_num_threads(), a.repeats);
    std::cout << "BLAS: " << runtime::detect_blas().summary() << "\n\n";
    std::cout << fmt::format(
        "| batch | (a) KV fp32 tok/s | (b) recompute fp32 | (c) KV bf16 | (d) Python KV fp32 | a/b "
        "| a/d | c/a |\n");
    std::cout << "|---|---|---|---|---|---|---|---|\n";
    generation::GenerationOptions o;
    o.max_new_tokens = a.new_tokens;
    o.eos_id = -1;  // fixed length: every row makes new_tokens tokens
    model::CausalLm bf16 = model::load_causal_lm(model_dir, {device, at::kBFloat16});
    std::unique_ptr<bench::PythonPeer> peer;
    if (a.run_python) {
      peer = std::make_unique<bench::PythonPeer>(
          a.python, std::string(INFALIGN_SOURCE_DIR) + "/tests/bench/generate/generate_peer.py",
          std::vector<std::string>{"--model", model_dir, "--serve", "--new-tokens",
                                   std::to_string(a.new_tokens), "--threads",
                                   std::to_string(a.threads)});
    }
    generation::GenerationOptions recompute = o;
    recompute.use_kv_cache = false;
    for (const std::int64_t batch : a.batches) {
      const auto prompts = make_prompts(batch, mc.vocab_size);
      // One warm-up each, then the four variants in turn, `repeats` rounds; medians.
      at::Generator g = at::detail::createCPUGenerator(2);
      auto timed = [&](model::CausalLm& m, const generation::GenerationOptions& opts) {
        Timer timer;
        const auto result = generation::generate(m, prompts, opts, g);
        return static_cast<double>(result.generated_tokens) / timer.seconds();
      };
      timed(lm, o);
      timed(lm, recompute);
      timed(bf16, o);
      std::vector<double> kv_runs, full_runs, bf16_runs, py_runs;
      for (int r = 0; r < a.repeats; ++r) {
        kv_runs.push_back(timed(lm, o));
        full_runs.push_back(timed(lm, recompute));
        bf16_runs.push_back(timed(bf16, o));
        if (peer) py_runs.push_back(peer->request(std::to_string(batch)));
      }
      const double kv = bench::median(kv_runs), full = bench::median(full_runs),
                   kv_bf16 = bench::median(bf16_runs);
      const double py = py_runs.empty() ? -1 : bench::median(py_runs);
      std::cout << fmt::format("| {} | {:.0f} | {:.0f} | {:.0f} | {} | {:.1f}x | {} | {:.2f}x |\n",
                               batch, kv, full, kv_bf16, py > 0 ? fmt::format("{:.0f}", py) : "n/a",
                               kv / full, py > 0 ? fmt::format("{:.2f}x", kv / py) : "n/a",
                               kv_bf16 / kv)
                << std::flush;
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench_generate: " << e.what() << "\n";
    return 1;
  }
}
