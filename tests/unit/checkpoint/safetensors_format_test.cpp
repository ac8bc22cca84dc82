// The torch-free safetensors parser on malformed input. Also built with AddressSanitizer
// (infalign_asan_tests, label asan): no input may read out of bounds or crash.
#include "infalign/checkpoint/safetensors_format.h"

#include <random>

#include <gtest/gtest.h>

#include "infalign/core/error.h"

namespace infalign::checkpoint {
namespace {

// A file with the given JSON header text and `data_bytes` zero bytes of data.
std::string file_with(const std::string& header, std::size_t data_bytes) {
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xff));
  return out + header + std::string(data_bytes, '\0');
}

std::string error_of(const std::string& bytes) {
  try {
    parse_safetensors_header(bytes, "bad.safetensors");
  } catch (const CheckpointError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(SafetensorsFormatTest, ParsesAValidHeader) {
  const std::string bytes = file_with(
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]},)"
      R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"e":{"dtype":"I64","shape":[0],"data_offsets":[12,12]}})",
      12);
  const auto h = parse_safetensors_header(bytes, "ok.safetensors");
  ASSERT_EQ(h.tensors.size(), 3u);
  EXPECT_EQ(h.tensors[0].name, "a");  // sorted by offset
  EXPECT_EQ(h.tensors[1].name, "b");
  EXPECT_EQ(h.tensors[1].shape, std::vector<std::int64_t>{2});
  EXPECT_EQ(h.metadata.at("format"), "pt");
  EXPECT_EQ(h.data_offset, bytes.size() - 12);
}

struct BadCase {
  const char* what;
  std::string bytes;
  const char* expected;
};

TEST(SafetensorsFormatTest, EveryMalformedCaseIsAClearError) {
  const std::vector<BadCase> cases = {
      {"empty", "", "bad.safetensors: file is 0 bytes, too short"},
      {"short", std::string(5, '\0'), "too short for a safetensors header length"},
      {"length past end", file_with("{}", 0).substr(0, 9), "header length 2 exceeds the 1 bytes"},
      {"huge length", std::string("\xff\xff\xff\xff\xff\xff\xff\x7f{}", 10), "exceeds the 2 bytes"},
      {"not json", file_with("{not json", 0), "header is not valid JSON"},
      {"not object", file_with("[1,2]", 0), "header is not a JSON object"},
      {"entry not object", file_with(R"({"w":3})", 0),
       "tensor 'w': header entry is not a JSON object"},
      {"no dtype", file_with(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4),
       "tensor 'w': missing string field 'dtype'"},
      {"unknown dtype", file_with(R"({"w":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}})", 1),
       "tensor 'w': dtype 'F8' is not supported; expected one of F64, F32"},
      {"negative dim", file_with(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
       "tensor 'w': shape [-1] has a dimension"},
      {"no shape", file_with(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", 4),
       "tensor 'w': missing array field 'shape'"},
      {"bad offsets", file_with(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4),
       "tensor 'w': 'data_offsets' must be two"},
      {"reversed offsets",
       file_with(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4),
       "lie outside the data section"},
      {"past the data", file_with(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4),
       "tensor 'w': data_offsets [0, 8] lie outside the data section of 4 bytes"},
      {"size mismatch", file_with(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
       "tensor 'w': F32 [3] takes 12 bytes but data_offsets [0, 8] span 8"},
      {"overflowing shape",
       file_with(
           R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}})",
           8),
       "is too large"},
      {"overlap",
       file_with(
           R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
           8),
       "tensors 'a' and 'b' overlap"},
      {"overlap by one byte",
       file_with(
           R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[2],"data_offsets":[7,9]}})",
           9),
       "tensors 'a' and 'b' overlap"},
      {"one byte past the data",
       file_with(R"({"w":{"dtype":"U8","shape":[5],"data_offsets":[0,5]}})", 4),
       "tensor 'w': data_offsets [0, 5] lie outside the data section of 4 bytes"},
      {"extra field",
       file_with(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}})", 4),
       "tensor 'w': unexpected header field 'x'"},
      {"metadata not strings", file_with(R"({"__metadata__":{"a":1}})", 0),
       "__metadata__ value of 'a' is not a string"},
  };
  for (const auto& c : cases) {
    const std::string message = error_of(c.bytes);
    EXPECT_NE(message.find(c.expected), std::string::npos) << c.what << ": " << message;
    EXPECT_EQ(message.rfind("bad.safetensors: ", 0), 0u) << c.what << ": " << message;
  }
}

