#include "evident/server/bootstrap.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "evident/util/encoding.h"
#include "evident/util/uuid.h"

namespace evident::server {

namespace {

using util::Error;

std::string Errno(const std::string& what, const std::filesystem::path& path) {
  return what + " " + path.string() + ": " + std::strerror(errno);
}

// Writes `text` to `path` atomically (temporary file, fsync, rename, fsync of the directory),
// readable by the owner only.
util::Status WritePrivateFile(const std::filesystem::path& path, std::string_view text) {
  const std::filesystem::path temporary = path.string() + ".tmp";
  ::unlink(temporary.c_str());
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Error::IOError(Errno("cannot create", temporary));
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const bool synced = written && ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(temporary.c_str(), path.c_str()) != 0) {
    const Error error = Error::IOError(Errno("cannot write", path));
    ::unlink(temporary.c_str());
    return error;
  }
  const int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return {};
}

}  // namespace

util::Result<ledger::NoteSigner> ReadSigningKey(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return Error::IOError(Errno("cannot read the signing key", path));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  auto signer = ledger::NoteSigner::FromPrivateKey(text);
  sodium_memzero(text.data(), text.size());
  if (!signer) {
    return Error::InvalidArgument("the signing key in " + path.string() +
                                  " is not usable: " + signer.error().message());
  }
  return signer;
}

util::Result<ledger::NoteSigner> BootstrapSigningKey(const std::filesystem::path& data_dir,
                                                     const std::string& configured_file,
                                                     const std::string& log_name) {
  const std::filesystem::path path =
      configured_file.empty() ? data_dir / kSigningKeyFile : std::filesystem::path(configured_file);
  std::error_code ec;
  if (configured_file.empty() && !std::filesystem::exists(path, ec)) {
    std::string name = log_name;
    if (name.empty()) {
      std::array<unsigned char, 8> instance{};
      randombytes_buf(instance.data(), instance.size());
      name = "evident/" + util::HexEncode(std::string_view(
                              reinterpret_cast<const char*>(instance.data()), instance.size()));
    }
    EVIDENT_ASSIGN_OR_RETURN(ledger::NoteSigner signer, ledger::NoteSigner::Generate(name));
    std::string secret = signer.PrivateKey() + "\n";
    util::Status written = WritePrivateFile(path, secret);
    sodium_memzero(secret.data(), secret.size());
    if (!written) return written.error();
    return signer;
  }
  EVIDENT_ASSIGN_OR_RETURN(ledger::NoteSigner signer, ReadSigningKey(path));
  if (!log_name.empty() && signer.name() != log_name) {
    return Error::InvalidArgument("the signing key in " + path.string() + " is for the log \"" +
                                  signer.name() + "\", not the configured log name \"" + log_name +
                                  "\"");
  }
  return signer;
}

}  // namespace evident::server
