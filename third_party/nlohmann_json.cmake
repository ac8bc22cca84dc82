# nlohmann-json 3.11 (header-only). Used inside .cpp files only.
find_package(nlohmann_json 3.9 REQUIRED)
