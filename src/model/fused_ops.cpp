#include "infalign/model/fused_ops.h"

#include <dlfcn.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/TensorIterator.h>
#include <ATen/autocast_mode.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/csrc/autograd/custom_function.h>

#include "infalign/core/error.h"
#include "infalign/runtime/tensor_format.h"

#include "../runtime/cpu_kernels.h"

namespace infalign::model::fused {

namespace {

using namespace runtime::cpu;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// ---- kernels over a range of rows ----

template <class T>
INFALIGN_INLINE void swiglu_forward_rows(const T* gate_up, T* out, std::int64_t rows,
                                         std::int64_t width) {
  for (std::int64_t row = 0; row < rows; ++row) {
    const T* __restrict g = gate_up + row * 2 * width;
    const T* __restrict u = g + width;
    T* __restrict o = out + row * width;
    for (std::int64_t i = 0; i < width; ++i) {
      const float gv = to_float(g[i]);
      put(o[i], gv * sigmoid(gv) * to_float(u[i]));
    }
  }
}

template <class T>
INFALIGN_INLINE void swiglu_backward_rows(const T* gate_up, const T* grad, T* grad_in,
                                          std::int64_t rows, std::int64_t width) {
  for (std::int64_t row = 0; row < rows; ++row) {
    const T* __restrict g = gate_up + row * 2 * width;
    const T* __restrict u = g + width;
    const T* __restrict d = grad + row * width;
    T* __restrict dg = grad_in + row * 2 * width;
    T* __restrict du = dg + width;
    for (std::int64_t i = 0; i < width; ++i) {
      const float gv = to_float(g[i]), dv = to_float(d[i]);
      const float s = sigmoid(gv);
      const float silu = gv * s;
      put(dg[i], dv * to_float(u[i]) * (s + silu * (1.0f - s)));
      put(du[i], dv * silu);
    }
  }
}

// out = w * round_T(x * rstd); rstd per row.
template <class T, class W, class O>
INFALIGN_INLINE void rms_forward_rows(const T* x, const W* w, O* out, float* rstd,
                                      std::int64_t rows, std::int64_t width, float eps) {
  for (std::int64_t row = 0; row < rows; ++row) {
    const T* __restrict xr = x + row * width;
    O* __restrict o = out + row * width;
    const float ss = lane_sum(width, [&](std::int64_t i) {
      const float v = to_float(xr[i]);
      return v * v;
    });
    const float r = 1.0f / std::sqrt(ss / static_cast<float>(width) + eps);
    rstd[row] = r;
    for (std::int64_t i = 0; i < width; ++i) {
      put(o[i], to_float(w[i]) * rounded_as<T>(to_float(xr[i]) * r));
    }
  }
}

// dx = rstd * (dn - n * mean(dn * n)) with dn = grad * w and n = x * rstd; the weight's
// gradient grad * round_T(n) summed over the rows into dw_partial [width] (float).
template <class T, class W, class O>
INFALIGN_INLINE void rms_backward_rows(const T* x, const W* w, const O* grad, const float* rstd,
                                       T* dx, float* dw_partial, std::int64_t rows,
                                       std::int64_t width) {
  for (std::int64_t row = 0; row < rows; ++row) {
    const T* __restrict xr = x + row * width;
    const O* __restrict gr = grad + row * width;
    T* __restrict dxr = dx + row * width;
    const float r = rstd[row];
    const float dot = lane_sum(width, [&](std::int64_t i) {
      return to_float(gr[i]) * to_float(w[i]) * (to_float(xr[i]) * r);
    });
    for (std::int64_t i = 0; i < width; ++i) {
      dw_partial[i] += to_float(gr[i]) * rounded_as<T>(to_float(xr[i]) * r);
    }
    const float c = dot / static_cast<float>(width);
    for (std::int64_t i = 0; i < width; ++i) {
      const float n = to_float(xr[i]) * r;
      put(dxr[i], r * (to_float(gr[i]) * to_float(w[i]) - n * c));
    }
  }
}

// Rotary embedding of one head row: out = x * c + swap_halves(x) * s (s = sin_signed).
template <class S, class D>
INFALIGN_INLINE void rope_row(const S* __restrict x, const float* __restrict c,
                              const float* __restrict s, D* __restrict out, std::int64_t half) {
  for (std::int64_t i = 0; i < half; ++i) {
    put(out[i], to_float(x[i]) * c[i] + to_float(x[half + i]) * s[i]);
  }
  for (std::int64_t i = 0; i < half; ++i) {
    put(out[half + i], to_float(x[half + i]) * c[half + i] + to_float(x[i]) * s[half + i]);
  }
}

// Its transpose (the gradient of x from the gradient g of out).
template <class G, class D>
INFALIGN_INLINE void rope_row_backward(const G* __restrict g, const float* __restrict c,
                                       const float* __restrict s, D* __restrict dx,
                                       std::int64_t half) {
  for (std::int64_t i = 0; i < half; ++i) {
    put(dx[i], to_float(g[i]) * c[i] + to_float(g[half + i]) * s[half + i]);
  }
  for (std::int64_t i = 0; i < half; ++i) {
    put(dx[half + i], to_float(g[half + i]) * c[half + i] + to_float(g[i]) * s[i]);
  }
}

template <class S, class D>
INFALIGN_INLINE void copy_row(const S* __restrict x, D* __restrict out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) put(out[i], to_float(x[i]));
}

// Where row (b, t) of head `head` of qkv [B, T, heads + 2 kv_heads, d] goes: q heads into
// q [B * kv_heads, group * T, d] (query head kv * group + j at rows j * T + t of group kv), k and
// v heads into [B * kv_heads, T, d]. Returns 0, 1, 2 for q, k, v and the row's offset.
struct HeadSlot {
  int which;
  std::int64_t offset;
};
INFALIGN_INLINE HeadSlot head_slot(std::int64_t b, std::int64_t t, std::int64_t head,
                                   std::int64_t T, std::int64_t heads, std::int64_t kv_heads,
                                   std::int64_t d) {
  const std::int64_t group = heads / kv_heads;
  if (head < heads) {
    const std::int64_t kv = head / group, j = head % group;
    return {0, ((b * kv_heads + kv) * group * T + j * T + t) * d};
  }
  const int which = head < heads + kv_heads ? 1 : 2;
  const std::int64_t kv = head - heads - (which == 2 ? kv_heads : 0);
  return {which, ((b * kv_heads + kv) * T + t) * d};
}

// qkv rows of batches [b0, b1) -> rotated q and k, copied v (attention's layouts above).
template <class S, class D>
INFALIGN_INLINE void rope_split_rows(const S* qkv, const float* cos, const float* sin, D* q, D* k,
                                     D* v, std::int64_t b0, std::int64_t b1, std::int64_t T,
                                     std::int64_t heads, std::int64_t kv_heads, std::int64_t d) {
  const std::int64_t width = heads + 2 * kv_heads;
  D* targets[3] = {q, k, v};
  for (std::int64_t b = b0; b < b1; ++b) {
    for (std::int64_t t = 0; t < T; ++t) {
      const std::int64_t row = b * T + t;
      for (std::int64_t head = 0; head < width; ++head) {
        const S* x = qkv + (row * width + head) * d;
        const HeadSlot slot = head_slot(b, t, head, T, heads, kv_heads, d);
        D* out = targets[slot.which] + slot.offset;
        if (slot.which == 2) {
          copy_row(x, out, d);
        } else {
          rope_row(x, cos + row * d, sin + row * d, out, d / 2);
        }
      }
    }
  }
}

// The gradients of q, k, v (attention's layouts) -> the gradient of qkv, rows of [b0, b1).
template <class G, class D>
INFALIGN_INLINE void rope_merge_rows(const G* dq, const G* dk, const G* dv, const float* cos,
                                     const float* sin, D* dqkv, std::int64_t b0, std::int64_t b1,
                                     std::int64_t T, std::int64_t heads, std::int64_t kv_heads,
                                     std::int64_t d) {
  const std::int64_t width = heads + 2 * kv_heads;
  const G* sources[3] = {dq, dk, dv};
  for (std::int64_t b = b0; b < b1; ++b) {
    for (std::int64_t t = 0; t < T; ++t) {
      const std::int64_t row = b * T + t;
      for (std::int64_t head = 0; head < width; ++head) {
        D* out = dqkv + (row * width + head) * d;
        const HeadSlot slot = head_slot(b, t, head, T, heads, kv_heads, d);
        const G* g = sources[slot.which] + slot.offset;
        if (slot.which == 2) {
          copy_row(g, out, d);
        } else {
          rope_row_backward(g, cos + row * d, sin + row * d, out, d / 2);
        }
      }
    }
  }
}

// log-sum-exp of s = zr * inv_t over one row (max, then the sum of exp(s - max)): the one
// computation of it, so log-probs made by softmax_stats_rows and log_softmax_rows agree exactly.
template <class T>
INFALIGN_INLINE float row_lse(const T* __restrict zr, float inv_t, std::int64_t width) {
  const float m = lane_max(width, [&](std::int64_t i) { return to_float(zr[i]) * inv_t; });
  const float sum =
      lane_sum(width, [&](std::int64_t i) { return exp_approx(to_float(zr[i]) * inv_t - m); });
  return m + std::log(sum);
}

// Statistics of p = softmax(s), s = z * inv_t, per row of z [rows, width]: lse(s), and with
// log p = s - lse: log p(ids[row]) (ids may be null), the entropy -sum p log p, and with a
// reference log-softmax ref [rows, width] (may be null) the KL sum p (log p - ref). The row
// stays in cache over the passes; exp is recomputed instead of stored.
template <class T>
INFALIGN_INLINE void softmax_stats_rows(const T* z, const std::int64_t* ids, const float* ref,
                                        float inv_t, float* lse, float* logp, float* entropy,
                                        float* kl, std::int64_t rows, std::int64_t width) {
  for (std::int64_t row = 0; row < rows; ++row) {
    const T* __restrict zr = z + row * width;
    const float l = row_lse(zr, inv_t, width);
    lse[row] = l;
    if (ids != nullptr) logp[row] = to_float(zr[ids[row]]) * inv_t - l;
    entropy[row] = -lane_sum(width, [&](std::int64_t i) {
      const float lp = to_float(zr[i]) * inv_t - l;
      return exp_approx(lp) * lp;
    });
    if (ref != nullptr) {
      const float* __restrict rr = ref + row * width;
      kl[row] = lane_sum(width, [&](std::int64_t i) {
        const float lp = to_float(zr[i]) * inv_t - l;
        return exp_approx(lp) * (lp - rr[i]);
      });
    }
  }
}

// out = s - lse(s) per row, s = z * inv_t: the log-softmax, each value computed exactly as
// softmax_stats_rows computes log p, so the KL of a distribution against itself is exactly 0.
template <class T>
INFALIGN_INLINE void log_softmax_rows(const T* z, float inv_t, float* out, std::int64_t rows,
                                      std::int64_t width) {
  for (std::int64_t row = 0; row < rows; ++row) {
    const T* __restrict zr = z + row * width;
    float* __restrict o = out + row * width;
    const float l = row_lse(zr, inv_t, width);
    for (std::int64_t i = 0; i < width; ++i) o[i] = to_float(zr[i]) * inv_t - l;
  }
}

// The gradient of z from the gradients gl, gh, gk of log p(y), the entropy H and the KL of each
// row: d/ds_j = gl (1[j = y] - p_j) - gh p_j (log p_j + H) + gk p_j (log p_j - ref_j - KL), times
// inv_t. A null gradient pointer counts as zeros.
template <class T>
INFALIGN_INLINE void softmax_stats_backward_rows(const T* z, const std::int64_t* ids,
                                                 const float* ref, const float* lse,
                                                 const float* entropy, const float* kl,
                                                 const float* g_logp, const float* g_entropy,
                                                 const float* g_kl, float inv_t, T* dz,
                                                 std::int64_t rows, std::int64_t width) {
  for (std::int64_t row = 0; row < rows; ++row) {
    const T* __restrict zr = z + row * width;
    T* __restrict dr = dz + row * width;
    const float l = lse[row], h = entropy[row];
    const float gl = g_logp != nullptr && ids != nullptr ? g_logp[row] : 0.0f;
    const float gh = g_entropy != nullptr ? g_entropy[row] : 0.0f;
    if (ref != nullptr && g_kl != nullptr) {
      const float* __restrict rr = ref + row * width;
      const float gk = g_kl[row], k = kl[row];
      for (std::int64_t i = 0; i < width; ++i) {
        const float lp = to_float(zr[i]) * inv_t - l;
        put(dr[i], inv_t * exp_approx(lp) * (gk * (lp - rr[i] - k) - gh * (lp + h) - gl));
      }
    } else {
      for (std::int64_t i = 0; i < width; ++i) {
        const float lp = to_float(zr[i]) * inv_t - l;
        put(dr[i], inv_t * exp_approx(lp) * (-gh * (lp + h) - gl));
      }
    }
    if (gl != 0.0f) {
      const std::int64_t y = ids[row];
      put(dr[y], to_float(dr[y]) + inv_t * gl);
    }
  }
}

INFALIGN_DISPATCHED(swiglu_forward_kernel, swiglu_forward_rows)
INFALIGN_DISPATCHED(swiglu_backward_kernel, swiglu_backward_rows)
INFALIGN_DISPATCHED(rms_forward_kernel, rms_forward_rows)
INFALIGN_DISPATCHED(rms_backward_kernel, rms_backward_rows)
INFALIGN_DISPATCHED(rope_split_kernel, rope_split_rows)
INFALIGN_DISPATCHED(rope_merge_kernel, rope_merge_rows)
INFALIGN_DISPATCHED(softmax_stats_kernel, softmax_stats_rows)
INFALIGN_DISPATCHED(log_softmax_kernel, log_softmax_rows)
INFALIGN_DISPATCHED(softmax_stats_backward_kernel, softmax_stats_backward_rows)

bool served(const at::Tensor& t) {
  return t.device().is_cpu() && (t.scalar_type() == at::kFloat || t.scalar_type() == at::kBFloat16);
}

// ---- SwiGLU ----

at::Tensor swiglu_forward(const at::Tensor& gate_up) {
  const auto width = gate_up.size(-1) / 2;
  const auto rows = gate_up.numel() / std::max<std::int64_t>(1, 2 * width);
  auto out_shape = gate_up.sizes().vec();
  out_shape.back() = width;
  at::Tensor out = at::empty(out_shape, gate_up.options());
  with_type(gate_up, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* in = data<T>(gate_up);
    T* o = data<T>(out);
    parallel_rows(rows, grain(width), [&](std::int64_t begin, std::int64_t end) {
      swiglu_forward_kernel<T>(in + begin * 2 * width, o + begin * width, end - begin, width);
    });
  });
  return out;
}

