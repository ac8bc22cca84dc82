// The safetensors format (8-byte little-endian header length, JSON header, raw little-endian
// bytes), read and written here, validated before any byte is used: a malformed file is a
// CheckpointError naming the file and the tensor, never a crash or an out-of-bounds read.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace infalign::checkpoint {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

struct SafetensorsContent {
  NamedTensors tensors;                         // in file order (by data offset), on CPU
  std::map<std::string, std::string> metadata;  // the optional "__metadata__" entry

  // The tensor called `name`, or nullptr.
  const at::Tensor* find(std::string_view name) const;
};

// Writes `tensors` (any device; stored contiguous from CPU) atomically. Supported dtypes:
// F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL. Throws CheckpointError on a duplicate name
// or an unsupported dtype, infalign::Error on I/O failure.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

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
