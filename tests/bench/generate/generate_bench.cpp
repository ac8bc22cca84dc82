// Generation throughput of the sampling engine, with its peers, from one invocation:
//   (a) KV cache, float32  (b) full recompute every step, float32  (c) KV cache, bfloat16
//   (d) the Python peer (generate_peer.py on Debian's python3-torch, same weights, KV cache)
// on the default experiment's model size, 8-token prompts, no early stop. Usage:
//   build/tests/bench/bench_generate [--config configs/default/ctrl_bon4.yaml] [--batches 1,16,64]
//       [--new-tokens 64] [--repeats 3] [--threads N] [--python /usr/bin/python3] [--no-python]
// The four variants run in turn, `repeats` rounds after a warm-up each (the Python peer stays up
// as a child process), so machine noise hits all of them alike. Prints tokens/s (medians) and the
// ratios; docs/benchmarks.md records the output.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <sys/wait.h>

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

// The Python peer as a child process in --serve mode: one batch size per line in, one tokens/s
// per line out, so its runs interleave with ours.
class PythonPeer {
 public:
  PythonPeer(const Args& a, const std::string& model_dir) {
    const std::string peer =
        std::string(INFALIGN_SOURCE_DIR) + "/tests/bench/generate/generate_peer.py";
    int to_child[2], from_child[2];
    if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(to_child[0], 0);
      ::dup2(from_child[1], 1);
      ::close(to_child[1]);
      ::close(from_child[0]);
      const std::string tokens = std::to_string(a.new_tokens), threads = std::to_string(a.threads);
      ::execl(a.python.c_str(), a.python.c_str(), peer.c_str(), "--model", model_dir.c_str(),
              "--serve", "--new-tokens", tokens.c_str(), "--threads", threads.c_str(), nullptr);
      ::_exit(127);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    in_ = ::fdopen(to_child[1], "w");
    out_ = ::fdopen(from_child[0], "r");
  }
  ~PythonPeer() {
    std::fclose(in_);
    std::fclose(out_);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  // One timed run at `batch` (the peer warms up on its first run of each size); -1 on failure.
  double run(std::int64_t batch) {
    std::fprintf(in_, "%ld\n", static_cast<long>(batch));
    std::fflush(in_);
    char line[256];
    if (std::fgets(line, sizeof(line), out_) == nullptr) return -1;
    return std::atof(line);
  }

 private:
  pid_t pid_;
  std::FILE* in_;
  std::FILE* out_;
};

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
    std::unique_ptr<PythonPeer> peer;
    if (a.run_python) peer = std::make_unique<PythonPeer>(a, model_dir);
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
        if (peer) py_runs.push_back(peer->run(batch));
      }
      const double kv = median(kv_runs), full = median(full_runs), kv_bf16 = median(bf16_runs);
      const double py = py_runs.empty() ? -1 : median(py_runs);
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