at::Tensor swiglu_backward(const at::Tensor& gate_up, const at::Tensor& grad_out) {
  const auto width = gate_up.size(-1) / 2;
  const auto rows = gate_up.numel() / std::max<std::int64_t>(1, 2 * width);
  const at::Tensor grad = grad_out.to(gate_up.scalar_type()).contiguous();
  at::Tensor grad_in = at::empty_like(gate_up);
  with_type(gate_up, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* in = data<T>(gate_up);
    const T* d = data<T>(grad);
    T* gi = data<T>(grad_in);
    parallel_rows(rows, grain(width), [&](std::int64_t begin, std::int64_t end) {
      swiglu_backward_kernel<T>(in + begin * 2 * width, d + begin * width, gi + begin * 2 * width,
                                end - begin, width);
    });
  });
  return grad_in;
}

class SwiGluFunction : public torch::autograd::Function<SwiGluFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& gate_up) {
    ctx->save_for_backward({gate_up});
    return swiglu_forward(gate_up);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    return {swiglu_backward(saved[0], grads[0])};
  }
};

// ---- RMSNorm ----

constexpr std::int64_t kNormBlock = 64;  // rows per partial sum of the weight's gradient

at::ScalarType norm_out_type(const at::Tensor& x, const at::Tensor& weight) {
  return at::promote_types(x.scalar_type(), weight.scalar_type());
}

