// Version and source revision baked in at build time.
#pragma once

namespace infalign {

// Semantic version of infalign, e.g. "0.1.0".
const char* build_version();
// Short git hash of the source tree, with "-dirty" for uncommitted changes; "unknown" outside git.
const char* build_git_hash();
// The source tree the binaries were built from (where scripts/ is found when not run from it).
const char* build_source_dir();

}  // namespace infalign
