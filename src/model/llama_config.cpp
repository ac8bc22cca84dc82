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
  const RopeScaling& rs = rope_scaling;
  if (rs.type != RopeScaling::Type::None && !(rs.factor >= 1.0)) {
    problems.push_back(
        fmt::format("{}.rope_scaling.factor: got {}, expected a value >= 1", where, rs.factor));
  }
  if (rs.type == RopeScaling::Type::Llama3) {
    if (!(rs.low_freq_factor > 0.0 && rs.high_freq_factor > rs.low_freq_factor)) {
      problems.push_back(fmt::format(
          "{}.rope_scaling: low_freq_factor {} and high_freq_factor {}: expected 0 < low < high",
          where, rs.low_freq_factor, rs.high_freq_factor));
    }
    if (rs.original_max_position_embeddings <= 0) {
      problems.push_back(fmt::format(
          "{}.rope_scaling.original_max_position_embeddings: got {}, expected a value >= 1", where,
          rs.original_max_position_embeddings));
    }
  }
  if (sliding_window < 0) {
    problems.push_back(
        fmt::format("{}.sliding_window: got {}, expected 0 (none) or more", where, sliding_window));
  }
  if (!problems.empty()) throw ConfigError(problems);
}

const char* model_type_name(ModelFamily family) {
  switch (family) {
    case ModelFamily::Mistral:
      return "mistral";
    case ModelFamily::Qwen2:
      return "qwen2";
    case ModelFamily::Llama:
      break;
  }
  return "llama";
}

namespace {

// "<Prefix>ForCausalLM" / "<Prefix>ForSequenceClassification" in HF's architectures list.
std::string architecture(ModelFamily family, ModelKind kind) {
  const char* prefix = family == ModelFamily::Mistral ? "Mistral"
                       : family == ModelFamily::Qwen2 ? "Qwen2"
                                                      : "Llama";
  return fmt::format("{}{}", prefix,
                     kind == ModelKind::CausalLm ? "ForCausalLM" : "ForSequenceClassification");
}

}  // namespace

