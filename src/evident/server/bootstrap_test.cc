#include "evident/server/bootstrap.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace evident::server {
namespace {

using Origin = AdminToken::Origin;

class BootstrapTest : public ::testing::Test {
 protected:
  BootstrapTest() {
    dir_ = std::filesystem::temp_directory_path() /
           ("evident-bootstrap-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  ~BootstrapTest() override { std::filesystem::remove_all(dir_); }

  // Everything under the data directory, concatenated.
  std::string AllBytes() const {
    std::string all;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_)) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      std::stringstream contents;
      contents << in.rdbuf();
      all += contents.str();
    }
    return all;
  }

  std::filesystem::path dir_;
};

TEST_F(BootstrapTest, FirstStartGeneratesATokenStoredOnlyAsHash) {
  auto token = BootstrapAdminToken(dir_, "");
  ASSERT_TRUE(token) << token.error().ToString();
  EXPECT_EQ(token->origin, Origin::kGenerated);
  ASSERT_TRUE(token->generated.starts_with("evd_"));
  EXPECT_EQ(token->generated.size(), 4u + 43u);  // base64url of 32 bytes, no padding
  EXPECT_EQ(token->hash, api::HashToken(token->generated));

  const std::string stored = AllBytes();
  EXPECT_EQ(stored.find(token->generated), std::string::npos);
  EXPECT_EQ(stored.find(token->generated.substr(4)), std::string::npos);
  EXPECT_EQ(stored.size(), 65u);  // 64 hex digits and a newline

  struct stat info {};
  ASSERT_EQ(::stat((dir_ / kAdminTokenFile).c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600);

  api::TokenVerifier verifier(token->hash);
  EXPECT_TRUE(verifier.Verify("Bearer " + token->generated));
  EXPECT_FALSE(verifier.Verify("Bearer " + token->generated + "x"));
}

TEST_F(BootstrapTest, LaterStartsReadTheStoredHashAndPrintNothing) {
  auto first = BootstrapAdminToken(dir_, "");
  ASSERT_TRUE(first);
  auto second = BootstrapAdminToken(dir_, "");
  ASSERT_TRUE(second) << second.error().ToString();
  EXPECT_EQ(second->origin, Origin::kStored);
  EXPECT_TRUE(second->generated.empty());
  EXPECT_EQ(second->hash, first->hash);
}

TEST_F(BootstrapTest, ConfiguredTokenIsUsedAndReplacesADifferentOne) {
  auto first = BootstrapAdminToken(dir_, "evd_configured-secret");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->origin, Origin::kConfigured);
  EXPECT_TRUE(first->generated.empty());
  EXPECT_EQ(AllBytes().find("configured-secret"), std::string::npos);

  auto same = BootstrapAdminToken(dir_, "evd_configured-secret");
  ASSERT_TRUE(same);
  EXPECT_EQ(same->origin, Origin::kConfigured);
  EXPECT_EQ(same->hash, first->hash);

  auto replaced = BootstrapAdminToken(dir_, "evd_rotated");
  ASSERT_TRUE(replaced);
  EXPECT_EQ(replaced->origin, Origin::kReplaced);
  EXPECT_EQ(replaced->hash, api::HashToken("evd_rotated"));
  auto after = BootstrapAdminToken(dir_, "");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->hash, api::HashToken("evd_rotated"));
  EXPECT_EQ(AllBytes().find("rotated"), std::string::npos);
}

TEST_F(BootstrapTest, DamagedHashFileIsCorruption) {
  std::ofstream(dir_ / kAdminTokenFile) << "not a hash\n";
  auto token = BootstrapAdminToken(dir_, "");
  ASSERT_FALSE(token);
  EXPECT_EQ(token.error().code(), util::ErrorCode::kCorruption);
}

TEST_F(BootstrapTest, TheSigningKeyIsCreatedOnceOwnerOnlyAndReadBack) {
  auto first = BootstrapSigningKey(dir_, "", "");
  ASSERT_TRUE(first) << first.error().ToString();
  EXPECT_THAT(first->name(), ::testing::MatchesRegex("evident/[0-9a-f]{16}"));
  const auto path = dir_ / kSigningKeyFile;
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  auto again = BootstrapSigningKey(dir_, "", "");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->VerifierKey(), first->VerifierKey());
  // The same key through a configured file; a configured name must match the key's.
  auto configured = BootstrapSigningKey(dir_ / "elsewhere", path.string(), first->name());
  ASSERT_TRUE(configured);
  EXPECT_EQ(configured->VerifierKey(), first->VerifierKey());
  auto renamed = BootstrapSigningKey(dir_, "", "another/name");
  ASSERT_FALSE(renamed);
  EXPECT_THAT(renamed.error().message(), ::testing::HasSubstr("another/name"));
  EXPECT_FALSE(BootstrapSigningKey(dir_, (dir_ / "absent.key").string(), ""));
}

TEST_F(BootstrapTest, AConfiguredLogNameNamesANewKey) {
  auto key = BootstrapSigningKey(dir_, "", "audit.example.com/log");
  ASSERT_TRUE(key) << key.error().ToString();
  EXPECT_EQ(key->name(), "audit.example.com/log");
}

TEST_F(BootstrapTest, ADamagedSigningKeyIsRefused) {
  std::ofstream(dir_ / kSigningKeyFile) << "PRIVATE+KEY+x+00000000+AAAA\n";
  auto key = BootstrapSigningKey(dir_, "", "");
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code(), util::ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace evident::server
