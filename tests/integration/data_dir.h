// Reading a (stopped) server's data directory the way an attacker with the disk would: every
// file's bytes, and the stored events decompressed from the log's blocks.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace evident::integration {

// Every event's JSON as stored in DATA/log.db, decompressed from its block: compressed bytes
// would hide a secret from a plain search of the files. Empty when the log cannot be opened.
std::string StoredEventsText(const std::filesystem::path& data_dir);

// The files under `dir` whose bytes contain `needle`.
std::vector<std::string> FilesContaining(const std::filesystem::path& dir,
                                         const std::string& needle);

}  // namespace evident::integration
