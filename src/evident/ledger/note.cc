#include "evident/ledger/note.h"

#include <sodium.h>

#include <charconv>
#include <cstring>
#include <vector>

#include "evident/util/encoding.h"
#include "evident/util/strings.h"

namespace evident::ledger {

using util::Error;
using util::Result;
using util::Status;

namespace {

constexpr uint8_t kAlgEd25519 = 0x01;
constexpr std::string_view kSignaturePrefix = "\xE2\x80\x94 ";  // an em dash and a space

uint32_t KeyId(std::string_view name, const std::array<uint8_t, 32>& public_key) {
  std::string input(name);
  input.push_back('\n');
  input.push_back(static_cast<char>(kAlgEd25519));
  input.append(reinterpret_cast<const char*>(public_key.data()), public_key.size());
  std::array<uint8_t, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256(digest.data(), reinterpret_cast<const unsigned char*>(input.data()),
                     input.size());
  return (uint32_t{digest[0]} << 24) | (uint32_t{digest[1]} << 16) | (uint32_t{digest[2]} << 8) |
         uint32_t{digest[3]};
}

std::string Hex8(uint32_t value) {
  char out[9];
  std::snprintf(out, sizeof out, "%08x", value);
  return out;
}

Result<uint32_t> ParseHex8(std::string_view text) {
  uint32_t value = 0;
  if (text.size() != 8) return Error::InvalidArgument("key id: not 8 hex digits");
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return Error::InvalidArgument("key id: not 8 lower-case hex digits");
    }
  }
  std::from_chars(text.data(), text.data() + text.size(), value, 16);
  return value;
}

// Splits "a+b+c" into exactly `count` parts at its first count-1 '+' (the last part is base64,
// which may itself hold '+').
std::vector<std::string_view> SplitPlus(std::string_view text, size_t count) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < count) {
    const size_t plus = text.find('+');
    if (plus == std::string_view::npos) break;
    parts.push_back(text.substr(0, plus));
    text.remove_prefix(plus + 1);
  }
  parts.push_back(text);
  return parts;
}

Status CheckNoteText(std::string_view text) {
  if (text.empty() || text.back() != '\n') {
    return Error::InvalidArgument("note text must be non-empty and end in a newline");
  }
  if (!util::IsValidUtf8(text)) return Error::InvalidArgument("note text must be UTF-8");
  for (unsigned char c : text) {
    if (c < 0x20 && c != '\n') return Error::InvalidArgument("note text has a control character");
  }
  if (text.find("\n\n") != std::string_view::npos || text.front() == '\n') {
    return Error::InvalidArgument("note text must not contain a blank line");
  }
  return {};
}

}  // namespace

Status CheckKeyName(std::string_view name) {
  if (name.empty()) return Error::InvalidArgument("key name: empty");
  if (!util::IsValidUtf8(name)) return Error::InvalidArgument("key name: not UTF-8");
  for (unsigned char c : name) {
    if (c <= 0x20 || c == 0x7f || c == '+') {
      return Error::InvalidArgument("key name: no spaces, control characters or '+'");
    }
  }
  return {};
}

Result<NoteSigner> NoteSigner::FromSeed(std::string name, const uint8_t* seed) {
  EVIDENT_RETURN_IF_ERROR(CheckKeyName(name));
  if (sodium_init() < 0) return Error::Internal("libsodium failed to initialise");
  NoteSigner signer;
  signer.name_ = std::move(name);
  crypto_sign_seed_keypair(signer.public_key_.data(), signer.secret_key_.data(), seed);
  signer.key_id_ = KeyId(signer.name_, signer.public_key_);
  return signer;
}

Result<NoteSigner> NoteSigner::Generate(std::string name) {
  if (sodium_init() < 0) return Error::Internal("libsodium failed to initialise");
  std::array<uint8_t, crypto_sign_SEEDBYTES> seed{};
  randombytes_buf(seed.data(), seed.size());
  auto signer = FromSeed(std::move(name), seed.data());
  sodium_memzero(seed.data(), seed.size());
  return signer;
}

