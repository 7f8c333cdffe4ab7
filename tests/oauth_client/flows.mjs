// Drives Evident's OAuth 2.0 authorization server (docs/oauth.md) with oauth4webapi, an
// independent, spec-compliant client library, used unchanged. Everything the library does is left
// to it: discovery, PKCE, the authorization response's validation (state, RFC 9207 `iss`), the
// token, revocation and introspection requests and the parsing of their answers. Only the human
// step, signing in on the login page, is done with fetch, as a browser would.
//
// Inputs (environment): EVIDENT_URL, EVIDENT_TENANT, EVIDENT_USER_EMAIL, EVIDENT_USER_PASSWORD,
// EVIDENT_PUBLIC_CLIENT_ID, EVIDENT_PUBLIC_REDIRECT_URI, EVIDENT_CONFIDENTIAL_CLIENT_ID,
// EVIDENT_CONFIDENTIAL_CLIENT_SECRET, EVIDENT_CONFIDENTIAL_REDIRECT_URI,
// EVIDENT_MACHINE_CLIENT_ID, EVIDENT_MACHINE_CLIENT_SECRET.
//
// Prints `ok <check>` per check passed; on the first failure prints `not ok <check>: <why>` to
// stderr and exits 1. tests/integration/oauth_client_test.cc runs it against a real server.
import assert from 'node:assert/strict';
import process from 'node:process';
import * as oauth from 'oauth4webapi';

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`not ok inputs: environment variable ${name} is not set`);
    process.exit(2);
  }
  return value;
}

const base = new URL(required('EVIDENT_URL'));
const tenant = required('EVIDENT_TENANT');
const user = { email: required('EVIDENT_USER_EMAIL'), password: required('EVIDENT_USER_PASSWORD') };

// The server is plain http on a loopback address.
const http = { [oauth.allowInsecureRequests]: true };

const publicClient = { client_id: required('EVIDENT_PUBLIC_CLIENT_ID') };
const publicRedirect = required('EVIDENT_PUBLIC_REDIRECT_URI');
const confidentialClient = { client_id: required('EVIDENT_CONFIDENTIAL_CLIENT_ID') };
const confidentialSecret = required('EVIDENT_CONFIDENTIAL_CLIENT_SECRET');
const confidentialRedirect = required('EVIDENT_CONFIDENTIAL_REDIRECT_URI');
const machineClient = { client_id: required('EVIDENT_MACHINE_CLIENT_ID') };
const machineSecret = required('EVIDENT_MACHINE_CLIENT_SECRET');

function describe(err) {
  if (err instanceof oauth.ResponseBodyError) {
    return `${err.message}: HTTP ${err.status} ${JSON.stringify(err.cause)}`;
  }
  if (err instanceof oauth.WWWAuthenticateChallengeError) {
    return `${err.message}: HTTP ${err.status} ${JSON.stringify(err.cause)}`;
  }
  if (err instanceof oauth.AuthorizationResponseError) {
    return `${err.message}: ${err.cause.toString()}`;
  }
  if (err instanceof oauth.OperationProcessingError) {
    let cause = err.cause;
    if (cause instanceof Response) cause = `HTTP ${cause.status} from ${cause.url}`;
    else if (cause instanceof URLSearchParams) cause = cause.toString();
    else cause = JSON.stringify(cause, (key, value) =>
      value instanceof URLSearchParams ? value.toString() : value);
    return `${err.code}: ${err.message} (${cause})`;
  }
  return err?.stack ?? String(err);
}

async function check(name, body) {
  try {
    await body();
  } catch (err) {
    console.error(`not ok ${name}: ${describe(err)}`);
    process.exit(1);
  }
  console.log(`ok ${name}`);
}

// Every answer of the token endpoint, success or error, is not to be cached (RFC 6749 §5.1).
function noStore(response) {
  assert.match(response.headers.get('cache-control') ?? '', /\bno-store\b/i,
               `${response.url}: Cache-Control`);
  assert.equal(response.headers.get('pragma'), 'no-cache', `${response.url}: Pragma`);
  return response;
}

