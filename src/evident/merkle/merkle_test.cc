#include "evident/merkle/merkle.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "evident/util/encoding.h"

namespace evident::merkle {
namespace {

Hash FromHex(std::string_view hex) {
  Hash hash{};
  for (size_t i = 0; i < hash.size(); ++i) {
    hash[i] = static_cast<uint8_t>(std::stoi(std::string(hex.substr(2 * i, 2)), nullptr, 16));
  }
  return hash;
}

std::string ToHex(const Hash& hash) {
  return util::HexEncode(std::string_view(reinterpret_cast<const char*>(hash.data()), hash.size()));
}

std::string Unhex(std::string_view hex) {
  std::string bytes;
  for (size_t i = 0; i < hex.size(); i += 2) {
    bytes.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return bytes;
}

// The RFC 6962 reference data (as published with Certificate Transparency's implementations).
const std::vector<std::string> kEntries = {"",
                                           "00",
                                           "10",
                                           "2021",
                                           "3031",
                                           "40414243",
                                           "5051525354555657",
                                           "606162636465666768696a6b6c6d6e6f"};
const std::vector<std::string> kRoots = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};

// Every node of a tree, as a storage backend would keep them; filled through Frontier's sink.
class MemoryTree {
 public:
  void Append(const Hash& leaf) {
    frontier_.Append(leaf, [&](int level, uint64_t index, const Hash& hash) {
      if (levels_.size() <= static_cast<size_t>(level)) levels_.resize(level + 1);
      ASSERT_EQ(levels_[level].size(), index);
      levels_[level].push_back(hash);
    });
  }
  NodeSource Source() const {
    return [this](int level, uint64_t index) -> util::Result<Hash> {
      if (static_cast<size_t>(level) >= levels_.size() || index >= levels_[level].size()) {
        return util::Error::NotFound("no such node");
      }
      return levels_[level][index];
    };
  }
  const Frontier& frontier() const { return frontier_; }
  const std::vector<Hash>& leaves() const { return levels_[0]; }

