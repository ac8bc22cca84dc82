// Building blocks of the hand-written CPU kernels (src/model/fused_ops.cpp,
// src/runtime/fused_optim.cpp): element conversions and arithmetic written so that the compiler
// vectorises the loops over them, each kernel compiled for AVX2 + FMA and for baseline x86-64
// with the choice made at run time, and a split of the work over LibTorch's intra-op threads.
// Files that use it are compiled with -fno-trapping-math (so comparisons may be if-converted)
// and -ffp-contract=off (so g++ and clang++ compute the same floats): see CMakeLists.txt.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <type_traits>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/TensorIterator.h>

namespace infalign::runtime::cpu {

// The hand-written kernels serve CPU tensors unless INFALIGN_FUSED_OPS=0 (then every caller
// takes its ATen composition: for comparisons and debugging).
inline bool kernels_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("INFALIGN_FUSED_OPS");
    return v == nullptr || std::string_view(v) != "0";
  }();
  return on;
}

using Bf16 = c10::BFloat16;

#define INFALIGN_INLINE inline __attribute__((always_inline))

// ---- scalar helpers, written so that the compiler vectorises the row loops ----

INFALIGN_INLINE float to_float(float v) { return v; }
// bfloat16 values travel as their bits (std::uint16_t): loops over them vectorise.
using Bf16Bits = std::uint16_t;
static_assert(sizeof(Bf16) == sizeof(Bf16Bits), "bfloat16 is 16 bits");

INFALIGN_INLINE float to_float(Bf16Bits v) {
  const std::uint32_t bits = static_cast<std::uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}
INFALIGN_INLINE void put(float& dst, float v) { dst = v; }
// Round to nearest even, NaN kept (c10::BFloat16's rounding).
INFALIGN_INLINE void put(Bf16Bits& dst, float v) {
  std::uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  const std::uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
  dst = static_cast<Bf16Bits>(v != v ? 0x7FC0u : rounded);
}
// v rounded to T's precision (HF's `.to(input_dtype)` inside RMSNorm).
template <class T>
INFALIGN_INLINE float rounded_as(float v) {
  T t;
  put(t, v);
  return to_float(t);
}

// exp(x) for float: Cephes' range reduction and degree-6 polynomial (about 1 ulp), branch-free
// so loops over it vectorise; arguments are clamped to [-87, 88] (results stay normal floats).
INFALIGN_INLINE float exp_approx(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float shifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float n = (x * 1.44269504088896341f + shifter) - shifter;
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;  // x - n ln 2 in two parts
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  const std::uint32_t bits = static_cast<std::uint32_t>(static_cast<std::int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}

INFALIGN_INLINE float sigmoid(float x) { return 1.0f / (1.0f + exp_approx(-x)); }

// sum over i < n of term(i), in 8 interleaved partial sums (a fixed order that vectorises).
template <class F>
INFALIGN_INLINE float lane_sum(std::int64_t n, F&& term) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) acc[k] += term(i + k);
  }
  for (int k = 0; i < n; ++i, ++k) acc[k] += term(i);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// max over i < n of term(i), in 8 interleaved lanes (vectorises; NaN terms may be skipped, so
// callers let NaN through another path).
template <class F>
INFALIGN_INLINE float lane_max(std::int64_t n, F&& term) {
  float acc[8];
  for (int k = 0; k < 8; ++k) acc[k] = -INFINITY;
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) acc[k] = std::max(acc[k], term(i + k));
  }
  for (int k = 0; i < n; ++i, ++k) acc[k] = std::max(acc[k], term(i));
  return std::max(std::max(std::max(acc[0], acc[1]), std::max(acc[2], acc[3])),
                  std::max(std::max(acc[4], acc[5]), std::max(acc[6], acc[7])));
}

// Each kernel twice: compiled for AVX2 + FMA (chosen at run time when the CPU has them) and for
// the baseline ISA.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define INFALIGN_DISPATCHED(name, impl)                                                       \
  template <class... T, class... A>                                                           \
  __attribute__((target("avx2,fma"))) void name##_avx2(A... a) {                              \
    impl<T...>(a...);                                                                         \
  }                                                                                           \
  template <class... T, class... A>                                                           \
  void name##_base(A... a) {                                                                  \
    impl<T...>(a...);                                                                         \
  }                                                                                           \
  template <class... T, class... A>                                                           \
  void name(A... a) {                                                                         \
    static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); \
    if (avx2) {                                                                               \
      name##_avx2<T...>(a...);                                                                \
    } else {                                                                                  \
      name##_base<T...>(a...);                                                                \
    }                                                                                         \
  }
#else
#define INFALIGN_DISPATCHED(name, impl) \
  template <class... T, class... A>     \
  void name(A... a) {                   \
    impl<T...>(a...);                   \
  }
#endif

// Rows per parallel task: about 16K elements.
inline std::int64_t grain(std::int64_t width) { return std::max<std::int64_t>(1, 16384 / width); }

// Runs fn(begin, end) over disjoint ranges covering [0, n) on LibTorch's intra-op threads.
// at::parallel_for is a header template whose OpenMP pragmas would need this file compiled with
// OpenMP (and clang's OpenMP runtime is not the one LibTorch uses), so the split goes through
// TensorIterator::for_each, compiled inside LibTorch: it hands each thread a slice of an index
// tensor [n], whose first entry names the slice's first row.
template <class F>
void parallel_rows(std::int64_t n, std::int64_t grain_rows, const F& fn) {
  if (n <= grain_rows || at::get_num_threads() == 1) {
    fn(0, n);
    return;
  }
  thread_local at::Tensor index;
  if (!index.defined() || index.numel() < n)
    index = at::arange(std::max<std::int64_t>(n, 4096), at::kLong);
  at::Tensor slice = index.narrow(0, 0, n);
  at::TensorIterator iter = at::TensorIteratorConfig()
                                .set_check_mem_overlap(false)
                                .check_all_same_dtype(false)
                                .add_output(slice)
                                .resize_outputs(false)
                                .build();
  iter.for_each(
      [&](char** data, const std::int64_t* strides, std::int64_t size0, std::int64_t size1) {
        for (std::int64_t j = 0; j < size1; ++j) {
          const std::int64_t first =
              *reinterpret_cast<const std::int64_t*>(data[0] + j * strides[1]);
          fn(first, first + size0);
        }
      },
      grain_rows);
}

// Calls f with a null pointer of the element type the kernels use for `t`: float, or Bf16Bits.
template <class F>
void with_type(const at::Tensor& t, F&& f) {
  if (t.scalar_type() == at::kFloat) {
    f(static_cast<float*>(nullptr));
  } else {
    f(static_cast<Bf16Bits*>(nullptr));
  }
}

// The same for two or three tensors: f(tag_a, tag_b[, tag_c]).
template <class F>
void with_types(const at::Tensor& a, const at::Tensor& b, F&& f) {
  with_type(a, [&](auto* ta) { with_type(b, [&](auto* tb) { f(ta, tb); }); });
}
template <class F>
void with_types(const at::Tensor& a, const at::Tensor& b, const at::Tensor& c, F&& f) {
  with_type(a, [&](auto* ta) { with_types(b, c, [&](auto* tb, auto* tc) { f(ta, tb, tc); }); });
}

template <class T>
T* data(const at::Tensor& t) {
  return static_cast<T*>(t.data_ptr());
}

}  // namespace infalign::runtime::cpu
