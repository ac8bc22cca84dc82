# spdlog 1.10 with external fmt 9 (Debian 12). Used inside .cpp files only; fmt is public.
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
