# SentencePiece: Debian ships no CMake config, so use pkg-config. Only the tokenizer's
# dlopen'ed module may link it (its protobuf copy clashes with LibTorch's).
find_package(PkgConfig REQUIRED)
pkg_check_modules(SentencePiece REQUIRED IMPORTED_TARGET sentencepiece)