at::Tensor rms_forward(const at::Tensor& x, const at::Tensor& weight, double eps,
                       at::Tensor* rstd) {
  const auto width = x.size(-1);
  const auto rows = x.numel() / std::max<std::int64_t>(1, width);
  at::Tensor out = at::empty(x.sizes(), x.options().dtype(norm_out_type(x, weight)));
  at::Tensor r = at::empty({rows}, x.options().dtype(at::kFloat));
  with_types(x, weight, out, [&](auto* xtag, auto* wtag, auto* otag) {
    using T = std::remove_pointer_t<decltype(xtag)>;
    using W = std::remove_pointer_t<decltype(wtag)>;
    using O = std::remove_pointer_t<decltype(otag)>;
    const T* xp = data<T>(x);
    const W* wp = data<W>(weight);
    O* op = data<O>(out);
    float* rp = r.data_ptr<float>();
    parallel_rows(rows, grain(width), [&](std::int64_t begin, std::int64_t end) {
      rms_forward_kernel<T, W, O>(xp + begin * width, wp, op + begin * width, rp + begin,
                                  end - begin, width, static_cast<float>(eps));
    });
  });
  if (rstd != nullptr) *rstd = r;
  return out;
}

std::pair<at::Tensor, at::Tensor> rms_backward(const at::Tensor& grad_out, const at::Tensor& x,
                                               const at::Tensor& weight, const at::Tensor& rstd) {
  const auto width = x.size(-1);
  const auto rows = x.numel() / std::max<std::int64_t>(1, width);
  const at::Tensor grad = grad_out.to(norm_out_type(x, weight)).contiguous();
  at::Tensor dx = at::empty_like(x);
  const auto blocks = (rows + kNormBlock - 1) / kNormBlock;
  at::Tensor partial =
      at::zeros({std::max<std::int64_t>(1, blocks), width}, x.options().dtype(at::kFloat));
  with_types(x, weight, grad, [&](auto* xtag, auto* wtag, auto* otag) {
    using T = std::remove_pointer_t<decltype(xtag)>;
    using W = std::remove_pointer_t<decltype(wtag)>;
    using O = std::remove_pointer_t<decltype(otag)>;
    const T* xp = data<T>(x);
    const W* wp = data<W>(weight);
    const O* gp = data<O>(grad);
    const float* rp = rstd.data_ptr<float>();
    T* dxp = data<T>(dx);
    float* pp = partial.data_ptr<float>();
    // Blocks of kNormBlock rows, each summing into its own row of `partial`, so the weight's
    // gradient does not depend on how the rows are split among threads.
    parallel_rows(blocks, 1, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t b = begin; b < end; ++b) {
        const std::int64_t first = b * kNormBlock;
        const std::int64_t n = std::min(kNormBlock, rows - first);
        rms_backward_kernel<T, W, O>(xp + first * width, wp, gp + first * width, rp + first,
                                     dxp + first * width, pp + b * width, n, width);
      }
    });
  });
  return {dx, partial.sum(0).to(weight.scalar_type())};
}

