// Keys and values of past positions, per layer, preallocated for the whole generation.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace infalign::model {

struct LlamaConfig;

class KvCache {
 public:
  // [batch * num_key_value_heads, capacity, head_dim] per layer, of `options` (device, dtype):
  // batched matmuls read the stored prefix as a strided view, without copying it.
  KvCache(const LlamaConfig& config, std::int64_t batch, std::int64_t capacity,
          const at::TensorOptions& options);

  // Positions stored so far.
  std::int64_t length() const { return length_; }
  std::int64_t capacity() const { return capacity_; }
  // Stores `keys`/`values` ([B, nkv, T, d]) of layer `layer` after the current length and returns
  // views [B * nkv, length + T, d] of everything stored for that layer, new positions included.
  std::pair<at::Tensor, at::Tensor> append(std::size_t layer, const at::Tensor& keys,
                                           const at::Tensor& values);
  // Called once per forward, after every layer appended `steps` positions.
  void advance(std::int64_t steps);
  // Keeps only the batch rows `rows` (int64 indices, in that order): the sampler drops finished
  // rows so later steps compute only the rows still generating.
  void keep_rows(const at::Tensor& rows);

 private:
  std::vector<at::Tensor> keys_;
  std::vector<at::Tensor> values_;
  std::int64_t length_ = 0;
  std::int64_t capacity_;
  std::int64_t kv_heads_;
};

}  // namespace infalign::model
