#include "evident/storage/sqlite/search_text.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

#include "evident/core/filter.h"

namespace evident::storage::sqlite {

namespace {

// The words one event has appended so far, to append each once: FTS5 stores a token once per row
// anyway, but it would hash and look up every repeat in its table of pending terms, and an event of
// the benchmark repeats about a quarter of its words. Open addressing over (start, size) in `out`,
// small enough to stay in L1; once half full it stops remembering (a repeat costs time, not
// correctness).
class SeenWords {
 public:
  explicit SeenWords(const std::string& out) : out_(out) {}

  // Whether out_[start, start + size) was appended before; remembers it if not.
  bool Repeats(size_t start, size_t size) {
    const char* word = out_.data() + start;
    uint32_t hash = 2166136261u;  // FNV-1a: words are short
    for (size_t i = 0; i < size; ++i)
      hash = (hash ^ static_cast<unsigned char>(word[i])) * 16777619u;
    for (size_t slot = hash % kSlots;; slot = (slot + 1) % kSlots) {
      Slot& seen = slots_[slot];
      if (seen.size == 0) {
        if (count_ >= kSlots / 2) return false;
        seen = {static_cast<uint32_t>(start), static_cast<uint32_t>(size)};
        ++count_;
        return false;
      }
      if (seen.size == size && std::memcmp(out_.data() + seen.start, word, size) == 0) return true;
    }
  }

 private:
  static constexpr size_t kSlots = 128;
  struct Slot {
    uint32_t start = 0, size = 0;  // size 0: empty
  };
  const std::string& out_;
  std::array<Slot, kSlots> slots_{};
  size_t count_ = 0;
};

// Each word is found first, then appended whole and lower-cased in place only when it holds an
// upper-case letter: the indexer runs this over every event (appending byte by byte, this and the
// scan of the details took 6.5% of re-indexing's CPU).
void AppendWords(std::string_view text, std::string_view tenant_suffix, SeenWords& seen,
                 std::string& out) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const size_t size = text.size();
  size_t i = 0;
  while (i < size) {
    while (i < size && core::kWordBytes[bytes[i]] == core::kNotWord) ++i;
    if (i == size) break;
    const size_t start = i;
    bool digit = false, upper = false;
    for (; i < size; ++i) {
      const uint8_t byte_class = core::kWordBytes[bytes[i]];
      if (byte_class == core::kNotWord) break;
      digit = digit || byte_class == core::kWordDigit;
      upper = upper || byte_class == core::kWordUpper;
    }
    const size_t at = out.size();
    out.append(text.data() + start, i - start);
    if (upper) {
      for (size_t k = at; k < out.size(); ++k) {
        if (out[k] >= 'A' && out[k] <= 'Z') out[k] = static_cast<char>(out[k] - 'A' + 'a');
      }
    }
    if (seen.Repeats(at, out.size() - at)) {
      out.resize(at);
      continue;
    }
    if (!digit) out += tenant_suffix;
    out += ' ';
  }
}

constexpr std::string_view kAddressWord = "_at_";
constexpr std::string_view kStatusWord = "_status_";
constexpr std::string_view kTypeWord = "_type_";

// AddressWord(address), appended to `out` (the indexer's text, without a string of its own).
void AppendAddressWord(std::string_view address, std::string& out) {
  // The bytes an address may hold that are no word's, and `z`, each written `z` and a letter.
  static constexpr std::string_view kEscaped = "z@.-_+%", kEscapes = "zabcdef";
  out += kAddressWord;
  for (const char c : address) {
    const auto byte = static_cast<unsigned char>(c);
    const size_t escaped = kEscaped.find(c);
    if (byte >= 'A' && byte <= 'Z') {
      out += static_cast<char>(byte - 'A' + 'a');
    } else if (escaped != std::string_view::npos) {
      out += 'z';
      out += kEscapes[escaped];
    } else if (core::kWordBytes[byte] != core::kNotWord) {
      out += c;
    } else {  // no address holds another byte (core::ForEachAddress); one to one all the same
      out += "zg";
      out += static_cast<char>('a' + (byte >> 4));
      out += static_cast<char>('a' + (byte & 0xF));
    }
  }
}

// Appends the token of each address in `text` (AddressWord), lower-cased, once per event.
void AppendAddresses(std::string_view text, std::string_view tenant_suffix, SeenWords& seen,
                     std::string& out) {
  core::ForEachAddress(text, [&](std::string_view address) {
    const size_t at = out.size();
    AppendAddressWord(address, out);
    if (seen.Repeats(at, out.size() - at)) {
      out.resize(at);
      return;
    }
    out += tenant_suffix;
    out += ' ';
  });
}

}  // namespace

std::string AddressWord(std::string_view address) {
  std::string word;
  AppendAddressWord(address, word);
  return word;
}

std::string ValueWord(core::EventStatus status) {
  std::string word(kStatusWord);
  word += core::ToString(status);
  return word;
}

std::string ValueWord(core::EventType type) {
  std::string word(kTypeWord);
  word += core::ToString(type);
  return word;
}

void AppendSearchText(const core::Event& event, int64_t tenant_term, std::string& out) {
  char suffix_bytes[24];
  suffix_bytes[0] = kTenantSeparator;
  const auto [end, ec] =
      std::to_chars(suffix_bytes + 1, suffix_bytes + sizeof suffix_bytes, tenant_term);
  (void)ec;  // an int64 always fits
  const std::string_view suffix(suffix_bytes, static_cast<size_t>(end - suffix_bytes));
  SeenWords seen(out);
  core::ForEachSearchedText(event, [&](std::string_view text) {
    AppendWords(text, suffix, seen, out);
    AppendAddresses(text, suffix, seen, out);  // at once unless `text` holds an `@`
  });
  auto append_value = [&](std::string_view kind, std::string_view value) {
    out += kind;
    out += value;
    out += suffix;
    out += ' ';
  };
  if (event.status != core::EventStatus::kSuccess)
    append_value(kStatusWord, core::ToString(event.status));
  if (event.type != core::EventType::kActivity) append_value(kTypeWord, core::ToString(event.type));
}

bool IndexedPerTenant(std::string_view word) {
  return word.starts_with(kAddressWord) || std::none_of(word.begin(), word.end(), [](char c) {
           return core::kWordBytes[static_cast<unsigned char>(c)] == core::kWordDigit;
         });
}

std::string TenantToken(std::string_view word, int64_t tenant_term) {
  return AnyTenantPrefix(word) + std::to_string(tenant_term);
}

std::string AnyTenantPrefix(std::string_view word) {
  std::string prefix(word);
  prefix += kTenantSeparator;
  return prefix;
}

}  // namespace evident::storage::sqlite
