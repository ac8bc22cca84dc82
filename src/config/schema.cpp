// The schema of ExperimentConfig. Adding a field: declare it (with a default and a one-line
// comment) in its include/infalign/config/<section>_config.h, then add one `.field(...)` line
// here; tests/unit/config/schema_sync_test.cpp fails until both agree.
#include "detail/schema.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "infalign/config/names.h"
#include "infalign/core/strings.h"

namespace infalign::config::detail {

namespace {

using Error = std::optional<std::string>;

std::string got_expected(const Node& node, std::string_view expected) {
  return fmt::format("got {}, expected {}", describe(node), expected);
}

// ---- codecs: YAML node <-> C++ value -------------------------------------------------------

template <class T, class Enable = void>
struct Codec;

template <>
struct Codec<bool> {
  static std::string expected() { return "true or false"; }
  static Error decode(const Node& node, bool& out) {
    if (node.kind == Node::Kind::Scalar) {
      if (node.text == "true" || node.text == "True" || node.text == "TRUE")
        return out = true, Error{};
      if (node.text == "false" || node.text == "False" || node.text == "FALSE")
        return out = false, Error{};
    }
    return got_expected(node, expected());
  }
  static std::string text(bool value) { return value ? "true" : "false"; }
  static void emit(YAML::Emitter& out, bool value) { out << text(value); }
};

template <class T>
struct Codec<T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>>> {
  static std::string expected() {
    return std::is_signed_v<T> ? "an integer" : "a non-negative integer";
  }
  static Error decode(const Node& node, T& out) {
    if (node.kind == Node::Kind::Scalar) {
      std::string_view s = node.text;
      if (!s.empty() && s.front() == '+') s.remove_prefix(1);
      T value{};
      const auto result = std::from_chars(s.data(), s.data() + s.size(), value);
      if (!s.empty() && result.ec == std::errc() && result.ptr == s.data() + s.size()) {
        out = value;
        return {};
      }
      if (result.ec == std::errc::result_out_of_range) {
        return fmt::format("got {}, expected {} in [{}, {}]", node.text, expected(),
                           std::numeric_limits<T>::min(), std::numeric_limits<T>::max());
      }
    }
    return got_expected(node, expected());
  }
  static std::string text(T value) { return std::to_string(value); }
  static void emit(YAML::Emitter& out, T value) { out << text(value); }
};

template <>
struct Codec<double> {
  static std::string expected() { return "a number"; }
  static Error decode(const Node& node, double& out) {
    if (node.kind == Node::Kind::Scalar) {
      std::string_view s = node.text;
      if (!s.empty() && s.front() == '+') s.remove_prefix(1);
      double value = 0;
      const auto result = std::from_chars(s.data(), s.data() + s.size(), value);
      if (!s.empty() && result.ec == std::errc() && result.ptr == s.data() + s.size()) {
        if (!std::isfinite(value)) return got_expected(node, "a finite number");
        out = value;
        return {};
      }
    }
    return got_expected(node, expected());
  }
  static std::string text(double value) { return strings::format_double(value); }
  static void emit(YAML::Emitter& out, double value) { out << text(value); }
};

template <>
struct Codec<std::string> {
  static std::string expected() { return "a string (write \"\" for an empty one)"; }
  static Error decode(const Node& node, std::string& out) {
    if (node.kind != Node::Kind::Scalar) return got_expected(node, expected());
    out = node.text;
    return {};
  }
  static std::string text(const std::string& value) { return fmt::format("\"{}\"", value); }
  static void emit(YAML::Emitter& out, const std::string& value) {
    out << YAML::DoubleQuoted << value;
  }
};

template <class E>
struct Codec<E, std::enable_if_t<std::is_enum_v<E>>> {
  static std::string expected() {
    return fmt::format("one of {}", strings::join(enum_names<E>(), ", "));
  }
  static Error decode(const Node& node, E& out) {
    if (node.kind == Node::Kind::Scalar) {
      if (auto value = parse_enum<E>(node.text)) {
        out = *value;
        return {};
      }
      std::string message = got_expected(node, expected());
      if (auto near = strings::closest_match(node.text, enum_names<E>())) {
        message += fmt::format("; did you mean '{}'?", *near);
      }
      return message;
    }
    return got_expected(node, expected());
  }
  static std::string text(E value) { return std::string(enum_name(value)); }
  static void emit(YAML::Emitter& out, E value) { out << text(value); }
};

template <>
struct Codec<DeviceSpec> {
  static std::string expected() { return "a device: auto, cpu, cuda or cuda:N"; }
  static Error decode(const Node& node, DeviceSpec& out) {
    if (node.kind == Node::Kind::Scalar) {
      if (auto device = parse_device(node.text)) {
        out = *device;
        return {};
      }
    }
    return got_expected(node, expected());
  }
  static std::string text(const DeviceSpec& value) { return to_string(value); }
  static void emit(YAML::Emitter& out, const DeviceSpec& value) { out << text(value); }
};

template <class T>
struct Codec<std::optional<T>> {
  static std::string expected() { return Codec<T>::expected() + " or null"; }
  static Error decode(const Node& node, std::optional<T>& out) {
    if (node.kind == Node::Kind::Null) {
      out.reset();
      return {};
    }
    T value{};
    if (auto error = Codec<T>::decode(node, value)) return Error(*error + " or null");
    out = value;
    return {};
  }
  static std::string text(const std::optional<T>& value) {
    return value ? Codec<T>::text(*value) : "null";
  }
  static void emit(YAML::Emitter& out, const std::optional<T>& value) {
    if (value) {
      Codec<T>::emit(out, *value);
    } else {
      out << YAML::Null;
    }
  }
};

template <class T>
struct Codec<std::vector<T>> {
  static std::string expected() { return "a list of " + Codec<T>::expected(); }
  static Error decode(const Node& node, std::vector<T>& out) {
    if (node.kind != Node::Kind::Sequence)
      return got_expected(node, fmt::format("a list, e.g. [{}]", example()));
    std::vector<T> values;
    for (std::size_t i = 0; i < node.items.size(); ++i) {
      T value{};
      if (auto error = Codec<T>::decode(node.items[i], value)) {
        return fmt::format("item {}: {}", i, *error);
      }
      values.push_back(value);
    }
    out = std::move(values);
    return {};
  }
  static std::string text(const std::vector<T>& values) {
    std::vector<std::string> parts;
    for (const auto& v : values) parts.push_back(Codec<T>::text(v));
    return "[" + strings::join(parts, ", ") + "]";
  }
  static void emit(YAML::Emitter& out, const std::vector<T>& values) {
    out << YAML::Flow << YAML::BeginSeq;
    for (const auto& v : values) Codec<T>::emit(out, v);
    out << YAML::EndSeq;
  }

