#include "evident/merkle/merkle.h"

#include <openssl/evp.h>

#include <bit>
#include <cstring>
#include <memory>
#include <string>

namespace evident::merkle {

using util::Error;
using util::Result;
using util::Status;

namespace {

// Fetching the algorithm once and reusing a context per thread: EVP_sha256() per call halves
// throughput (LIBRARIES.md). OpenSSL rather than libsodium: it uses the CPU's SHA extensions.
const EVP_MD* Sha256() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

struct CtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

Hash Sha256Of(std::initializer_list<std::string_view> parts) {
  thread_local std::unique_ptr<EVP_MD_CTX, CtxDeleter> ctx(EVP_MD_CTX_new());
  Hash out;
  unsigned int size = 0;
  // These calls fail only when out of memory or on a misconfigured OpenSSL: nothing to recover.
  if (EVP_DigestInit_ex(ctx.get(), Sha256(), nullptr) != 1) std::abort();
  for (std::string_view part : parts) {
    if (EVP_DigestUpdate(ctx.get(), part.data(), part.size()) != 1) std::abort();
  }
  if (EVP_DigestFinal_ex(ctx.get(), out.data(), &size) != 1 || size != kHashSize) std::abort();
  return out;
}

std::string_view Bytes(const Hash& hash) {
  return {reinterpret_cast<const char*>(hash.data()), hash.size()};
}

// The largest power of two smaller than n (n >= 2): RFC 6962's split point k.
uint64_t SplitPoint(uint64_t n) { return uint64_t{1} << (63 - std::countl_zero(n - 1)); }

// MTH(D[begin:end]) for the ranges the RFC's recursions visit: either a complete subtree or a
// range that ends at the right edge, which splits into complete subtrees.
Result<Hash> RangeHash(uint64_t begin, uint64_t end, const NodeSource& nodes) {
  const uint64_t n = end - begin;
  if (std::has_single_bit(n)) {
    const int level = std::countr_zero(n);
    if (begin % n != 0) return Error::Internal("merkle: unaligned subtree");
    return nodes(level, begin >> level);
  }
  const uint64_t k = SplitPoint(n);
  EVIDENT_ASSIGN_OR_RETURN(Hash left, RangeHash(begin, begin + k, nodes));
  EVIDENT_ASSIGN_OR_RETURN(Hash right, RangeHash(begin + k, end, nodes));
  return HashChildren(left, right);
}

// PATH(m, D[begin:end]), appended to `out`.
Status Path(uint64_t m, uint64_t begin, uint64_t end, const NodeSource& nodes,
            std::vector<Hash>& out) {
  const uint64_t n = end - begin;
  if (n == 1) return {};
  const uint64_t k = SplitPoint(n);
  if (m < k) {
    EVIDENT_RETURN_IF_ERROR(Path(m, begin, begin + k, nodes, out));
    EVIDENT_ASSIGN_OR_RETURN(Hash sibling, RangeHash(begin + k, end, nodes));
    out.push_back(sibling);
  } else {
    EVIDENT_RETURN_IF_ERROR(Path(m - k, begin + k, end, nodes, out));
    EVIDENT_ASSIGN_OR_RETURN(Hash sibling, RangeHash(begin, begin + k, nodes));
    out.push_back(sibling);
  }
  return {};
}

// SUBPROOF(m, D[begin:end], whole), appended to `out`.
Status Subproof(uint64_t m, uint64_t begin, uint64_t end, bool whole, const NodeSource& nodes,
                std::vector<Hash>& out) {
  const uint64_t n = end - begin;
  if (m == n) {
    if (!whole) {
      EVIDENT_ASSIGN_OR_RETURN(Hash hash, RangeHash(begin, end, nodes));
      out.push_back(hash);
    }
    return {};
  }
  const uint64_t k = SplitPoint(n);
  if (m <= k) {
    EVIDENT_RETURN_IF_ERROR(Subproof(m, begin, begin + k, whole, nodes, out));
    EVIDENT_ASSIGN_OR_RETURN(Hash right, RangeHash(begin + k, end, nodes));
    out.push_back(right);
  } else {
    EVIDENT_RETURN_IF_ERROR(Subproof(m - k, begin + k, end, false, nodes, out));
    EVIDENT_ASSIGN_OR_RETURN(Hash left, RangeHash(begin, begin + k, nodes));
    out.push_back(left);
  }
  return {};
}

}  // namespace

Hash HashLeaf(std::string_view entry) { return Sha256Of({std::string_view("\0", 1), entry}); }

LeafHasher::LeafHasher() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, Sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx_, "\0", 1) != 1) {
    std::abort();
  }
}

LeafHasher::~LeafHasher() { EVP_MD_CTX_free(ctx_); }

LeafHasher& LeafHasher::operator=(LeafHasher&& other) noexcept {
  if (this != &other) {
    EVP_MD_CTX_free(ctx_);
    ctx_ = std::exchange(other.ctx_, nullptr);
  }
  return *this;
}

void LeafHasher::Update(std::string_view part) {
  if (EVP_DigestUpdate(ctx_, part.data(), part.size()) != 1) std::abort();
}

namespace {

Hash FinishSha256(EVP_MD_CTX* ctx, std::initializer_list<std::string_view> rest) {
  Hash out;
  unsigned int size = 0;
  for (std::string_view part : rest) {
    if (EVP_DigestUpdate(ctx, part.data(), part.size()) != 1) std::abort();
  }
  if (EVP_DigestFinal_ex(ctx, out.data(), &size) != 1 || size != kHashSize) std::abort();
  return out;
}

}  // namespace

