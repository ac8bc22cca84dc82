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

}  // namespace
}  // namespace infalign::checkpoint
