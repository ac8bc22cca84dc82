#include "infalign/config/names.h"

#include <charconv>
#include <utility>

#include "infalign/config/experiment_config.h"

namespace infalign::config {

namespace {

template <class E>
using Table = std::vector<std::pair<E, std::string_view>>;

template <class E>
const Table<E>& table();

#define INFALIGN_ENUM_TABLE(E, ...)       \
  template <>                             \
  const Table<E>& table<E>() {            \
    static const Table<E> t{__VA_ARGS__}; \
    return t;                             \
  }

INFALIGN_ENUM_TABLE(Stage, {Stage::Tokenizer, "tokenizer"}, {Stage::Lm, "lm"},
                    {Stage::Reward, "reward"}, {Stage::Calibrate, "calibrate"}, {Stage::Ppo, "ppo"})
INFALIGN_ENUM_TABLE(DeviceKind, {DeviceKind::Auto, "auto"}, {DeviceKind::Cpu, "cpu"},
                    {DeviceKind::Cuda, "cuda"})
INFALIGN_ENUM_TABLE(DType, {DType::Float32, "float32"}, {DType::BFloat16, "bfloat16"})
INFALIGN_ENUM_TABLE(ModelType, {ModelType::Llama, "llama"}, {ModelType::Mistral, "mistral"},
                    {ModelType::Qwen2, "qwen2"})
INFALIGN_ENUM_TABLE(TokenizerModelType, {TokenizerModelType::Unigram, "unigram"},
                    {TokenizerModelType::Bpe, "bpe"})
INFALIGN_ENUM_TABLE(RewardKind, {RewardKind::Model, "model"}, {RewardKind::Gold, "gold"},
                    {RewardKind::Command, "command"})
INFALIGN_ENUM_TABLE(RewardInput, {RewardInput::PromptResponse, "prompt_response"},
                    {RewardInput::Response, "response"})
INFALIGN_ENUM_TABLE(CacheMismatch, {CacheMismatch::Error, "error"},
                    {CacheMismatch::Rebuild, "rebuild"})
INFALIGN_ENUM_TABLE(TransformKind, {TransformKind::Raw, "raw"},
                    {TransformKind::Identity, "identity"}, {TransformKind::Log, "log"},
                    {TransformKind::Exp, "exp"}, {TransformKind::NegExp, "negexp"},
                    {TransformKind::Logistic, "logistic"})
INFALIGN_ENUM_TABLE(LrSchedule, {LrSchedule::Constant, "constant"}, {LrSchedule::Linear, "linear"},
                    {LrSchedule::Cosine, "cosine"})
INFALIGN_ENUM_TABLE(KlEstimator, {KlEstimator::K1, "k1"}, {KlEstimator::K3, "k3"},
                    {KlEstimator::Full, "full"})
INFALIGN_ENUM_TABLE(ValueInit, {ValueInit::RewardModel, "reward_model"},
                    {ValueInit::Policy, "policy"})
INFALIGN_ENUM_TABLE(Advantage, {Advantage::Gae, "gae"}, {Advantage::Rloo, "rloo"},
                    {Advantage::Group, "group"})
INFALIGN_ENUM_TABLE(Judge, {Judge::RewardModel, "reward_model"}, {Judge::Gold, "gold"},
                    {Judge::Command, "command"})
INFALIGN_ENUM_TABLE(LogLevel, {LogLevel::Trace, "trace"}, {LogLevel::Debug, "debug"},
                    {LogLevel::Info, "info"}, {LogLevel::Warn, "warn"}, {LogLevel::Error, "error"})

#undef INFALIGN_ENUM_TABLE

}  // namespace

template <class E>
std::string_view enum_name(E value) {
  for (const auto& [v, name] : table<E>()) {
    if (v == value) return name;
  }
  return "?";
}

template <class E>
std::optional<E> parse_enum(std::string_view text) {
  for (const auto& [v, name] : table<E>()) {
    if (name == text) return v;
  }
  return std::nullopt;
}

template <class E>
std::vector<std::string> enum_names() {
  std::vector<std::string> names;
  for (const auto& entry : table<E>()) names.emplace_back(entry.second);
  return names;
}

#define INFALIGN_INSTANTIATE(E)                              \
  template std::string_view enum_name<E>(E);                 \
  template std::optional<E> parse_enum<E>(std::string_view); \
  template std::vector<std::string> enum_names<E>();

INFALIGN_INSTANTIATE(Stage)
INFALIGN_INSTANTIATE(DeviceKind)
INFALIGN_INSTANTIATE(DType)
INFALIGN_INSTANTIATE(ModelType)
INFALIGN_INSTANTIATE(TokenizerModelType)
INFALIGN_INSTANTIATE(RewardKind)
INFALIGN_INSTANTIATE(RewardInput)
INFALIGN_INSTANTIATE(CacheMismatch)
INFALIGN_INSTANTIATE(TransformKind)
INFALIGN_INSTANTIATE(LrSchedule)
INFALIGN_INSTANTIATE(KlEstimator)
INFALIGN_INSTANTIATE(ValueInit)
INFALIGN_INSTANTIATE(Advantage)
INFALIGN_INSTANTIATE(Judge)
INFALIGN_INSTANTIATE(LogLevel)

#undef INFALIGN_INSTANTIATE

std::string to_string(const DeviceSpec& device) {
  std::string text(enum_name(device.kind));
  if (device.kind == DeviceKind::Cuda && device.index >= 0)
    text += ":" + std::to_string(device.index);
  return text;
}

std::optional<DeviceSpec> parse_device(std::string_view text) {
  if (auto kind = parse_enum<DeviceKind>(text)) return DeviceSpec{*kind, -1};
  constexpr std::string_view kCudaPrefix = "cuda:";
  if (text.substr(0, kCudaPrefix.size()) != kCudaPrefix) return std::nullopt;
  const std::string_view digits = text.substr(kCudaPrefix.size());
  int index = -1;
  const auto result = std::from_chars(digits.data(), digits.data() + digits.size(), index);
  if (digits.empty() || result.ec != std::errc() || result.ptr != digits.data() + digits.size() ||
      index < 0) {
    return std::nullopt;
  }
  return DeviceSpec{DeviceKind::Cuda, index};
}

}  // namespace infalign::config