Result<NoteSigner> NoteSigner::FromPrivateKey(std::string_view private_key) {
  const auto parts = SplitPlus(private_key, 5);
  if (parts.size() != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY") {
    return Error::InvalidArgument("signing key: not PRIVATE+KEY+<name>+<id>+<key>");
  }
  EVIDENT_ASSIGN_OR_RETURN(uint32_t id, ParseHex8(parts[3]));
  auto decoded = util::Base64Decode(parts[4]);
  if (!decoded || decoded->size() != 1 + crypto_sign_SEEDBYTES ||
      static_cast<uint8_t>((*decoded)[0]) != kAlgEd25519) {
    if (decoded) sodium_memzero(decoded->data(), decoded->size());
    return Error::InvalidArgument("signing key: not an Ed25519 seed");
  }
  auto signer =
      FromSeed(std::string(parts[2]), reinterpret_cast<const uint8_t*>(decoded->data()) + 1);
  sodium_memzero(decoded->data(), decoded->size());
  if (signer && signer->key_id_ != id) {
    return Error::InvalidArgument("signing key: the key id does not match the key");
  }
  return signer;
}

NoteSigner::NoteSigner(NoteSigner&& other) noexcept
    : name_(std::move(other.name_)),
      key_id_(other.key_id_),
      public_key_(other.public_key_),
      secret_key_(other.secret_key_) {
  sodium_memzero(other.secret_key_.data(), other.secret_key_.size());
}

NoteSigner& NoteSigner::operator=(NoteSigner&& other) noexcept {
  if (this != &other) {
    name_ = std::move(other.name_);
    key_id_ = other.key_id_;
    public_key_ = other.public_key_;
    secret_key_ = other.secret_key_;
    sodium_memzero(other.secret_key_.data(), other.secret_key_.size());
  }
  return *this;
}

NoteSigner::~NoteSigner() { sodium_memzero(secret_key_.data(), secret_key_.size()); }

std::string NoteSigner::VerifierKey() const {
  std::string key(1, static_cast<char>(kAlgEd25519));
  key.append(reinterpret_cast<const char*>(public_key_.data()), public_key_.size());
  return name_ + "+" + Hex8(key_id_) + "+" + util::Base64Encode(key);
}

std::string NoteSigner::PrivateKey() const {
  std::string key(1, static_cast<char>(kAlgEd25519));
  key.append(reinterpret_cast<const char*>(secret_key_.data()), crypto_sign_SEEDBYTES);
  std::string out = "PRIVATE+KEY+" + name_ + "+" + Hex8(key_id_) + "+" + util::Base64Encode(key);
  sodium_memzero(key.data(), key.size());
  return out;
}

Result<std::string> NoteSigner::Sign(std::string_view text) const {
  EVIDENT_RETURN_IF_ERROR(CheckNoteText(text));
  std::string blob(4 + crypto_sign_BYTES, '\0');
  for (int i = 0; i < 4; ++i) blob[i] = static_cast<char>(key_id_ >> (24 - 8 * i));
  crypto_sign_detached(reinterpret_cast<unsigned char*>(blob.data() + 4), nullptr,
                       reinterpret_cast<const unsigned char*>(text.data()), text.size(),
                       secret_key_.data());
  std::string note(text);
  note += '\n';
  note += kSignaturePrefix;
  note += name_;
  note += ' ';
  note += util::Base64Encode(blob);
  note += '\n';
  return note;
}

Result<NoteVerifier> NoteVerifier::Parse(std::string_view verifier_key) {
  const auto parts = SplitPlus(verifier_key, 3);
  if (parts.size() != 3) return Error::InvalidArgument("verifier key: not <name>+<id>+<key>");
  EVIDENT_RETURN_IF_ERROR(CheckKeyName(parts[0]));
  EVIDENT_ASSIGN_OR_RETURN(uint32_t id, ParseHex8(parts[1]));
  auto decoded = util::Base64Decode(parts[2]);
  if (!decoded || decoded->size() != 33 || static_cast<uint8_t>((*decoded)[0]) != kAlgEd25519) {
    return Error::InvalidArgument("verifier key: not an Ed25519 key");
  }
  NoteVerifier verifier;
  verifier.name_ = std::string(parts[0]);
  std::memcpy(verifier.public_key_.data(), decoded->data() + 1, 32);
  verifier.key_id_ = KeyId(verifier.name_, verifier.public_key_);
  if (verifier.key_id_ != id) {
    return Error::InvalidArgument("verifier key: the key id does not match the key");
  }
  return verifier;
}

