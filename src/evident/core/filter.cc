#include "evident/core/filter.h"

#include <algorithm>

#include "evident/util/encoding.h"
#include "evident/util/strings.h"

namespace evident::core {

using util::Error;
using util::Result;

namespace {

constexpr size_t kMaxSearchTerms = 16;

bool IsWordByte(unsigned char c) { return kWordBytes[c] != kNotWord; }

void CollectWords(std::string_view text, std::vector<std::string>& out) {
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && !IsWordByte(static_cast<unsigned char>(text[i]))) ++i;
    const size_t start = i;
    while (i < text.size() && IsWordByte(static_cast<unsigned char>(text[i]))) ++i;
    if (i > start) out.push_back(util::AsciiLower(text.substr(start, i - start)));
  }
}

// Whether a text of `words` and `addresses` holds `term`.
bool ContainsTerm(const std::vector<std::string>& words, const std::vector<std::string>& addresses,
                  const SearchTerm& term) {
  if (!term.address.empty())
    return std::find(addresses.begin(), addresses.end(), term.address) != addresses.end();
  if (term.words.empty()) return true;
  if (words.size() < term.words.size()) return false;
  for (size_t at = 0; at + term.words.size() <= words.size(); ++at) {
    if (std::equal(term.words.begin(), term.words.end(), words.begin() + static_cast<long>(at))) {
      return true;
    }
  }
  return false;
}

template <typename T>
bool AnyOf(const std::vector<T>& allowed, const T& value) {
  return allowed.empty() || std::find(allowed.begin(), allowed.end(), value) != allowed.end();
}

}  // namespace

std::vector<std::string> SearchWords(std::string_view text) {
  std::vector<std::string> words;
  CollectWords(text, words);
  return words;
}

std::vector<std::string> SearchAddresses(std::string_view text) {
  std::vector<std::string> addresses;
  ForEachAddress(text,
                 [&](std::string_view address) { addresses.push_back(util::AsciiLower(address)); });
  return addresses;
}

Result<std::vector<SearchTerm>> ParseSearch(std::string_view q) {
  std::vector<SearchTerm> terms;
  size_t i = 0;
  while (i < q.size()) {
    if (q[i] == '"') {
      const size_t close = q.find('"', i + 1);
      if (close == std::string_view::npos) {
        return Error::InvalidArgument("q: unterminated quoted phrase");
      }
      SearchTerm term;
      CollectWords(q.substr(i + 1, close - i - 1), term.words);
      if (!term.words.empty()) terms.push_back(std::move(term));
      i = close + 1;
    } else {
      size_t end = i;
      while (end < q.size() && q[end] != '"' && q[end] != ' ') ++end;
      const std::string_view chunk = q.substr(i, end - i);
      SearchTerm term;
      CollectWords(chunk, term.words);
      // "a-b" is one term of two adjacent words, as FTS5 reads it; an address alone is itself.
      std::vector<std::string> addresses = SearchAddresses(chunk);
      if (addresses.size() == 1 && SearchWords(addresses[0]) == term.words)
        term.address = std::move(addresses[0]);
      if (!term.words.empty()) terms.push_back(std::move(term));
      i = end == i ? i + 1 : end;
    }
    if (terms.size() > kMaxSearchTerms) {
      return Error::InvalidArgument("q: at most " + std::to_string(kMaxSearchTerms) + " terms");
    }
  }
  return terms;
}

bool Filter::Matches(const Event& event) const {
  if (!AnyOf(tenants, event.tenant) || !AnyOf(workspaces, event.workspace) ||
      !AnyOf(types, event.type) || !AnyOf(actions, event.action) ||
      !AnyOf(resource_types, event.resource.type) || !AnyOf(statuses, event.status) ||
      !AnyOf(methods, event.request.method) || !AnyOf(ips, event.request.ip)) {
    return false;
  }
  if (from && event.occurred_at < *from) return false;
  if (to && event.occurred_at >= *to) return false;
  if (!users.empty()) {
    const bool user_match = std::any_of(users.begin(), users.end(), [&](const std::string& user) {
      return (!event.actor.email.empty() && util::EqualsIgnoreCase(user, event.actor.email)) ||
             (!event.actor.id.empty() && user == event.actor.id);
    });
    if (!user_match) return false;
  }
  if (!search.empty()) {
    // Each field is its own run of words: a phrase never spans two fields. An address is in one
    // field too, so the event's addresses are one list.
    std::vector<std::vector<std::string>> fields;
    std::vector<std::string> addresses;
    const bool any_address = std::any_of(
        search.begin(), search.end(), [](const SearchTerm& term) { return !term.address.empty(); });
    ForEachSearchedText(event, [&](std::string_view text) {
      fields.push_back(SearchWords(text));
      if (any_address) {
        for (std::string& address : SearchAddresses(text)) addresses.push_back(std::move(address));
      }
    });
    for (const SearchTerm& term : search) {
      const bool found = std::any_of(fields.begin(), fields.end(), [&](const auto& words) {
        return ContainsTerm(words, addresses, term);
      });
      if (!found) return false;
    }
  }
  return true;
}

bool Filter::SearchMatchesWithin(std::string_view text) const {
  const std::vector<std::string> words = SearchWords(text);
  const std::vector<std::string> addresses = SearchAddresses(text);
  return std::all_of(search.begin(), search.end(),
                     [&](const SearchTerm& term) { return ContainsTerm(words, addresses, term); });
}

std::string EncodeCursor(const Cursor& cursor) {
  std::string bytes(17, '\0');
  bytes[0] = 1;  // format version
  for (int i = 0; i < 8; ++i) {
    bytes[1 + i] = static_cast<char>(static_cast<uint64_t>(cursor.occurred_at) >> (56 - 8 * i));
    bytes[9 + i] = static_cast<char>(static_cast<uint64_t>(cursor.position) >> (56 - 8 * i));
  }
  return util::Base64Encode(bytes, util::Base64Variant::kUrlNoPadding);
}

Result<Cursor> DecodeCursor(std::string_view text) {
  auto bytes = util::Base64Decode(text, util::Base64Variant::kUrlNoPadding);
  if (!bytes || bytes->size() != 17 || (*bytes)[0] != 1) {
    return Error::InvalidArgument("cursor: not a cursor this server made");
  }
  uint64_t occurred = 0, position = 0;
  for (int i = 0; i < 8; ++i) {
    occurred = (occurred << 8) | static_cast<unsigned char>((*bytes)[1 + i]);
    position = (position << 8) | static_cast<unsigned char>((*bytes)[9 + i]);
  }
  Cursor cursor{static_cast<int64_t>(occurred), static_cast<int64_t>(position)};
  if (cursor.position < 0 || cursor.occurred_at < util::kMinUnixMillis ||
      cursor.occurred_at > util::kMaxUnixMillis) {
    return Error::InvalidArgument("cursor: not a cursor this server made");
  }
  return cursor;
}

}  // namespace evident::core
