// For tests of the modules above auth: an IdentityService over a SQLite identity store in a
// temporary directory, bootstrapped with a super admin whose API token is `admin_token`.
// Header-only; link evident_auth and evident_storage_sqlite.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "evident/auth/identity_service.h"
#include "evident/storage/sqlite/sqlite_identity_store.h"

namespace evident::auth {

class TestIdentity {
 public:
  TestIdentity(const core::Clock& clock, const std::string& admin_token,
               IdentityOptions options = {}) {
    static std::atomic<int> counter{0};
    dir_ = std::filesystem::temp_directory_path() /
           ("evident-identity-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto store = storage::sqlite::OpenSqliteIdentityStore((dir_ / "identity.db").string());
    if (!store) throw std::runtime_error(store.error().ToString());
    store_ = std::move(*store);
    service_ = std::make_unique<IdentityService>(*store_, clock, options);
    auto admin = service_->Bootstrap("admin@test.example", "", admin_token);
    if (!admin) throw std::runtime_error(admin.error().ToString());
    password_ = admin->generated_password;
  }
  ~TestIdentity() {
    service_.reset();
    store_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  TestIdentity(const TestIdentity&) = delete;
  TestIdentity& operator=(const TestIdentity&) = delete;

  IdentityService& service() { return *service_; }
  storage::IdentityStore& store() { return *store_; }
  const std::string& admin_password() const { return password_; }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<storage::IdentityStore> store_;
  std::unique_ptr<IdentityService> service_;
  std::string password_;
};

}  // namespace evident::auth
