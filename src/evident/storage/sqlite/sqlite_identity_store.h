// The SQLite IdentityStore: one file, DATA/identity.db, in WAL mode with synchronous=FULL (a
// revoked session must stay revoked after a crash). Schema in docs/identity.md.
#pragma once

#include <memory>
#include <string>

#include "evident/storage/identity_store.h"
#include "evident/util/result.h"

namespace evident::storage::sqlite {

inline constexpr std::string_view kIdentityDbFile = "identity.db";
inline constexpr int kIdentityFormat = 2;

// Opens (creating if needed) `path`. Errors: IOError; InvalidArgument for a file of another
// format (left untouched).
util::Result<std::unique_ptr<IdentityStore>> OpenSqliteIdentityStore(const std::string& path);

}  // namespace evident::storage::sqlite
