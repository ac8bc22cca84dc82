#include "infalign/runtime/fused_optim.h"

#include <cstdlib>
#include <string_view>
#include <vector>

#include "cpu_kernels.h"

namespace infalign::runtime {

namespace {

using namespace cpu;

constexpr std::int64_t kChunk = 16384;  // elements per parallel task

INFALIGN_INLINE void adamw_rows(float* __restrict p, const float* __restrict g, float* __restrict m,
                                float* __restrict v, std::int64_t n, float decay, float b1,
                                float c1, float b2, float c2, float step_size, float inv_sqrt_bias2,
                                float eps) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float gi = g[i];
    const float mi = b1 * m[i] + c1 * gi;
    const float vi = b2 * v[i] + c2 * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - step_size * mi / (std::sqrt(vi) * inv_sqrt_bias2 + eps);
  }
}

template <class T>
INFALIGN_INLINE double squares_rows(const T* __restrict x, std::int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) {
      const double d = to_float(x[i + k]);
      acc[k] += d * d;
    }
  }
  for (int k = 0; i < n; ++i, ++k) {
    const double d = to_float(x[i]);
    acc[k] += d * d;
  }
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

template <class... T>
INFALIGN_INLINE void adamw_impl(float* p, const float* g, float* m, float* v, std::int64_t n,
                                const float* k) {
  adamw_rows(p, g, m, v, n, k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]);
}
template <class T>
INFALIGN_INLINE void squares_impl(const T* x, std::int64_t n, double* out) {
  *out = squares_rows(x, n);
}

INFALIGN_DISPATCHED(adamw_kernel, adamw_impl)
INFALIGN_DISPATCHED(squares_kernel, squares_impl)

bool float_cpu(const at::Tensor& t) {
  return t.defined() && t.device().is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous();
}

std::int64_t chunks(std::int64_t n) { return (n + kChunk - 1) / kChunk; }

}  // namespace

bool fused_adamw_update(const at::Tensor& p, const at::Tensor& g, const at::Tensor& m,
                        const at::Tensor& v, const AdamWScalars& s) {
  const auto n = p.numel();
  if (!kernels_enabled() || !float_cpu(p) || !float_cpu(g) || !float_cpu(m) || !float_cpu(v) ||
      g.numel() != n || m.numel() != n || v.numel() != n) {
    return false;
  }
  const float k[8] = {static_cast<float>(1.0 - s.lr * s.weight_decay),
                      static_cast<float>(s.beta1),
                      static_cast<float>(1.0 - s.beta1),
                      static_cast<float>(s.beta2),
                      static_cast<float>(1.0 - s.beta2),
                      static_cast<float>(s.lr / s.bias1),
                      static_cast<float>(1.0 / std::sqrt(s.bias2)),
                      static_cast<float>(s.eps)};
  float* pp = p.data_ptr<float>();
  const float* gp = g.data_ptr<float>();
  float* mp = m.data_ptr<float>();
  float* vp = v.data_ptr<float>();
  parallel_rows(chunks(n), 1, [&](std::int64_t c0, std::int64_t c1) {
    const std::int64_t first = c0 * kChunk, last = std::min(n, c1 * kChunk);
    adamw_kernel<float>(pp + first, gp + first, mp + first, vp + first, last - first, k);
  });
  return true;
}

std::optional<double> fused_squared_norm(const at::Tensor& t) {
  if (!kernels_enabled() || !t.defined() || !t.device().is_cpu() || !t.is_contiguous() ||
      (t.scalar_type() != at::kFloat && t.scalar_type() != at::kBFloat16)) {
    return std::nullopt;
  }
  const auto n = t.numel();
  std::vector<double> partial(static_cast<std::size_t>(std::max<std::int64_t>(1, chunks(n))), 0.0);
  with_type(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* x = data<T>(t);
    parallel_rows(chunks(n), 1, [&](std::int64_t c0, std::int64_t c1) {
      for (std::int64_t c = c0; c < c1; ++c) {
        const std::int64_t first = c * kChunk, last = std::min(n, first + kChunk);
        squares_kernel<T>(x + first, last - first, &partial[static_cast<std::size_t>(c)]);
      }
    });
  });
  double total = 0;
  for (const double x : partial) total += x;  // in chunk order: independent of the threads
  return total;
}

}  // namespace infalign::runtime