 private:
  Frontier frontier_;
  std::vector<std::vector<Hash>> levels_;
};

// MTH straight from the RFC's definition, over leaf hashes: the independent reference.
Hash ReferenceRoot(std::span<const Hash> leaves) {
  if (leaves.empty()) return EmptyRoot();
  if (leaves.size() == 1) return leaves[0];
  size_t k = 1;
  while (k * 2 < leaves.size()) k *= 2;
  return HashChildren(ReferenceRoot(leaves.first(k)), ReferenceRoot(leaves.subspan(k)));
}

MemoryTree ReferenceTree() {
  MemoryTree tree;
  for (const std::string& entry : kEntries) tree.Append(HashLeaf(Unhex(entry)));
  return tree;
}

MemoryTree SyntheticTree(uint64_t size) {
  MemoryTree tree;
  for (uint64_t i = 0; i < size; ++i) tree.Append(HashLeaf("leaf " + std::to_string(i)));
  return tree;
}

std::vector<std::string> Hexes(const std::vector<Hash>& hashes) {
  std::vector<std::string> out;
  for (const Hash& hash : hashes) out.push_back(ToHex(hash));
  return out;
}

TEST(Merkle, RootsMatchTheReferenceVectors) {
  EXPECT_EQ(ToHex(EmptyRoot()), kRoots[0]);
  MemoryTree tree = ReferenceTree();
  for (uint64_t size = 0; size <= kEntries.size(); ++size) {
    auto root = RootHash(size, tree.Source());
    ASSERT_TRUE(root.has_value());
    EXPECT_EQ(ToHex(*root), kRoots[size]) << "size " << size;
  }
  EXPECT_EQ(ToHex(tree.frontier().Root()), kRoots[8]);
}

TEST(LeafHasher, EqualsHashLeafWhereverTheEntryIsSplit) {
  // Longer than two SHA-256 blocks, so that splits fall before, on and after block boundaries.
  std::string entry;
  for (int i = 0; i < 200; ++i) entry += static_cast<char>('a' + i % 26);
  const Hash whole = HashLeaf(entry);
  for (size_t first = 0; first <= entry.size(); ++first) {
    for (size_t second : {first, (first + entry.size()) / 2, entry.size()}) {
      LeafHasher hasher;
      hasher.Update(std::string_view(entry).substr(0, first));
      const std::string_view middle = std::string_view(entry).substr(first, second - first);
      const std::string_view last = std::string_view(entry).substr(second);
      ASSERT_EQ(ToHex(hasher.Finish({middle, last})), ToHex(whole)) << first << " " << second;
    }
  }
}

TEST(LeafHasher, FinishLeavesTheHasherAsItWas) {
  LeafHasher hasher;
  hasher.Update("prefix:");
  EXPECT_EQ(ToHex(hasher.Finish({"one"})), ToHex(HashLeaf("prefix:one")));
  EXPECT_EQ(ToHex(hasher.Finish({"two"})), ToHex(HashLeaf("prefix:two")));
  LeafHasher moved = std::move(hasher);
  moved.Update("more");
  EXPECT_EQ(ToHex(moved.Finish({})), ToHex(HashLeaf("prefix:more")));
  EXPECT_EQ(ToHex(std::move(moved).Finish({"!", "?"})), ToHex(HashLeaf("prefix:more!?")));
  EXPECT_NE(ToHex(LeafHasher().Finish({})), ToHex(EmptyRoot()));  // the 0x00 prefix is in
  EXPECT_EQ(ToHex(LeafHasher().Finish({})), ToHex(HashLeaf("")));
}

TEST(Merkle, ProofsMatchTheReferenceVectors) {
  MemoryTree tree = ReferenceTree();
  EXPECT_EQ(Hexes(*InclusionProof(0, 8, tree.Source())),
            (std::vector<std::string>{
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}));
  EXPECT_EQ(Hexes(*InclusionProof(5, 8, tree.Source())),
            (std::vector<std::string>{
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}));
  EXPECT_TRUE(InclusionProof(0, 1, tree.Source())->empty());
  EXPECT_EQ(Hexes(*ConsistencyProof(1, 8, tree.Source())),
            (std::vector<std::string>{
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}));
  EXPECT_EQ(Hexes(*ConsistencyProof(2, 8, tree.Source())),
            (std::vector<std::string>{
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}));
  EXPECT_EQ(Hexes(*ConsistencyProof(6, 8, tree.Source())),
            (std::vector<std::string>{
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}));
  EXPECT_EQ(Hexes(*ConsistencyProof(2, 5, tree.Source())),
            (std::vector<std::string>{
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}));
  EXPECT_TRUE(ConsistencyProof(8, 8, tree.Source())->empty());
  // The published proofs verify against the published roots.
  EXPECT_TRUE(VerifyConsistency(6, 8, *ConsistencyProof(6, 8, tree.Source()), FromHex(kRoots[6]),
                                FromHex(kRoots[8]))
                  .has_value());
}

TEST(Merkle, OutOfRangeRequestsAreRefused) {
  MemoryTree tree = ReferenceTree();
  EXPECT_EQ(InclusionProof(8, 8, tree.Source()).error().code(), util::ErrorCode::kInvalidArgument);
  EXPECT_EQ(ConsistencyProof(0, 8, tree.Source()).error().code(),
            util::ErrorCode::kInvalidArgument);
  EXPECT_EQ(ConsistencyProof(5, 4, tree.Source()).error().code(),
            util::ErrorCode::kInvalidArgument);
  // A source that lacks a node: its error reaches the caller.
  EXPECT_EQ(InclusionProof(3, 9, tree.Source()).error().code(), util::ErrorCode::kNotFound);
}

// Every proof of every leaf and every pair of sizes verifies; every alteration fails.
TEST(Merkle, EveryProofVerifiesAndEveryAlteredOneFails) {
  constexpr uint64_t kMax = 70;
  MemoryTree tree = SyntheticTree(kMax);
  std::vector<Hash> roots;
  for (uint64_t size = 0; size <= kMax; ++size) {
    roots.push_back(ReferenceRoot(std::span(tree.leaves()).first(size)));
    ASSERT_EQ(*RootHash(size, tree.Source()), roots.back()) << size;
  }
  for (uint64_t size = 1; size <= kMax; ++size) {
    for (uint64_t index = 0; index < size; ++index) {
      const Hash& leaf = tree.leaves()[index];
      std::vector<Hash> proof = *InclusionProof(index, size, tree.Source());
      ASSERT_TRUE(VerifyInclusion(index, size, leaf, proof, roots[size]).has_value())
          << index << " in " << size;
      EXPECT_FALSE(VerifyInclusion(index, size, leaf, proof, roots[size - 1]).has_value());
      EXPECT_FALSE(VerifyInclusion(index, size, HashLeaf("other"), proof, roots[size]));
      if (index + 1 < size) {
        EXPECT_FALSE(VerifyInclusion(index + 1, size, leaf, proof, roots[size]));
      }
      // (A wrong size may still verify where both trees give the leaf the same path: the size
      // is bound by the signed checkpoint, not by the proof.)
      for (size_t i = 0; i < proof.size(); ++i) {
        std::vector<Hash> altered = proof;
        altered[i][i % kHashSize] ^= 1;
        EXPECT_FALSE(VerifyInclusion(index, size, leaf, altered, roots[size]));
      }
      std::vector<Hash> longer = proof;
      longer.push_back(leaf);
      EXPECT_FALSE(VerifyInclusion(index, size, leaf, longer, roots[size]));
      if (!proof.empty()) {
        proof.pop_back();
        EXPECT_FALSE(VerifyInclusion(index, size, leaf, proof, roots[size]));
      }
    }
  }
  for (uint64_t to = 1; to <= kMax; ++to) {
    for (uint64_t from = 1; from <= to; ++from) {
      std::vector<Hash> proof = *ConsistencyProof(from, to, tree.Source());
      ASSERT_TRUE(VerifyConsistency(from, to, proof, roots[from], roots[to]).has_value())
          << from << " to " << to;
      EXPECT_FALSE(VerifyConsistency(from, to, proof, roots[from], roots[to - 1]));
      if (from > 1) {
        EXPECT_FALSE(VerifyConsistency(from, to, proof, roots[from - 1], roots[to]));
      }
      for (size_t i = 0; i < proof.size(); ++i) {
        std::vector<Hash> altered = proof;
        altered[i][(i * 7) % kHashSize] ^= 0x80;
        EXPECT_FALSE(VerifyConsistency(from, to, altered, roots[from], roots[to]));
      }
      if (!proof.empty()) {
        std::vector<Hash> shorter(proof.begin(), proof.end() - 1);
        EXPECT_FALSE(VerifyConsistency(from, to, shorter, roots[from], roots[to]));
        std::vector<Hash> longer = proof;
        longer.push_back(roots[to]);
        EXPECT_FALSE(VerifyConsistency(from, to, longer, roots[from], roots[to]));
      }
    }
  }
}

// Large and random sizes: proofs stay O(log n) and verify; Load rebuilds the frontier.
TEST(Merkle, RandomLargeTrees) {
  MemoryTree tree = SyntheticTree(5000);
  std::mt19937_64 random(42);
  for (int round = 0; round < 300; ++round) {
    const uint64_t to = 1 + random() % 5000;
    const uint64_t from = 1 + random() % to;
    const uint64_t index = random() % to;
    const Hash to_root = *RootHash(to, tree.Source());
    const Hash from_root = *RootHash(from, tree.Source());
    auto inclusion = *InclusionProof(index, to, tree.Source());
    EXPECT_LE(inclusion.size(), 13u);
    EXPECT_TRUE(VerifyInclusion(index, to, tree.leaves()[index], inclusion, to_root).has_value());
    auto consistency = *ConsistencyProof(from, to, tree.Source());
    EXPECT_LE(consistency.size(), 26u);
    EXPECT_TRUE(VerifyConsistency(from, to, consistency, from_root, to_root).has_value());
    auto frontier = Frontier::Load(to, tree.Source());
    ASSERT_TRUE(frontier.has_value());
    EXPECT_EQ(frontier->Root(), to_root);
  }
}

TEST(Merkle, AFrontierLoadedMidwayGrowsLikeTheOriginal) {
  MemoryTree tree = SyntheticTree(300);
  Frontier resumed = *Frontier::Load(123, tree.Source());
  for (uint64_t i = 123; i < 300; ++i) resumed.Append(tree.leaves()[i]);
  EXPECT_EQ(resumed.size(), 300u);
  EXPECT_EQ(resumed.Root(), tree.frontier().Root());
}

}  // namespace
}  // namespace evident::merkle
