# PCRE2 10.42 (Debian 12: libpcre2-dev) for tokenizer.json's pre-tokenizer regexes (Unicode
# classes such as \p{L}), and ICU 72 (libicu-dev) for its normalizers (NFC, NFKC, ...). Used in
# src/tokenizer/bpe_tokenizer.cpp only.
find_package(PkgConfig REQUIRED)
pkg_check_modules(INFALIGN_PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
find_package(ICU REQUIRED COMPONENTS uc)
if(NOT TARGET infalign::text)
  add_library(infalign::text INTERFACE IMPORTED)
  set_target_properties(infalign::text PROPERTIES
    INTERFACE_LINK_LIBRARIES "PkgConfig::INFALIGN_PCRE2;ICU::uc")
endif()