Result<std::string> NoteVerifier::Open(std::string_view note) const {
  const size_t split = note.rfind("\n\n");
  if (split == std::string_view::npos) {
    return Error::InvalidArgument("signed note: no blank line before the signatures");
  }
  const std::string_view text = note.substr(0, split + 1);
  EVIDENT_RETURN_IF_ERROR(CheckNoteText(text));
  std::string_view signatures = note.substr(split + 2);
  if (signatures.empty() || signatures.back() != '\n') {
    return Error::InvalidArgument("signed note: the signatures must end in a newline");
  }
  bool verified = false;
  while (!signatures.empty()) {
    const size_t end = signatures.find('\n');
    std::string_view line = signatures.substr(0, end);
    signatures.remove_prefix(end + 1);
    if (line.substr(0, kSignaturePrefix.size()) != kSignaturePrefix) {
      return Error::InvalidArgument("signed note: a signature line must start with an em dash");
    }
    line.remove_prefix(kSignaturePrefix.size());
    const size_t space = line.find(' ');
    if (space == std::string_view::npos) {
      return Error::InvalidArgument("signed note: a signature line needs a name and a signature");
    }
    const std::string_view name = line.substr(0, space);
    auto blob = util::Base64Decode(line.substr(space + 1));
    if (!blob || blob->size() < 5) {
      return Error::InvalidArgument("signed note: a signature is not base64");
    }
    const uint32_t id = (uint32_t{static_cast<uint8_t>((*blob)[0])} << 24) |
                        (uint32_t{static_cast<uint8_t>((*blob)[1])} << 16) |
                        (uint32_t{static_cast<uint8_t>((*blob)[2])} << 8) |
                        uint32_t{static_cast<uint8_t>((*blob)[3])};
    if (name != name_ || id != key_id_) continue;  // another signer's
    if (blob->size() != 4 + crypto_sign_BYTES ||
        crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(blob->data() + 4),
                                    reinterpret_cast<const unsigned char*>(text.data()),
                                    text.size(), public_key_.data()) != 0) {
      return Error::Unauthorized("signed note: the signature by " + name_ + " does not verify");
    }
    verified = true;
  }
  if (!verified) return Error::Unauthorized("signed note: not signed by " + name_);
  return std::string(text);
}

std::string FormatCheckpoint(const Checkpoint& checkpoint) {
  return checkpoint.origin + "\n" + std::to_string(checkpoint.size) + "\n" +
         util::Base64Encode(std::string_view(reinterpret_cast<const char*>(checkpoint.root.data()),
                                             checkpoint.root.size())) +
         "\n";
}

Result<Checkpoint> ParseCheckpoint(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    if (end == std::string_view::npos) {
      return Error::InvalidArgument("checkpoint: must end in a newline");
    }
    lines.push_back(text.substr(0, end));
    text.remove_prefix(end + 1);
  }
  if (lines.size() < 3 || lines[0].empty()) {
    return Error::InvalidArgument("checkpoint: needs an origin, a size and a root hash");
  }
  Checkpoint checkpoint;
  checkpoint.origin = std::string(lines[0]);
  const std::string_view size = lines[1];
  const auto [end, ec] = std::from_chars(size.data(), size.data() + size.size(), checkpoint.size);
  if (ec != std::errc() || end != size.data() + size.size() || size.empty() ||
      (size.size() > 1 && size[0] == '0')) {
    return Error::InvalidArgument("checkpoint: the tree size is not a decimal number");
  }
  auto root = util::Base64Decode(lines[2]);
  if (!root || root->size() != merkle::kHashSize) {
    return Error::InvalidArgument("checkpoint: the root hash is not 32 bytes of base64");
  }
  std::memcpy(checkpoint.root.data(), root->data(), merkle::kHashSize);
  return checkpoint;
}

}  // namespace evident::ledger
