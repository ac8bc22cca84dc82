// libinfalign_spm.so: the only code that links SentencePiece. Built with hidden visibility; its
// extern "C" surface is all the rest of infalign sees (see sentencepiece_tokenizer.h for why).
#include <sentencepiece_processor.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#define INFALIGN_SPM_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

char* copy_string(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out != nullptr) std::memcpy(out, s.c_str(), s.size() + 1);
  return out;
}

}  // namespace

INFALIGN_SPM_EXPORT void infalign_spm_free_buffer(void* p) { std::free(p); }

INFALIGN_SPM_EXPORT void* infalign_spm_load(const char* path, char** error) {
  auto* sp = new sentencepiece::SentencePieceProcessor();
  const auto status = sp->Load(path);
  if (!status.ok()) {
    *error = copy_string(status.ToString());
    delete sp;
    return nullptr;
  }
  return sp;
}

INFALIGN_SPM_EXPORT void infalign_spm_free(void* handle) {
  delete static_cast<sentencepiece::SentencePieceProcessor*>(handle);
}

INFALIGN_SPM_EXPORT int infalign_spm_encode(void* handle, const char* text, std::size_t length,
                                            int** ids, std::size_t* count, char** error) {
  std::vector<int> out;
  const auto status = static_cast<sentencepiece::SentencePieceProcessor*>(handle)->Encode(
      std::string(text, length), &out);
  if (!status.ok()) {
    *error = copy_string(status.ToString());
    return 1;
  }
  *count = out.size();
  *ids = static_cast<int*>(std::malloc(sizeof(int) * (out.empty() ? 1 : out.size())));
  if (!out.empty()) std::memcpy(*ids, out.data(), sizeof(int) * out.size());
  return 0;
}

INFALIGN_SPM_EXPORT int infalign_spm_decode(void* handle, const int* ids, std::size_t count,
                                            char** text, char** error) {
  std::string out;
  const auto status = static_cast<sentencepiece::SentencePieceProcessor*>(handle)->Decode(
      std::vector<int>(ids, ids + count), &out);
  if (!status.ok()) {
    *error = copy_string(status.ToString());
    return 1;
  }
  *text = copy_string(out);
  return 0;
}

// which: 0 = piece count, 1 = unk, 2 = bos, 3 = eos, 4 = pad.
INFALIGN_SPM_EXPORT int infalign_spm_info(void* handle, int which) {
  const auto* sp = static_cast<sentencepiece::SentencePieceProcessor*>(handle);
  switch (which) {
    case 0:
      return sp->GetPieceSize();
    case 1:
      return sp->unk_id();
    case 2:
      return sp->bos_id();
    case 3:
      return sp->eos_id();
    case 4:
      return sp->pad_id();
    default:
      return -1;
  }
}

INFALIGN_SPM_EXPORT char* infalign_spm_piece(void* handle, int id) {
  const auto* sp = static_cast<sentencepiece::SentencePieceProcessor*>(handle);
  if (id < 0 || id >= sp->GetPieceSize()) return copy_string("");
  return copy_string(sp->IdToPiece(id));
}
