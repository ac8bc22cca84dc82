// The safetensors container without LibTorch: header parsing with full validation, and header
// building. Torch-free so the parser can be fuzzed and run under AddressSanitizer on its own.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace infalign::checkpoint {

struct TensorRecord {
  std::string name;
  std::string dtype;  // F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;  // byte offsets within the data section
  std::uint64_t end = 0;
};

struct SafetensorsHeader {
  std::vector<TensorRecord> tensors;  // sorted by begin
  std::map<std::string, std::string> metadata;
  std::uint64_t data_offset = 0;  // where the data section starts in the file
};

// Bytes per element of a dtype name, 0 when unknown.
std::size_t dtype_size(std::string_view dtype);

// Validates `bytes` (a whole file): header length vs size, JSON, every entry's dtype, shape and
// offsets (inside the data section, size = elements x dtype size, no overlaps). Throws
// CheckpointError "<name>: tensor '<t>': ..." on the first problem; never reads outside `bytes`.
SafetensorsHeader parse_safetensors_header(std::string_view bytes, const std::string& name);
// The same for a file of `file_size` bytes of which `head` holds the start: at least the
// safetensors_header_bytes() of it (the data section is checked against file_size, not read).
SafetensorsHeader parse_safetensors_header(std::string_view head, std::uint64_t file_size,
                                           const std::string& name);
// How many leading bytes of a file of `file_size` bytes hold its header, from its first 8:
// 8 + the header length, or 8 when that length is impossible (the parser then says why).
std::uint64_t safetensors_header_bytes(std::string_view first8, std::uint64_t file_size);

// The first 8 + header-length bytes of a file holding `tensors` (offsets already set),
// padded with spaces so the data section starts 8-byte aligned.
std::string build_safetensors_header(const std::vector<TensorRecord>& tensors,
                                     const std::map<std::string, std::string>& metadata);

// A sharded checkpoint's model.safetensors.index.json: which shard file holds each tensor.
struct SafetensorsIndex {
  std::map<std::string, std::string> weight_map;  // tensor name -> shard file name
  std::vector<std::string> shards;                // the distinct shard files, sorted
};

// The index JSON transformers writes: {"metadata": {"total_size": bytes of tensor data},
// "weight_map": {...}}.
std::string safetensors_index_json(const SafetensorsIndex& index, std::uint64_t total_size);

// Splits tensors of `sizes` bytes (in order) into consecutive shards of at most `max_bytes`
// each (a tensor larger than that gets a shard of its own): the index of the first tensor of
// every shard. max_bytes 0: one shard.
std::vector<std::size_t> shard_starts(const std::vector<std::uint64_t>& sizes,
                                      std::uint64_t max_bytes);

// Validates the index's JSON: an object with a non-empty "weight_map" of tensor names to shard
// file names, each a plain file name (no directory part) ending in ".safetensors"; "metadata"
// may be there and is not used. Throws CheckpointError naming `name` and the key.
SafetensorsIndex parse_safetensors_index(std::string_view text, const std::string& name);

// Whether `path` names a sharded checkpoint's index (it ends in ".index.json").
bool is_safetensors_index(std::string_view path);

// Checks the shards' own tensor lists against the index: every tensor the index names is in the
// shard it names, and every tensor of a shard is in the index under that shard (so no tensor is
// missing, stray or in two shards). `shard_tensors`: shard file name -> its tensor names.
// Throws CheckpointError naming `name`, the shard and the tensor.
void check_shards_against_index(
    const SafetensorsIndex& index,
    const std::map<std::string, std::vector<std::string>>& shard_tensors, const std::string& name);

}  // namespace infalign::checkpoint