class RmsNormFunction : public torch::autograd::Function<RmsNormFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            double eps) {
    at::Tensor rstd;
    at::Tensor out = rms_forward(x, weight, eps, &rstd);
    ctx->save_for_backward({x, weight, rstd});
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    auto [dx, dw] = rms_backward(grads[0], saved[0], saved[1], saved[2]);
    return {dx, dw, at::Tensor()};
  }
};

// ---- attention ----

// Fortran BLAS sgemm_ of the process (the BLAS LibTorch itself calls), looked up once; null when
// LibTorch's BLAS is linked in with hidden symbols (e.g. MKL in the PyTorch wheels).
using SgemmFn = void (*)(const char*, const char*, const int*, const int*, const int*, const float*,
                         const float*, const int*, const float*, const int*, const float*, float*,
                         const int*);
SgemmFn process_sgemm() {
  static const SgemmFn f = reinterpret_cast<SgemmFn>(::dlsym(RTLD_DEFAULT, "sgemm_"));
  return f;
}

// op(a) @ op(b) for each of a batch of row-major matrices: a [batch, ra, ca], b [batch, rb, cb],
// op transposing the last two dimensions when t is set. float32 goes straight to sgemm_, one
// matrix per call on LibTorch's threads (at::bmm costs ~10 us of dispatch per matrix on CPU,
// more than the product of these small matrices); other dtypes (bf16: one oneDNN call) to
// at::bmm.
at::Tensor batched_product(const at::Tensor& a, bool ta, const at::Tensor& b, bool tb) {
  const auto batch = a.size(0);
  const auto m = ta ? a.size(2) : a.size(1), k = ta ? a.size(1) : a.size(2);
  const auto n = tb ? b.size(1) : b.size(2);
  const SgemmFn sgemm = process_sgemm();
  const auto fits = [](std::int64_t x) { return x > 0 && x < (std::int64_t{1} << 30); };
  if (sgemm == nullptr || a.scalar_type() != at::kFloat || b.scalar_type() != at::kFloat ||
      !a.is_contiguous() || !b.is_contiguous() || !fits(m) || !fits(n) || !fits(k)) {
    return at::bmm(ta ? a.transpose(1, 2) : a, tb ? b.transpose(1, 2) : b);
  }
  at::Tensor c = at::empty({batch, m, n}, a.options());
  const float* ap = a.data_ptr<float>();
  const float* bp = b.data_ptr<float>();
  float* cp = c.data_ptr<float>();
  const std::int64_t sa = a.size(1) * a.size(2), sb = b.size(1) * b.size(2), sc = m * n;
  const int mi = static_cast<int>(m), ni = static_cast<int>(n), ki = static_cast<int>(k);
  const int lda = static_cast<int>(a.size(2)), ldb = static_cast<int>(b.size(2)), ldc = ni;
  const float one = 1.0f, zero = 0.0f;
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T.
  const char* tb_flag = tb ? "T" : "N";
  const char* ta_flag = ta ? "T" : "N";
  parallel_rows(batch, std::max<std::int64_t>(1, 16384 / std::max<std::int64_t>(1, m * n)),
                [&](std::int64_t b0, std::int64_t b1) {
                  for (std::int64_t i = b0; i < b1; ++i) {
                    sgemm(tb_flag, ta_flag, &ni, &mi, &ki, &one, bp + i * sb, &ldb, ap + i * sa,
                          &lda, &zero, cp + i * sc, &ldc);
                  }
                });
  return c;
}

