// The fused softmax statistics of PPO against their ATen composition, side by side from one run:
// for logits [rows, vocabulary] (one PPO minibatch of the default experiment: 256 rows x 24
// response tokens, 2,000 pieces), the log-probs of the sampled tokens, the entropy and the exact
// KL against a reference log-softmax, forward and backward of a loss that uses all three (what
// the PPO update does), and the forward alone without gradients (what the reference phase does).
//   (a) model::fused::softmax_stats (the CPU kernel)
//   (b) model::fused::softmax_stats_reference (log_softmax, exp, gather, products and sums: the
//       composition the PPO step used before, and what PyTorch code writes)
// Usage:
//   build/tests/bench/bench_softmax_stats [--batches 6144] [--vocab 2000] [--repeats 15]
//       [--threads N] [--dtype float32|bfloat16]
// Variants interleave, `repeats` rounds after a warm-up; prints milliseconds (medians) and a/b.
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>

#include "infalign/core/timer.h"
#include "infalign/model/fused_ops.h"
#include "infalign/runtime/device.h"

#include "../bench_util.h"

using namespace infalign;

namespace {

struct Args : bench::CommonArgs {
  Args() {
    batches = {256 * 24};
    repeats = 15;
    run_python = false;
  }
  std::int64_t vocab = 2000;
  at::ScalarType dtype = at::kFloat;
};

Args parse(int argc, char** argv) {
  Args a;
  bench::parse_flags(argc, argv, a, [&](const std::string& k, const auto& next) {
    if (k == "--vocab") {
      a.vocab = std::stoll(next());
    } else if (k == "--dtype") {
      const std::string d = next();
      if (d != "float32" && d != "bfloat16") throw std::runtime_error("--dtype float32|bfloat16");
      a.dtype = d == "float32" ? at::kFloat : at::kBFloat16;
    } else {
      return false;
    }
    return true;
  });
  return a;
}

using Stats = model::fused::SoftmaxStats (*)(const at::Tensor&, const at::Tensor&, double,
                                             const at::Tensor&);

// Seconds of one update-like step: the statistics with gradients, a loss of all three, backward.
double update_step(Stats f, const at::Tensor& logits, const at::Tensor& ids, const at::Tensor& ref,
                   const at::Tensor& advantage) {
  const at::Tensor z = logits.detach().requires_grad_(true);
  Timer t;
  const model::fused::SoftmaxStats s = f(z, ids, 1.0, ref);
  const at::Tensor loss =
      -(s.logp * advantage).mean() + 0.1 * s.kl.mean() - 0.01 * s.entropy.mean();
  torch::autograd::grad({loss}, {z});
  return t.seconds();
}

// Seconds of the no-gradient forward (the reference phase's old log-probs and exact KL).
double forward_step(Stats f, const at::Tensor& logits, const at::Tensor& ids,
                    const at::Tensor& ref) {
  at::NoGradGuard no_grad;
  Timer t;
  const model::fused::SoftmaxStats s = f(logits, ids, 1.0, ref);
  (void)s.kl.sum().item<float>();
  return t.seconds();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args a = parse(argc, argv);
    at::set_num_threads(a.threads);
    runtime::tune_allocator();  // as infalign-train does: freed tensors stay mapped
    const Stats fused = &model::fused::softmax_stats;
    const Stats composed = &model::fused::softmax_stats_reference;
    std::cout << fmt::format(
        "softmax statistics (log p, entropy, exact KL) of [rows, {}] {} logits, {} thread(s), "
        "median of {} rounds; milliseconds\n\n",
        a.vocab, c10::toString(a.dtype), a.threads, a.repeats);
    std::cout << "| rows | (a) fused update | (b) ATen update | b/a | (a) fused forward | (b) ATen "
                 "forward | b/a |\n|---|---|---|---|---|---|---|\n";
    for (const std::int64_t rows : a.batches) {
      at::Generator g = at::detail::createCPUGenerator(7);
      const at::Tensor logits = (at::randn({rows, a.vocab}, g) * 3).to(a.dtype);
      const at::Tensor ids = at::randint(a.vocab, {rows}, g);
      const at::Tensor ref = at::log_softmax(at::randn({rows, a.vocab}, g) * 3, -1);
      const at::Tensor advantage = at::randn({rows}, g);
      for (Stats f : {fused, composed}) {  // warm-up
        update_step(f, logits, ids, ref, advantage);
        forward_step(f, logits, ids, ref);
      }
      std::vector<double> ua, ub, fa, fb;
      for (int r = 0; r < a.repeats; ++r) {
        ua.push_back(update_step(fused, logits, ids, ref, advantage));
        ub.push_back(update_step(composed, logits, ids, ref, advantage));
        fa.push_back(forward_step(fused, logits, ids, ref));
        fb.push_back(forward_step(composed, logits, ids, ref));
      }
      const double mua = bench::median(ua), mub = bench::median(ub), mfa = bench::median(fa),
                   mfb = bench::median(fb);
      std::cout << fmt::format("| {} | {:.1f} | {:.1f} | {:.2f}x | {:.1f} | {:.1f} | {:.2f}x |\n",
                               rows, 1e3 * mua, 1e3 * mub, mub / mua, 1e3 * mfa, 1e3 * mfb,
                               mfb / mfa);
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench_softmax_stats: " << e.what() << "\n";
    return 2;
  }
}