// The OAuth error `attempt` ends with, as {status, error}. A 401 with a WWW-Authenticate
// challenge is what the library raises as WWWAuthenticateChallengeError, leaving the body unread;
// the RFC 6749 §5.2 body is then read here.
async function oauthError(attempt) {
  try {
    await attempt();
  } catch (err) {
    if (err instanceof oauth.ResponseBodyError) {
      return { status: err.status, error: err.error, description: err.error_description };
    }
    if (err instanceof oauth.WWWAuthenticateChallengeError) {
      const body = await err.response.json();
      return {
        status: err.status,
        error: body.error,
        description: body.error_description,
        schemes: err.cause.map((challenge) => challenge.scheme),
      };
    }
    throw err;
  }
  assert.fail('the request succeeded, an OAuth error was expected');
}

async function expectInvalidGrant(attempt) {
  const failure = await oauthError(attempt);
  assert.equal(failure.error, 'invalid_grant', JSON.stringify(failure));
  assert.equal(failure.status, 400, JSON.stringify(failure));
}

// RFC 6749 §5.2: a client that tried HTTP Basic must get a `WWW-Authenticate` challenge back;
// docs/oauth.md promises one (`Basic realm="evident"`) with every invalid_client.
async function expectInvalidClient(attempt) {
  const failure = await oauthError(attempt);
  assert.equal(failure.error, 'invalid_client', JSON.stringify(failure));
  assert.equal(failure.status, 401, JSON.stringify(failure));
  assert.deepEqual(failure.schemes, ['basic'], `WWW-Authenticate of ${JSON.stringify(failure)}`);
}

// --- discovery --------------------------------------------------------------------------------

let as;
await check('discovery', async () => {
  const response = await oauth.discoveryRequest(base, { ...http, algorithm: 'oauth2' });
  assert.equal(new URL(response.url).pathname, '/.well-known/oauth-authorization-server');
  as = await oauth.processDiscoveryResponse(base, response);
  for (const endpoint of ['authorization_endpoint', 'token_endpoint', 'revocation_endpoint',
                          'introspection_endpoint']) {
    assert.equal(typeof as[endpoint], 'string', endpoint);
    assert.equal(new URL(as[endpoint]).origin, base.origin, endpoint);
  }
  assert.deepEqual(as.response_types_supported, ['code']);
  assert.deepEqual(as.code_challenge_methods_supported, ['S256']);
  assert.equal(as.authorization_response_iss_parameter_supported, true);
  for (const grant of ['authorization_code', 'refresh_token', 'client_credentials']) {
    assert.ok(as.grant_types_supported.includes(grant), grant);
  }
  for (const methods of ['token_endpoint_auth_methods_supported',
                         'revocation_endpoint_auth_methods_supported']) {
    assert.deepEqual([...as[methods]].sort(), ['client_secret_basic', 'client_secret_post', 'none'],
                     methods);
  }
  // Public clients may not introspect.
  assert.deepEqual([...as.introspection_endpoint_auth_methods_supported].sort(),
                   ['client_secret_basic', 'client_secret_post']);
});

// --- the browser's part -----------------------------------------------------------------------

function attributes(tag) {
  const found = {};
  const attribute = /([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*("([^"]*)"|'([^']*)'|([^\s"'=<>`]+))/g;
  for (const match of tag.matchAll(attribute)) {
    found[match[1].toLowerCase()] = match[3] ?? match[4] ?? match[5];
  }
  return found;
}

function decodeEntities(text) {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|amp|lt|gt|quot|apos|#39);/gi, (whole, entity) => {
    const lower = entity.toLowerCase();
    if (lower.startsWith('#x')) return String.fromCodePoint(parseInt(lower.slice(2), 16));
    if (lower.startsWith('#')) return String.fromCodePoint(parseInt(lower.slice(1), 10));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[lower];
  });
}

// The session cookie of the last sign-in, sent as a browser would on later authorizations.
let sessionCookie;