// The dtype of the attention's matrix products: autocast's when CPU autocast is on (what at::bmm
// would cast to), else the input's.
at::ScalarType compute_type(const at::Tensor& qkv) {
  return at::autocast::is_cpu_enabled() ? at::autocast::get_autocast_cpu_dtype()
                                        : qkv.scalar_type();
}

struct AttentionSaved {
  at::Tensor q, k, v, probs, probs_c;  // probs in float32; probs_c in the compute dtype
};

at::Tensor attention_forward(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin,
                             const at::Tensor& bias, const AttentionShape& s,
                             AttentionSaved* saved) {
  // Everything below runs in explicit dtypes.
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::DispatchKey::AutocastCPU);
  const auto B = s.batch, T = s.length, nh = s.heads, nkv = s.kv_heads, d = s.head_dim;
  const auto group = nh / nkv;
  const at::ScalarType cd = compute_type(qkv);
  const auto opts = qkv.options().dtype(cd);
  at::Tensor q = at::empty({B * nkv, group * T, d}, opts);
  at::Tensor k = at::empty({B * nkv, T, d}, opts), v = at::empty({B * nkv, T, d}, opts);
  with_types(qkv, q, [&](auto* stag, auto* dtag) {
    using S = std::remove_pointer_t<decltype(stag)>;
    using D = std::remove_pointer_t<decltype(dtag)>;
    const S* src = data<S>(qkv);
    const float* c = cos.data_ptr<float>();
    const float* sn = sin.data_ptr<float>();
    D *qp = data<D>(q), *kp = data<D>(k), *vp = data<D>(v);
    parallel_rows(
        B, std::max<std::int64_t>(1, 16384 / std::max<std::int64_t>(1, T * (nh + 2 * nkv) * d)),
        [&](std::int64_t b0, std::int64_t b1) {
          rope_split_kernel<S, D>(src, c, sn, qp, kp, vp, b0, b1, T, nh, nkv, d);
        });
  });
  at::Tensor scores = batched_product(q, false, k, true).view({B, nh, T, T});
  if (scores.scalar_type() != at::kFloat) scores = scores.to(at::kFloat);
  scores.add_(bias);
  at::Tensor probs = at::_softmax(scores, -1, false);
  at::Tensor probs_c = cd == at::kFloat ? probs : probs.to(cd);
  const at::Tensor attn = batched_product(probs_c.view({B * nkv, group * T, T}), false, v, false);
  if (saved != nullptr) *saved = {q, k, v, probs, probs_c};
  return attn.view({B, nh, T, d}).transpose(1, 2).reshape({B * T, nh * d});
}

at::Tensor attention_backward(const at::Tensor& grad_out, const AttentionSaved& saved,
                              const at::Tensor& cos, const at::Tensor& sin, const AttentionShape& s,
                              at::ScalarType qkv_type) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::DispatchKey::AutocastCPU);
  const auto B = s.batch, T = s.length, nh = s.heads, nkv = s.kv_heads, d = s.head_dim;
  const auto group = nh / nkv;
  const at::ScalarType cd = saved.q.scalar_type();
  const at::Tensor dattn =
      grad_out.to(cd).view({B, T, nh, d}).transpose(1, 2).reshape({B * nkv, group * T, d});
  const at::Tensor probs_c = saved.probs_c.view({B * nkv, group * T, T});
  const at::Tensor dprobs = batched_product(dattn, false, saved.v, true);
  const at::Tensor dv = batched_product(probs_c, true, dattn, false).contiguous();
  at::Tensor dscores = at::_softmax_backward_data(dprobs.to(at::kFloat).view({B, nh, T, T}),
                                                  saved.probs, -1, at::kFloat);
  if (cd != at::kFloat) dscores = dscores.to(cd);
  dscores = dscores.view({B * nkv, group * T, T});
  const at::Tensor dq = batched_product(dscores, false, saved.k, false).contiguous();
  const at::Tensor dk = batched_product(dscores, true, saved.q, false).contiguous();
  at::Tensor dqkv = at::empty({B * T, (nh + 2 * nkv) * d}, grad_out.options().dtype(qkv_type));
  with_types(dq, dqkv, [&](auto* gtag, auto* dtag) {
    using G = std::remove_pointer_t<decltype(gtag)>;
    using D = std::remove_pointer_t<decltype(dtag)>;
    const G *dqp = data<G>(dq), *dkp = data<G>(dk), *dvp = data<G>(dv);
    const float* c = cos.data_ptr<float>();
    const float* sn = sin.data_ptr<float>();
    D* out = data<D>(dqkv);
    parallel_rows(
        B, std::max<std::int64_t>(1, 16384 / std::max<std::int64_t>(1, T * (nh + 2 * nkv) * d)),
        [&](std::int64_t b0, std::int64_t b1) {
          rope_merge_kernel<G, D>(dqp, dkp, dvp, c, sn, out, b0, b1, T, nh, nkv, d);
        });
  });
  return dqkv;
}

