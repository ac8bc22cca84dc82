# PCRE2 (Debian 12: libpcre2-dev 10.42) runs tokenizer.json's pre-tokenizer regexes (Unicode
# classes such as \p{L}); ICU (libicu-dev 72) its normalizers (NFC, NFKC, ...). ICU is optional:
# without it (the GPU build, whose carried packages must stay small) a tokenizer.json with a
# normalizer is refused naming it. Used in src/tokenizer/bpe_tokenizer.cpp only.
find_path(INFALIGN_PCRE2_INCLUDE_DIR pcre2.h REQUIRED)
find_library(INFALIGN_PCRE2_LIBRARY pcre2-8 REQUIRED)
find_package(ICU COMPONENTS uc)
if(NOT TARGET infalign::text)
  add_library(infalign::text INTERFACE IMPORTED)
  set(text_libraries ${INFALIGN_PCRE2_LIBRARY})
  set(text_definitions "")
  if(ICU_FOUND)
    list(APPEND text_libraries ICU::uc)
    set(text_definitions INFALIGN_HAVE_ICU=1)
  else()
    message(STATUS "ICU not found: tokenizer.json normalizers are refused in this build")
  endif()
  set_target_properties(infalign::text PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${INFALIGN_PCRE2_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${text_libraries}"
    INTERFACE_COMPILE_DEFINITIONS "${text_definitions}")
endif()
