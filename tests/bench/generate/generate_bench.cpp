// Generation throughput of the sampling engine, with its peers, from one invocation:
//   (a) KV cache, float32  (b) full recompute every step, float32  (c) KV cache, bfloat16
//   (d) the Python peer (generate_peer.py on Debian's python3-torch, same weights, KV cache)
// on the default experiment's model size, 8-token prompts, no early stop. Usage:
//   build/tests/bench/bench_generate [--config configs/default/ctrl_bon4.yaml] [--batches 1,16,64]
//       [--new-tokens 64] [--repeats 3] [--threads N] [--python /usr/bin/python3] [--no-python]
// Prints tokens/s (median of the repeats) and the ratios; docs/benchmarks.md records the output.
#include <algorithm>
#include <cstdio>
#include <iostream>
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

using namespace infalign;

namespace {

struct Args {
  std::string config = std::string(INFALIGN_SOURCE_DIR) + "/configs/default/ctrl_bon4.yaml";
  std::vector<std::int64_t> batches = {1, 16, 64};
  std::int64_t new_tokens = 64;
  int repeats = 3;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::string python = "/usr/bin/python3";
  bool run_python = true;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error("missing value for " + k);
      return argv[++i];
    };
    if (k == "--config")
      a.config = next();
    else if (k == "--new-tokens")
      a.new_tokens = std::stoll(next());
    else if (k == "--repeats")
      a.repeats = std::stoi(next());
    else if (k == "--threads")
      a.threads = std::stoi(next());
    else if (k == "--python")
      a.python = next();
    else if (k == "--no-python")
      a.run_python = false;
    else if (k == "--batches") {
      a.batches.clear();
      std::stringstream s(next());
      for (std::string part; std::getline(s, part, ',');) a.batches.push_back(std::stoll(part));
    } else {
      throw std::runtime_error("unknown argument " + k);
    }
  }
  return a;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
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

// Median tokens/s of `repeats` timed runs after one warm-up.
double measure(model::CausalLm& lm, const std::vector<std::vector<std::int64_t>>& prompts,
               const generation::GenerationOptions& options, int repeats) {
  at::Generator g = at::detail::createCPUGenerator(2);
  generation::generate(lm, prompts, options, g);
  std::vector<double> rates;
  for (int r = 0; r < repeats; ++r) {
    Timer timer;
    const auto result = generation::generate(lm, prompts, options, g);
    rates.push_back(static_cast<double>(result.generated_tokens) / timer.seconds());
  }
  return median(rates);
}

double run_python(const Args& a, const std::string& model_dir, std::int64_t batch) {
  const std::string peer =
      std::string(INFALIGN_SOURCE_DIR) + "/tests/bench/generate/generate_peer.py";
  const std::string command =
      fmt::format("{} {} --model {} --batch {} --new-tokens {} --repeats {} --threads {}", a.python,
                  peer, model_dir, batch, a.new_tokens, a.repeats, a.threads);
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  std::string out;
  char buffer[4096];
  while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) out += buffer;
  if (::pclose(pipe) != 0) {
    std::cerr << "python peer failed: " << command << "\n" << out;
    return -1;
  }
  // {"batch": B, "tokens_per_s": [x, y, z]}
  const auto open = out.find('['), close = out.find(']');
  std::vector<double> rates;
  std::stringstream s(out.substr(open + 1, close - open - 1));
  for (std::string part; std::getline(s, part, ',');) rates.push_back(std::stod(part));
  return rates.empty() ? -1 : median(rates);
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
    model::CausalLm lm(mc);
    model::init_weights(*lm, at::detail::createCPUGenerator(3));
    std::int64_t params = 0;
    for (const auto& p : lm->parameters()) params += p.numel();
    fs::TempDir dir("bench-generate");
    const std::string model_dir = dir.path() + "/model";
    model::save_causal_lm(lm, model_dir);

    std::cout << fmt::format(
        "bench_generate: {} params (hidden {}, layers {}, heads {}/{} kv, vocab {}), prompt 8, "
        "{} new tokens, {} intra-op thread(s), median of {}\n",
        params, mc.hidden_size, mc.num_hidden_layers, mc.num_attention_heads,
        mc.num_key_value_heads, mc.vocab_size, a.new_tokens, at::get_num_threads(), a.repeats);
    std::cout << "BLAS: " << runtime::detect_blas().summary() << "\n\n";
    std::cout << fmt::format(
        "| batch | (a) KV fp32 tok/s | (b) recompute fp32 | (c) KV bf16 | (d) Python KV fp32 | a/b "
        "| a/d | c/a |\n");
    std::cout << "|---|---|---|---|---|---|---|---|\n";
    generation::GenerationOptions o;
    o.max_new_tokens = a.new_tokens;
    o.eos_id = -1;  // fixed length: every row makes new_tokens tokens
    model::CausalLm bf16 =
        model::load_causal_lm(model_dir, {c10::Device(c10::kCPU), at::kBFloat16});
    for (const std::int64_t batch : a.batches) {
      const auto prompts = make_prompts(batch, mc.vocab_size);
      o.use_kv_cache = true;
      const double kv = measure(lm, prompts, o, a.repeats);
      o.use_kv_cache = false;
      const double full = measure(lm, prompts, o, a.repeats);
      o.use_kv_cache = true;
      const double kv_bf16 = measure(bf16, prompts, o, a.repeats);
      const double py = a.run_python ? run_python(a, model_dir, batch) : -1;
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
