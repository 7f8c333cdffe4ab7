#include "evident/server/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "evident/core/canonical_json.h"

namespace evident::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class ConfigTest : public ::testing::Test {
 protected:
  ConfigTest() {
    dir_ = std::filesystem::temp_directory_path() /
           ("evident-config-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  ~ConfigTest() override { std::filesystem::remove_all(dir_); }

  std::string WriteToml(const std::string& text) {
    const std::filesystem::path path = dir_ / "evident.toml";
    std::ofstream(path) << text;
    return path.string();
  }

  EnvLookup Env() {
    return [this](const std::string& name) -> std::optional<std::string> {
      auto found = env_.find(name);
      if (found == env_.end()) return std::nullopt;
      return found->second;
    };
  }

  std::filesystem::path dir_;
  std::map<std::string, std::string> env_;
};

TEST_F(ConfigTest, Defaults) {
  auto config = LoadServeConfig({}, Env());
  ASSERT_TRUE(config) << config.error().ToString();
  EXPECT_EQ(config->data_dir, "./data");
  EXPECT_EQ(config->Listen(), "127.0.0.1:8080");
  EXPECT_EQ(config->max_body_bytes, 16u * 1024 * 1024);
  EXPECT_EQ(config->redact_keys, core::Redactor::DefaultKeys());
  EXPECT_EQ(config->admin_token, "");
  EXPECT_EQ(config->io_threads, 0);
  EXPECT_EQ(config->ingest_nice, 5);
  EXPECT_EQ(config->max_tail_mib, 96);
}

// Each layer overrides the one below it, key by key.
TEST_F(ConfigTest, PrecedenceDefaultsTomlEnvironmentFlags) {
  ServeFlags flags;
  flags.config_file = WriteToml(R"(
data_dir = "/srv/toml"
listen = "0.0.0.0:9000"
max_body_bytes = 1024
redact_keys = ["password", "pin"]
admin_token = "from-toml"
io_threads = 3
ingest_nice = 0
max_tail_mib = 64
)");
  auto toml_only = LoadServeConfig(flags, Env());
  ASSERT_TRUE(toml_only) << toml_only.error().ToString();
  EXPECT_EQ(toml_only->data_dir, "/srv/toml");
  EXPECT_EQ(toml_only->Listen(), "0.0.0.0:9000");
  EXPECT_EQ(toml_only->max_body_bytes, 1024u);
  EXPECT_THAT(toml_only->redact_keys, ElementsAre("password", "pin"));
  EXPECT_EQ(toml_only->admin_token, "from-toml");
  EXPECT_EQ(toml_only->io_threads, 3);
  EXPECT_EQ(toml_only->ingest_nice, 0);
  EXPECT_EQ(toml_only->max_tail_mib, 64);

  env_ = {{"EVIDENT_LISTEN", "127.0.0.1:9100"}, {"EVIDENT_MAX_BODY_BYTES", "2048"},
          {"EVIDENT_ADMIN_TOKEN", "from-env"},  {"EVIDENT_REDACT_KEYS", "ssn, pan"},
          {"EVIDENT_INGEST_NICE", "19"},        {"EVIDENT_MAX_TAIL_MIB", "512"}};
  auto with_env = LoadServeConfig(flags, Env());
  ASSERT_TRUE(with_env) << with_env.error().ToString();
  EXPECT_EQ(with_env->data_dir, "/srv/toml");
  EXPECT_EQ(with_env->Listen(), "127.0.0.1:9100");
  EXPECT_EQ(with_env->max_body_bytes, 2048u);
  EXPECT_EQ(with_env->admin_token, "from-env");
  EXPECT_THAT(with_env->redact_keys, ElementsAre("ssn", "pan"));
  EXPECT_EQ(with_env->io_threads, 3);
  EXPECT_EQ(with_env->ingest_nice, 19);
  EXPECT_EQ(with_env->max_tail_mib, 512);

  flags.listen = "[::1]:0";
  flags.data_dir = "/srv/flag";
  flags.io_threads = 1;
  auto with_flags = LoadServeConfig(flags, Env());
  ASSERT_TRUE(with_flags) << with_flags.error().ToString();
  EXPECT_EQ(with_flags->data_dir, "/srv/flag");
  EXPECT_EQ(with_flags->listen_host, "::1");
  EXPECT_EQ(with_flags->listen_port, 0);
  EXPECT_EQ(with_flags->Listen(), "[::1]:0");
  EXPECT_EQ(with_flags->max_body_bytes, 2048u);
  EXPECT_EQ(with_flags->io_threads, 1);
}

TEST_F(ConfigTest, ConfigFileFromEnvironment) {
  env_ = {{"EVIDENT_CONFIG", WriteToml("data_dir = \"/srv/x\"\n")}};
  auto config = LoadServeConfig({}, Env());
  ASSERT_TRUE(config) << config.error().ToString();
  EXPECT_EQ(config->data_dir, "/srv/x");
}

TEST_F(ConfigTest, BadConfigurationIsAClearError) {
  const std::vector<std::pair<std::string, std::string>> bad_toml = {
      {"colour = \"red\"\n", "colour"},          {"listen = 8080\n", "listen"},
      {"listen = \"localhost\"\n", "HOST:PORT"}, {"max_body_bytes = 0\n", "max_body_bytes"},
      {"io_threads = 999\n", "io_threads"},      {"redact_keys = \"password\"\n", "redact_keys"},
      {"data_dir = \n", "evident.toml"},         {"log_name = \"has space\"\n", "log_name"},
      {"log_name = \"a+b\"\n", "log_name"},      {"ingest_nice = 20\n", "ingest_nice"},
      {"ingest_nice = -1\n", "ingest_nice"},     {"ingest_nice = 2.5\n", "ingest_nice"},
      {"max_tail_mib = 15\n", "max_tail_mib"},   {"max_tail_mib = 65537\n", "max_tail_mib"},
  };
  for (const auto& [text, mention] : bad_toml) {
    ServeFlags flags;
    flags.config_file = WriteToml(text);
    auto config = LoadServeConfig(flags, Env());
    ASSERT_FALSE(config) << text;
    EXPECT_EQ(config.error().code(), util::ErrorCode::kInvalidArgument);
    EXPECT_THAT(config.error().message(), HasSubstr(mention)) << text;
  }

  ServeFlags missing;
  missing.config_file = (dir_ / "absent.toml").string();
  EXPECT_FALSE(LoadServeConfig(missing, Env()));

  for (const auto& [name, value] :
       std::vector<std::pair<std::string, std::string>>{{"EVIDENT_LISTEN", "127.0.0.1:99999"},
                                                        {"EVIDENT_LISTEN", "::1:80"},
                                                        {"EVIDENT_MAX_BODY_BYTES", "lots"},
                                                        {"EVIDENT_IO_THREADS", "-1"},
                                                        {"EVIDENT_INGEST_NICE", "20"},
                                                        {"EVIDENT_INGEST_NICE", "low"},
                                                        {"EVIDENT_MAX_TAIL_MIB", "0"}}) {
    env_ = {{name, value}};
    auto config = LoadServeConfig({}, Env());
    ASSERT_FALSE(config) << name << "=" << value;
    EXPECT_THAT(config.error().message(), HasSubstr(name));
  }

  env_.clear();
  ServeFlags flags;
  flags.listen = ":8080";
  EXPECT_FALSE(LoadServeConfig(flags, Env()));
  flags.listen = "";
  flags.max_body_bytes = 0;
  EXPECT_FALSE(LoadServeConfig(flags, Env()));
}

TEST_F(ConfigTest, LogNameAndSigningKeyFile) {
  ServeFlags flags;
  flags.config_file =
      WriteToml("log_name = \"audit.example.com/log\"\nsigning_key_file = \"/k\"\n");
  auto config = LoadServeConfig(flags, Env());
  ASSERT_TRUE(config) << config.error().ToString();
  EXPECT_EQ(config->log_name, "audit.example.com/log");
  EXPECT_EQ(config->signing_key_file, "/k");
  env_ = {{"EVIDENT_LOG_NAME", "other/log"}, {"EVIDENT_SIGNING_KEY_FILE", "/j"}};
  config = LoadServeConfig(flags, Env());
  ASSERT_TRUE(config);
  EXPECT_EQ(config->log_name, "other/log");
  EXPECT_EQ(config->signing_key_file, "/j");
}

TEST(ParseListen, HostsAndPorts) {
  std::string host;
  uint16_t port = 0;
  ASSERT_TRUE(ParseListen("localhost:65535", host, port));
  EXPECT_EQ(host, "localhost");
  EXPECT_EQ(port, 65535);
  ASSERT_TRUE(ParseListen("[2001:db8::1]:443", host, port));
  EXPECT_EQ(host, "2001:db8::1");
  EXPECT_EQ(port, 443);
  EXPECT_FALSE(ParseListen("[::1]", host, port));
  EXPECT_FALSE(ParseListen("host:", host, port));
  EXPECT_FALSE(ParseListen("host:-1", host, port));
}

}  // namespace
}  // namespace evident::server
