#include "infalign/model/kv_cache.h"

#include <ATen/ATen.h>

#include "infalign/core/error.h"
#include "infalign/model/llama_config.h"
#include "infalign/runtime/tensor_format.h"

namespace infalign::model {

KvCache::KvCache(const LlamaConfig& config, std::int64_t batch, std::int64_t capacity,
                 const at::TensorOptions& options)
    : capacity_(capacity), kv_heads_(config.num_key_value_heads) {
  for (std::int64_t i = 0; i < config.num_hidden_layers; ++i) {
    keys_.push_back(
        at::zeros({batch * config.num_key_value_heads, capacity, config.head_dim()}, options));
    values_.push_back(at::zeros_like(keys_.back()));
  }
}

std::pair<at::Tensor, at::Tensor> KvCache::append(std::size_t layer, const at::Tensor& keys,
                                                  const at::Tensor& values) {
  INFALIGN_CHECK(layer < keys_.size(), "layer {} of a {}-layer cache", layer, keys_.size());
  const auto steps = keys.size(2);
  INFALIGN_CHECK(length_ + steps <= capacity_, "KV cache overflow: {} + {} positions > capacity {}",
                 length_, steps, capacity_);
  const auto B = keys.size(0), heads = keys.size(1), d = keys.size(3);
  keys_[layer].view({B, heads, capacity_, d}).narrow(2, length_, steps).copy_(keys);
  values_[layer].view({B, heads, capacity_, d}).narrow(2, length_, steps).copy_(values);
  return {keys_[layer].narrow(1, 0, length_ + steps), values_[layer].narrow(1, 0, length_ + steps)};
}

void KvCache::advance(std::int64_t steps) { length_ += steps; }

void KvCache::keep_rows(const at::Tensor& rows) {
  for (std::vector<at::Tensor>* stored : {&keys_, &values_}) {
    for (at::Tensor& t : *stored) {
      const auto d = t.size(2);
      t = t.view({t.size(0) / kv_heads_, kv_heads_, capacity_, d})
              .index_select(0, rows)
              .view({rows.size(0) * kv_heads_, capacity_, d});
    }
  }
}

}  // namespace infalign::model
