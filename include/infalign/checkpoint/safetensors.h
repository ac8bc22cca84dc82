// The safetensors format (8-byte little-endian header length, JSON header, raw little-endian
// bytes), read and written here, validated before any byte is used: a malformed file is a
// CheckpointError naming the file and the tensor, never a crash or an out-of-bounds read.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "infalign/checkpoint/safetensors_format.h"

namespace infalign::checkpoint {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

struct SafetensorsContent {
  NamedTensors tensors;                         // in file order (by data offset), on CPU
  std::map<std::string, std::string> metadata;  // the optional "__metadata__" entry

  // The tensor called `name`, or nullptr.
  const at::Tensor* find(std::string_view name) const;
};

// Writes `tensors` (any device; stored contiguous from CPU, converted to `dtype` unless it is
// Undefined) atomically, one tensor at a time: the file never sits whole in memory. Supported
// dtypes: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL. Throws CheckpointError on a duplicate
// name or an unsupported dtype, infalign::Error on I/O failure.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {},
                      at::ScalarType dtype = at::ScalarType::Undefined);

// A safetensors file opened for reading: its header validated against the file's size when
// opened, each tensor read on demand straight into a tensor of its own (the file is never held
// whole in memory). Throws CheckpointError naming the file (and the tensor).
class SafetensorsReader {
 public:
  explicit SafetensorsReader(const std::string& path);
  ~SafetensorsReader();
  SafetensorsReader(const SafetensorsReader&) = delete;
  SafetensorsReader& operator=(const SafetensorsReader&) = delete;
  const std::string& path() const;
  const SafetensorsHeader& header() const;
  const TensorRecord* find(std::string_view name) const;  // nullptr when absent
  at::Tensor read(const TensorRecord& record) const;      // on CPU, in the file's dtype

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A model's weights, from one safetensors file or from a sharded checkpoint when `path` is its
// model.safetensors.index.json: every shard it names (in the same directory) is opened and its
// header validated, and the shards' tensors must match the index exactly
// (check_shards_against_index). Tensors are read one at a time, on demand. Throws
// CheckpointError naming the index, the shard and the tensor.
class ModelWeightsReader {
 public:
  explicit ModelWeightsReader(const std::string& path);
  const std::string& path() const { return path_; }
  std::vector<std::string> names() const;  // every tensor, shard by shard in file order
  const TensorRecord* find(std::string_view name) const;       // nullptr when absent
  at::Tensor read(std::string_view name) const;                // throws CheckpointError when absent
  const std::map<std::string, std::string>& metadata() const;  // the first file's

 private:
  std::string path_;
  std::vector<std::unique_ptr<SafetensorsReader>> files_;
  std::map<std::string, std::pair<std::size_t, const TensorRecord*>, std::less<>> by_name_;
};

// Reads and validates a whole file. Throws CheckpointError naming `path` (and the tensor).
SafetensorsContent load_safetensors(const std::string& path);

// A model's weights from one safetensors file, or from a sharded checkpoint when `path` is its
// model.safetensors.index.json: every shard it names (in the same directory) is read and
// validated, the shards' tensors must match the index exactly (check_shards_against_index), and
// the tensors of all shards come back as one content (metadata: the first shard's). Throws
// CheckpointError naming the index, the shard and the tensor.
SafetensorsContent load_model_weights(const std::string& path);

// The weights file of an HF model directory: model.safetensors, else
// model.safetensors.index.json when only that exists (the former's path when neither does, so
// the error names what was expected).
std::string model_weights_path(const std::string& dir);

// Validates and decodes a file's bytes; `name` is used in messages. Never reads outside `bytes`.
SafetensorsContent parse_safetensors(std::string_view bytes, const std::string& name);

}  // namespace infalign::checkpoint