Hash LeafHasher::Finish(std::initializer_list<std::string_view> rest) const& {
  thread_local std::unique_ptr<EVP_MD_CTX, CtxDeleter> copy(EVP_MD_CTX_new());
  if (EVP_MD_CTX_copy_ex(copy.get(), ctx_) != 1) std::abort();
  return FinishSha256(copy.get(), rest);
}

Hash LeafHasher::Finish(std::initializer_list<std::string_view> rest) && {
  return FinishSha256(ctx_, rest);
}

Hash HashChildren(const Hash& left, const Hash& right) {
  return Sha256Of({std::string_view("\1", 1), Bytes(left), Bytes(right)});
}

Hash EmptyRoot() { return Sha256Of({}); }

Result<Hash> RootHash(uint64_t size, const NodeSource& nodes) {
  if (size == 0) return EmptyRoot();
  return RangeHash(0, size, nodes);
}

Result<std::vector<Hash>> InclusionProof(uint64_t index, uint64_t size, const NodeSource& nodes) {
  if (index >= size) {
    return Error::InvalidArgument("leaf index " + std::to_string(index) +
                                  " is not in a tree of size " + std::to_string(size));
  }
  std::vector<Hash> proof;
  EVIDENT_RETURN_IF_ERROR(Path(index, 0, size, nodes, proof));
  return proof;
}

Result<std::vector<Hash>> ConsistencyProof(uint64_t from, uint64_t to, const NodeSource& nodes) {
  if (from == 0 || from > to) {
    return Error::InvalidArgument("a consistency proof needs 1 <= from <= to, not from " +
                                  std::to_string(from) + " to " + std::to_string(to));
  }
  std::vector<Hash> proof;
  EVIDENT_RETURN_IF_ERROR(Subproof(from, 0, to, true, nodes, proof));
  return proof;
}

Status VerifyInclusion(uint64_t index, uint64_t size, const Hash& leaf, std::span<const Hash> proof,
                       const Hash& root) {
  if (index >= size) return Error::InvalidArgument("inclusion proof: leaf index beyond the tree");
  uint64_t fn = index, sn = size - 1;
  Hash r = leaf;
  for (const Hash& p : proof) {
    if (sn == 0) return Error::InvalidArgument("inclusion proof: too many hashes");
    if ((fn & 1) != 0 || fn == sn) {
      r = HashChildren(p, r);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = HashChildren(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return Error::InvalidArgument("inclusion proof: too few hashes");
  if (r != root) return Error::InvalidArgument("inclusion proof: the root does not match");
  return {};
}

Status VerifyConsistency(uint64_t from, uint64_t to, std::span<const Hash> proof,
                         const Hash& from_root, const Hash& to_root) {
  if (from == 0 || from > to) {
    return Error::InvalidArgument("consistency proof: needs 1 <= from <= to");
  }
  if (from == to) {
    if (!proof.empty()) return Error::InvalidArgument("consistency proof: must be empty");
    if (from_root != to_root) return Error::InvalidArgument("consistency proof: roots differ");
    return {};
  }
  if (proof.empty()) return Error::InvalidArgument("consistency proof: empty");
  std::vector<Hash> path;
  path.reserve(proof.size() + 1);
  if (std::has_single_bit(from)) path.push_back(from_root);
  path.insert(path.end(), proof.begin(), proof.end());
  uint64_t fn = from - 1, sn = to - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path[0], sr = path[0];
  for (size_t i = 1; i < path.size(); ++i) {
    const Hash& c = path[i];
    if (sn == 0) return Error::InvalidArgument("consistency proof: too many hashes");
    if ((fn & 1) != 0 || fn == sn) {
      fr = HashChildren(c, fr);
      sr = HashChildren(c, sr);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = HashChildren(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return Error::InvalidArgument("consistency proof: too few hashes");
  if (fr != from_root) return Error::InvalidArgument("consistency proof: old root does not match");
  if (sr != to_root) return Error::InvalidArgument("consistency proof: new root does not match");
  return {};
}

Result<Frontier> Frontier::Load(uint64_t size, const NodeSource& nodes) {
  Frontier frontier;
  uint64_t begin = 0;
  for (int level = 63; level >= 0; --level) {
    const uint64_t width = uint64_t{1} << level;
    if ((size & width) == 0) continue;
    EVIDENT_ASSIGN_OR_RETURN(Hash hash, nodes(level, begin >> level));
    frontier.roots_.push_back(hash);
    begin += width;
  }
  frontier.size_ = size;
  return frontier;
}

void Frontier::Append(const Hash& leaf, const NodeSink& sink) {
  const uint64_t at = size_;
  Hash hash = leaf;
  if (sink) sink(0, at, hash);
  int level = 0;
  while (((at >> level) & 1) != 0) {
    hash = HashChildren(roots_.back(), hash);
    roots_.pop_back();
    ++level;
    if (sink) sink(level, at >> level, hash);
  }
  roots_.push_back(hash);
  ++size_;
}

Hash Frontier::Root() const {
  if (roots_.empty()) return EmptyRoot();
  Hash hash = roots_.back();
  for (size_t i = roots_.size() - 1; i-- > 0;) hash = HashChildren(roots_[i], hash);
  return hash;
}

}  // namespace evident::merkle
