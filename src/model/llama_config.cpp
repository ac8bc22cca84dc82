#include "infalign/model/llama_config.h"

#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "infalign/config/names.h"
#include "infalign/core/error.h"

namespace infalign::model {

using nlohmann::json;

void LlamaConfig::validate(const std::string& where) const {
  std::vector<std::string> problems;
  auto positive = [&](const char* name, std::int64_t v) {
    if (v <= 0)
      problems.push_back(fmt::format("{}.{}: got {}, expected a value >= 1", where, name, v));
  };
  positive("vocab_size", vocab_size);
  positive("hidden_size", hidden_size);
  positive("intermediate_size", intermediate_size);
  positive("num_hidden_layers", num_hidden_layers);
  positive("num_attention_heads", num_attention_heads);
  positive("num_key_value_heads", num_key_value_heads);
  if (problems.empty()) {
    if (hidden_size % num_attention_heads != 0 || head_dim() % 2 != 0) {
      problems.push_back(
          fmt::format("{}.num_attention_heads: got {}, expected a divisor of "
                      "hidden_size ({}) leaving an even head size",
                      where, num_attention_heads, hidden_size));
    }
    if (num_attention_heads % num_key_value_heads != 0) {
      problems.push_back(
          fmt::format("{}.num_key_value_heads: got {}, expected a divisor of "
                      "num_attention_heads ({})",
                      where, num_key_value_heads, num_attention_heads));
    }
  }
  if (!problems.empty()) throw ConfigError(problems);
}

LlamaConfig llama_config_from(const config::ModelConfig& m, const config::TokenizerConfig& t) {
  LlamaConfig c;
  c.vocab_size = m.vocab_size;
  c.hidden_size = m.hidden_size;
  c.intermediate_size = m.intermediate_size;
  c.num_hidden_layers = m.num_hidden_layers;
  c.num_attention_heads = m.num_attention_heads;
  c.num_key_value_heads = m.num_key_value_heads;
  c.rms_norm_eps = m.rms_norm_eps;
  c.rope_theta = m.rope_theta;
  c.max_position_embeddings = m.max_position_embeddings;
  c.tie_word_embeddings = m.tie_word_embeddings;
  c.bos_token_id = t.bos_id;
  c.eos_token_id = t.eos_id;
  c.pad_token_id = t.pad_id;
  return c;
}

std::string to_hf_config_json(const LlamaConfig& c, ModelKind kind, const std::string& dtype,
                              config::RewardInput score_input) {
  json j;
  j["architectures"] = {kind == ModelKind::CausalLm ? "LlamaForCausalLM"
                                                    : "LlamaForSequenceClassification"};
  j["model_type"] = "llama";
  j["hidden_act"] = "silu";
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["head_dim"] = c.head_dim();
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope_theta;
  j["rope_scaling"] = nullptr;
  j["vocab_size"] = c.vocab_size;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["bos_token_id"] = c.bos_token_id;
  j["eos_token_id"] = c.eos_token_id;
  j["pad_token_id"] = c.pad_token_id;
  j["attention_bias"] = false;
  j["attention_dropout"] = 0.0;
  j["mlp_bias"] = false;
  j["pretraining_tp"] = 1;
  j["initializer_range"] = 0.02;
  j["use_cache"] = true;
  j["torch_dtype"] = dtype;
  if (kind == ModelKind::Scalar) {
    j["num_labels"] = 1;
    j["id2label"] = {{"0", "LABEL_0"}};
    j["label2id"] = {{"LABEL_0", 0}};
    j["infalign_score_input"] = std::string(config::enum_name(score_input));
  }
  return j.dump(2) + "\n";
}

namespace {

[[noreturn]] void bad(const std::string& path, const std::string& what) {
  throw CheckpointError(fmt::format("{}: {}", path, what));
}

std::int64_t get_int(const json& j, const std::string& path, const char* key,
                     std::optional<std::int64_t> fallback = std::nullopt) {
  if (!j.contains(key) || j[key].is_null()) {
    if (fallback) return *fallback;
    bad(path, fmt::format("missing '{}'", key));
  }
  if (!j[key].is_number_integer())
    bad(path, fmt::format("'{}' is {}, expected an integer", key, j[key].dump()));
  return j[key].get<std::int64_t>();
}

double get_number(const json& j, const std::string& path, const char* key, double fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_number())
    bad(path, fmt::format("'{}' is {}, expected a number", key, j[key].dump()));
  return j[key].get<double>();
}

}  // namespace

