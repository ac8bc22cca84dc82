#include "infalign/checkpoint/safetensors_format.h"

#include <algorithm>
#include <limits>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "infalign/core/error.h"

namespace infalign::checkpoint {

namespace {

using nlohmann::json;

// Real headers are kilobytes; this bounds memory when the length field is corrupt.
constexpr std::uint64_t kMaxHeaderBytes = 100u << 20;

constexpr std::pair<const char*, std::size_t> kDtypes[] = {
    {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
    {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1}};

std::string allowed_dtypes() {
  std::string out;
  for (const auto& d : kDtypes) out += std::string(out.empty() ? "" : ", ") + d.first;
  return out;
}

[[noreturn]] void fail(const std::string& file, const std::string& what) {
  throw CheckpointError(fmt::format("{}: {}", file, what));
}

TensorRecord parse_entry(const std::string& file, const std::string& name, const json& value,
                         std::uint64_t data_size) {
  const std::string where = fmt::format("tensor '{}'", name);
  if (!value.is_object()) fail(file, where + ": header entry is not a JSON object");
  for (const auto& item : value.items()) {
    if (item.key() != "dtype" && item.key() != "shape" && item.key() != "data_offsets") {
      fail(file, fmt::format("{}: unexpected header field '{}'; expected dtype, shape, "
                             "data_offsets",
                             where, item.key()));
    }
  }
  TensorRecord r;
  r.name = name;
  if (!value.contains("dtype") || !value["dtype"].is_string()) {
    fail(file, where + ": missing string field 'dtype'");
  }
  r.dtype = value["dtype"].get<std::string>();
  const std::size_t element = dtype_size(r.dtype);
  if (element == 0) {
    fail(file, fmt::format("{}: dtype '{}' is not supported; expected one of {}", where, r.dtype,
                           allowed_dtypes()));
  }
  if (!value.contains("shape") || !value["shape"].is_array()) {
    fail(file, where + ": missing array field 'shape'");
  }
  std::uint64_t numel = 1;
  for (const auto& dim : value["shape"]) {
    if (!dim.is_number_unsigned()) {
      fail(file, fmt::format("{}: shape {} has a dimension that is not a non-negative integer",
                             where, value["shape"].dump()));
    }
    const std::uint64_t d = dim.get<std::uint64_t>();
    if (d > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
        (d != 0 && numel > std::numeric_limits<std::uint64_t>::max() / d)) {
      fail(file, fmt::format("{}: shape {} is too large", where, value["shape"].dump()));
    }
    numel *= d;
    r.shape.push_back(static_cast<std::int64_t>(d));
  }
  const json offsets = value.contains("data_offsets") ? value["data_offsets"] : json();
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    fail(file, where + ": 'data_offsets' must be two non-negative integers [begin, end]");
  }
  r.begin = offsets[0].get<std::uint64_t>();
  r.end = offsets[1].get<std::uint64_t>();
  if (r.begin > r.end || r.end > data_size) {
    fail(file, fmt::format("{}: data_offsets [{}, {}] lie outside the data section of {} bytes",
                           where, r.begin, r.end, data_size));
  }
  if (numel > std::numeric_limits<std::uint64_t>::max() / element ||
      numel * element != r.end - r.begin) {
    fail(file,
         fmt::format("{}: {} {} takes {} bytes but data_offsets [{}, {}] span {}", where, r.dtype,
                     value["shape"].dump(), numel * element, r.begin, r.end, r.end - r.begin));
  }
  return r;
}

}  // namespace

std::size_t dtype_size(std::string_view dtype) {
  for (const auto& d : kDtypes) {
    if (dtype == d.first) return d.second;
  }
  return 0;
}

SafetensorsHeader parse_safetensors_header(std::string_view bytes, const std::string& name) {
  return parse_safetensors_header(bytes, bytes.size(), name);
}

std::uint64_t safetensors_header_bytes(std::string_view first8, std::uint64_t file_size) {
  if (first8.size() < 8 || file_size < 8) return 8;
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) {
    header_len =
        (header_len << 8) | static_cast<unsigned char>(first8[static_cast<std::size_t>(i)]);
  }
  if (header_len > file_size - 8 || header_len > kMaxHeaderBytes) return 8;
  return 8 + header_len;
}

SafetensorsHeader parse_safetensors_header(std::string_view head, std::uint64_t file_size,
                                           const std::string& name) {
  if (file_size < 8 || head.size() < 8) {
    fail(name,
         fmt::format("file is {} bytes, too short for a safetensors header length", file_size));
  }
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) {
    header_len = (header_len << 8) | static_cast<unsigned char>(head[static_cast<std::size_t>(i)]);
  }
  if (header_len > file_size - 8 || header_len > kMaxHeaderBytes) {
    fail(name, fmt::format("header length {} exceeds the {} bytes that follow it (truncated, or "
                           "not a safetensors file)",
                           header_len, file_size - 8));
  }
  INFALIGN_CHECK(head.size() >= 8 + header_len,
                 "parse_safetensors_header: {} bytes of {} given, the header needs {}", head.size(),
                 name, 8 + header_len);
  const std::string_view header = head.substr(8, header_len);
  const std::uint64_t data_size = file_size - 8 - header_len;
  json parsed;
  try {
    parsed = json::parse(header.begin(), header.end());
  } catch (const json::exception& e) {
    fail(name, fmt::format("header is not valid JSON: {}", e.what()));
  }
  if (!parsed.is_object()) fail(name, "header is not a JSON object");

  SafetensorsHeader out;
  out.data_offset = 8 + header_len;
  for (const auto& item : parsed.items()) {
    if (item.key() == "__metadata__") {
      if (!item.value().is_object()) fail(name, "__metadata__ is not a JSON object");
      for (const auto& meta : item.value().items()) {
        if (!meta.value().is_string()) {
          fail(name, fmt::format("__metadata__ value of '{}' is not a string", meta.key()));
        }
        out.metadata[meta.key()] = meta.value().get<std::string>();
      }
      continue;
    }
    out.tensors.push_back(parse_entry(name, item.key(), item.value(), data_size));
  }
  std::sort(out.tensors.begin(), out.tensors.end(),
            [](const TensorRecord& a, const TensorRecord& b) {
              return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
            });
  for (std::size_t i = 1; i < out.tensors.size(); ++i) {
    const auto& prev = out.tensors[i - 1];
    const auto& cur = out.tensors[i];
    // Empty tensors occupy no bytes and cannot overlap anything.
    if (cur.begin < prev.end && cur.end > cur.begin) {
      fail(name,
           fmt::format("tensors '{}' and '{}' overlap in the data section", prev.name, cur.name));
    }
  }
  return out;
}

