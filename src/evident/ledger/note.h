// C2SP signed notes (https://c2sp.org/signed-note) with Ed25519, and the C2SP tlog-checkpoint
// body they carry: how Evident signs its tree heads so that anyone holding the verifier key can
// check them with standard tools.
//
//   <text, ending in a newline>
//   <blank line>
//   — <key name> <base64(4-byte key id || 64-byte Ed25519 signature over the text)>
//
// Key id: the first 4 bytes, big-endian, of SHA-256(name || 0x0A || 0x01 || public key).
// Verifier key: <name>+<key id, 8 hex digits>+<base64(0x01 || public key)>.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "evident/merkle/merkle.h"
#include "evident/util/result.h"

namespace evident::ledger {

// Errors: InvalidArgument unless `name` is a valid key name (non-empty UTF-8 without spaces,
// control characters or '+').
util::Status CheckKeyName(std::string_view name);

class NoteSigner {
 public:
  // A new key from the operating system's CSPRNG.
  static util::Result<NoteSigner> Generate(std::string name);
  // The key in the Go sumdb/note private key format,
  // PRIVATE+KEY+<name>+<key id>+<base64(0x01 || 32-byte seed)>, as Generate's PrivateKey() wrote.
  // Errors: InvalidArgument when malformed or when the key id does not match.
  static util::Result<NoteSigner> FromPrivateKey(std::string_view private_key);

  NoteSigner(NoteSigner&&) noexcept;
  NoteSigner& operator=(NoteSigner&&) noexcept;
  ~NoteSigner();  // wipes the secret key

  const std::string& name() const { return name_; }
  uint32_t key_id() const { return key_id_; }
  std::string VerifierKey() const;
  // The secret: for the key file only, never for a log or an answer.
  std::string PrivateKey() const;
  // The signed note of `text`. Errors: InvalidArgument unless text is non-empty, valid UTF-8,
  // free of control characters other than newlines, and ends in a newline.
  util::Result<std::string> Sign(std::string_view text) const;

 private:
  NoteSigner() = default;
  static util::Result<NoteSigner> FromSeed(std::string name, const uint8_t* seed);

  std::string name_;
  uint32_t key_id_ = 0;
  std::array<uint8_t, 32> public_key_{};
  std::array<uint8_t, 64> secret_key_{};  // libsodium's form: seed || public key
};

class NoteVerifier {
 public:
  // Errors: InvalidArgument when `verifier_key` is not an Ed25519 verifier key.
  static util::Result<NoteVerifier> Parse(std::string_view verifier_key);

  const std::string& name() const { return name_; }
  uint32_t key_id() const { return key_id_; }
  // The text of `note` when it carries a valid signature by this key. Other signers' lines are
  // ignored. Errors: InvalidArgument when malformed, Unauthorized when no signature by this key
  // verifies.
  util::Result<std::string> Open(std::string_view note) const;

 private:
  std::string name_;
  uint32_t key_id_ = 0;
  std::array<uint8_t, 32> public_key_{};
};

// A C2SP tlog-checkpoint body: origin, tree size, root hash, then optional extension lines.
struct Checkpoint {
  std::string origin;
  uint64_t size = 0;
  merkle::Hash root{};
};

std::string FormatCheckpoint(const Checkpoint& checkpoint);
// Errors: InvalidArgument when `text` is not a checkpoint body.
util::Result<Checkpoint> ParseCheckpoint(std::string_view text);

}  // namespace evident::ledger