// Follows `authorizationUrl` as a browser and returns the URL the server redirects back to.
// `login: 'required'`: without a cookie, so the login page must be served, and signs in there.
// `login: 'skipped'`: with the session cookie of the last sign-in, so the server must redirect at
// once.
async function userAgent(authorizationUrl, { login }) {
  if (login === 'skipped') {
    assert.ok(sessionCookie, 'a session cookie from an earlier sign-in');
    const page = await fetch(authorizationUrl, {
      redirect: 'manual',
      headers: { cookie: sessionCookie },
    });
    const text = page.status === 302 ? '' : await page.text();
    assert.equal(page.status, 302, `GET ${authorizationUrl} with the session cookie: ${text}`);
    return new URL(page.headers.get('location'), authorizationUrl);
  }
  assert.equal(login, 'required');
  const page = await fetch(authorizationUrl, { redirect: 'manual' });
  const html = await page.text();
  assert.equal(page.status, 200, `GET ${authorizationUrl}: ${html}`);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/i);
  const form = html.match(/<form\b[^>]*>/i);
  assert.ok(form, `no form on the login page: ${html}`);
  const formAttributes = attributes(form[0]);
  assert.equal((formAttributes.method ?? 'get').toLowerCase(), 'post');
  const action = new URL(decodeEntities(formAttributes.action ?? ''), authorizationUrl);
  assert.equal(action.href, as.authorization_endpoint, 'the form posts to /oauth/authorize');
  const inputs = [...html.matchAll(/<input\b[^>]*>/gi)].map((tag) => attributes(tag[0]));
  const flow = inputs.find((input) => input.name === 'flow_id');
  assert.ok(flow, `no flow_id input on the login page: ${html}`);
  assert.equal(flow.type?.toLowerCase(), 'hidden');
  for (const field of ['email', 'password']) {
    assert.ok(inputs.some((input) => input.name === field), `no ${field} input: ${html}`);
  }

  const signedIn = await fetch(action, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      origin: new URL(as.authorization_endpoint).origin,
    },
    body: new URLSearchParams({
      flow_id: decodeEntities(flow.value ?? ''),
      email: user.email,
      password: user.password,
    }),
  });
  const answer = signedIn.status === 302 ? '' : await signedIn.text();
  assert.equal(signedIn.status, 302, `POST ${action}: ${answer}`);
  const cookie =
      signedIn.headers.getSetCookie().find((line) => line.startsWith('evident_session='));
  assert.ok(cookie, 'the sign-in sets the evident_session cookie');
  sessionCookie = cookie.split(';')[0];
  return new URL(signedIn.headers.get('location'), action);
}

// An authorization request for `client` (parameters in `extra` added or, when null, left out).
async function authorizationRequest(client, redirectUri, extra = {}) {
  const codeVerifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const url = new URL(as.authorization_endpoint);
  const parameters = {
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: redirectUri,
    code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    ...extra,
  };
  for (const [name, value] of Object.entries(parameters)) {
    if (value !== null && value !== undefined) url.searchParams.set(name, value);
  }
  return { url, codeVerifier, state };
}

function assertRedirectedTo(callback, redirectUri) {
  const registered = new URL(redirectUri);
  assert.equal(callback.origin, registered.origin, 'redirected to the registered redirect URI');
  assert.equal(callback.pathname, registered.pathname, 'redirected to the registered redirect URI');
}

// An authorization through the user agent, its response validated by the library.
async function authorize(client, redirectUri, { scope, login = 'required' } = {}) {
  const { url, codeVerifier, state } = await authorizationRequest(client, redirectUri, { scope });
  const callback = await userAgent(url, { login });
  assertRedirectedTo(callback, redirectUri);
  // Throws unless `state` round-tripped and `iss` is the issuer (RFC 9207).
  const params = oauth.validateAuthResponse(as, client, callback, state);
  assert.match(params.get('code'), /^eoc_[A-Za-z0-9_-]{43}$/);
  return { params, codeVerifier };
}

// An authorization request the server must answer with an error redirect (RFC 6749 §4.1.2.1),
// which the library validates (state, iss) and raises as AuthorizationResponseError.
async function expectAuthorizationError(client, redirectUri, extra, error) {
  const { url, state } = await authorizationRequest(client, redirectUri, extra);
  const page = await fetch(url, { redirect: 'manual' });
  const text = page.status === 302 ? '' : await page.text();
  assert.equal(page.status, 302, `GET ${url}: ${text}`);
  const callback = new URL(page.headers.get('location'), url);
  assertRedirectedTo(callback, redirectUri);
  try {
    oauth.validateAuthResponse(as, client, callback, state);
  } catch (err) {
    if (!(err instanceof oauth.AuthorizationResponseError)) throw err;
    assert.equal(err.error, error, `${url} -> ${callback}`);
    return;
  }
  assert.fail(`${url} -> ${callback}: no error`);
}

async function exchange(client, auth, redirectUri, { params, codeVerifier }) {
  const response = noStore(await oauth.authorizationCodeGrantRequest(
      as, client, auth, params, redirectUri, codeVerifier, http));
  return oauth.processAuthorizationCodeResponse(as, client, response);
}

