#include "evident/server/bootstrap.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace evident::server {
namespace {

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
