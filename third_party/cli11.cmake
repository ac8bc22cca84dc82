# CLI11 2.x (header-only). Used by src/cli only.
find_package(CLI11 2.1 REQUIRED)