LlamaConfig llama_config_from(const config::ModelConfig& m, const config::TokenizerConfig& t) {
  LlamaConfig c;
  c.family = m.model_type == config::ModelType::Qwen2     ? ModelFamily::Qwen2
             : m.model_type == config::ModelType::Mistral ? ModelFamily::Mistral
                                                          : ModelFamily::Llama;
  // Mistral's window as long as the context: the layout and config.json of Mistral, no tokens
  // hidden (longer windows than sequences are all infalign runs).
  if (c.family == ModelFamily::Mistral) c.sliding_window = m.max_position_embeddings;
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
  j["architectures"] = {architecture(c.family, kind)};
  j["model_type"] = model_type_name(c.family);
  j["hidden_act"] = "silu";
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["head_dim"] = c.head_dim();
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope_theta;
  switch (c.rope_scaling.type) {
    case RopeScaling::Type::None:
      j["rope_scaling"] = nullptr;
      break;
    case RopeScaling::Type::Linear:
      j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", c.rope_scaling.factor}};
      break;
    case RopeScaling::Type::Llama3:
      j["rope_scaling"] = {
          {"rope_type", "llama3"},
          {"factor", c.rope_scaling.factor},
          {"low_freq_factor", c.rope_scaling.low_freq_factor},
          {"high_freq_factor", c.rope_scaling.high_freq_factor},
          {"original_max_position_embeddings", c.rope_scaling.original_max_position_embeddings}};
      break;
  }
  j["vocab_size"] = c.vocab_size;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["bos_token_id"] = c.bos_token_id;
  j["eos_token_id"] = c.eos_token_id;
  j["pad_token_id"] = c.pad_token_id;
  j["attention_dropout"] = 0.0;
  const auto window = c.sliding_window > 0 ? json(c.sliding_window) : json(nullptr);
  switch (c.family) {
    case ModelFamily::Llama:
      j["attention_bias"] = c.attention_bias;
      j["mlp_bias"] = false;
      j["pretraining_tp"] = 1;
      break;
    case ModelFamily::Mistral:
      j["sliding_window"] = window;
      break;
    case ModelFamily::Qwen2:
      j["use_sliding_window"] = c.sliding_window > 0;
      j["sliding_window"] = window;
      j["max_window_layers"] = c.num_hidden_layers;
      break;
  }
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

namespace {
LlamaConfig parse_hf_config_json_unguarded(const std::string& text, const std::string& path,
                                           ModelKind* kind);
}  // namespace

LlamaConfig parse_hf_config_json(const std::string& text, const std::string& path,
                                 ModelKind* kind) {
  try {
    return parse_hf_config_json_unguarded(text, path, kind);
  } catch (const json::exception& e) {
    // A member of an unexpected type that a check did not name.
    bad(path, fmt::format("unexpected JSON value: {}", e.what()));
  }
}

namespace {
LlamaConfig parse_hf_config_json_unguarded(const std::string& text, const std::string& path,
                                           ModelKind* kind) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    bad(path, fmt::format("not valid JSON: {}", e.what()));
  }
  if (!j.is_object()) bad(path, "not a JSON object");
  LlamaConfig c;
  if (j.contains("model_type")) {
    const json& t = j["model_type"];
    bool known = false;
    for (const ModelFamily f : {ModelFamily::Llama, ModelFamily::Mistral, ModelFamily::Qwen2}) {
      if (t == model_type_name(f)) {
        c.family = f;
        known = true;
      }
    }
    if (!known) {
      bad(path,
          fmt::format("model_type is {}, expected \"llama\", \"mistral\" or \"qwen2\"", t.dump()));
    }
  }
  if (j.contains("hidden_act") && j["hidden_act"] != "silu") {
    bad(path, fmt::format("hidden_act is {}, only \"silu\" (SwiGLU) is supported",
                          j["hidden_act"].dump()));
  }
  auto flag = [&](const char* key) {
    if (!j.contains(key) || j[key].is_null()) return false;
    if (!j[key].is_boolean())
      bad(path, fmt::format("'{}' is {}, expected true or false", key, j[key].dump()));
    return j[key].get<bool>();
  };
  if (flag("mlp_bias")) bad(path, "mlp_bias is true; biases on the MLP are not supported");
  // attention_bias is Llama's switch; Qwen2 always has q/k/v biases and ignores the key, and
  // Mistral has none.
  if (c.family == ModelFamily::Llama) {
    c.attention_bias = flag("attention_bias");
  } else if (c.family == ModelFamily::Mistral && flag("attention_bias")) {
    bad(path, "attention_bias is true; Mistral models have no attention biases");
  }
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    const json& rs = j["rope_scaling"];
    const auto unsupported = [&] {
      bad(path, fmt::format("rope_scaling {} is not supported; expected null or an object with "
                            "rope_type \"linear\" (factor) or \"llama3\" (factor, "
                            "low_freq_factor, high_freq_factor, original_max_position_embeddings)",
                            rs.dump()));
    };
    if (!rs.is_object()) unsupported();
    const json type = rs.contains("rope_type") ? rs["rope_type"] : rs.value("type", json());
    if (type == "linear") {
      c.rope_scaling.type = RopeScaling::Type::Linear;
    } else if (type == "llama3") {
      c.rope_scaling.type = RopeScaling::Type::Llama3;
    } else if (type != "default") {
      unsupported();
    }
    if (c.rope_scaling.type != RopeScaling::Type::None) {
      const auto number = [&](const char* key, bool required, double fallback) {
        if (!rs.contains(key)) {
          if (required) bad(path, fmt::format("rope_scaling has no '{}'", key));
          return fallback;
        }
        if (!rs[key].is_number())
          bad(path, fmt::format("rope_scaling.{} is {}, expected a number", key, rs[key].dump()));
        return rs[key].get<double>();
      };
      const bool llama3 = c.rope_scaling.type == RopeScaling::Type::Llama3;
      c.rope_scaling.factor = number("factor", true, 1.0);
      c.rope_scaling.low_freq_factor = number("low_freq_factor", llama3, 1.0);
      c.rope_scaling.high_freq_factor = number("high_freq_factor", llama3, 4.0);
      if (llama3) {
        c.rope_scaling.original_max_position_embeddings =
            get_int(rs, path, "original_max_position_embeddings");
      }
    }
  }
  // A sliding window: Mistral's sliding_window (null = none); Qwen2's only with
  // use_sliding_window (off in the released models).
  if (c.family == ModelFamily::Mistral ||
      (c.family == ModelFamily::Qwen2 && flag("use_sliding_window"))) {
    c.sliding_window = get_int(j, path, "sliding_window", 0);
    if (c.sliding_window <= 0 && c.family == ModelFamily::Qwen2) {
      bad(path, "use_sliding_window is true but sliding_window is not a positive integer");
    }
  }
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
  if (j.contains("eos_token_id") && j["eos_token_id"].is_array() && !j["eos_token_id"].empty() &&
      !j["eos_token_id"][0].is_number_integer()) {
    bad(path, fmt::format("'eos_token_id' is {}, expected an integer or a list of them",
                          j["eos_token_id"].dump()));
  }
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
        if (a == architecture(c.family, ModelKind::Scalar)) *kind = ModelKind::Scalar;
      }
    }
  }
  return c;
}
}  // namespace

config::RewardInput parse_score_input(const std::string& text, const std::string& path) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
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
