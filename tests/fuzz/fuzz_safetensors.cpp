// safetensors headers and sharded-checkpoint indexes. The first byte picks the parser: even, the
// header of a whole file (also as a file of a larger size, as SafetensorsReader parses it);
// odd, model.safetensors.index.json.
#include <string>

#include "infalign/checkpoint/safetensors_format.h"
#include "infalign/core/error.h"

#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes = infalign::fuzz::as_view(data + 1, size - 1);
  try {
    if (data[0] % 2 == 0) {
      const auto header = infalign::checkpoint::parse_safetensors_header(bytes, "fuzz.safetensors");
      for (const auto& t : header.tensors) {
        if (t.end > bytes.size() - header.data_offset) __builtin_trap();  // out of bounds
      }
      // The reader's path: only the header bytes in memory, the data section claimed larger.
      const std::uint64_t need = infalign::checkpoint::safetensors_header_bytes(
          bytes.substr(0, std::min<std::size_t>(bytes.size(), 8)), bytes.size() + 4096);
      if (need <= bytes.size()) {
        (void)infalign::checkpoint::parse_safetensors_header(
            bytes.substr(0, need), bytes.size() + 4096, "fuzz.safetensors");
      }
    } else {
      const auto index = infalign::checkpoint::parse_safetensors_index(bytes, "fuzz.index.json");
      std::map<std::string, std::vector<std::string>> shards;
      for (const auto& [tensor, shard] : index.weight_map) shards[shard].push_back(tensor);
      infalign::checkpoint::check_shards_against_index(index, shards, "fuzz.index.json");
    }
  } catch (const infalign::Error&) {
  }
  return 0;
}