 private:
  static std::string example() {
    if constexpr (std::is_enum_v<T>) {
      return strings::join(enum_names<T>(), ", ");
    } else if constexpr (std::is_arithmetic_v<T>) {
      return "1, 2, 4";
    } else {
      return "\"a\", \"b\"";
    }
  }
};

// ---- range checks ----------------------------------------------------------------------------

template <class T>
using Check = std::function<Error(const T&)>;

template <class T>
std::string show(const T& value) {
  return Codec<T>::text(value);
}

template <class T>
Check<T> at_least(T lo) {
  return [lo](const T& v) -> Error {
    if (v >= lo) return {};
    return fmt::format("got {}, expected a value >= {}", show(v), show(lo));
  };
}

template <class T>
Check<T> greater_than(T lo) {
  return [lo](const T& v) -> Error {
    if (v > lo) return {};
    return fmt::format("got {}, expected a value > {}", show(v), show(lo));
  };
}

// Interval check with open or closed ends, printed as (lo, hi] etc.
template <class T>
Check<T> in_range(T lo, T hi, bool lo_open = false, bool hi_open = false) {
  return [=](const T& v) -> Error {
    const bool ok = (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
    if (ok) return {};
    return fmt::format("got {}, expected a value in {}{}, {}{}", show(v), lo_open ? "(" : "[",
                       show(lo), show(hi), hi_open ? ")" : "]");
  };
}

Check<std::string> non_empty() {
  return [](const std::string& v) -> Error {
    if (!v.empty()) return {};
    return std::string("got \"\", expected a non-empty string");
  };
}

template <class T>
Check<std::vector<T>> non_empty_list(Check<T> each = {}) {
  return [each](const std::vector<T>& values) -> Error {
    if (values.empty()) return std::string("got [], expected at least one item");
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (each) {
        if (auto error = each(values[i])) return fmt::format("item {}: {}", i, *error);
      }
      for (std::size_t j = 0; j < i; ++j) {
        if (values[j] == values[i]) {
          return fmt::format("item {}: got {} twice, expected distinct items", i, show(values[i]));
        }
      }
    }
    return {};
  };
}

template <class T>
Check<std::optional<T>> if_set(Check<T> check) {
  return [check](const std::optional<T>& v) -> Error {
    if (!v) return {};
    return check(*v);
  };
}

// ---- registration ----------------------------------------------------------------------------

template <class S>
class Section {
 public:
  Section(std::vector<Field>& fields, std::vector<std::string>& names, std::string name,
          S ExperimentConfig::*member)
      : fields_(fields), name_(std::move(name)), member_(member) {
    names.push_back(name_);
  }