// Random corruptions of a valid file: each must parse or raise CheckpointError, nothing else.
TEST(SafetensorsFormatTest, CorruptedFilesNeverCrash) {
  const std::string valid = file_with(
      R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"U8","shape":[3],"data_offsets":[16,19]}})",
      19);
  std::mt19937 rng(7);
  int errors = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bytes = valid;
    const int mutations = 1 + static_cast<int>(rng() % 4);
    for (int m = 0; m < mutations; ++m) {
      switch (rng() % 3) {
        case 0:
          bytes[rng() % bytes.size()] = static_cast<char>(rng() % 256);
          break;
        case 1:
          bytes.resize(rng() % (bytes.size() + 1));
          break;
        default:
          bytes.insert(rng() % (bytes.size() + 1), 1, static_cast<char>(rng() % 256));
      }
      if (bytes.empty()) break;
    }
    try {
      parse_safetensors_header(bytes, "fuzz");
    } catch (const CheckpointError&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 1000);  // most corruptions are detected
}

TEST(SafetensorsFormatTest, BuiltHeaderParsesBackAndAlignsTheData) {
  const std::vector<TensorRecord> records = {{"w", "F32", {2, 3}, 0, 24},
                                             {"i", "I64", {1}, 24, 32}};
  const std::string header = build_safetensors_header(records, {{"k", "v"}});
  EXPECT_EQ(header.size() % 8, 0u);
  const auto parsed = parse_safetensors_header(header + std::string(32, '\0'), "built");
  ASSERT_EQ(parsed.tensors.size(), 2u);
  EXPECT_EQ(parsed.tensors[0].name, "w");
  EXPECT_EQ(parsed.tensors[0].shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(parsed.tensors[1].dtype, "I64");
  EXPECT_EQ(parsed.metadata.at("k"), "v");
}

// The message of the CheckpointError `f` throws ("" when it throws none).
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const CheckpointError& e) {
    return e.what();
  }
  return "";
}

TEST(SafetensorsIndexTest, ParsesTheWeightMapAndRefusesWhatIsNotOne) {
  const auto index = parse_safetensors_index(
      R"({"metadata": {"total_size": 40}, "weight_map": {"b": "model-00002-of-00002.safetensors",
          "a": "model-00001-of-00002.safetensors", "c": "model-00001-of-00002.safetensors"}})",
      "idx.json");
  EXPECT_EQ(index.weight_map.at("b"), "model-00002-of-00002.safetensors");
  EXPECT_EQ(index.shards, (std::vector<std::string>{"model-00001-of-00002.safetensors",
                                                    "model-00002-of-00002.safetensors"}));
  EXPECT_NE(
      error_of([] { parse_safetensors_index("{", "idx.json"); }).find("idx.json: not valid JSON"),
      std::string::npos);
  EXPECT_NE(error_of([] {
              parse_safetensors_index(R"({"metadata": {}})", "idx.json");
            }).find("weight_map"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              parse_safetensors_index(R"({"weight_map": {}})", "idx.json");
            }).find("weight_map is empty"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              parse_safetensors_index(R"({"weight_map": {"a": 3}})", "idx.json");
            }).find("weight_map['a'] is a number"),
            std::string::npos);
  for (const char* shard : {"../x.safetensors", "sub/x.safetensors", "x.bin", ".safetensors"}) {
    const std::string text = std::string(R"({"weight_map": {"a": ")") + shard + R"("}})";
    EXPECT_NE(error_of([&] {
                parse_safetensors_index(text, "idx.json");
              }).find("expected a file name ending in .safetensors"),
              std::string::npos)
        << shard;
  }
}

TEST(SafetensorsIndexTest, ShardsMustHoldExactlyWhatTheIndexSays) {
  const auto index = parse_safetensors_index(
      R"({"weight_map": {"a": "s1.safetensors", "b": "s1.safetensors", "c": "s2.safetensors"}})",
      "idx.json");
  using Shards = std::map<std::string, std::vector<std::string>>;
  EXPECT_EQ(error_of([&] {
              check_shards_against_index(
                  index, Shards{{"s1.safetensors", {"a", "b"}}, {"s2.safetensors", {"c"}}},
                  "idx.json");
            }),
            "");
  // A tensor missing from its shard, a stray tensor, one in the wrong shard, a shard not read.
  EXPECT_NE(error_of([&] {
              check_shards_against_index(
                  index, Shards{{"s1.safetensors", {"a"}}, {"s2.safetensors", {"c"}}}, "idx.json");
            }).find("tensor 'b' in s1.safetensors, which does not hold it"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              check_shards_against_index(
                  index, Shards{{"s1.safetensors", {"a", "b", "z"}}, {"s2.safetensors", {"c"}}},
                  "idx.json");
            }).find("shard s1.safetensors holds tensor 'z', which the index does not list"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              check_shards_against_index(
                  index, Shards{{"s1.safetensors", {"a", "b"}}, {"s2.safetensors", {"c", "a"}}},
                  "idx.json");
            }).find("tensor 'a' is in shard s2.safetensors, but the index puts it in s1"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              check_shards_against_index(index, Shards{{"s1.safetensors", {"a", "b"}}}, "idx.json");
            }).find("shard s2.safetensors (holding 'c') was not read"),
            std::string::npos);
}

}  // namespace
}  // namespace infalign::checkpoint
