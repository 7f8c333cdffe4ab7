// RFC 6962 / RFC 9162 §2.1 Merkle trees over SHA-256: hashing, the right edge of a growing tree,
// inclusion and consistency proofs and their verification. No I/O: proofs read complete-subtree
// hashes through a NodeSource that the storage backends provide.
//
// Hand-written because no Debian 12 package implements RFC 6962 for C++; the algorithms follow
// the RFC's recursive definitions (proofs) and its verification procedures step by step, and the
// tests hold them to the RFC 6962 reference vectors.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "evident/util/result.h"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace evident::merkle {

inline constexpr size_t kHashSize = 32;
using Hash = std::array<uint8_t, kHashSize>;

// SHA-256(0x00 || entry).
Hash HashLeaf(std::string_view entry);
// HashLeaf of an entry taken in parts, where the last part may come later and on another thread:
// what is known early is hashed once, and Finish adds the rest. Finish leaves the hasher as it
// was, so it may be called again. Movable; one object must not be used by two threads at once.
class LeafHasher {
 public:
  LeafHasher();  // has taken the 0x00 prefix
  ~LeafHasher();
  LeafHasher(LeafHasher&& other) noexcept : ctx_(std::exchange(other.ctx_, nullptr)) {}
  LeafHasher& operator=(LeafHasher&& other) noexcept;
  LeafHasher(const LeafHasher&) = delete;
  LeafHasher& operator=(const LeafHasher&) = delete;

  void Update(std::string_view part);
  // HashLeaf(every part given to Update, then each of `rest`, in order). The first keeps the
  // hasher for more; the second uses it up, without copying its state.
  Hash Finish(std::initializer_list<std::string_view> rest) const&;
  Hash Finish(std::initializer_list<std::string_view> rest) &&;

 private:
  evp_md_ctx_st* ctx_;  // owned
};

// SHA-256(0x01 || left || right).
Hash HashChildren(const Hash& left, const Hash& right);
// SHA-256 of nothing: the root of the empty tree.
Hash EmptyRoot();

// The hash of the complete subtree of 2^level leaves that starts at leaf `index << level`. Only
// asked for subtrees wholly inside the tree a proof is about. Errors pass through to the caller.
using NodeSource = std::function<util::Result<Hash>(int level, uint64_t index)>;

// The root of the first `size` leaves. O(log size) node reads.
util::Result<Hash> RootHash(uint64_t size, const NodeSource& nodes);

// The audit path of leaf `index` in the tree of the first `size` leaves (RFC 9162 §2.1.3.1).
// Errors: InvalidArgument unless index < size.
util::Result<std::vector<Hash>> InclusionProof(uint64_t index, uint64_t size,
                                               const NodeSource& nodes);

// The proof that the tree of `from` leaves is a prefix of the tree of `to` leaves (RFC 9162
// §2.1.4.1); empty when from == to. Errors: InvalidArgument unless 1 <= from <= to.
util::Result<std::vector<Hash>> ConsistencyProof(uint64_t from, uint64_t to,
                                                 const NodeSource& nodes);

// RFC 9162 §2.1.3.2. Errors: InvalidArgument naming what does not hold.
util::Status VerifyInclusion(uint64_t index, uint64_t size, const Hash& leaf,
                             std::span<const Hash> proof, const Hash& root);

// RFC 9162 §2.1.4.2; from == to holds with an empty proof and equal roots. Errors:
// InvalidArgument naming what does not hold.
util::Status VerifyConsistency(uint64_t from, uint64_t to, std::span<const Hash> proof,
                               const Hash& from_root, const Hash& to_root);

// The right edge of a growing tree: the roots of its perfect subtrees, one per set bit of its size.
// Enough to append leaves and to compute the root, in O(log size) memory.
class Frontier {
 public:
  // Called for each node an Append completes: the leaf itself (level 0), then every subtree it
  // closes, lowest first.
  using NodeSink = std::function<void(int level, uint64_t index, const Hash& hash)>;

  // The frontier of the first `size` leaves of a stored tree. O(log size) node reads.
  static util::Result<Frontier> Load(uint64_t size, const NodeSource& nodes);

  uint64_t size() const { return size_; }
  void Append(const Hash& leaf, const NodeSink& sink = nullptr);
  Hash Root() const;

 private:
  uint64_t size_ = 0;
  std::vector<Hash> roots_;  // largest (leftmost) subtree first
};

}  // namespace evident::merkle