async function refresh(client, auth, refreshToken) {
  const response =
      noStore(await oauth.refreshTokenGrantRequest(as, client, auth, refreshToken, http));
  return oauth.processRefreshTokenResponse(as, client, response);
}

async function introspect(client, auth, token) {
  const response = await oauth.introspectionRequest(as, client, auth, token, http);
  return oauth.processIntrospectionResponse(as, client, response);
}

async function revoke(client, auth, token) {
  const response = await oauth.revocationRequest(as, client, auth, token, http);
  return oauth.processRevocationResponse(response);
}

function assertTokens(tokens, { refresh: withRefresh }) {
  assert.equal(tokens.token_type, 'bearer');  // the library lower-cases it
  assert.match(tokens.access_token, /^eoa_[A-Za-z0-9_-]{43}$/);
  assert.ok(tokens.expires_in > 0, `expires_in ${tokens.expires_in}`);
  assert.equal(typeof tokens.scope, 'string');
  if (withRefresh) {
    assert.match(tokens.refresh_token ?? '', /^eor_[A-Za-z0-9_-]{43}$/);
  } else {
    assert.equal(tokens.refresh_token, undefined);
  }
}

function scopeSet(scope) {
  return [...new Set(scope.split(' ').filter(Boolean))].sort();
}

// GET `path` with `accessToken` as the Bearer token, through the library. A refused token is a
// 401 whose WWW-Authenticate challenge the library raises as WWWAuthenticateChallengeError.
async function api(accessToken, path) {
  let response;
  try {
    response = await oauth.protectedResourceRequest(
        accessToken, 'GET', new URL(path, base), undefined, undefined, http);
  } catch (err) {
    if (!(err instanceof oauth.WWWAuthenticateChallengeError)) throw err;
    const text = await err.response.text();
    return { status: err.status, schemes: err.cause.map((challenge) => challenge.scheme), text };
  }
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined, text };
}

// The token reads the events of its tenant, and /auth/session names its user, tenant and scopes.
async function assertTokenWorks(tokens, { email }) {
  const events = await api(tokens.access_token, '/api/v1/events?limit=5');
  assert.equal(events.status, 200, events.text);
  assert.ok(Array.isArray(events.body.events), events.text);
  for (const event of events.body.events) assert.equal(event.tenant, tenant, events.text);
  const session = await api(tokens.access_token, '/api/v1/auth/session');
  assert.equal(session.status, 200, session.text);
  assert.equal(session.body.user.email.toLowerCase(), email.toLowerCase(), session.text);
  assert.equal(session.body.credential.tenant, tenant, session.text);
  assert.deepEqual([...session.body.credential.scopes].sort(), scopeSet(tokens.scope),
                   session.text);
}

async function assertTokenRefused(accessToken) {
  const events = await api(accessToken, '/api/v1/events?limit=1');
  assert.equal(events.status, 401, events.text);
  assert.deepEqual(events.schemes, ['bearer'], events.text);
}

const none = oauth.None();
const confidentialBasic = oauth.ClientSecretBasic(confidentialSecret);
const confidentialPost = oauth.ClientSecretPost(confidentialSecret);
const machineBasic = oauth.ClientSecretBasic(machineSecret);
const machinePost = oauth.ClientSecretPost(machineSecret);

// --- the public client (None, PKCE) -----------------------------------------------------------

let publicGrant;
await check('public: sign-in redirects with code, state and iss', async () => {
  publicGrant = await authorize(publicClient, publicRedirect);
});

let publicTokens;
await check('public: code exchange', async () => {
  publicTokens = await exchange(publicClient, none, publicRedirect, publicGrant);
  assertTokens(publicTokens, { refresh: true });
  assert.deepEqual(scopeSet(publicTokens.scope), ['admin', 'events:read', 'events:write']);
});

await check('public: access token works as Bearer', async () => {
  await assertTokenWorks(publicTokens, user);
});

let rotated;
await check('public: refresh rotates the refresh token', async () => {
  rotated = await refresh(publicClient, none, publicTokens.refresh_token);
  assertTokens(rotated, { refresh: true });
  assert.notEqual(rotated.refresh_token, publicTokens.refresh_token);
  assert.notEqual(rotated.access_token, publicTokens.access_token);
  await assertTokenWorks(rotated, user);
});

await check('public: spent refresh token is invalid_grant', async () => {
  await expectInvalidGrant(() => refresh(publicClient, none, publicTokens.refresh_token));
});

