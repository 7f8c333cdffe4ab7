// The words of an event that `q` searches, as the full-text index stores them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "evident/core/event.h"

namespace evident::storage::sqlite {

// A word without a digit is indexed as a token of its tenant: `word_7` for the tenant whose term
// id is 7 in the partition. So tenant + q reads one doclist holding only that tenant's events,
// and counting it costs the tenant's matches, not every tenant's. A search across tenants reads
// the prefix `word_`. The separator cannot occur in a word: words are runs of ASCII letters and
// digits and non-ASCII bytes (core::SearchWords), and the index's tokenizer is FTS5's `ascii`
// with `_` added to its token characters.
//
// A word with a digit (an id, a number, a hash, an IP address) is indexed as itself, shared by all
// tenants: such words take many values, each in few events, so one token per tenant would
// multiply the dictionary (it cost a fifth of the indexing rate at 10M events) and shorten lists
// that are short already. Tenant + such a word is narrowed through the events table instead.
inline constexpr char kTenantSeparator = '_';

// An event whose status is not `success`, or whose type is not `activity`, also holds a token of
// that value, per tenant as a word is: `_status_failure_7`, `_type_session_7`. A word never starts
// with the separator, so no word is one. A search with statuses or types then finds its matches in
// the full-text index alone, and counts them there, where it read the row of each candidate (q +
// status in the largest tenant read 27 ms of its entries a week, for every week, to count). The
// common values have none, which saves their ~1.5 bytes an event: a success is NOT any other
// status. These are the words of those tokens.
std::string ValueWord(core::EventStatus status);
std::string ValueWord(core::EventType type);

// An email address (core::ForEachAddress, lower-cased) in an event's searched text is also a
// token of its own, per tenant as a word without a digit is: `_at_` and the address with every
// byte FTS5 would split on written as `z` and a letter (`@` za, `.` zb, `-` zc, `_` zd, `+` ze,
// `%` zf, `z` itself zz), so `ana.0@acme.test` is `_at_anazb0zaacmezbtest`. One address is never
// another's token, nor the start of another's followed by the separator. An address term of `q` is
// then one doclist, exactly its events: as the phrase of its words, `ana.0@tenant-0.test` read
// every event of every `ana.N` user of the tenant, since each holds those words through its own
// email (1.1 s in its tenant at 10M events). This is the word of that token.
std::string AddressWord(std::string_view address);

// Appends the searchable words of `event` to `out` as tokens of `tenant_term`, lower-cased
// (ASCII), each once, and separated by spaces: exactly the words Filter::Matches looks at (action,
// actor, resource, request path, workspace, every string value in details, not keys), split as
// core::SearchWords splits them, and each address's word (AddressWord), then the tokens of its
// status and type (ValueWord). FTS5's tokenizer splits this text back into the same tokens (it
// treats every non-ASCII byte as part of a word, as SearchWords does).
void AppendSearchText(const core::Event& event, int64_t tenant_term, std::string& out);

// Whether `word` is indexed per tenant (it has no ASCII digit, or is an AddressWord).
bool IndexedPerTenant(std::string_view word);

// For a word indexed per tenant (lower-case, as core::SearchWords yields it): its token for one
// tenant, and the prefix every tenant's token of it starts with.
std::string TenantToken(std::string_view word, int64_t tenant_term);
std::string AnyTenantPrefix(std::string_view word);

}  // namespace evident::storage::sqlite