class AttentionFunction : public torch::autograd::Function<AttentionFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& qkv, const at::Tensor& cos,
                            const at::Tensor& sin, const at::Tensor& bias, std::int64_t batch,
                            std::int64_t length, std::int64_t heads, std::int64_t kv_heads,
                            std::int64_t head_dim) {
    const AttentionShape s{batch, length, heads, kv_heads, head_dim};
    AttentionSaved saved;
    at::Tensor out = attention_forward(qkv, cos, sin, bias, s, &saved);
    ctx->save_for_backward({saved.q, saved.k, saved.v, saved.probs, saved.probs_c, cos, sin});
    ctx->saved_data["shape"] = std::vector<std::int64_t>{batch, length, heads, kv_heads, head_dim};
    ctx->saved_data["qkv_type"] = static_cast<std::int64_t>(qkv.scalar_type());
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto v = ctx->get_saved_variables();
    const auto dims = ctx->saved_data["shape"].toIntVector();
    const AttentionShape s{dims[0], dims[1], dims[2], dims[3], dims[4]};
    const auto qkv_type = static_cast<at::ScalarType>(ctx->saved_data["qkv_type"].toInt());
    const at::Tensor dqkv =
        attention_backward(grads[0], {v[0], v[1], v[2], v[3], v[4]}, v[5], v[6], s, qkv_type);
    return {dqkv,         at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// ---- softmax statistics ----

// The kernel over z [rows, width] (contiguous), ids [rows] or undefined, ref [rows, width] float32
// or undefined: [lse, logp, entropy, kl], float32 [rows] each (logp and kl zeros when their input
// is undefined).
std::array<at::Tensor, 4> softmax_stats_forward(const at::Tensor& z, const at::Tensor& ids,
                                                const at::Tensor& ref, double temperature) {
  const auto width = z.size(-1);
  const auto rows = z.numel() / std::max<std::int64_t>(1, width);
  const auto options = z.options().dtype(at::kFloat);
  std::array<at::Tensor, 4> out = {at::empty({rows}, options), at::zeros({rows}, options),
                                   at::empty({rows}, options), at::zeros({rows}, options)};
  const std::int64_t* ip = ids.defined() ? ids.data_ptr<std::int64_t>() : nullptr;
  const float* rp = ref.defined() ? ref.data_ptr<float>() : nullptr;
  const auto inv_t = static_cast<float>(1.0 / temperature);
  with_type(z, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* zp = data<T>(z);
    float* o[4] = {out[0].data_ptr<float>(), out[1].data_ptr<float>(), out[2].data_ptr<float>(),
                   out[3].data_ptr<float>()};
    parallel_rows(rows, grain(width), [&](std::int64_t begin, std::int64_t end) {
      softmax_stats_kernel<T>(zp + begin * width, ip == nullptr ? nullptr : ip + begin,
                              rp == nullptr ? nullptr : rp + begin * width, inv_t, o[0] + begin,
                              o[1] + begin, o[2] + begin, o[3] + begin, end - begin, width);
    });
  });
  return out;
}

at::Tensor softmax_stats_backward(const at::Tensor& z, const at::Tensor& ids, const at::Tensor& ref,
                                  const at::Tensor& lse, const at::Tensor& entropy,
                                  const at::Tensor& kl, const at::Tensor& g_logp,
                                  const at::Tensor& g_entropy, const at::Tensor& g_kl,
                                  double temperature) {
  const auto width = z.size(-1);
  const auto rows = z.numel() / std::max<std::int64_t>(1, width);
  const auto flat = [](const at::Tensor& g) {
    return g.defined() ? g.to(at::kFloat).contiguous() : at::Tensor();
  };
  const at::Tensor gl = ids.defined() ? flat(g_logp) : at::Tensor(), gh = flat(g_entropy),
                   gk = ref.defined() ? flat(g_kl) : at::Tensor();
  at::Tensor dz = at::empty_like(z);
  const auto ptr = [](const at::Tensor& t) {
    return t.defined() ? t.data_ptr<float>() : static_cast<float*>(nullptr);
  };
  const std::int64_t* ip = ids.defined() ? ids.data_ptr<std::int64_t>() : nullptr;
  const float *rp = ptr(ref), *lp = ptr(lse), *hp = ptr(entropy), *kp = ptr(kl), *glp = ptr(gl),
              *ghp = ptr(gh), *gkp = ptr(gk);
  const auto inv_t = static_cast<float>(1.0 / temperature);
  with_type(z, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* zp = data<T>(z);
    T* dp = data<T>(dz);
    const auto at_row = [](const float* p, std::int64_t r) { return p == nullptr ? p : p + r; };
    parallel_rows(rows, grain(width), [&](std::int64_t begin, std::int64_t end) {
      softmax_stats_backward_kernel<T>(zp + begin * width, ip == nullptr ? nullptr : ip + begin,
                                       rp == nullptr ? nullptr : rp + begin * width, lp + begin,
                                       hp + begin, kp + begin, at_row(glp, begin),
                                       at_row(ghp, begin), at_row(gkp, begin), inv_t,
                                       dp + begin * width, end - begin, width);
    });
  });
  return dz;
}