await check('public: reuse revoked the family', async () => {
  await expectInvalidGrant(() => refresh(publicClient, none, rotated.refresh_token));
  await assertTokenRefused(rotated.access_token);
  await assertTokenRefused(publicTokens.access_token);
});

await check('public: signed-in session skips the login page', async () => {
  publicGrant = await authorize(publicClient, publicRedirect, { login: 'skipped' });
});

await check('public: wrong PKCE verifier is invalid_grant', async () => {
  const wrong = { ...publicGrant, codeVerifier: oauth.generateRandomCodeVerifier() };
  await expectInvalidGrant(() => exchange(publicClient, none, publicRedirect, wrong));
  // ... and the code is used up.
  await expectInvalidGrant(() => exchange(publicClient, none, publicRedirect, publicGrant));
});

await check('public: revoking the refresh token ends it', async () => {
  const grant = await authorize(publicClient, publicRedirect);
  const tokens = await exchange(publicClient, none, publicRedirect, grant);
  await revoke(publicClient, none, tokens.refresh_token);
  await expectInvalidGrant(() => refresh(publicClient, none, tokens.refresh_token));
  await assertTokenRefused(tokens.access_token);
});

await check('public: authorization errors redirect with state and iss', async () => {
  await expectAuthorizationError(publicClient, publicRedirect, { prompt: 'none' },
                                 'login_required');
  await expectAuthorizationError(publicClient, publicRedirect, { code_challenge_method: 'plain' },
                                 'invalid_request');
  await expectAuthorizationError(publicClient, publicRedirect,
                                 { code_challenge: null, code_challenge_method: null },
                                 'invalid_request');
  await expectAuthorizationError(publicClient, publicRedirect, { scope: 'events:read everything' },
                                 'invalid_scope');
});

await check('public: introspection is invalid_client', async () => {
  const failure = await oauthError(() => introspect(publicClient, none, rotated.access_token));
  assert.equal(failure.error, 'invalid_client', JSON.stringify(failure));
  assert.equal(failure.status, 401, JSON.stringify(failure));
});

// --- the confidential client (client_secret_basic, client_secret_post) ------------------------

let confidentialTokens;
await check('confidential: code exchange (client_secret_basic)', async () => {
  const grant = await authorize(confidentialClient, confidentialRedirect,
                                { scope: 'events:read' });
  confidentialTokens = await exchange(confidentialClient, confidentialBasic, confidentialRedirect,
                                      grant);
  assertTokens(confidentialTokens, { refresh: true });
  assert.equal(confidentialTokens.scope, 'events:read');
  await assertTokenWorks(confidentialTokens, user);
});

await check('confidential: introspection of a live access token', async () => {
  const now = Math.floor(Date.now() / 1000);
  const claims = await introspect(confidentialClient, confidentialBasic,
                                  confidentialTokens.access_token);
  assert.equal(claims.active, true, JSON.stringify(claims));
  assert.equal(claims.client_id, confidentialClient.client_id);
  assert.equal(claims.username.toLowerCase(), user.email.toLowerCase());
  assert.equal(claims.scope, 'events:read');
  assert.equal(claims.token_type.toLowerCase(), 'bearer');
  assert.equal(claims.iss, as.issuer);
  assert.equal(claims.tenant, tenant);
  assert.equal(typeof claims.sub, 'string');
  assert.equal(typeof claims.jti, 'string');
  assert.equal(typeof claims.sid, 'string');
  // Whole seconds, a little slack for clocks read on either side of the request.
  assert.ok(claims.iat <= now + 5 && claims.iat >= now - 120, `iat ${claims.iat}, now ${now}`);
  assert.ok(claims.exp > now && claims.exp <= claims.iat + confidentialTokens.expires_in + 5,
            `exp ${claims.exp}, iat ${claims.iat}, expires_in ${confidentialTokens.expires_in}`);
});

await check('confidential: introspection of a refresh token (client_secret_post)', async () => {
  const claims = await introspect(confidentialClient, confidentialPost,
                                  confidentialTokens.refresh_token);
  assert.equal(claims.active, true, JSON.stringify(claims));
  assert.equal(claims.token_type, 'refresh_token');
  assert.equal(claims.client_id, confidentialClient.client_id);
});

await check('confidential: refresh rotates (client_secret_post)', async () => {
  const next =
      await refresh(confidentialClient, confidentialPost, confidentialTokens.refresh_token);
  assertTokens(next, { refresh: true });
  assert.notEqual(next.refresh_token, confidentialTokens.refresh_token);
  assert.equal(next.scope, 'events:read');
  confidentialTokens = next;
});

