// The OAuth 2.0 authorization server over HTTP (docs/oauth.md): RFC 8414 metadata, the
// authorization endpoint and its login page, the token, revocation and introspection endpoints,
// and the authentication log each step writes.
#include <map>

#include "evident/api/api.h"
#include "evident/api/json_writer.h"
#include "evident/api/problem.h"
#include "evident/api/query_string.h"
#include "evident/auth/secrets.h"
#include "evident/util/encoding.h"
#include "evident/util/strings.h"
#include "evident/util/uuid.h"

namespace evident::api {

namespace {

using core::EventStatus;
using core::EventType;
using detail::JsonWriter;
using detail::StringOutput;
using detail::WriteKey;
using detail::WriteString;
using Params = std::vector<std::pair<std::string, std::string>>;

constexpr std::string_view kAuthorizeEntrypoint = "OAUTH_AUTHORIZE";
constexpr std::string_view kTokenEntrypoint = "OAUTH_TOKEN";

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Percent-encodes a query component (RFC 3986 unreserved characters stay).
std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  return out;
}

// `uri` with `params` added to its query.
std::string WithQuery(const std::string& uri, const Params& params) {
  std::string out = uri;
  char separator = uri.find('?') == std::string::npos ? '?' : '&';
  for (const auto& [key, value] : params) {
    out += separator;
    out += UrlEncode(key) + "=" + UrlEncode(value);
    separator = '&';
  }
  return out;
}

// Headers every page of the authorization server carries: nothing external may load, nothing may
// frame it, nothing is cached and no referrer leaks a code.
void AddPageHeaders(HttpResponse& response) {
  response.headers.emplace_back(
      "Content-Security-Policy",
      "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'");
  response.headers.emplace_back("X-Frame-Options", "DENY");
  response.headers.emplace_back("Referrer-Policy", "no-referrer");
  response.headers.emplace_back("Cache-Control", "no-store");
}

constexpr std::string_view kPageStyle = R"css(
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
main{max-width:24rem;margin:4rem auto;padding:2rem;background:#fff;border-radius:8px;
box-shadow:0 1px 3px rgba(0,0,0,.15)}
h1{font-size:1.4rem;margin:0 0 .25rem}
label{display:block;margin-top:1rem;font-weight:600}
input{box-sizing:border-box;width:100%;padding:.55rem;margin-top:.25rem;font:inherit;
border:1px solid #6b7280;border-radius:4px}
input:focus,button:focus{outline:3px solid #2563eb;outline-offset:1px}
button{margin-top:1.5rem;width:100%;padding:.65rem;font:inherit;font-weight:600;color:#fff;
background:#1d4ed8;border:0;border-radius:4px;cursor:pointer}
.error{margin:1rem 0 0;padding:.6rem .75rem;color:#7f1d1d;background:#fee2e2;
border-left:4px solid #b91c1c}
)css";

std::string PageStart(std::string_view title) {
  return "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>" +
         HtmlEscape(title) + " · Evident</title>\n<style>" + std::string(kPageStyle) +
         "</style>\n</head>\n<body>\n<main>\n";
}

HttpResponse HtmlResponse(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.content_type = "text/html; charset=utf-8";
  response.body = std::move(body);
  AddPageHeaders(response);
  return response;
}

// A page for an error that cannot go back to the client (RFC 6749 section 4.1.2.1).
HttpResponse ErrorPage(int status, const auth::OAuthError& error) {
  std::string page = PageStart("Sign-in error");
  page += "<h1>This sign-in cannot continue</h1>\n<p class=\"error\" role=\"alert\">" +
          HtmlEscape(error.description) + "</p>\n<p>Error code: <code>" + HtmlEscape(error.error) +
          "</code>. Return to the application you came from and start again.</p>\n"
          "</main>\n</body>\n</html>\n";
  return HtmlResponse(status, std::move(page));
}

HttpResponse LoginPage(int status, const auth::AuthorizeRequest& request, std::string_view email,
                       std::string_view error) {
  std::string page = PageStart("Sign in");
  page += "<h1>Sign in to Evident</h1>\n<p>to continue to <strong>" +
          HtmlEscape(request.client.name) + "</strong></p>\n";
  if (!error.empty()) {
    page +=
        "<p class=\"error\" role=\"alert\" id=\"sign-in-error\">" + HtmlEscape(error) + "</p>\n";
  }
  const std::string described = error.empty() ? "" : " aria-describedby=\"sign-in-error\"";
  page +=
      "<form method=\"post\" action=\"/oauth/authorize\">\n"
      "<input type=\"hidden\" name=\"flow_id\" value=\"" +
      HtmlEscape(request.flow_id) +
      "\">\n"
      "<label for=\"email\">Email</label>\n"
      "<input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required"
      " autofocus value=\"" +
      HtmlEscape(email) + "\"" + described +
      ">\n"
      "<label for=\"password\">Password</label>\n"
      "<input id=\"password\" name=\"password\" type=\"password\" "
      "autocomplete=\"current-password\" required" +
      described +
      ">\n"
      "<button type=\"submit\">Sign in</button>\n</form>\n</main>\n</body>\n</html>\n";
  return HtmlResponse(status, std::move(page));
}

HttpResponse Redirect(const std::string& location) {
  HttpResponse response;
  response.status = 302;
  response.content_type = "text/plain; charset=utf-8";
  response.headers.emplace_back("Location", location);
  response.headers.emplace_back("Cache-Control", "no-store");
  response.headers.emplace_back("Referrer-Policy", "no-referrer");
  return response;
}

// A redirect to the client's redirect URI with `params`, then its `state` and our `iss`
// (RFC 9207).
HttpResponse RedirectToClient(const auth::AuthorizeRequest& request, const std::string& issuer,
                              Params params) {
  if (!request.state.empty()) params.emplace_back("state", request.state);
  params.emplace_back("iss", issuer);
  return Redirect(WithQuery(request.redirect_uri, params));
}

HttpResponse RedirectError(const auth::AuthorizeRequest& request, const std::string& issuer,
                           const auth::OAuthError& error) {
  return RedirectToClient(request, issuer,
                          {{"error", error.error}, {"error_description", error.description}});
}

// RFC 6749 section 5.2's error answer; 401 and a Basic challenge for invalid_client.
HttpResponse TokenError(const auth::OAuthError& error) {
  std::string json;
  StringOutput output(json);
  JsonWriter writer(output);
  writer.StartObject();
  WriteKey(writer, "error");
  WriteString(writer, error.error);
  WriteKey(writer, "error_description");
  WriteString(writer, error.description);
  writer.EndObject();
  const bool client = error.error == "invalid_client";
  HttpResponse response = JsonResponse(client ? 401 : 400, std::move(json));
  if (client) response.headers.emplace_back("WWW-Authenticate", "Basic realm=\"evident\"");
  return response;
}

void NoStore(HttpResponse& response) {
  response.headers.emplace_back("Cache-Control", "no-store");
  response.headers.emplace_back("Pragma", "no-cache");
}

bool IsForm(std::string_view content_type) {
  const std::string_view media = util::Trim(content_type.substr(0, content_type.find(';')));
  return util::EqualsIgnoreCase(media, "application/x-www-form-urlencoded");
}

// A form body's parameters, each at most once (RFC 6749 section 3.2).
util::Result<std::map<std::string, std::string, std::less<>>> ParseForm(
    const HttpRequest& request) {
  if (!IsForm(request.content_type)) {
    return util::Error::InvalidArgument("the body must be application/x-www-form-urlencoded");
  }
  EVIDENT_ASSIGN_OR_RETURN(Params params, ParseQueryString(request.body));
  std::map<std::string, std::string, std::less<>> form;
  for (auto& [key, value] : params) {
    if (!form.emplace(key, value).second) {
      return util::Error::InvalidArgument("the parameter " + key + " is repeated");
    }
  }
  return form;
}

std::optional<std::string> Get(const std::map<std::string, std::string, std::less<>>& form,
                               std::string_view key) {
  const auto it = form.find(key);
  if (it == form.end()) return std::nullopt;
  return it->second;
}

// The client's credentials from an Authorization: Basic header and the form. False when the
// header is there but malformed.
bool ReadClientCredentials(const HttpRequest& request,
                           const std::map<std::string, std::string, std::less<>>& form,
                           auth::ClientCredentials& credentials) {
  credentials.body_id = Get(form, "client_id");
  credentials.body_secret = Get(form, "client_secret");
  constexpr std::string_view kScheme = "basic ";
  const std::string_view header = request.authorization;
  if (header.empty()) return true;
  if (header.size() <= kScheme.size() ||
      !util::EqualsIgnoreCase(header.substr(0, kScheme.size()), kScheme)) {
    return false;
  }
  credentials.basic = true;
  auto decoded = util::Base64Decode(util::Trim(header.substr(kScheme.size())));
  if (!decoded) return false;
  const size_t colon = decoded->find(':');
  if (colon == std::string::npos) return false;
  // RFC 6749 section 2.3.1: both parts are form-encoded before they are joined.
  auto id = PercentDecode(std::string_view(*decoded).substr(0, colon), true);
  auto secret = PercentDecode(std::string_view(*decoded).substr(colon + 1), true);
  if (!id || !secret) return false;
  credentials.basic_id = std::move(*id);
  credentials.basic_secret = std::move(*secret);
  return true;
}

// Reads and checks the client's credentials: an OAuthError (invalid_client, invalid_request) when
// they fail, `client` set whenever the client is known; util errors when the store failed.
util::Result<auth::OAuthError> AuthenticateClient(
    auth::OAuthServer& oauth, const HttpRequest& request,
    const std::map<std::string, std::string, std::less<>>& form,
    auth::ClientCredentials& credentials, storage::OAuthClientRecord& client) {
  if (!ReadClientCredentials(request, form, credentials)) {
    return auth::OAuthError{.error = "invalid_client",
                            .description = "the Authorization header is malformed"};
  }
  return oauth.AuthenticateClient(credentials, &client);
}

std::string JoinSpaced(const std::vector<std::string>& items) {
  std::string joined;
  for (const std::string& item : items) joined += (joined.empty() ? "" : " ") + item;
  return joined;
}

// Where a flow's events go: the client's tenant, else the user's, else `system`.
std::string FlowTenant(const std::string& client_tenant, const storage::UserRecord* user) {
  if (!client_tenant.empty()) return client_tenant;
  if (user != nullptr && !user->tenant.empty()) return user->tenant;
  return std::string(auth::kSystemTenant);
}

AuditRecord AuthorizeRecord(EventStatus status, const auth::AuthorizeRequest& request,
                            const storage::UserRecord* user, const auth::OAuthError& error) {
  AuditRecord record{
      .tenant = FlowTenant(request.client.tenant, user),
      .type = EventType::kAuthentication,
      .action = "oauth.authorize",
      .status = status,
      .resource = {.type = "oauth_client", .id = request.client.id, .name = request.client.name},
      .details = {{"entrypoint", std::string(kAuthorizeEntrypoint)}},
      .actor = user != nullptr ? ActorOf(*user) : core::Actor{}};
  if (!request.flow_id.empty()) record.details.emplace_back("flow_id", request.flow_id);
  if (!request.client.id.empty()) record.details.emplace_back("client_id", request.client.id);
  record.details.emplace_back("response_type", "code");
  if (!request.scopes.empty()) record.details.emplace_back("scope", JoinSpaced(request.scopes));
  if (error) {
    record.details.emplace_back("error", error.error);
    record.details.emplace_back("error_description", error.description);
  }
  return record;
}

AuditRecord SessionRevokedRecord(const std::string& tenant, const std::string& session_id,
                                 const std::string& reason, const storage::UserRecord* user) {
  return AuditRecord{.tenant = tenant,
                     .type = EventType::kSession,
                     .action = "revoke",
                     .status = EventStatus::kSuccess,
                     .resource = {.type = "session", .id = session_id, .name = {}},
                     .details = {{"reason", reason}},
                     .actor = user != nullptr ? ActorOf(*user) : core::Actor{}};
}

}  // namespace

std::string Api::Issuer(const HttpRequest& request) const {
  if (!options_.public_url.empty()) {
    std::string url = options_.public_url;
    while (url.ends_with('/')) url.pop_back();
    return url;
  }
  return std::string(request.secure ? "https://" : "http://") +
         (request.host.empty() ? std::string("localhost") : request.host);
}

HttpResponse Api::OAuthMetadata(const HttpRequest& request) const {
  const std::string issuer = Issuer(request);
  const std::vector<std::string> auth_methods = {"client_secret_basic", "client_secret_post",
                                                 "none"};
  std::string json;
  StringOutput output(json);
  JsonWriter writer(output);
  const auto list = [&](std::string_view key, const std::vector<std::string>& items) {
    WriteKey(writer, key);
    writer.StartArray();
    for (const std::string& item : items) WriteString(writer, item);
    writer.EndArray();
  };
  writer.StartObject();
  WriteKey(writer, "issuer");
  WriteString(writer, issuer);
  WriteKey(writer, "authorization_endpoint");
  WriteString(writer, issuer + "/oauth/authorize");
  WriteKey(writer, "token_endpoint");
  WriteString(writer, issuer + "/oauth/token");
  WriteKey(writer, "revocation_endpoint");
  WriteString(writer, issuer + "/oauth/revoke");
  WriteKey(writer, "introspection_endpoint");
  WriteString(writer, issuer + "/oauth/introspect");
  list("response_types_supported", {"code"});
  list("response_modes_supported", {"query"});
  list("grant_types_supported", {"authorization_code", "refresh_token", "client_credentials"});
  list("code_challenge_methods_supported", {"S256"});
  list("token_endpoint_auth_methods_supported", auth_methods);
  list("revocation_endpoint_auth_methods_supported", auth_methods);
  list("introspection_endpoint_auth_methods_supported",
       {"client_secret_basic", "client_secret_post"});
  list("scopes_supported", auth::ScopeNames(auth::kAllScopes));
  list("prompt_values_supported", {"login", "none"});
  WriteKey(writer, "authorization_response_iss_parameter_supported");
  writer.Bool(true);
  writer.EndObject();
  return JsonResponse(200, std::move(json));
}

void Api::Authorize(const Call& call, Responder respond) {
  auth::OAuthServer& oauth = *options_.oauth;
  auto params = ParseQueryString(call.query);
  if (!params) {
    return respond(
        ErrorPage(400, {.error = "invalid_request", .description = params.error().message()}));
  }
  const std::string issuer = Issuer(call.request);
  auto check = oauth.CheckAuthorize(*params, issuer);
  if (!check) return respond(ProblemResponse(check.error()));
  auth::AuthorizeRequest& request = check->request;
  const auto redirect_error = [&](const auth::OAuthError& error) {
    return RedirectError(request, issuer, error);
  };
  switch (check->next) {
    case auth::AuthorizeCheck::Next::kErrorPage:
      return Audit(call, nullptr,
                   {AuthorizeRecord(EventStatus::kFailure, request, nullptr, check->error)},
                   ErrorPage(400, check->error), std::move(respond));
    case auth::AuthorizeCheck::Next::kRedirectError:
      return Audit(call, nullptr,
                   {AuthorizeRecord(EventStatus::kFailure, request, nullptr, check->error)},
                   redirect_error(check->error), std::move(respond));
    case auth::AuthorizeCheck::Next::kProceed:
      break;
  }

  // A browser that signed in before (and is not an assumed identity) is not asked again.
  std::optional<storage::UserRecord> user;
  const std::string_view cookie = CookieValue(call.request.cookie, kSessionCookie);
  if (!cookie.empty() && request.prompt != "login") {
    auto principal = identity_.Authenticate(cookie, call.request.remote_ip, /*via_cookie=*/true);
    if (principal && principal->assumed_by_id.empty()) {
      auto found = oauth.User(principal->user_id);
      if (found) user = *found;
    }
  }
  std::vector<AuditRecord> records;
  records.push_back(AuthorizeRecord(EventStatus::kInitiated, request, user ? &*user : nullptr, {}));
  if (!user) {
    if (request.prompt == "none") {
      const auth::OAuthError error{.error = "login_required",
                                   .description = "the user is not signed in"};
      records.push_back(AuthorizeRecord(EventStatus::kFailure, request, nullptr, error));
      return Audit(call, nullptr, std::move(records), redirect_error(error), std::move(respond));
    }
    oauth.RememberFlow(request);
    return Audit(call, nullptr, std::move(records), LoginPage(200, request, "", ""),
                 std::move(respond));
  }
  if (const auth::OAuthError denied = oauth.MayAuthorize(request, *user)) {
    records.push_back(AuthorizeRecord(EventStatus::kFailure, request, &*user, denied));
    return Audit(call, nullptr, std::move(records), redirect_error(denied), std::move(respond));
  }
  auto code = oauth.IssueCode(request, *user, call.request.remote_ip, call.request.user_agent);
  if (!code) return respond(ProblemResponse(code.error()));
  records.push_back(AuthorizeRecord(EventStatus::kPending, request, &*user, {}));
  Audit(call, nullptr, std::move(records), RedirectToClient(request, issuer, {{"code", *code}}),
        std::move(respond));
}

void Api::AuthorizeForm(const Call& call, Responder respond) {
  auth::OAuthServer& oauth = *options_.oauth;
  auto form = ParseForm(call.request);
  if (!form) {
    return respond(
        ErrorPage(400, {.error = "invalid_request", .description = form.error().message()}));
  }
  // Login CSRF: a form posted from another site's page is refused.
  if (!call.request.origin.empty() && call.request.origin != "null" &&
      !util::EqualsIgnoreCase(call.request.origin, Issuer(call.request))) {
    return respond(ErrorPage(
        403, {.error = "invalid_request", .description = "the form was posted from another site"}));
  }
  const std::string flow_id = Get(*form, "flow_id").value_or("");
  auto request = oauth.FindFlow(flow_id);
  if (!request) {
    return respond(
        ErrorPage(400, {.error = "invalid_request",
                        .description = "this sign-in has expired or is unknown; start it again"}));
  }
  const std::string email = Get(*form, "email").value_or("");
  const std::string password = Get(*form, "password").value_or("");
  if (util::Trim(email).empty() || password.empty()) {
    return respond(LoginPage(400, *request, email, "Enter your email and password."));
  }
  if (password.size() > auth::kMaxPasswordBytes) {
    return respond(LoginPage(400, *request, email, "The password is too long."));
  }
  auth::LoginResult result =
      identity_.Login(email, password, call.request.remote_ip, call.request.user_agent);
  const std::string tenant =
      FlowTenant(request->client.tenant, result.user ? &*result.user : nullptr);
  std::vector<AuditRecord> records =
      LoginAudit(result, email, kAuthorizeEntrypoint, tenant,
                 {{"flow_id", request->flow_id}, {"client_id", request->client.id}});
  // In an OAuth flow a refused sign-in is also the protocol's access_denied.
  for (AuditRecord& record : records) {
    if (record.status == EventStatus::kSuccess) continue;
    record.details.emplace_back("error", "access_denied");
    record.details.emplace_back("error_description", record.status == EventStatus::kBlocked
                                                         ? "too many failed sign-ins"
                                                         : "the email or password is wrong");
  }
  switch (result.outcome) {
    case auth::LoginResult::Outcome::kBlocked: {
      const int64_t seconds = (result.retry_after_ms + 999) / 1000;
      HttpResponse page = LoginPage(429, *request, email,
                                    "Too many failed sign-ins. Try again in " +
                                        std::to_string((seconds + 59) / 60) + " minutes.");
      page.headers.emplace_back("Retry-After", std::to_string(seconds));
      return Audit(call, nullptr, std::move(records), std::move(page), std::move(respond));
    }
    case auth::LoginResult::Outcome::kFailure:
      return Audit(call, nullptr, std::move(records),
                   LoginPage(401, *request, email, "The email or password is wrong."),
                   std::move(respond));
    case auth::LoginResult::Outcome::kSuccess:
      break;
  }
  const storage::UserRecord& user = *result.user;
  const std::string issuer = Issuer(call.request);
  HttpResponse response;
  if (const auth::OAuthError denied = oauth.MayAuthorize(*request, user)) {
    records.push_back(AuthorizeRecord(EventStatus::kFailure, *request, &user, denied));
    response = RedirectError(*request, issuer, denied);
  } else {
    auto code = oauth.IssueCode(*request, user, call.request.remote_ip, call.request.user_agent);
    if (!code) return respond(ProblemResponse(code.error()));
    records.push_back(AuthorizeRecord(EventStatus::kPending, *request, &user, {}));
    response = RedirectToClient(*request, issuer, {{"code", *code}});
  }
  oauth.ForgetFlow(request->flow_id);
  response.headers.emplace_back("Set-Cookie", SessionCookie(call, result.secret));
  Audit(call, nullptr, std::move(records), std::move(response), std::move(respond));
}

void Api::Token(const Call& call, Responder respond) {
  auth::OAuthServer& oauth = *options_.oauth;
  const auto answer_error = [&](const auth::OAuthError& error) {
    HttpResponse response = TokenError(error);
    NoStore(response);
    return response;
  };
  auto form = ParseForm(call.request);
  if (!form) {
    return respond(
        answer_error({.error = "invalid_request", .description = form.error().message()}));
  }
  const std::string grant_type = Get(*form, "grant_type").value_or("");
  AuditRecord record{.tenant = std::string(auth::kSystemTenant),
                     .type = EventType::kAuthentication,
                     .action = "oauth.token",
                     .status = EventStatus::kFailure,
                     .resource = {},
                     .details = {{"entrypoint", std::string(kTokenEntrypoint)}},
                     .actor = {}};
  auth::ClientCredentials credentials;
  storage::OAuthClientRecord client;
  auto authenticated = AuthenticateClient(oauth, call.request, *form, credentials, client);
  if (!authenticated) return respond(ProblemResponse(authenticated.error()));
  const auth::OAuthError error = *authenticated;
  const std::string claimed_id =
      credentials.basic ? credentials.basic_id : credentials.body_id.value_or("");
  const auto fail = [&](const auth::OAuthError& failure, const auth::TokenOutcome* outcome) {
    std::vector<AuditRecord> records;
    AuditRecord failed = record;
    if (outcome != nullptr) {
      failed.tenant = FlowTenant(outcome->tenant, outcome->user ? &*outcome->user : nullptr);
      if (outcome->user) failed.actor = ActorOf(*outcome->user);
    } else if (!client.tenant.empty()) {
      failed.tenant = client.tenant;
    }
    // A request refused before it joined a flow is a flow of one step.
    failed.details.emplace_back("flow_id", outcome != nullptr && !outcome->flow_id.empty()
                                               ? outcome->flow_id
                                               : util::NewUuidV7(clock_.NowMillis()));
    failed.details.emplace_back("client_id", client.id.empty() ? claimed_id : client.id);
    if (!grant_type.empty()) failed.details.emplace_back("grant_type", grant_type);
    if (outcome != nullptr && !outcome->session_id.empty()) {
      failed.details.emplace_back("session_id", outcome->session_id);
    }
    failed.details.emplace_back("error", failure.error);
    failed.details.emplace_back("error_description", failure.description);
    if (outcome != nullptr && !outcome->reason.empty()) {
      failed.details.emplace_back("reason", outcome->reason);
    }
    if (!client.id.empty()) {
      failed.resource = {.type = "oauth_client", .id = client.id, .name = client.name};
    }
    records.push_back(failed);
    if (outcome != nullptr && !outcome->revoked_session.empty()) {
      records.push_back(SessionRevokedRecord(failed.tenant, outcome->revoked_session,
                                             outcome->reason,
                                             outcome->user ? &*outcome->user : nullptr));
    }
    Audit(call, nullptr, std::move(records), answer_error(failure), std::move(respond));
  };
  if (error) return fail(error, nullptr);

  util::Result<auth::TokenOutcome> outcome = auth::TokenOutcome{};
  if (grant_type.empty()) {
    return fail({.error = "invalid_request", .description = "grant_type is missing"}, nullptr);
  } else if (grant_type == "authorization_code") {
    outcome =
        oauth.ExchangeCode(client, Get(*form, "code").value_or(""), Get(*form, "redirect_uri"),
                           Get(*form, "code_verifier").value_or(""));
  } else if (grant_type == "refresh_token") {
    outcome = oauth.Refresh(client, Get(*form, "refresh_token").value_or(""), Get(*form, "scope"));
  } else if (grant_type == "client_credentials") {
    outcome = oauth.ClientCredentialsGrant(client, Get(*form, "scope"));
  } else {
    return fail({.error = "unsupported_grant_type",
                 .description = "grant_type '" + grant_type + "' is not supported"},
                nullptr);
  }
  if (!outcome) return respond(ProblemResponse(outcome.error()));
  if (outcome->error) return fail(outcome->error, &*outcome);

  std::string json;
  StringOutput output(json);
  JsonWriter writer(output);
  writer.StartObject();
  WriteKey(writer, "access_token");
  WriteString(writer, outcome->access_token);
  WriteKey(writer, "token_type");
  WriteString(writer, "Bearer");
  WriteKey(writer, "expires_in");
  writer.Int64(outcome->expires_in);
  if (!outcome->refresh_token.empty()) {
    WriteKey(writer, "refresh_token");
    WriteString(writer, outcome->refresh_token);
  }
  WriteKey(writer, "scope");
  WriteString(writer, JoinSpaced(outcome->scopes));
  writer.EndObject();
  HttpResponse response = JsonResponse(200, std::move(json));
  NoStore(response);

  record.status = EventStatus::kSuccess;
  record.tenant = FlowTenant(outcome->tenant, outcome->user ? &*outcome->user : nullptr);
  if (outcome->user) record.actor = ActorOf(*outcome->user);
  record.resource = {.type = "token", .id = outcome->access_token_id, .name = client.name};
  record.details.emplace_back("flow_id", outcome->flow_id);
  record.details.emplace_back("client_id", client.id);
  record.details.emplace_back("grant_type", grant_type);
  if (!outcome->session_id.empty()) record.details.emplace_back("session_id", outcome->session_id);
  record.details.emplace_back("scope", JoinSpaced(outcome->scopes));
  record.details.emplace_back("credential_id", outcome->access_token_id);
  Audit(call, nullptr, {std::move(record)}, std::move(response), std::move(respond));
}

void Api::RevokeToken(const Call& call, Responder respond) {
  auth::OAuthServer& oauth = *options_.oauth;
  const auto answer = [](HttpResponse response) {
    NoStore(response);
    return response;
  };
  auto form = ParseForm(call.request);
  if (!form) {
    return respond(
        answer(TokenError({.error = "invalid_request", .description = form.error().message()})));
  }
  auth::ClientCredentials credentials;
  storage::OAuthClientRecord client;
  auto authenticated = AuthenticateClient(oauth, call.request, *form, credentials, client);
  if (!authenticated) return respond(ProblemResponse(authenticated.error()));
  if (*authenticated) return respond(answer(TokenError(*authenticated)));
  const std::optional<std::string> token = Get(*form, "token");
  if (!token || token->empty()) {
    return respond(
        answer(TokenError({.error = "invalid_request", .description = "token is missing"})));
  }
  auto revocation = oauth.Revoke(client, *token);
  if (!revocation) return respond(ProblemResponse(revocation.error()));
  HttpResponse response;
  response.status = 200;
  response.content_type = "text/plain; charset=utf-8";
  response = answer(std::move(response));
  // RFC 7009 section 2.2: the same answer whether or not there was anything to revoke.
  if (revocation->revoked_id.empty()) return respond(std::move(response));
  const storage::UserRecord* user = revocation->user ? &*revocation->user : nullptr;
  AuditRecord record{.tenant = FlowTenant(revocation->tenant, user),
                     .type = EventType::kAuthentication,
                     .action = "oauth.revoke",
                     .status = EventStatus::kSuccess,
                     .resource = {.type = revocation->kind == "refresh_token" ? "session" : "token",
                                  .id = revocation->revoked_id,
                                  .name = client.name},
                     .details = {{"entrypoint", std::string(kTokenEntrypoint)},
                                 {"client_id", client.id},
                                 {"token_type", revocation->kind}},
                     .actor = user != nullptr ? ActorOf(*user) : core::Actor{}};
  if (!revocation->session_id.empty()) {
    record.details.emplace_back("session_id", revocation->session_id);
  }
  Audit(call, nullptr, {std::move(record)}, std::move(response), std::move(respond));
}

void Api::Introspect(const Call& call, Responder respond) {
  auth::OAuthServer& oauth = *options_.oauth;
  const auto answer = [&](HttpResponse response) {
    NoStore(response);
    respond(std::move(response));
  };
  auto form = ParseForm(call.request);
  if (!form) {
    return answer(TokenError({.error = "invalid_request", .description = form.error().message()}));
  }
  auth::ClientCredentials credentials;
  storage::OAuthClientRecord client;
  auto authenticated = AuthenticateClient(oauth, call.request, *form, credentials, client);
  if (!authenticated) return respond(ProblemResponse(authenticated.error()));
  if (*authenticated) return answer(TokenError(*authenticated));
  if (client.type != "confidential") {
    return answer(TokenError({.error = "invalid_client",
                              .description = "only confidential clients may introspect tokens"}));
  }
  const std::optional<std::string> token = Get(*form, "token");
  if (!token || token->empty()) {
    return answer(TokenError({.error = "invalid_request", .description = "token is missing"}));
  }
  auto info = oauth.Introspect(client, *token);
  if (!info) return respond(ProblemResponse(info.error()));
  std::string json;
  StringOutput output(json);
  JsonWriter writer(output);
  writer.StartObject();
  WriteKey(writer, "active");
  writer.Bool(info->active);
  if (info->active) {
    const auto text = [&](std::string_view key, const std::string& value) {
      WriteKey(writer, key);
      WriteString(writer, value);
    };
    text("scope", JoinSpaced(info->scopes));
    text("client_id", info->client_id);
    text("username", info->username);
    text("sub", info->sub);
    text("token_type", info->token_type);
    if (info->exp != 0) {
      WriteKey(writer, "exp");
      writer.Int64(info->exp / 1000);
    }
    WriteKey(writer, "iat");
    writer.Int64(info->iat / 1000);
    text("iss", Issuer(call.request));
    text("jti", info->jti);
    if (!info->sid.empty()) text("sid", info->sid);
    WriteKey(writer, "tenant");
    if (info->tenant.empty()) {
      writer.Null();
    } else {
      WriteString(writer, info->tenant);
    }
  }
  writer.EndObject();
  answer(JsonResponse(200, std::move(json)));
}

}  // namespace evident::api
