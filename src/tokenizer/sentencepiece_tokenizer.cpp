#include "infalign/tokenizer/sentencepiece_tokenizer.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>

#include <fmt/format.h>
#include <sys/wait.h>

#include "infalign/config/names.h"
#include "infalign/core/error.h"
#include "infalign/core/fs.h"
#include "infalign/core/logging.h"

extern char** environ;

namespace infalign::tokenizer {

namespace {

constexpr const char* kModuleName = "libinfalign_spm.so";
constexpr const char* kTrainerName = "infalign-spm-train";

// The module's extern "C" surface (src/tokenizer/spm_module.cpp).
struct SpmApi {
  void (*free_buffer)(void*);
  void* (*load)(const char*, char**);
  void (*release)(void*);
  int (*encode)(void*, const char*, std::size_t, int**, std::size_t*, char**);
  int (*decode)(void*, const int*, std::size_t, char**, char**);
  int (*info)(void*, int);
  char* (*piece)(void*, int);
  std::string path;
};

std::string executable_dir() {
  char buffer[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  if (n <= 0) return ".";
  return std::filesystem::path(std::string(buffer, static_cast<std::size_t>(n)))
      .parent_path()
      .string();
}

// Where a companion file of the binaries is looked for: $<env_var> if set, else next to the
// executable, one level up (tests/), ../lib, and finally its path in the build tree.
std::vector<std::string> candidate_paths(const char* env_var, const std::string& file_name,
                                         const char* build_path) {
  std::vector<std::string> paths;
  if (const char* env = std::getenv(env_var); env != nullptr && *env != '\0') {
    paths.emplace_back(env);
    return paths;  // an explicit choice is not second-guessed
  }
  const std::string dir = executable_dir();
  paths.push_back(dir + "/" + file_name);
  paths.push_back(dir + "/../" + file_name);
  paths.push_back(dir + "/../lib/" + file_name);
  if (build_path != nullptr) paths.emplace_back(build_path);
  return paths;
}

template <class Fn>
void bind(void* library, const char* symbol, Fn& out, const std::string& path) {
  out = reinterpret_cast<Fn>(::dlsym(library, symbol));
  if (out == nullptr) throw Error(fmt::format("{}: missing symbol {}", path, symbol));
}

const SpmApi& api() {
  static std::once_flag once;
  static SpmApi loaded;
  std::call_once(once, [] {
    std::vector<std::string> tried;
    void* library = nullptr;
    std::string last_error;
    for (const auto& path :
         candidate_paths("INFALIGN_SPM_MODULE", kModuleName, INFALIGN_SPM_MODULE_BUILD_PATH)) {
      tried.push_back(path);
      if (!std::filesystem::exists(path)) continue;
      // RTLD_DEEPBIND: the module resolves its own protobuf before LibTorch's copy.
      library = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (library != nullptr) {
        loaded.path = path;
        break;
      }
      last_error = ::dlerror();
    }
    if (library == nullptr) {
      throw Error(fmt::format(
          "cannot load the SentencePiece module {} (tried {}){}{}; set "
          "INFALIGN_SPM_MODULE to its path",
          kModuleName, fmt::join(tried, ", "), last_error.empty() ? "" : ": ", last_error));
    }
    bind(library, "infalign_spm_free_buffer", loaded.free_buffer, loaded.path);
    bind(library, "infalign_spm_load", loaded.load, loaded.path);
    bind(library, "infalign_spm_free", loaded.release, loaded.path);
    bind(library, "infalign_spm_encode", loaded.encode, loaded.path);
    bind(library, "infalign_spm_decode", loaded.decode, loaded.path);
    bind(library, "infalign_spm_info", loaded.info, loaded.path);
    bind(library, "infalign_spm_piece", loaded.piece, loaded.path);
  });
  return loaded;
}

// Takes ownership of a module-allocated string.
std::string take(char* text) {
  std::string out = text != nullptr ? text : "";
  api().free_buffer(text);
  return out;
}

}  // namespace

std::string sentencepiece_module_path() { return api().path; }

SentencePieceTokenizer::SentencePieceTokenizer(std::string path, void* handle)
    : path_(std::move(path)), handle_(handle) {}

SentencePieceTokenizer::~SentencePieceTokenizer() { api().release(handle_); }

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::load(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) {
    throw DataError(fmt::format("{}: tokenizer model does not exist or is not a file", path));
  }
  char* error = nullptr;
  void* handle = api().load(path.c_str(), &error);
  if (handle == nullptr) {
    throw DataError(fmt::format("{}: not a SentencePiece model: {}", path, take(error)));
  }
  return std::unique_ptr<SentencePieceTokenizer>(new SentencePieceTokenizer(path, handle));
}

std::vector<std::int64_t> SentencePieceTokenizer::encode(std::string_view text) const {
  int* ids = nullptr;
  std::size_t count = 0;
  char* error = nullptr;
  if (api().encode(handle_, text.data(), text.size(), &ids, &count, &error) != 0) {
    throw DataError(fmt::format("{}: cannot encode text: {}", path_, take(error)));
  }
  std::vector<std::int64_t> out(ids, ids + count);
  api().free_buffer(ids);
  return out;
}

std::string SentencePieceTokenizer::decode(const std::vector<std::int64_t>& ids) const {
  std::vector<int> narrow;
  narrow.reserve(ids.size());
  const auto size = vocab_size();
  for (auto id : ids) {
    if (id < 0 || id >= size) {
      throw DataError(
          fmt::format("{}: cannot decode id {}, expected an id in [0, {})", path_, id, size));
    }
    narrow.push_back(static_cast<int>(id));
  }
  char* text = nullptr;
  char* error = nullptr;
  if (api().decode(handle_, narrow.data(), narrow.size(), &text, &error) != 0) {
    throw DataError(fmt::format("{}: cannot decode ids: {}", path_, take(error)));
  }
  return take(text);
}

std::int64_t SentencePieceTokenizer::vocab_size() const { return api().info(handle_, 0); }
std::int64_t SentencePieceTokenizer::unk_id() const { return api().info(handle_, 1); }
std::int64_t SentencePieceTokenizer::bos_id() const { return api().info(handle_, 2); }
std::int64_t SentencePieceTokenizer::eos_id() const { return api().info(handle_, 3); }
std::int64_t SentencePieceTokenizer::pad_id() const {
  return has_pad_piece() ? api().info(handle_, 4) : padding_id_;
}
bool SentencePieceTokenizer::has_pad_piece() const { return api().info(handle_, 4) >= 0; }

void SentencePieceTokenizer::use_padding_id(std::int64_t id) {
  if (has_pad_piece()) {
    throw Error(fmt::format("{}: has a pad piece (id {}); it pads with that", path_,
                            api().info(handle_, 4)));
  }
  if (id < 0 || id >= vocab_size() || id == eos_id()) {
    throw Error(fmt::format("{}: padding id {} must be a piece id in [0, {}) other than EOS ({})",
                            path_, id, vocab_size(), eos_id()));
  }
  padding_id_ = id;
}

std::string SentencePieceTokenizer::piece(std::int64_t id) const {
  return take(api().piece(handle_, static_cast<int>(id)));
}

void train_sentencepiece(const SentencePieceTrainOptions& o) {
  if (!std::filesystem::is_regular_file(o.input_file)) {
    throw DataError(fmt::format("{}: tokenizer training input does not exist", o.input_file));
  }
  std::string trainer;
  for (const auto& path :
       candidate_paths("INFALIGN_SPM_TRAINER", kTrainerName, INFALIGN_SPM_TRAINER_BUILD_PATH)) {
    if (::access(path.c_str(), X_OK) == 0) {
      trainer = path;
      break;
    }
  }
  if (trainer.empty()) {
    throw Error(
        fmt::format("cannot find the {} program next to this executable; set "
                    "INFALIGN_SPM_TRAINER to its path",
                    kTrainerName));
  }
  const std::string arguments = fmt::format(
      "--input={} --model_prefix={} --vocab_size={} --model_type={} --character_coverage={} "
      "--unk_id={} --bos_id={} --eos_id={} --pad_id={} --hard_vocab_limit={} "
      "--input_sentence_size=0 --shuffle_input_sentence=false --num_threads=1",
      o.input_file, o.model_prefix, o.vocab_size, config::enum_name(o.model_type),
      o.character_coverage, o.unk_id, o.bos_id, o.eos_id, o.pad_id,
      o.hard_vocab_limit ? "true" : "false");
  // The trainer's own log goes to <model_prefix>.train.log.
  const std::string log_path = o.model_prefix + ".train.log";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::vector<char*> argv = {const_cast<char*>(trainer.c_str()),
                             const_cast<char*>(arguments.c_str()), nullptr};
  pid_t pid = 0;
  const int spawn_error =
      ::posix_spawn(&pid, trainer.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawn_error != 0) {
    throw Error(fmt::format("cannot start {}: {}", trainer, std::strerror(spawn_error)));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string log;
    try {
      log = fs::read_file(log_path);
    } catch (const Error&) {
    }
    const auto cut = log.size() > 600 ? log.size() - 600 : 0;
    throw DataError(fmt::format("{}: SentencePiece training failed (log: {}): {}", o.input_file,
                                log_path, log.substr(cut)));
  }
}

std::vector<std::int64_t> encode_prompt(const Tokenizer& tok, std::string_view text,
                                        std::int64_t max_tokens) {
  std::vector<std::int64_t> enc = tok.encode(text);
  if (max_tokens >= 0 && static_cast<std::int64_t>(enc.size()) > max_tokens) {
    enc.erase(enc.begin(), enc.end() - max_tokens);
  }
  std::vector<std::int64_t> ids = {tok.bos_id()};
  ids.insert(ids.end(), enc.begin(), enc.end());
  return ids;
}

}  // namespace infalign::tokenizer
