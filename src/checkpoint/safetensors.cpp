#include "infalign/checkpoint/safetensors.h"

#include <algorithm>
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

struct SafetensorsReader::Impl {
  explicit Impl(const std::string& path) : file(path) {}
  fs::FileReader file;
  SafetensorsHeader header;
};

SafetensorsReader::SafetensorsReader(const std::string& path) {
  try {
    impl_ = std::make_unique<Impl>(path);
  } catch (const Error& e) {
    throw CheckpointError(e.what());
  }
  const std::uint64_t size = impl_->file.size();
  std::string head(std::min<std::uint64_t>(size, 8), '\0');
  try {
    impl_->file.read_at(0, head.data(), head.size());
    const std::uint64_t need = safetensors_header_bytes(head, size);
    if (need > head.size()) {
      head.resize(need);
      impl_->file.read_at(8, head.data() + 8, need - 8);
    }
  } catch (const CheckpointError&) {
    throw;
  } catch (const Error& e) {
    throw CheckpointError(e.what());
  }
  impl_->header = parse_safetensors_header(head, size, path);
}

SafetensorsReader::~SafetensorsReader() = default;

const std::string& SafetensorsReader::path() const { return impl_->file.path(); }
const SafetensorsHeader& SafetensorsReader::header() const { return impl_->header; }

const TensorRecord* SafetensorsReader::find(std::string_view name) const {
  for (const auto& r : impl_->header.tensors) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

at::Tensor SafetensorsReader::read(const TensorRecord& r) const {
  at::Tensor t = at::empty(r.shape, at::TensorOptions().dtype(scalar_type(r.dtype)));
  if (r.end > r.begin) {
    try {
      impl_->file.read_at(impl_->header.data_offset + r.begin, t.data_ptr(), r.end - r.begin);
    } catch (const Error& e) {
      throw CheckpointError(fmt::format("{}: tensor '{}': {}", path(), r.name, e.what()));
    }
  }
  return t;
}

SafetensorsContent load_safetensors(const std::string& path) {
  const SafetensorsReader reader(path);
  SafetensorsContent content;
  content.metadata = reader.header().metadata;
  for (const auto& r : reader.header().tensors)
    content.tensors.emplace_back(r.name, reader.read(r));
  return content;
}

ModelWeightsReader::ModelWeightsReader(const std::string& path) : path_(path) {
  if (!is_safetensors_index(path)) {
    files_.push_back(std::make_unique<SafetensorsReader>(path));
  } else {
    std::string text;
    try {
      text = fs::read_file(path);
    } catch (const Error& e) {
      throw CheckpointError(e.what());
    }
    const SafetensorsIndex index = parse_safetensors_index(text, path);
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    std::map<std::string, std::vector<std::string>> shard_tensors;
    for (const std::string& shard : index.shards) {
      const std::string file = (dir / shard).string();
      std::error_code ec;
      if (!std::filesystem::exists(file, ec)) {
        throw CheckpointError(
            fmt::format("{}: shard {} is missing (expected {})", path, shard, file));
      }
      files_.push_back(std::make_unique<SafetensorsReader>(file));
      auto& names = shard_tensors[shard];
      for (const auto& r : files_.back()->header().tensors) names.push_back(r.name);
    }
    check_shards_against_index(index, shard_tensors, path);
  }
  for (std::size_t f = 0; f < files_.size(); ++f) {
    for (const auto& r : files_[f]->header().tensors) by_name_.emplace(r.name, std::pair{f, &r});
  }
}

std::vector<std::string> ModelWeightsReader::names() const {
  std::vector<std::string> out;
  for (const auto& file : files_) {
    for (const auto& r : file->header().tensors) out.push_back(r.name);
  }
  return out;
}

const TensorRecord* ModelWeightsReader::find(std::string_view name) const {
  const auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second.second;
}

at::Tensor ModelWeightsReader::read(std::string_view name) const {
  const auto it = by_name_.find(name);
  if (it == by_name_.end()) {
    throw CheckpointError(fmt::format("{}: no tensor '{}'", path_, name));
  }
  return files_[it->second.first]->read(*it->second.second);
}

const std::map<std::string, std::string>& ModelWeightsReader::metadata() const {
  return files_.front()->header().metadata;
}

SafetensorsContent load_model_weights(const std::string& path) {
  const ModelWeightsReader reader(path);
  SafetensorsContent all;
  all.metadata = reader.metadata();
  for (const std::string& name : reader.names()) all.tensors.emplace_back(name, reader.read(name));
  return all;
}

std::string model_weights_path(const std::string& dir) {
  const std::filesystem::path single = std::filesystem::path(dir) / "model.safetensors";
  const std::filesystem::path index = std::filesystem::path(dir) / "model.safetensors.index.json";
  if (!std::filesystem::exists(single) && std::filesystem::exists(index)) return index.string();
  return single.string();
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata, at::ScalarType dtype) {
  std::set<std::string> names;
  std::vector<TensorRecord> records;
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__" || !names.insert(name).second) {
      throw CheckpointError(
          fmt::format("{}: tensor name '{}' is reserved or used twice", path, name));
    }
    const at::ScalarType type = dtype == at::ScalarType::Undefined ? tensor.scalar_type() : dtype;
    const char* name_of_type = dtype_name(type);
    if (name_of_type == nullptr) {
      throw CheckpointError(
          fmt::format("{}: tensor '{}' has dtype {}, which safetensors files "
                      "cannot hold here",
                      path, name, c10::toString(type)));
    }
    const std::uint64_t size = static_cast<std::uint64_t>(tensor.numel()) * c10::elementSize(type);
    records.push_back({name, name_of_type, tensor.sizes().vec(), offset, offset + size});
    offset += size;
  }
  fs::AtomicFileWriter out(path);
  out.write(build_safetensors_header(records, metadata));
  for (const auto& [name, tensor] : tensors) {
    // One tensor at a time on the CPU, in the file's dtype (no copy when it already is).
    const at::Tensor t =
        tensor.detach()
            .to(at::kCPU, dtype == at::ScalarType::Undefined ? tensor.scalar_type() : dtype)
            .contiguous();
    out.write(std::string_view(static_cast<const char*>(t.data_ptr()),
                               static_cast<std::size_t>(t.numel()) * t.element_size()));
  }
  out.commit();
}

}  // namespace infalign::checkpoint
