#include "evident/cli/verify.h"

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <ostream>

#include "evident/ledger/note.h"
#include "evident/merkle/merkle.h"
#include "evident/server/bootstrap.h"
#include "evident/storage/sqlite/audit_log.h"
#include "evident/util/encoding.h"

namespace evident::cli {

namespace {

using nlohmann::json;

using server::kSigningKeyFile;

std::string Hex(const merkle::Hash& hash) {
  return util::HexEncode(std::string_view(reinterpret_cast<const char*>(hash.data()), hash.size()));
}

util::Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return util::Error::IOError("cannot read " + path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The verifier key of the signing key in `key_file`.
util::Result<std::string> VerifierKeyFromSigningKey(const std::string& key_file) {
  EVIDENT_ASSIGN_OR_RETURN(ledger::NoteSigner signer, server::ReadSigningKey(key_file));
  return signer.VerifierKey();
}

int VerifyOffline(const VerifyOptions& options, std::ostream& out, std::ostream& err) {
  std::string key = options.key;
  if (key.empty()) {
    auto derived =
        VerifierKeyFromSigningKey((std::filesystem::path(options.data) / kSigningKeyFile).string());
    if (!derived) {
      err << "error: no --key given and the data directory's signing key is unusable: "
          << derived.error().message() << '\n';
      return kExitUsage;
    }
    key = *derived;
    out << "checking signatures against the key in the data directory (" << key
        << "); pass --key with the key you recorded to rule out a replaced key\n";
  }
  auto verifier = ledger::NoteVerifier::Parse(key);
  if (!verifier) {
    err << "error: --key: " << verifier.error().message() << '\n';
    return kExitUsage;
  }
  auto audit = storage::sqlite::AuditLog(options.data);
  if (!audit) {
    err << "error: " << audit.error().message() << '\n';
    return 1;
  }
  std::vector<std::string> problems = audit->problems;
  for (const storage::sqlite::TenantAudit& tenant : audit->tenants) {
    const std::string origin = verifier->name() + "/" + tenant.tenant;
    uint64_t latest = 0;
    for (const storage::sqlite::AuditedCheckpoint& checkpoint : tenant.checkpoints) {
      const std::string where =
          "tenant " + tenant.tenant + " checkpoint " + std::to_string(checkpoint.size);
      auto text = verifier->Open(checkpoint.note);
      if (!text) {
        problems.push_back(where + ": " + text.error().message());
        continue;
      }
      auto body = ledger::ParseCheckpoint(*text);
      if (!body || body->origin != origin || body->size != checkpoint.size) {
        problems.push_back(where +
                           ": the signed note is not this tenant's checkpoint of that size");
        continue;
      }
      if (body->root != checkpoint.stored_root) {
        problems.push_back(where + ": the stored root differs from the signed one");
      }
      if (!checkpoint.recomputed_root) {
        problems.push_back(where + ": cannot be recomputed, events below it are missing");
      } else if (*checkpoint.recomputed_root != body->root) {
        problems.push_back(where + ": the events no longer hash to the signed root");
      }
      latest = std::max(latest, checkpoint.size);
    }
    out << "tenant " << tenant.tenant << ": " << tenant.events << " events, tree size "
        << tenant.size << ", " << tenant.checkpoints.size() << " checkpoints";
    if (latest < tenant.size) out << " (the last " << tenant.size - latest << " not yet signed)";
    out << '\n';
  }
  if (problems.empty()) {
    out << "verified: every tenant's tree recomputed from its stored events matches the stored "
           "hashes and every signed checkpoint\n";
    return kExitOk;
  }
  for (const std::string& problem : problems) out << "FAILED: " << problem << '\n';
  out << problems.size() << " problem(s) found\n";
  return kExitRefused;
}

struct Verified {
  ledger::Checkpoint body;
  std::string note;
};

util::Result<Verified> OpenCheckpoint(const ledger::NoteVerifier& verifier, std::string note,
                                      const std::string& origin) {
  EVIDENT_ASSIGN_OR_RETURN(std::string text, verifier.Open(note));
  EVIDENT_ASSIGN_OR_RETURN(ledger::Checkpoint body, ledger::ParseCheckpoint(text));
  if (body.origin != origin) {
    return util::Error::InvalidArgument("the checkpoint is for \"" + body.origin + "\", not \"" +
                                        origin + "\"");
  }
  return Verified{std::move(body), std::move(note)};
}

util::Result<std::vector<merkle::Hash>> DecodeHashes(const json& hashes) {
  std::vector<merkle::Hash> out;
  if (!hashes.is_array()) return util::Error::InvalidArgument("'hashes' is not an array");
  for (const json& item : hashes) {
    if (!item.is_string()) return util::Error::InvalidArgument("a hash is not a string");
    auto bytes = util::Base64Decode(item.get<std::string>());
    if (!bytes || bytes->size() != merkle::kHashSize) {
      return util::Error::InvalidArgument("a hash is not 32 bytes of base64");
    }
    merkle::Hash hash;
    std::copy(bytes->begin(), bytes->end(), hash.begin());
    out.push_back(hash);
  }
  return out;
}

int VerifyOnline(const VerifyOptions& options, std::ostream& out, std::ostream& err) {
  if (options.tenant.empty() || options.checkpoint_file.empty() || options.key.empty()) {
    err << "error: online verification needs --tenant, --checkpoint and --key\n";
    return kExitUsage;
  }
  auto verifier = ledger::NoteVerifier::Parse(options.key);
  if (!verifier) {
    err << "error: --key: " << verifier.error().message() << '\n';
    return kExitUsage;
  }
  const std::string origin = verifier->name() + "/" + options.tenant;
  auto saved_note = ReadFile(options.checkpoint_file);
  if (!saved_note) {
    err << "error: " << saved_note.error().message() << '\n';
    return kExitUsage;
  }
  auto old = OpenCheckpoint(*verifier, *saved_note, origin);
  if (!old) {
    out << "FAILED: the saved checkpoint: " << old.error().message() << '\n';
    return kExitRefused;
  }
  HttpClient client;
  const std::string base = options.server.url + "/api/v1/tenants/" + options.tenant + "/log";
  auto get = [&](const std::string& url) -> util::Result<HttpResponse> {
    EVIDENT_ASSIGN_OR_RETURN(HttpResponse response, client.Get(url, AuthHeaders(options.server)));
    if (response.status != 200) {
      return util::Error::InvalidArgument(DescribeErrorResponse(response));
    }
    return response;
  };
  auto latest_response = get(base + "/checkpoint");
  if (!latest_response) {
    err << "error: fetching the latest checkpoint: " << latest_response.error().message() << '\n';
    return kExitUsage;
  }
  auto latest = OpenCheckpoint(*verifier, latest_response->body, origin);
  if (!latest) {
    out << "FAILED: the server's latest checkpoint: " << latest.error().message() << '\n';
    return kExitRefused;
  }
  out << "the latest checkpoint of " << origin << " is signed by " << verifier->name() << ": size "
      << latest->body.size << ", root " << Hex(latest->body.root) << '\n';
  const uint64_t from = old->body.size, to = latest->body.size;
  if (to < from) {
    out << "FAILED: the log shrank from " << from << " to " << to << " entries\n";
    return kExitRefused;
  }
  if (from == to) {
    if (old->body.root != latest->body.root) {
      out << "FAILED: same size " << to << " but a different root: history was rewritten\n";
      return kExitRefused;
    }
    out << "unchanged since the saved checkpoint (size " << to << ")\n";
  } else if (from > 0) {
    auto proof_response =
        get(base + "/proof/consistency?from=" + std::to_string(from) + "&to=" + std::to_string(to));
    if (!proof_response) {
      err << "error: fetching the consistency proof: " << proof_response.error().message() << '\n';
      return kExitUsage;
    }
    json answer = json::parse(proof_response->body, nullptr, false);
    auto hashes = answer.is_object() && answer.contains("hashes")
                      ? DecodeHashes(answer["hashes"])
                      : util::Result<std::vector<merkle::Hash>>(
                            util::Error::InvalidArgument("no 'hashes' in the answer"));
    util::Status consistent =
        hashes ? merkle::VerifyConsistency(from, to, *hashes, old->body.root, latest->body.root)
               : util::Status(hashes.error());
    if (!consistent) {
      out << "FAILED: the latest checkpoint is not consistent with the saved one: "
          << consistent.error().message() << " (history was rewritten)\n";
      return kExitRefused;
    }
    out << "proven: the log of size " << to << " extends the saved one of size " << from
        << " without changing any of its " << from << " entries\n";
  }
  if (options.full) {
    merkle::Frontier frontier;
    while (frontier.size() < to) {
      const uint64_t start = frontier.size();
      auto page =
          get(base + "/entries?start=" + std::to_string(start) + "&end=" + std::to_string(to));
      if (!page) {
        err << "error: fetching entries from " << start << ": " << page.error().message() << '\n';
        return kExitUsage;
      }
      json answer = json::parse(page->body, nullptr, false);
      if (!answer.is_object() || !answer["entries"].is_array() || answer["entries"].empty()) {
        out << "FAILED: the entries from " << start << " could not be read\n";
        return kExitRefused;
      }
      for (const json& entry : answer["entries"]) {
        auto bytes = entry.is_string()
                         ? util::Base64Decode(entry.get<std::string>())
                         : util::Result<std::string>(util::Error::InvalidArgument(""));
        if (!bytes) {
          out << "FAILED: entry " << frontier.size() << " is not base64\n";
          return kExitRefused;
        }
        frontier.Append(merkle::HashLeaf(*bytes));
        if (frontier.size() == to) break;
      }
    }
    if (frontier.Root() != latest->body.root) {
      out << "FAILED: the " << to << " entries served do not hash to the signed root\n";
      return kExitRefused;
    }
    out << "proven: all " << to << " entries served hash to the signed root\n";
  }
  if (!options.save.empty()) {
    std::ofstream save(options.save, std::ios::binary | std::ios::trunc);
    save << latest->note;
    if (!save) {
      err << "error: cannot write " << options.save << '\n';
      return kExitUsage;
    }
    out << "saved the verified checkpoint to " << options.save << " for the next audit\n";
  }
  return kExitOk;
}

}  // namespace

CLI::App* AddVerifyCommand(CLI::App& app, VerifyOptions& options) {
  CLI::App* command = app.add_subcommand(
      "verify",
      "Verify the tamper-evident log: offline (--data, server stopped) or online (--url)");
  command->add_option("--data", options.data, "Data directory of a stopped server (offline)");
  AddServerOptions(*command, options.server);
  command->add_option("--tenant", options.tenant, "Tenant to verify (online)");
  command->add_option("--checkpoint", options.checkpoint_file,
                      "File with the signed checkpoint saved at the previous audit (online)");
  command->add_option("--key", options.key, "The log's verifier key (name+id+key)");
  command->add_flag("--full", options.full, "Also fetch every entry and recompute the root");
  command->add_option("--save", options.save,
                      "Write the newly verified checkpoint here, for the next audit (online)");
  return command;
}

int RunVerify(const VerifyOptions& options, std::ostream& out, std::ostream& err) {
  if (!options.data.empty()) return VerifyOffline(options, out, err);
  return VerifyOnline(options, out, err);
}

CLI::App* AddKeyCommand(CLI::App& app, KeyShowOptions& options) {
  CLI::App* key = app.add_subcommand("key", "The log's signing key");
  key->require_subcommand(1);
  CLI::App* show = key->add_subcommand("show", "Print the verifier (public) key");
  show->add_option("--data", options.data, "Data directory (default ./data)");
  show->add_option("--key-file", options.key_file,
                   "Signing key file (default DATA/log-signing.key)");
  return key;
}

int RunKeyShow(const KeyShowOptions& options, std::ostream& out, std::ostream& err) {
  const std::string file = options.key_file.empty()
                               ? (std::filesystem::path(options.data) / kSigningKeyFile).string()
                               : options.key_file;
  auto key = VerifierKeyFromSigningKey(file);
  if (!key) {
    err << "error: " << key.error().message() << '\n';
    return kExitUsage;
  }
  out << *key << '\n';
  return kExitOk;
}

}  // namespace evident::cli