LlamaConfig parse_hf_config_json(const std::string& text, const std::string& path,
                                 ModelKind* kind) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    bad(path, fmt::format("not valid JSON: {}", e.what()));
  }
  if (!j.is_object()) bad(path, "not a JSON object");
  if (j.contains("model_type") && j["model_type"] != "llama") {
    bad(path, fmt::format("model_type is {}, expected \"llama\"", j["model_type"].dump()));
  }
  if (j.contains("hidden_act") && j["hidden_act"] != "silu") {
    bad(path, fmt::format("hidden_act is {}, only \"silu\" (SwiGLU) is supported",
                          j["hidden_act"].dump()));
  }
  for (const char* flag : {"attention_bias", "mlp_bias"}) {
    if (j.contains(flag) && j[flag] == true)
      bad(path, fmt::format("{} is true; biases are not supported", flag));
  }
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    bad(path,
        fmt::format("rope_scaling {} is not supported; expected null", j["rope_scaling"].dump()));
  }
  LlamaConfig c;
  c.hidden_size = get_int(j, path, "hidden_size");
  c.intermediate_size = get_int(j, path, "intermediate_size");
  c.num_hidden_layers = get_int(j, path, "num_hidden_layers");
  c.num_attention_heads = get_int(j, path, "num_attention_heads");
  c.num_key_value_heads = get_int(j, path, "num_key_value_heads", c.num_attention_heads);
  c.vocab_size = get_int(j, path, "vocab_size");
  // Defaults are transformers' LlamaConfig defaults.
  c.rms_norm_eps = get_number(j, path, "rms_norm_eps", 1e-6);
  c.rope_theta = get_number(j, path, "rope_theta", 10000.0);
  c.max_position_embeddings = get_int(j, path, "max_position_embeddings", 2048);
  c.tie_word_embeddings = j.value("tie_word_embeddings", false);
  c.bos_token_id = get_int(j, path, "bos_token_id", 1);
  c.eos_token_id = j.contains("eos_token_id") && j["eos_token_id"].is_array()
                       ? (j["eos_token_id"].empty() ? 2 : j["eos_token_id"][0].get<std::int64_t>())
                       : get_int(j, path, "eos_token_id", 2);
  c.pad_token_id = get_int(j, path, "pad_token_id", -1);
  if (j.contains("head_dim") && !j["head_dim"].is_null() &&
      get_int(j, path, "head_dim") * c.num_attention_heads != c.hidden_size) {
    bad(path, fmt::format("head_dim {} * num_attention_heads {} != hidden_size {}; only "
                          "head_dim = hidden_size / num_attention_heads is supported",
                          j["head_dim"].dump(), c.num_attention_heads, c.hidden_size));
  }
  try {
    c.validate(path);
  } catch (const ConfigError& e) {
    bad(path, e.what());
  }
  if (kind != nullptr) {
    *kind = ModelKind::CausalLm;
    if (j.contains("architectures") && j["architectures"].is_array()) {
      for (const auto& a : j["architectures"]) {
        if (a == "LlamaForSequenceClassification") *kind = ModelKind::Scalar;
      }
    }
  }
  return c;
}

config::RewardInput parse_score_input(const std::string& text, const std::string& path) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    bad(path, fmt::format("not valid JSON: {}", e.what()));
  }
  if (!j.is_object() || !j.contains("infalign_score_input")) {
    return config::RewardInput::PromptResponse;
  }
  const json& v = j["infalign_score_input"];
  const auto parsed =
      v.is_string() ? config::parse_enum<config::RewardInput>(v.get<std::string>()) : std::nullopt;
  if (!parsed) {
    bad(path, fmt::format("infalign_score_input is {}, expected one of: {}", v.dump(),
                          fmt::join(config::enum_names<config::RewardInput>(), ", ")));
  }
  return *parsed;
}

}  // namespace infalign::model
