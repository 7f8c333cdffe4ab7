#include "integration/data_dir.h"

#include <sqlite3.h>

#include <fstream>
#include <iterator>

#include "evident/storage/sqlite/log_block.h"

namespace evident::integration {

namespace fs = std::filesystem;

std::string StoredEventsText(const fs::path& data_dir) {
  std::string text;
  sqlite3* db = nullptr;
  if (sqlite3_open((data_dir / "log.db").c_str(), &db) != SQLITE_OK) {
    sqlite3_close(db);
    return text;
  }
  sqlite3_stmt* select = nullptr;
  sqlite3_prepare_v2(db, "SELECT first_position, body FROM blocks", -1, &select, nullptr);
  while (select != nullptr && sqlite3_step(select) == SQLITE_ROW) {
    auto block = storage::sqlite::LogBlock::Decode(
        sqlite3_column_int64(select, 0),
        std::string_view(static_cast<const char*>(sqlite3_column_blob(select, 1)),
                         static_cast<size_t>(sqlite3_column_bytes(select, 1))));
    if (!block) continue;
    for (int64_t p = (*block)->first_position(); p <= (*block)->last_position(); ++p) {
      text += (*block)->Event(p);
    }
  }
  sqlite3_finalize(select);
  sqlite3_close(db);
  return text;
}

std::vector<std::string> FilesContaining(const fs::path& dir, const std::string& needle) {
  std::vector<std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream file(entry.path(), std::ios::binary);
    const std::string content((std::istreambuf_iterator<char>(file)), {});
    if (content.find(needle) != std::string::npos) found.push_back(entry.path().string());
  }
  return found;
}

}  // namespace evident::integration