await check('confidential: revoked access token introspects inactive', async () => {
  await revoke(confidentialClient, confidentialPost, confidentialTokens.access_token);
  const claims = await introspect(confidentialClient, confidentialBasic,
                                  confidentialTokens.access_token);
  assert.deepEqual(claims, { active: false });
  await assertTokenRefused(confidentialTokens.access_token);
  // The refresh token lives on.
  const refreshClaims = await introspect(confidentialClient, confidentialBasic,
                                         confidentialTokens.refresh_token);
  assert.equal(refreshClaims.active, true, JSON.stringify(refreshClaims));
});

await check('confidential: revoked refresh token introspects inactive', async () => {
  await revoke(confidentialClient, confidentialBasic, confidentialTokens.refresh_token);
  const claims = await introspect(confidentialClient, confidentialPost,
                                  confidentialTokens.refresh_token);
  assert.deepEqual(claims, { active: false });
  await expectInvalidGrant(() => refresh(confidentialClient, confidentialBasic,
                                         confidentialTokens.refresh_token));
});

await check('confidential: replayed code is invalid_grant and revokes its tokens', async () => {
  const grant = await authorize(confidentialClient, confidentialRedirect);
  const tokens = await exchange(confidentialClient, confidentialPost, confidentialRedirect, grant);
  assertTokens(tokens, { refresh: true });
  await expectInvalidGrant(() => exchange(confidentialClient, confidentialPost,
                                          confidentialRedirect, grant));
  for (const token of [tokens.access_token, tokens.refresh_token]) {
    assert.deepEqual(await introspect(confidentialClient, confidentialBasic, token),
                     { active: false });
  }
});

await check("confidential: another client's code is invalid_grant and stays usable", async () => {
  const grant = await authorize(publicClient, publicRedirect, { login: 'skipped' });
  await expectInvalidGrant(() => exchange(confidentialClient, confidentialBasic, publicRedirect,
                                          grant));
  const tokens = await exchange(publicClient, none, publicRedirect, grant);
  assertTokens(tokens, { refresh: true });
});

await check('confidential: unknown token introspects inactive', async () => {
  const claims = await introspect(confidentialClient, confidentialBasic,
                                  `eoa_${oauth.generateRandomState()}`);
  assert.deepEqual(claims, { active: false });
});

await check('confidential: wrong secret is invalid_client', async () => {
  const grant = await authorize(confidentialClient, confidentialRedirect);
  await expectInvalidClient(() => exchange(
      confidentialClient, oauth.ClientSecretBasic(`${confidentialSecret}x`), confidentialRedirect,
      grant));
});

// --- the machine client (client_credentials) --------------------------------------------------

async function clientCredentials(auth, parameters = {}) {
  const response = noStore(await oauth.clientCredentialsGrantRequest(
      as, machineClient, auth, parameters, http));
  return oauth.processClientCredentialsResponse(as, machineClient, response);
}

let machineTokens;
await check('machine: client_credentials (client_secret_basic)', async () => {
  machineTokens = await clientCredentials(machineBasic);
  assertTokens(machineTokens, { refresh: false });
  const events = await api(machineTokens.access_token, '/api/v1/events?limit=5');
  assert.equal(events.status, 200, events.text);
  for (const event of events.body.events) assert.equal(event.tenant, tenant, events.text);
});

await check('machine: client_credentials with scope (client_secret_post)', async () => {
  const tokens = await clientCredentials(machinePost, { scope: 'events:read' });
  assertTokens(tokens, { refresh: false });
  assert.equal(tokens.scope, 'events:read');
});

await check('machine: introspection of its own token', async () => {
  const claims = await introspect(machineClient, machineBasic, machineTokens.access_token);
  assert.equal(claims.active, true, JSON.stringify(claims));
  assert.equal(claims.client_id, machineClient.client_id);
  assert.equal(claims.token_type.toLowerCase(), 'bearer');
  assert.equal(claims.tenant, tenant);
});

await check('machine: wrong secret is invalid_client', async () => {
  await expectInvalidClient(() => clientCredentials(oauth.ClientSecretBasic(`${machineSecret}x`)));
  await expectInvalidClient(() => clientCredentials(oauth.ClientSecretPost('ecs_not-the-secret')));
});

console.log('all checks passed');
