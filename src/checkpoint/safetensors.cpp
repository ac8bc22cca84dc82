#include "infalign/checkpoint/safetensors.h"

#include <cstring>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include <ATen/ATen.h>

#include "infalign/checkpoint/safetensors_format.h"
#include "infalign/core/error.h"
#include "infalign/core/fs.h"

namespace infalign::checkpoint {

namespace {

constexpr std::pair<const char*, at::ScalarType> kTypes[] = {
    {"F64", at::kDouble}, {"F32", at::kFloat}, {"F16", at::kHalf},  {"BF16", at::kBFloat16},
    {"I64", at::kLong},   {"I32", at::kInt},   {"I16", at::kShort}, {"I8", at::kChar},
    {"U8", at::kByte},    {"BOOL", at::kBool}};

const char* dtype_name(at::ScalarType type) {
  for (const auto& t : kTypes) {
    if (t.second == type) return t.first;
  }
  return nullptr;
}

at::ScalarType scalar_type(const std::string& name) {
  for (const auto& t : kTypes) {
    if (name == t.first) return t.second;
  }
  throw CheckpointError("unknown dtype " + name);  // unreachable: the parser validated it
}

}  // namespace

const at::Tensor* SafetensorsContent::find(std::string_view name) const {
  for (const auto& [n, t] : tensors) {
    if (n == name) return &t;
  }
  return nullptr;
}

SafetensorsContent parse_safetensors(std::string_view bytes, const std::string& name) {
  const SafetensorsHeader header = parse_safetensors_header(bytes, name);
  SafetensorsContent content;
  content.metadata = header.metadata;
  const char* data = bytes.data() + header.data_offset;
  for (const auto& r : header.tensors) {
    at::Tensor t = at::empty(r.shape, at::TensorOptions().dtype(scalar_type(r.dtype)));
    if (r.end > r.begin) std::memcpy(t.data_ptr(), data + r.begin, r.end - r.begin);
    content.tensors.emplace_back(r.name, std::move(t));
  }
  return content;
}

SafetensorsContent load_safetensors(const std::string& path) {
  std::string bytes;
  try {
    bytes = fs::read_file(path);
  } catch (const Error& e) {
    throw CheckpointError(e.what());
  }
  return parse_safetensors(bytes, path);
}

SafetensorsContent load_model_weights(const std::string& path) {
  if (!is_safetensors_index(path)) return load_safetensors(path);
  std::string text;
  try {
    text = fs::read_file(path);
  } catch (const Error& e) {
    throw CheckpointError(e.what());
  }
  const SafetensorsIndex index = parse_safetensors_index(text, path);
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  SafetensorsContent all;
  std::map<std::string, std::vector<std::string>> shard_tensors;
  for (const std::string& shard : index.shards) {
    const std::string file = (dir / shard).string();
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) {
      throw CheckpointError(
          fmt::format("{}: shard {} is missing (expected {})", path, shard, file));
    }
    SafetensorsContent content = load_safetensors(file);
    auto& names = shard_tensors[shard];
    for (auto& [name, tensor] : content.tensors) {
      names.push_back(name);
      all.tensors.emplace_back(name, std::move(tensor));
    }
    if (all.metadata.empty()) all.metadata = std::move(content.metadata);
  }
  check_shards_against_index(index, shard_tensors, path);
  return all;
}

std::string model_weights_path(const std::string& dir) {
  const std::filesystem::path single = std::filesystem::path(dir) / "model.safetensors";
  const std::filesystem::path index = std::filesystem::path(dir) / "model.safetensors.index.json";
  if (!std::filesystem::exists(single) && std::filesystem::exists(index)) return index.string();
  return single.string();
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::set<std::string> names;
  std::vector<TensorRecord> records;
  std::vector<at::Tensor> contiguous;
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__" || !names.insert(name).second) {
      throw CheckpointError(
          fmt::format("{}: tensor name '{}' is reserved or used twice", path, name));
    }
    const char* dtype = dtype_name(tensor.scalar_type());
    if (dtype == nullptr) {
      throw CheckpointError(
          fmt::format("{}: tensor '{}' has dtype {}, which safetensors files "
                      "cannot hold here",
                      path, name, c10::toString(tensor.scalar_type())));
    }
    at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
    const std::uint64_t size = static_cast<std::uint64_t>(t.numel()) * t.element_size();
    records.push_back({name, dtype, t.sizes().vec(), offset, offset + size});
    offset += size;
    contiguous.push_back(std::move(t));
  }
  std::string out = build_safetensors_header(records, metadata);
  out.reserve(out.size() + offset);
  for (const auto& t : contiguous) {
    out.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  }
  fs::write_file_atomic(path, out);
}

}  // namespace infalign::checkpoint