  template <class T>
  Section& field(const char* key, T S::*field, Check<T> check = {}) {
    const auto section = member_;
    Field f;
    f.section = name_;
    f.key = key;
    f.decode = [section, field](const Node& node, ExperimentConfig& c) {
      return Codec<T>::decode(node, c.*section.*field);
    };
    f.emit = [section, field](YAML::Emitter& out, const ExperimentConfig& c) {
      Codec<T>::emit(out, c.*section.*field);
    };
    f.text = [section, field](const ExperimentConfig& c) {
      return Codec<T>::text(c.*section.*field);
    };
    if (check) {
      f.check = [section, field, check](const ExperimentConfig& c) {
        return check(c.*section.*field);
      };
    }
    fields_.push_back(std::move(f));
    return *this;
  }

 private:
  std::vector<Field>& fields_;
  std::string name_;
  S ExperimentConfig::*member_;
};

using I = std::int64_t;

struct Registry {
  std::vector<Field> fields;
  std::vector<std::string> sections;

  Registry() {
    Section<RunConfig>(fields, sections, "run", &ExperimentConfig::run)
        .field("name", &RunConfig::name, non_empty())
        .field("stage", &RunConfig::stage)
        .field("run_dir", &RunConfig::run_dir, non_empty())
        .field("seed", &RunConfig::seed)
        .field("device", &RunConfig::device)
        .field("dtype", &RunConfig::dtype)
        .field("frozen_dtype", &RunConfig::frozen_dtype)
        .field("threads", &RunConfig::threads, in_range<I>(0, 1024))
        .field("deterministic", &RunConfig::deterministic)
        .field("dist_timeout_seconds", &RunConfig::dist_timeout_seconds,
               in_range(1.0, 86400.0, false, false))
        .field("memory_limit_gib", &RunConfig::memory_limit_gib, in_range(0.0, 1e6))
        .field("memory_check", &RunConfig::memory_check)
        .field("release_memory_above", &RunConfig::release_memory_above, in_range(0.0, 1e6));

    Section<ModelConfig>(fields, sections, "model", &ExperimentConfig::model)
        .field("init_from", &ModelConfig::init_from)
        .field("model_type", &ModelConfig::model_type)
        .field("vocab_size", &ModelConfig::vocab_size, in_range<I>(4, 10'000'000))
        .field("hidden_size", &ModelConfig::hidden_size, in_range<I>(1, 1 << 16))
        .field("intermediate_size", &ModelConfig::intermediate_size, in_range<I>(1, 1 << 18))
        .field("num_hidden_layers", &ModelConfig::num_hidden_layers, in_range<I>(1, 1024))
        .field("num_attention_heads", &ModelConfig::num_attention_heads, in_range<I>(1, 1024))
        .field("num_key_value_heads", &ModelConfig::num_key_value_heads, in_range<I>(1, 1024))
        .field("rms_norm_eps", &ModelConfig::rms_norm_eps, in_range(0.0, 1.0, true, true))
        .field("rope_theta", &ModelConfig::rope_theta, greater_than(0.0))
        .field("max_position_embeddings", &ModelConfig::max_position_embeddings,
               in_range<I>(2, 1 << 20))
        .field("tie_word_embeddings", &ModelConfig::tie_word_embeddings);

    Section<LoraConfig>(fields, sections, "lora", &ExperimentConfig::lora)
        .field("rank", &LoraConfig::rank, in_range<I>(0, 1 << 16))
        .field("alpha", &LoraConfig::alpha, greater_than(0.0))
        .field("targets", &LoraConfig::targets)
        .field("dropout", &LoraConfig::dropout, in_range(0.0, 1.0, false, true));

    Section<TokenizerConfig>(fields, sections, "tokenizer", &ExperimentConfig::tokenizer)
        .field("path", &TokenizerConfig::path, non_empty())
        .field("vocab_size", &TokenizerConfig::vocab_size, in_range<I>(8, 1'000'000))
        .field("model_type", &TokenizerConfig::model_type)
        .field("character_coverage", &TokenizerConfig::character_coverage,
               in_range(0.0, 1.0, true, false))
        .field("unk_id", &TokenizerConfig::unk_id, at_least<I>(0))
        .field("bos_id", &TokenizerConfig::bos_id, at_least<I>(0))
        .field("eos_id", &TokenizerConfig::eos_id, at_least<I>(0))
        .field("pad_id", &TokenizerConfig::pad_id, at_least<I>(0));

    Section<DataConfig>(fields, sections, "data", &ExperimentConfig::data)
        .field("train_file", &DataConfig::train_file, non_empty())
        .field("valid_file", &DataConfig::valid_file, non_empty())
        .field("train_prompts_file", &DataConfig::train_prompts_file, non_empty())
        .field("eval_prompts_file", &DataConfig::eval_prompts_file, non_empty())
        .field("prompt_field", &DataConfig::prompt_field, non_empty())
        .field("max_prompt_tokens", &DataConfig::max_prompt_tokens, in_range<I>(1, 1 << 20))
        .field("seq_len", &DataConfig::seq_len, in_range<I>(2, 1 << 20))
        .field("shuffle", &DataConfig::shuffle);

    Section<GenerationConfig>(fields, sections, "generation", &ExperimentConfig::generation)
        .field("max_new_tokens", &GenerationConfig::max_new_tokens, in_range<I>(1, 1 << 20))
        .field("temperature", &GenerationConfig::temperature, in_range(0.0, 100.0, true, false))
        .field("top_k", &GenerationConfig::top_k, at_least<I>(0))
        .field("top_p", &GenerationConfig::top_p, in_range(0.0, 1.0, true, false))
        .field("batch_size", &GenerationConfig::batch_size, in_range<I>(1, 1 << 20))
        .field("use_kv_cache", &GenerationConfig::use_kv_cache)
        .field("drop_finished_rows", &GenerationConfig::drop_finished_rows)
        .field("dtype", &GenerationConfig::dtype);

    Section<RewardConfig>(fields, sections, "reward", &ExperimentConfig::reward)
        .field("kind", &RewardConfig::kind)
        .field("model_path", &RewardConfig::model_path)
        .field("tokenizer_path", &RewardConfig::tokenizer_path)
        .field("lexicon_path", &RewardConfig::lexicon_path)
        .field("command", &RewardConfig::command)
        .field("command_timeout_seconds", &RewardConfig::command_timeout_seconds, greater_than(0.0))
        .field("batch_size", &RewardConfig::batch_size, in_range<I>(1, 1 << 20))
        .field("dtype", &RewardConfig::dtype)
        .field("preferences_file", &RewardConfig::preferences_file)
        .field("preferences_valid_fraction", &RewardConfig::preferences_valid_fraction,
               in_range(0.0, 1.0, false, false))
        .field("train_prompts", &RewardConfig::train_prompts, in_range<I>(1, 1 << 24))
        .field("samples_per_prompt", &RewardConfig::samples_per_prompt, in_range<I>(1, 1 << 12))
        .field("prompts_per_group", &RewardConfig::prompts_per_group, in_range<I>(1, 1 << 12))
        .field("drop_ties", &RewardConfig::drop_ties)
        .field("input", &RewardConfig::input)
        .field("label_temperature", &RewardConfig::label_temperature, greater_than(0.0));

    Section<CalibrationConfig>(fields, sections, "calibration", &ExperimentConfig::calibration)
        .field("num_samples", &CalibrationConfig::num_samples, in_range<I>(2, 1 << 20))
        .field("cache_path", &CalibrationConfig::cache_path)
        .field("on_mismatch", &CalibrationConfig::on_mismatch)
        .field("plus_one", &CalibrationConfig::plus_one)
        .field("chunk_prompts", &CalibrationConfig::chunk_prompts, in_range<I>(1, 1 << 20))
        .field("report_prompts", &CalibrationConfig::report_prompts, in_range<I>(0, 1 << 20))
        .field("report_samples", &CalibrationConfig::report_samples, in_range<I>(1, 1 << 16));

    Section<TransformConfig>(fields, sections, "transform", &ExperimentConfig::transform)
        .field("kind", &TransformConfig::kind)
        .field("t", &TransformConfig::t, in_range(0.0, 1e6, true, false))
        .field("center", &TransformConfig::center, in_range(0.0, 1.0, true, true))
        .field("log_floor", &TransformConfig::log_floor, in_range(0.0, 1.0, false, true))
        .field("normalize", &TransformConfig::normalize);

    Section<TrainConfig>(fields, sections, "train", &ExperimentConfig::train)
        .field("output_dir", &TrainConfig::output_dir)
        .field("total_steps", &TrainConfig::total_steps, at_least<I>(0))
        .field("batch_size", &TrainConfig::batch_size, in_range<I>(1, 1 << 20))
        .field("grad_accum_steps", &TrainConfig::grad_accum_steps, in_range<I>(1, 1 << 16))
        .field("lr", &TrainConfig::lr, in_range(0.0, 10.0, true, false))
        .field("warmup_steps", &TrainConfig::warmup_steps, at_least<I>(0))
        .field("lr_schedule", &TrainConfig::lr_schedule)
        .field("min_lr_ratio", &TrainConfig::min_lr_ratio, in_range(0.0, 1.0))
        .field("weight_decay", &TrainConfig::weight_decay, at_least(0.0))
        .field("adam_beta1", &TrainConfig::adam_beta1, in_range(0.0, 1.0, false, true))
        .field("adam_beta2", &TrainConfig::adam_beta2, in_range(0.0, 1.0, false, true))
        .field("adam_eps", &TrainConfig::adam_eps, greater_than(0.0))
        .field("max_grad_norm", &TrainConfig::max_grad_norm, at_least(0.0))
        .field("log_every_steps", &TrainConfig::log_every_steps, at_least<I>(1))
        .field("eval_every_steps", &TrainConfig::eval_every_steps, at_least<I>(0))
        .field("eval_batches", &TrainConfig::eval_batches, at_least<I>(1))
        .field("sample_every_steps", &TrainConfig::sample_every_steps, at_least<I>(0))
        .field("gradient_checkpointing", &TrainConfig::gradient_checkpointing);

    Section<PpoConfig>(fields, sections, "ppo", &ExperimentConfig::ppo)
        .field("total_steps", &PpoConfig::total_steps, at_least<I>(1))
        .field("rollout_batch_size", &PpoConfig::rollout_batch_size, in_range<I>(1, 1 << 20))
        .field("samples_per_prompt", &PpoConfig::samples_per_prompt, in_range<I>(1, 1 << 16))
        .field("advantage", &PpoConfig::advantage)
        .field("whiten_advantages", &PpoConfig::whiten_advantages)
        .field("num_mini_batches", &PpoConfig::num_mini_batches, in_range<I>(1, 1 << 20))
        .field("ppo_epochs", &PpoConfig::ppo_epochs, in_range<I>(1, 1000))
        .field("gamma", &PpoConfig::gamma, in_range(0.0, 1.0))
        .field("lam", &PpoConfig::lam, in_range(0.0, 1.0))
        .field("clip_range", &PpoConfig::clip_range, in_range(0.0, 1.0, true, false))
        .field("clip_range_value", &PpoConfig::clip_range_value, greater_than(0.0))
        .field("dual_clip", &PpoConfig::dual_clip, Check<double>([](const double& v) -> Error {
                 if (v == 0.0 || v > 1.0) return {};
                 return fmt::format("got {}, expected 0 (off) or a value > 1", show(v));
               }))
        .field("kl_coef", &PpoConfig::kl_coef, at_least(0.0))
        .field("kl_coef_from_theory", &PpoConfig::kl_coef_from_theory)
        .field("kl_estimator", &PpoConfig::kl_estimator)
        .field("adaptive_kl", &PpoConfig::adaptive_kl)
        .field("target_kl", &PpoConfig::target_kl, if_set(greater_than(0.0)))
        .field("kl_horizon", &PpoConfig::kl_horizon, at_least<I>(1))
        .field("whiten_rewards", &PpoConfig::whiten_rewards)
        .field("entropy_coef", &PpoConfig::entropy_coef, at_least(0.0))
        .field("missing_eos_penalty", &PpoConfig::missing_eos_penalty, at_least(0.0))
        .field("policy_lr", &PpoConfig::policy_lr, in_range(0.0, 10.0, true, false))
        .field("value_lr", &PpoConfig::value_lr, in_range(0.0, 10.0, true, false))
        .field("lr_schedule", &PpoConfig::lr_schedule)
        .field("warmup_steps", &PpoConfig::warmup_steps, at_least<I>(0))
        .field("adam_eps", &PpoConfig::adam_eps, greater_than(0.0))
        .field("weight_decay", &PpoConfig::weight_decay, at_least(0.0))
        .field("max_grad_norm", &PpoConfig::max_grad_norm, at_least(0.0))
        .field("value_init", &PpoConfig::value_init)
        .field("critic_warmup_steps", &PpoConfig::critic_warmup_steps, at_least<I>(0))
        .field("joint_optimizer", &PpoConfig::joint_optimizer)
        .field("vf_coef", &PpoConfig::vf_coef, at_least(0.0))
        .field("micro_batch_size", &PpoConfig::micro_batch_size, at_least<I>(0))
        .field("log_every_steps", &PpoConfig::log_every_steps, at_least<I>(1));

    Section<CheckpointConfig>(fields, sections, "checkpoint", &ExperimentConfig::checkpoint)
        .field("resume", &CheckpointConfig::resume, non_empty())
        .field("every_steps", &CheckpointConfig::every_steps, at_least<I>(0))
        .field("keep_last", &CheckpointConfig::keep_last, at_least<I>(1))
        .field("keep_every", &CheckpointConfig::keep_every, at_least<I>(0))
        .field("max_shard_bytes", &CheckpointConfig::max_shard_bytes, at_least<I>(0));

    Section<EvalConfig>(fields, sections, "eval", &ExperimentConfig::eval)
        .field("policies", &EvalConfig::policies)
        .field("base_model", &EvalConfig::base_model)
        .field("judges", &EvalConfig::judges, non_empty_list<Judge>())
        .field("num_prompts", &EvalConfig::num_prompts, at_least<I>(0))
        .field("samples_per_prompt", &EvalConfig::samples_per_prompt, in_range<I>(1, 1 << 20))
        .field("best_of_n", &EvalConfig::best_of_n, non_empty_list<I>(at_least<I>(1)))
        .field("bootstrap_resamples", &EvalConfig::bootstrap_resamples, at_least<I>(0))
        .field("confidence", &EvalConfig::confidence, in_range(0.0, 1.0, true, true))
        .field("output_dir", &EvalConfig::output_dir)
        .field("calibration_samples", &EvalConfig::calibration_samples, in_range<I>(0, 1 << 20))
        .field("write_samples", &EvalConfig::write_samples)
        .field("plot", &EvalConfig::plot);

    Section<OracleConfig>(fields, sections, "oracle", &ExperimentConfig::oracle)
        .field("enabled", &OracleConfig::enabled)
        .field("transforms", &OracleConfig::transforms,
               Check<std::vector<std::string>>([](const std::vector<std::string>& specs) -> Error {
                 for (std::size_t i = 0; i < specs.size(); ++i) {
                   TransformConfig t;
                   if (auto e = parse_transform_spec(specs[i], t))
                     return fmt::format("item {}: {}", i, *e);
                 }
                 return {};
               }))
        .field("kl_points", &OracleConfig::kl_points,
               non_empty_list<double>(in_range(0.0, 20.0, true, false)));

    Section<LoggingConfig>(fields, sections, "logging", &ExperimentConfig::logging)
        .field("level", &LoggingConfig::level)
        .field("log_file", &LoggingConfig::log_file)
        .field("progress_interval_seconds", &LoggingConfig::progress_interval_seconds,
               greater_than(0.0));
  }
};

const Registry& registry() {
  static const Registry r;
  return r;
}

}  // namespace

const std::vector<Field>& schema() { return registry().fields; }

const std::vector<std::string>& section_names() { return registry().sections; }

}  // namespace infalign::config::detail
