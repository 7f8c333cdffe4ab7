// The words of an event that `q` searches, as the full-text index stores them.
#pragma once

#include <string>
#include <string_view>

#include "evident/core/event.h"

namespace evident::storage::sqlite {

// Appends the searchable words of `event` to `out`, lower-cased (ASCII) and separated by spaces:
// exactly the words Filter::Matches looks at (action, actor, resource, request path, workspace,
// every string value in details, not keys), split as core::SearchWords splits them. FTS5's
// `ascii` tokenizer splits this text back into the same words (it treats every non-ASCII byte as
// part of a word, as SearchWords does).
void AppendSearchText(const core::Event& event, std::string& out);

// A word no search term can produce (it starts with U+E000, a private-use character that the
// indexer adds only through these markers): tags an event's row in the full-text index with its
// tenant, so that tenant + q is answered by the full-text index alone.
std::string TenantMarker(int64_t tenant_term);
inline constexpr std::string_view kMarkerPrefix = "\xEE\x80\x80";

}  // namespace evident::storage::sqlite