class SoftmaxStatsFunction : public torch::autograd::Function<SoftmaxStatsFunction> {
 public:
  // Returns [logp, entropy, kl], each shaped like z without its last dimension.
  // ids and ref: empty tensors for none.
  static variable_list forward(AutogradContext* ctx, const at::Tensor& z, const at::Tensor& ids_in,
                               const at::Tensor& ref_in, double temperature) {
    ctx->set_materialize_grads(false);
    const at::Tensor ids = ids_in.numel() > 0 ? ids_in : at::Tensor();
    const at::Tensor ref = ref_in.numel() > 0 ? ref_in : at::Tensor();
    auto [lse, logp, entropy, kl] = softmax_stats_forward(z, ids, ref, temperature);
    ctx->save_for_backward({z, ids_in, ref_in, lse, entropy, kl});
    ctx->saved_data["temperature"] = temperature;
    const auto shape = z.sizes().slice(0, z.dim() - 1);
    return {logp.view(shape), entropy.view(shape), kl.view(shape)};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    if (!grads[0].defined() && !grads[1].defined() && !grads[2].defined()) {
      return {at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    }
    const auto given = [](const at::Tensor& t) { return t.numel() > 0 ? t : at::Tensor(); };
    return {softmax_stats_backward(saved[0], given(saved[1]), given(saved[2]), saved[3], saved[4],
                                   saved[5], grads[0], grads[1], grads[2],
                                   ctx->saved_data["temperature"].toDouble()),
            at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

bool needs_graph(const at::Tensor& a, const at::Tensor& b = at::Tensor()) {
  return at::GradMode::is_enabled() && (a.requires_grad() || (b.defined() && b.requires_grad()));
}

}  // namespace

bool applies(const at::Tensor& t) { return kernels_enabled() && served(t); }

at::Tensor rms_norm_reference(const at::Tensor& x, const at::Tensor& weight, double eps) {
  if (x.scalar_type() == at::kFloat) {
    return weight * (x * at::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + eps));
  }
  const at::Tensor x32 = x.to(at::kFloat);
  return weight *
         (x32 * at::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps)).to(x.scalar_type());
}

at::Tensor swiglu_reference(const at::Tensor& gate_up) {
  const auto width = gate_up.size(-1) / 2;
  return at::silu(gate_up.narrow(-1, 0, width)) * gate_up.narrow(-1, width, width);
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  if (!applies(x) || !served(weight) || weight.device() != x.device() || weight.dim() != 1 ||
      weight.size(0) != x.size(-1)) {
    return rms_norm_reference(x, weight, eps);
  }
  const at::Tensor xc = x.contiguous(), wc = weight.contiguous();
  if (needs_graph(x, weight)) return RmsNormFunction::apply(xc, wc, eps);
  return rms_forward(xc, wc, eps, nullptr);
}

at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin_signed) {
  const auto d = x.size(-1);
  const at::Tensor swapped = x.unflatten(-1, {2, d / 2}).flip(-2).flatten(-2);
  return at::addcmul(x * cos, swapped, sin_signed);
}

at::Tensor grouped_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                             const at::Tensor& bias, const AttentionShape& s) {
  const auto B = s.batch, T = s.length, nh = s.heads, nkv = s.kv_heads, d = s.head_dim;
  const auto S = k.size(1), group = nh / nkv;
  at::Tensor scores =
      at::bmm(q.reshape({B * nkv, group * T, d}), k.transpose(1, 2)).view({B, nh, T, S});
  if (scores.scalar_type() != at::kFloat) scores = scores.to(at::kFloat);
  at::Tensor probs = at::softmax(scores + bias, -1);
  if (probs.scalar_type() != v.scalar_type()) probs = probs.to(v.scalar_type());
  const at::Tensor attn = at::bmm(probs.view({B * nkv, group * T, S}), v);
  return attn.view({B, nh, T, d}).transpose(1, 2).reshape({B * T, nh * d});
}

at::Tensor attention_reference(const at::Tensor& qkv, const at::Tensor& cos,
                               const at::Tensor& sin_signed, const at::Tensor& bias,
                               const AttentionShape& s) {
  const auto B = s.batch, T = s.length, nh = s.heads, nkv = s.kv_heads, d = s.head_dim;
  const at::Tensor qkv4 = qkv.view({B, T, nh + 2 * nkv, d});
  const at::Tensor qk = apply_rope(qkv4.narrow(2, 0, nh + nkv), cos, sin_signed);
  const at::Tensor q = qk.narrow(2, 0, nh).transpose(1, 2);  // [B, nh, T, d]
  const at::Tensor k = qk.narrow(2, nh, nkv).transpose(1, 2).reshape({B * nkv, T, d});
  const at::Tensor v = qkv4.narrow(2, nh + nkv, nkv).transpose(1, 2).reshape({B * nkv, T, d});
  return grouped_attention(q, k, v, bias, s);
}

at::Tensor attention(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin_signed,
                     const at::Tensor& bias, const AttentionShape& s) {
  INFALIGN_CHECK(s.kv_heads > 0 && s.heads % s.kv_heads == 0 && s.head_dim % 2 == 0 &&
                     qkv.numel() == s.batch * s.length * (s.heads + 2 * s.kv_heads) * s.head_dim,
                 "attention: qkv {} does not match batch {}, length {}, heads {} / {}, head_dim {}",
                 qkv.sizes(), s.batch, s.length, s.heads, s.kv_heads, s.head_dim);
  if (!applies(qkv) || !cos.device().is_cpu()) {
    return attention_reference(qkv, cos, sin_signed, bias, s);
  }
  const at::Tensor qc = qkv.contiguous();
  const at::Tensor c = cos.to(at::kFloat).expand({s.batch, s.length, 1, s.head_dim}).contiguous();
  const at::Tensor sn =
      sin_signed.to(at::kFloat).expand({s.batch, s.length, 1, s.head_dim}).contiguous();
  const at::Tensor b = bias.to(at::kFloat);
  if (needs_graph(qkv)) {
    return AttentionFunction::apply(qc, c, sn, b, s.batch, s.length, s.heads, s.kv_heads,
                                    s.head_dim);
  }
  return attention_forward(qc, c, sn, b, s, nullptr);
}