std::string build_safetensors_header(const std::vector<TensorRecord>& tensors,
                                     const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  for (const auto& t : tensors) {
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {t.begin, t.end}}};
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((text.size() >> (8 * i)) & 0xff));
  return out + text;
}

std::string safetensors_index_json(const SafetensorsIndex& index, std::uint64_t total_size) {
  json j;
  j["metadata"] = {{"total_size", total_size}};
  j["weight_map"] = json::object();
  for (const auto& [tensor, shard] : index.weight_map) j["weight_map"][tensor] = shard;
  return j.dump(2) + "\n";
}

std::vector<std::size_t> shard_starts(const std::vector<std::uint64_t>& sizes,
                                      std::uint64_t max_bytes) {
  std::vector<std::size_t> starts;
  std::uint64_t used = 0;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    if (starts.empty() || (max_bytes > 0 && used > 0 && used + sizes[i] > max_bytes)) {
      starts.push_back(i);
      used = 0;
    }
    used += sizes[i];
  }
  return starts;
}

SafetensorsIndex parse_safetensors_index(std::string_view text, const std::string& name) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw CheckpointError(fmt::format("{}: not valid JSON ({})", name, e.what()));
  }
  if (!j.is_object() || !j.contains("weight_map") || !j.at("weight_map").is_object()) {
    throw CheckpointError(fmt::format(
        "{}: expected an object with a \"weight_map\" of tensor names to shard files, as "
        "transformers writes next to sharded model-*.safetensors files",
        name));
  }
  SafetensorsIndex index;
  std::set<std::string> shards;
  for (const auto& [tensor, value] : j.at("weight_map").items()) {
    if (!value.is_string()) {
      throw CheckpointError(fmt::format("{}: weight_map['{}'] is a {}, expected a shard file name",
                                        name, tensor, value.type_name()));
    }
    const std::string shard = value.get<std::string>();
    const std::string suffix = ".safetensors";
    const bool plain = !shard.empty() && shard.find('/') == std::string::npos &&
                       shard.find('\\') == std::string::npos && shard != "." && shard != "..";
    if (!plain || shard.size() <= suffix.size() ||
        shard.compare(shard.size() - suffix.size(), suffix.size(), suffix) != 0) {
      throw CheckpointError(fmt::format(
          "{}: weight_map['{}'] = '{}': expected a file name ending in .safetensors in the same "
          "directory",
          name, tensor, shard));
    }
    index.weight_map.emplace(tensor, shard);
    shards.insert(shard);
  }
  if (index.weight_map.empty()) {
    throw CheckpointError(
        fmt::format("{}: weight_map is empty; expected one entry per tensor", name));
  }
  index.shards.assign(shards.begin(), shards.end());
  return index;
}

bool is_safetensors_index(std::string_view path) {
  constexpr std::string_view suffix = ".index.json";
  return path.size() > suffix.size() && path.substr(path.size() - suffix.size()) == suffix;
}

void check_shards_against_index(
    const SafetensorsIndex& index,
    const std::map<std::string, std::vector<std::string>>& shard_tensors, const std::string& name) {
  std::map<std::string, std::string> found;  // tensor -> the shard it was found in
  for (const auto& [shard, tensors] : shard_tensors) {
    for (const auto& tensor : tensors) {
      const auto it = index.weight_map.find(tensor);
      if (it == index.weight_map.end()) {
        throw CheckpointError(fmt::format(
            "{}: shard {} holds tensor '{}', which the index does not list", name, shard, tensor));
      }
      if (it->second != shard) {
        throw CheckpointError(
            fmt::format("{}: tensor '{}' is in shard {}, but the index puts it in {}", name, tensor,
                        shard, it->second));
      }
      if (!found.emplace(tensor, shard).second) {
        throw CheckpointError(
            fmt::format("{}: tensor '{}' appears twice in shard {}", name, tensor, shard));
      }
    }
  }
  for (const auto& [tensor, shard] : index.weight_map) {
    if (shard_tensors.count(shard) == 0) {
      throw CheckpointError(
          fmt::format("{}: shard {} (holding '{}') was not read", name, shard, tensor));
    }
    if (found.count(tensor) == 0) {
      throw CheckpointError(fmt::format(
          "{}: the index puts tensor '{}' in {}, which does not hold it", name, tensor, shard));
    }
  }
}

}  // namespace infalign::checkpoint
