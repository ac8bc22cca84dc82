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

// Validates and decodes a file's bytes; `name` is used in messages. Never reads outside `bytes`.
SafetensorsContent parse_safetensors(std::string_view bytes, const std::string& name);

}  // namespace infalign::checkpoint