at::Tensor swiglu(const at::Tensor& gate_up) {
  const auto width = gate_up.size(-1) / 2;
  INFALIGN_CHECK(gate_up.size(-1) == 2 * width, "swiglu: last dimension {} is odd",
                 gate_up.size(-1));
  if (!applies(gate_up)) return swiglu_reference(gate_up);
  const at::Tensor gu = gate_up.contiguous();
  if (needs_graph(gate_up)) return SwiGluFunction::apply(gu);
  return swiglu_forward(gu);
}

at::Tensor log_softmax_reference(const at::Tensor& logits, double temperature) {
  const at::Tensor z = logits.to(at::kFloat);
  return at::log_softmax(temperature == 1.0 ? z : z / temperature, -1);
}

SoftmaxStats softmax_stats_reference(const at::Tensor& logits, const at::Tensor& ids,
                                     double temperature, const at::Tensor& ref_logsoftmax) {
  const at::Tensor logp = log_softmax_reference(logits, temperature);
  const at::Tensor p = logp.exp();
  SoftmaxStats out;
  out.entropy = -(p * logp).sum(-1);
  if (ids.defined()) out.logp = logp.gather(-1, ids.unsqueeze(-1)).squeeze(-1);
  if (ref_logsoftmax.defined()) out.kl = (p * (logp - ref_logsoftmax.to(at::kFloat))).sum(-1);
  return out;
}

SoftmaxStats softmax_stats(const at::Tensor& logits, const at::Tensor& ids, double temperature,
                           const at::Tensor& ref_logsoftmax) {
  INFALIGN_CHECK(temperature > 0, "softmax_stats: temperature {} is not positive", temperature);
  const auto width = logits.size(-1);
  const auto shape = logits.sizes().slice(0, logits.dim() - 1);
  INFALIGN_CHECK(!ids.defined() || ids.sizes() == shape,
                 "softmax_stats: ids {} do not match logits {}", ids.sizes(), logits.sizes());
  INFALIGN_CHECK(!ref_logsoftmax.defined() || ref_logsoftmax.sizes() == logits.sizes(),
                 "softmax_stats: reference {} does not match logits {}", ref_logsoftmax.sizes(),
                 logits.sizes());
  // The kernel serves CPU logits with a constant reference (no gradient flows into it).
  if (!applies(logits) || width == 0 || logits.numel() == 0 ||
      (ids.defined() && !ids.device().is_cpu()) ||
      (ref_logsoftmax.defined() &&
       (!ref_logsoftmax.device().is_cpu() ||
        (at::GradMode::is_enabled() && ref_logsoftmax.requires_grad())))) {
    return softmax_stats_reference(logits, ids, temperature, ref_logsoftmax);
  }
  const at::Tensor z = logits.contiguous();
  at::Tensor id;
  if (ids.defined()) {
    id = ids.to(at::kLong).contiguous().view(-1);
    INFALIGN_CHECK(id.numel() == 0 || (id.min().item<std::int64_t>() >= 0 &&
                                       id.max().item<std::int64_t>() < width),
                   "softmax_stats: a token id is outside [0, {})", width);
  }
  const at::Tensor ref =
      ref_logsoftmax.defined() ? ref_logsoftmax.to(at::kFloat).contiguous() : at::Tensor();
  variable_list out;
  if (needs_graph(logits)) {
    // autograd::Function takes defined tensors only: an empty one stands for "none".
    const auto or_empty = [](const at::Tensor& t, at::ScalarType type) {
      return t.defined() ? t : at::empty({0}, at::TensorOptions(type));
    };
    out = SoftmaxStatsFunction::apply(z, or_empty(id, at::kLong), or_empty(ref, at::kFloat),
                                      temperature);
  } else {
    auto [lse, logp, entropy, kl] = softmax_stats_forward(z, id, ref, temperature);
    out = {logp.view(shape), entropy.view(shape), kl.view(shape)};
  }
  SoftmaxStats stats;
  if (ids.defined()) stats.logp = out[0];
  stats.entropy = out[1];
  if (ref.defined()) stats.kl = out[2];
  return stats;
}

at::Tensor log_softmax(const at::Tensor& logits, double temperature) {
  INFALIGN_CHECK(temperature > 0, "log_softmax: temperature {} is not positive", temperature);
  if (!applies(logits) || logits.numel() == 0 || needs_graph(logits)) {
    return log_softmax_reference(logits, temperature);
  }
  const at::Tensor z = logits.contiguous();
  const auto width = z.size(-1);
  const auto rows = z.numel() / width;
  at::Tensor out = at::empty(z.sizes(), z.options().dtype(at::kFloat));
  const auto inv_t = static_cast<float>(1.0 / temperature);
  with_type(z, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* zp = data<T>(z);
    float* op = out.data_ptr<float>();
    parallel_rows(rows, grain(width), [&](std::int64_t begin, std::int64_t end) {
      log_softmax_kernel<T>(zp + begin * width, inv_t, op + begin * width, end - begin, width);
    });
  });
  return out;
}

}  // namespace infalign::model::fused
