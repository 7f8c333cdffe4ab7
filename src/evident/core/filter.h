// What a query asks for: the filters of GET /api/v1/events (docs/api.md), already parsed.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "evident/core/canonical_json.h"
#include "evident/core/event.h"
#include "evident/util/result.h"
#include "evident/util/time.h"

namespace evident::core {

// One term of a free-text search: a whole word, a quoted phrase of several words, or an email
// address, matched whole (ForEachAddress): `ana@acme.test` is not found in `bob.ana@acme.test`,
// which is someone else.
struct SearchTerm {
  std::vector<std::string> words;  // lower case; more than one for a phrase
  std::string address;             // lower case (ASCII); set for an address term
  bool operator==(const SearchTerm&) const = default;
};

// Splits `q` into terms. Words are runs of letters and digits (Unicode letters count as letters);
// "..." groups a phrase. An unquoted term that is one email address and nothing more (commas or
// brackets around it aside) is an address term; quoted, it stays a phrase of its words. Errors:
// InvalidArgument for an unterminated quote or too many terms.
util::Result<std::vector<SearchTerm>> ParseSearch(std::string_view q);

// Every list is any-of; an empty list does not filter. Lists are combined with AND.
struct Filter {
  std::vector<std::string> tenants;
  std::vector<std::string> workspaces;
  std::vector<EventType> types;
  std::vector<std::string> actions;
  std::vector<std::string> resource_types;
  std::vector<EventStatus> statuses;
  std::vector<std::string> methods;      // upper case
  std::vector<std::string> users;        // actor.email (case-insensitive) or actor.id (exact)
  std::vector<std::string> ips;          // normalised text form
  std::optional<util::UnixMillis> from;  // inclusive, on occurred_at
  std::optional<util::UnixMillis> to;    // exclusive
  std::vector<SearchTerm> search;

  bool operator==(const Filter&) const = default;

  // True when `event` matches every filter: the reference semantics every store must agree with.
  bool Matches(const Event& event) const;

  // True when every search term lies within `text`: then an event holding `text` in one of the
  // searched fields matches the search, whatever its other fields hold (a store can confirm a
  // candidate from its index without decoding it).
  bool SearchMatchesWithin(std::string_view text) const;
};

// A position in the newest-first order: (occurred_at DESC, position DESC), where position is the
// event's place in the global log (unique, stable). A page continues strictly after its cursor.
struct Cursor {
  util::UnixMillis occurred_at = 0;
  int64_t position = 0;
  bool operator==(const Cursor&) const = default;
};

// Opaque text (base64url). Errors: InvalidArgument for anything EncodeCursor did not make.
std::string EncodeCursor(const Cursor& cursor);
util::Result<Cursor> DecodeCursor(std::string_view text);

// Lower-cased words of `text` as ParseSearch and the full-text index split them.
std::vector<std::string> SearchWords(std::string_view text);

// What each byte is to that split, for scanners that cannot afford a vector of words (the
// indexer): words are runs of ASCII letters and digits and non-ASCII bytes (so UTF-8 letters stay
// whole); anything else separates them.
enum WordByte : uint8_t { kNotWord, kWordLower, kWordUpper, kWordDigit };
inline constexpr std::array<uint8_t, 256> kWordBytes = [] {
  std::array<uint8_t, 256> classes{};
  for (int c = 0; c < 256; ++c) {
    if ((c >= 'a' && c <= 'z') || c >= 0x80) classes[c] = kWordLower;
    if (c >= 'A' && c <= 'Z') classes[c] = kWordUpper;
    if (c >= '0' && c <= '9') classes[c] = kWordDigit;
  }
  return classes;
}();

// The longest address ForEachAddress yields: SMTP's limit on a path (RFC 5321, 4.5.3.1.3).
inline constexpr size_t kMaxAddressSize = 254;

// Calls visit(address) with each email address in `text`, as written (not lower-cased), in order:
// around each `@`, the longest run of local-part bytes before it (word bytes and `. _ + - %`) and
// of domain bytes after it (word bytes, `.` and `-`), trimmed to start and end with a word byte;
// both parts non-empty, the domain starting with a word byte, at most kMaxAddressSize bytes.
// Search text and queries are both read through it, so `ana@acme.test.` at the end of a sentence
// holds `ana@acme.test`. Hand-written: an address here must be cut exactly where the words around
// it are (kWordBytes), which no address parser does, and the indexer runs it over every string of
// every event (it looks no further than find('@') in a string without one).
template <typename Visit>
void ForEachAddress(std::string_view text, Visit&& visit) {
  auto is_word = [](char c) { return kWordBytes[static_cast<unsigned char>(c)] != kNotWord; };
  auto is_local = [&](char c) {
    return is_word(c) || c == '.' || c == '_' || c == '+' || c == '-' || c == '%';
  };
  auto is_domain = [&](char c) { return is_word(c) || c == '.' || c == '-'; };
  for (size_t at = text.find('@'); at != std::string_view::npos; at = text.find('@', at + 1)) {
    size_t begin = at;
    while (begin > 0 && is_local(text[begin - 1])) --begin;
    while (begin < at && !is_word(text[begin])) ++begin;
    size_t end = at + 1;
    while (end < text.size() && is_domain(text[end])) ++end;
    while (end > at + 1 && !is_word(text[end - 1])) --end;
    if (begin == at || end == at + 1 || !is_word(text[at + 1])) continue;
    if (end - begin <= kMaxAddressSize) visit(text.substr(begin, end - begin));
  }
}

// Lower-cased (ASCII) addresses of `text`, as ForEachAddress finds them.
std::vector<std::string> SearchAddresses(std::string_view text);

// Calls visit(text) with each text of `event` that `q` searches, one field at a time: action,
// actor id, email and name, resource type, id and name, request path, workspace, then every
// string value in details (keys excluded). Filter::Matches and the full-text index both read
// events through it, so that they agree word for word.
template <typename Visit>
void ForEachSearchedText(const Event& event, Visit&& visit) {
  for (const std::string* field :
       {&event.action, &event.actor.id, &event.actor.email, &event.actor.name, &event.resource.type,
        &event.resource.id, &event.resource.name, &event.request.path, &event.workspace}) {
    visit(std::string_view(*field));
  }
  ForEachCanonicalJsonString(event.details, visit);
}

}  // namespace evident::core
