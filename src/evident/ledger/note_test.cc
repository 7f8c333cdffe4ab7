#include "evident/ledger/note.h"

#include <gtest/gtest.h>

namespace evident::ledger {
namespace {

// The example of golang.org/x/mod/sumdb/note, reproduced by every C2SP signed-note
// implementation. Ed25519 signatures are deterministic, so ours must match byte for byte.
constexpr std::string_view kPrivateKey =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
constexpr std::string_view kVerifierKey =
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
constexpr std::string_view kText =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n";
constexpr std::string_view kNote =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "\xE2\x80\x94 PeterNeumann "
    "x08go/ZJkuBS9UG/"
    "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

TEST(SignedNote, ReproducesTheReferenceVector) {
  auto signer = NoteSigner::FromPrivateKey(kPrivateKey);
  ASSERT_TRUE(signer.has_value()) << signer.error().ToString();
  EXPECT_EQ(signer->VerifierKey(), kVerifierKey);
  EXPECT_EQ(signer->key_id(), 0xc74f20a3u);
  EXPECT_EQ(signer->PrivateKey(), kPrivateKey);
  EXPECT_EQ(*signer->Sign(kText), kNote);
  auto verifier = NoteVerifier::Parse(kVerifierKey);
  ASSERT_TRUE(verifier.has_value()) << verifier.error().ToString();
  auto text = verifier->Open(kNote);
  ASSERT_TRUE(text.has_value()) << text.error().ToString();
  EXPECT_EQ(*text, kText);
}

TEST(SignedNote, RefusesWhatWasNotSignedByTheKey) {
  auto verifier = *NoteVerifier::Parse(kVerifierKey);
  std::string tampered(kNote);
  tampered.replace(tampered.find("cryptography"), 12, "cryptographY");
  EXPECT_EQ(verifier.Open(tampered).error().code(), util::ErrorCode::kUnauthorized);
  // Signed by another key of the same name: not ours.
  auto other = *NoteSigner::Generate("PeterNeumann");
  EXPECT_EQ(verifier.Open(*other.Sign(kText)).error().code(), util::ErrorCode::kUnauthorized);
  // Another signer's line beside ours is ignored; ours still verifies.
  std::string cosigned(kNote);
  const std::string extra = *other.Sign(kText);
  cosigned += extra.substr(extra.rfind("\n\n") + 2);
  EXPECT_TRUE(verifier.Open(cosigned).has_value());
  // Malformed notes.
  for (std::string_view bad :
       {std::string_view("no signatures\n"), std::string_view("text\n\n- PeterNeumann abc\n"),
        std::string_view("text\n\n\xE2\x80\x94 PeterNeumann\n"),
        std::string_view("text\n\n\xE2\x80\x94 PeterNeumann !!!\n")}) {
    EXPECT_EQ(verifier.Open(bad).error().code(), util::ErrorCode::kInvalidArgument) << bad;
  }
}

TEST(SignedNote, KeysAndTextAreChecked) {
  EXPECT_FALSE(
      NoteVerifier::Parse("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"));
  EXPECT_FALSE(NoteVerifier::Parse("PeterNeumann+c74f20a3"));
  EXPECT_FALSE(
      NoteVerifier::Parse("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"));
  EXPECT_FALSE(NoteSigner::FromPrivateKey("PRIVATE+KEY+PeterNeumann+c74f20a3+AAAA"));
  EXPECT_FALSE(NoteSigner::Generate("bad name"));
  EXPECT_FALSE(NoteSigner::Generate("a+b"));
  auto signer = *NoteSigner::Generate("evident/test");
  EXPECT_FALSE(signer.Sign("no final newline"));
  EXPECT_FALSE(signer.Sign("blank\n\nline\n"));
  EXPECT_FALSE(signer.Sign("tab\there\n"));
  EXPECT_FALSE(signer.Sign(""));
  // A generated key survives its own private-key form.
  auto again = NoteSigner::FromPrivateKey(signer.PrivateKey());
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->VerifierKey(), signer.VerifierKey());
  EXPECT_TRUE(NoteVerifier::Parse(signer.VerifierKey())->Open(*again->Sign("x\n")).has_value());
}

TEST(Checkpoint, FormatsAndParses) {
  Checkpoint checkpoint{"evident/abc/acme", 1234, merkle::HashLeaf("x")};
  const std::string text = FormatCheckpoint(checkpoint);
  EXPECT_EQ(text.substr(0, 22), "evident/abc/acme\n1234\n");
  auto parsed = ParseCheckpoint(text);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->origin, checkpoint.origin);
  EXPECT_EQ(parsed->size, 1234u);
  EXPECT_EQ(parsed->root, checkpoint.root);
  EXPECT_TRUE(ParseCheckpoint(text + "extension line\n").has_value());
  for (std::string_view bad :
       {"origin\n12\n",
        "origin\n012\n"
        "AAAA\n",
        "origin\nx\nAAAA\n", "\n1\nAAAA\n", "origin\n1\nAAAA\n", "origin\n1\nAAAA"}) {
    EXPECT_FALSE(ParseCheckpoint(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace evident::ledger
