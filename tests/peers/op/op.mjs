// OpenID Provider test peer for Gatehouse integration tests.
//
// Usage: node tests/peers/op/op.mjs [config.json]
//
// Prints exactly one line to stdout once listening:
//   READY {"issuer":"...","port":N}
// Everything else (oidc-provider notices and warnings included) goes to stderr.
// See README.md next to this file for the config fields, the /__test/ control
// endpoints and the exact HTTP login sequence.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';

// oidc-provider prints some notices with console.info (stdout). The READY line is
// the only thing allowed on stdout, so route every console.log/info to stderr
// BEFORE the library is loaded (hence the dynamic imports below).
const writeStdout = (line) => process.stdout.write(`${line}\n`);
console.log = (...args) => console.error(...args);
console.info = (...args) => console.error(...args);

const { default: Provider } = await import('oidc-provider');
const jose = await import('jose');

// ---------------------------------------------------------------------------
// configuration

const cfgPath = process.argv[2];
const cfg = cfgPath ? JSON.parse(fs.readFileSync(cfgPath, 'utf8')) : {};

const shape = cfg.shape ?? 'plain';
if (!['plain', 'wso2'].includes(shape)) {
  throw new Error(`unknown shape ${JSON.stringify(shape)} (expected "plain" or "wso2")`);
}
const host = cfg.host ?? 'localhost';
const bind = cfg.bind ?? '127.0.0.1';
const signingAlg = cfg.signing_alg ?? 'RS256';
const claimsInIdToken = cfg.claims_in_id_token ?? true;
const rotateRefreshTokens = cfg.rotate_refresh_tokens ?? false;
// Keycloak's shape: access tokens are JWTs carrying the account's realm_access and
// resource_access claims (clients read roles from them).
const jwtAccessTokens = cfg.jwt_access_tokens ?? false;
// AD FS's shape: the authorization request's `state` is decoded once more (oauth2-proxy's
// adfs provider escapes it once more for that).
const adfsState = cfg.adfs_state ?? false;
// GitLab's shape: userinfo at /oauth/userinfo answering `nickname` and `groups` whatever the
// scope, and /api/v4/projects/<path> answering the caller's access from the account's
// `gitlab_projects` claim ({"group/project": {"access_level": 30, "archived": false}}).
const gitlab = cfg.gitlab ?? false;
// Azure AD's shape ("v1" or "v2"): its endpoint paths (/oauth2/authorize and /oauth2/token, or
// /oauth2/v2.0/...), every claim of the account in the ID token and userinfo whatever the
// scope (Azure's tokens carry what the app registration says, not what the scope asks), and
// v1's token answers: `expires_in` and `expires_on` as strings.
const azure = cfg.azure ?? null;
if (azure !== null && !['v1', 'v2'].includes(azure)) {
  throw new Error(`unknown azure shape ${JSON.stringify(azure)} (expected "v1" or "v2")`);
}
const cookieKeys = cfg.cookie_keys ?? ['gatehouse-test-op-cookie-key-1', 'gatehouse-test-op-cookie-key-2'];

const clientsCfg = cfg.clients ?? [{
  client_id: 'gatehouse',
  client_secret: 'gatehouse-secret',
  redirect_uris: ['http://127.0.0.1:4180/oauth2/callback'],
}];
const accountsCfg = cfg.accounts ?? [{
  id: 'alice',
  claims: {
    email: 'alice@example.com',
    email_verified: true,
    username: 'alice',
    preferred_username: 'alice',
    name: 'Alice Example',
    groups: ['admins', 'users'],
  },
}];

// Every claim any account has (Azure's shape puts them all in its tokens).
const azureClaims = [...new Set(accountsCfg.flatMap((a) => Object.keys(a.claims ?? {})))];
const accounts = new Map(accountsCfg.map((a) => [String(a.id), a.claims ?? {}]));
const pkceRequiredFor = new Set(clientsCfg.filter((c) => c.require_pkce).map((c) => c.client_id));

const clients = clientsCfg.map((c) => {
  const method = c.token_endpoint_auth_method ?? 'client_secret_basic';
  const client = {
    client_id: c.client_id,
    redirect_uris: c.redirect_uris ?? [],
    post_logout_redirect_uris: c.post_logout_redirect_uris ?? [],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: method,
    id_token_signed_response_alg: signingAlg,
  };
  if (method !== 'none') client.client_secret = c.client_secret;
  if (c.backchannel_logout_uri) {
    client.backchannel_logout_uri = c.backchannel_logout_uri;
    client.backchannel_logout_session_required = c.backchannel_logout_session_required ?? true;
  }
  return client;
});

const azureRoutes = { v1: { authorization: '/oauth2/authorize', token: '/oauth2/token' }, v2: { authorization: '/oauth2/v2.0/authorize', token: '/oauth2/v2.0/token' } };
const routes = azure ? azureRoutes[azure] : gitlab ? { userinfo: '/oauth/userinfo' } : shape === 'wso2'
  ? {
    authorization: '/oauth2/authorize',
    token: '/oauth2/token',
    userinfo: '/oauth2/userinfo',
    jwks: '/oauth2/jwks',
    revocation: '/oauth2/revoke',
    introspection: '/oauth2/introspect',
    end_session: '/oidc/logout',
    pushed_authorization_request: '/oauth2/par',
  }
  : {};

const ttl = {};
if (cfg.access_token_ttl !== undefined) ttl.AccessToken = cfg.access_token_ttl;
if (cfg.id_token_ttl !== undefined) ttl.IdToken = cfg.id_token_ttl;
if (cfg.refresh_token_ttl !== undefined) ttl.RefreshToken = cfg.refresh_token_ttl;

// ---------------------------------------------------------------------------
// in-memory storage shared by every Provider instance (a key rotation builds a
// new Provider over the same store, so sessions, grants and tokens survive it)

const store = new Map(); // `${model}:${id}` -> { payload, expiresAt }
const grantable = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest', 'PreAuthorizedCode',
]);

function live(key) {
  const entry = store.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt <= Date.now()) {
    store.delete(key);
    return undefined;
  }
  return entry.payload;
}

class TestAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + (expiresIn * 1000) : Infinity;
    store.set(this.key(id), { payload, expiresAt });
  }

  async find(id) {
    return live(this.key(id));
  }

  async findByUid(uid) {
    for (const [key, entry] of store) {
      if (key.startsWith(`${this.model}:`) && entry.payload.uid === uid) return live(key);
    }
    return undefined;
  }

  async findByUserCode(userCode) {
    for (const [key, entry] of store) {
      if (key.startsWith(`${this.model}:`) && entry.payload.userCode === userCode) return live(key);
    }
    return undefined;
  }

  async consume(id) {
    const payload = live(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const [key, entry] of store) {
      const model = key.slice(0, key.indexOf(':'));
      if (grantable.has(model) && entry.payload.grantId === grantId) store.delete(key);
    }
  }
}

function revokeAllRefreshTokens() {
  let n = 0;
  for (const key of [...store.keys()]) {
    if (key.startsWith('RefreshToken:')) {
      store.delete(key);
      n += 1;
    }
  }
  return n;
}

// ---------------------------------------------------------------------------
// keys

async function generateSigningKey(alg, kidPrefix = 'key') {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  const kid = `${kidPrefix}-${crypto.randomBytes(6).toString('hex')}`;
  Object.assign(jwk, { kid, alg, use: 'sig' });
  return { alg, kid, jwk, privateKey, publicKey };
}

let signingKey = await generateSigningKey(signingAlg);

// ---------------------------------------------------------------------------
// test-control state

let stats;
function resetStats() {
  stats = {
    grants: {
      authorization_code: { ok: 0, failed: 0, total: 0 },
      refresh_token: { ok: 0, failed: 0, total: 0 },
    },
    token_requests: 0,
    last_token_request: null,
    tampered: [],
    key_rotations: 0,
  };
}
resetStats();

const TAMPER_MODES = new Set([
  'wrong_aud', 'wrong_iss', 'expired', 'bad_sig', 'alg_none', 'unknown_kid',
  'hs256_confusion', 'wrong_nonce', 'other_sub',
  // conformance cases (tests/it/conformance.rs)
  'no_nonce', 'no_sub', 'no_iat', 'iat_future', 'kid_absent',
  'multi_aud_no_azp', 'multi_aud_azp', 'other_azp',
]);
let pendingTamper = null;

// Conformance knobs, each persistent until changed (POST /__test/misbehave):
// `userinfo`: 'other_sub' | 'no_sub' rewrites every userinfo answer;
// `discovery`: an object merged into the discovery document (`issuer`, ...);
// `extra_keys`: that many more public keys of the signing algorithm in the JWKS;
// `client_auth`: 'basic' | 'post' refuses the other way of authenticating at the token endpoint;
// `userinfo_token`: 'header' | 'body' refuses the access token presented the other way.
let misbehave = {};
let extraKeys = [];
const observed = { userinfo_token: [], backchannel: [] };

const b64u = (buf) => Buffer.from(buf).toString('base64url');
const b64uJson = (obj) => b64u(JSON.stringify(obj));

async function signWith(key, header, payload, withKid = true) {
  const protectedHeader = { ...header, alg: key.alg, kid: key.kid };
  if (!withKid) delete protectedHeader.kid;
  return new jose.CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader(protectedHeader)
    .sign(key.privateKey);
}

function without(obj, name) {
  const { [name]: _gone, ...rest } = obj;
  return rest;
}

async function tamperIdToken(idToken, mode) {
  const [h, p, s] = idToken.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  const now = Math.floor(Date.now() / 1000);

  switch (mode) {
    case 'wrong_aud':
      return signWith(signingKey, header, { ...payload, aud: 'someone-else' });
    case 'wrong_iss':
      return signWith(signingKey, header, { ...payload, iss: 'https://wrong-issuer.invalid/' });
    case 'expired':
      return signWith(signingKey, header, { ...payload, iat: now - 7200, exp: now - 3600 });
    case 'no_nonce':
      return signWith(signingKey, header, without(payload, 'nonce'));
    case 'no_sub':
      return signWith(signingKey, header, without(payload, 'sub'));
    case 'no_iat':
      return signWith(signingKey, header, without(payload, 'iat'));
    case 'iat_future':
      return signWith(signingKey, header, { ...payload, iat: now + 3600, exp: now + 7200 });
    case 'kid_absent':
      return signWith(signingKey, header, payload, false);
    case 'multi_aud_no_azp':
      return signWith(signingKey, header, { ...without(payload, 'azp'), aud: [payload.aud, 'someone-else'] });
    case 'multi_aud_azp':
      return signWith(signingKey, header, { ...payload, aud: [payload.aud, 'someone-else'], azp: payload.aud });
    case 'other_azp':
      return signWith(signingKey, header, { ...payload, azp: 'someone-else' });
    case 'wrong_nonce':
      return signWith(signingKey, header, { ...payload, nonce: `wrong-nonce-${crypto.randomBytes(6).toString('hex')}` });
    case 'other_sub':
      // Validly signed, about someone else (a refresh that must not swap users).
      return signWith(signingKey, header, { ...payload, sub: 'mallory' });
    case 'bad_sig': {
      const sig = Buffer.from(s, 'base64url');
      sig[Math.floor(sig.length / 2)] ^= 0x01;
      return `${h}.${p}.${b64u(sig)}`;
    }
    case 'alg_none':
      return `${b64uJson({ alg: 'none' })}.${p}.`;
    case 'unknown_kid': {
      const stranger = await generateSigningKey(signingKey.alg, 'unknown');
      return signWith(stranger, header, payload);
    }
    case 'hs256_confusion': {
      // HMAC secret = the provider's public key as SPKI PEM text (with its trailing newline)
      const pem = crypto.createPublicKey({ key: publicJwk(signingKey), format: 'jwk' })
        .export({ type: 'spki', format: 'pem' });
      const input = `${b64uJson({ alg: 'HS256', kid: signingKey.kid, typ: header.typ })}.${p}`;
      const mac = crypto.createHmac('sha256', pem).update(input).digest();
      return `${input}.${b64u(mac)}`;
    }
    default:
      throw new Error(`unknown tamper mode ${mode}`);
  }
}

function publicJwk(key) {
  const {
    d, p, q, dp, dq, qi, ...pub
  } = key.jwk;
  return pub;
}

// ---------------------------------------------------------------------------
// the provider

let issuer;
let issuerHost;
let issuerOrigin;
let provider;
let providerCallback;

function findAccount(_ctx, id) {
  const claims = accounts.get(String(id));
  if (!claims) return undefined; // unknown ids cannot log in
  return {
    accountId: String(id),
    async claims() {
      return { ...claims, sub: String(id) };
    },
  };
}

function clientAuthOf(ctx) {
  const authz = ctx.get('authorization');
  if (/^basic /i.test(authz)) return 'basic';
  if (ctx.oidc?.body?.client_secret !== undefined) return 'post';
  return 'none';
}

// Koa middleware put in front of oidc-provider's own stack.
async function testHooks(ctx, next) {
  await next();

  // The dev interaction pages @import a Google font: the network is closed in
  // tests, so a headless browser would stall on it. Drop it.
  if (typeof ctx.body === 'string' && ctx.body.includes('@import url(https://fonts.googleapis.com')) {
    ctx.body = ctx.body.replace(/@import url\(https:\/\/fonts\.googleapis\.com[^)]*\);/g, '');
  }

  const route = ctx.oidc?.route;
  const isObject = ctx.status === 200 && ctx.body && typeof ctx.body === 'object';
  if (route === 'userinfo' && isObject && gitlab) {
    const claims = accounts.get(String(ctx.body.sub)) ?? {};
    ctx.body = { ...ctx.body, nickname: claims.nickname, groups: claims.groups ?? [], email: claims.email, email_verified: claims.email_verified ?? false };
  }
  if (route === 'userinfo' && isObject && misbehave.userinfo) {
    ctx.body = misbehave.userinfo === 'no_sub' ? without(ctx.body, 'sub') : { ...ctx.body, sub: 'mallory' };
    console.error(`[op] userinfo answered with ${misbehave.userinfo}`);
  }
  if (route === 'discovery' && isObject && misbehave.discovery) {
    ctx.body = { ...ctx.body, ...misbehave.discovery };
  }
  if (route === 'jwks' && isObject && extraKeys.length) {
    // The extra keys come first: a client that only tries the first key fails.
    ctx.body = { ...ctx.body, keys: [...extraKeys.map((k) => publicJwk(k)), ...ctx.body.keys] };
  }

  if (route !== 'token' || ctx.method !== 'POST') return;

  const body = ctx.oidc.body ?? {};
  const grantType = body.grant_type;
  const ok = ctx.status === 200;
  stats.token_requests += 1;
  if (grantType) {
    stats.grants[grantType] ??= { ok: 0, failed: 0, total: 0 };
    stats.grants[grantType][ok ? 'ok' : 'failed'] += 1;
    stats.grants[grantType].total = stats.grants[grantType].ok + stats.grants[grantType].failed;
  }
  stats.last_token_request = {
    grant_type: grantType ?? null,
    had_code_verifier: typeof body.code_verifier === 'string' && body.code_verifier.length > 0,
    client_auth: clientAuthOf(ctx),
    status: ctx.status,
    error: ok ? null : (ctx.body?.error ?? null),
  };

  if (ok && jwtAccessTokens && ctx.body && typeof ctx.body === 'object' && ctx.body.access_token) {
    ctx.body = { ...ctx.body, access_token: await keycloakAccessToken(ctx.body.access_token, ctx.oidc.client?.clientId) };
  }
  if (ok && azure === 'v1' && ctx.body && typeof ctx.body === 'object' && ctx.body.expires_in !== undefined) {
    const seconds = Number(ctx.body.expires_in);
    ctx.body = { ...ctx.body, expires_in: String(seconds), expires_on: String(Math.floor(Date.now() / 1000) + seconds) };
  }
  if (ok && pendingTamper && ctx.body && typeof ctx.body === 'object' && ctx.body.id_token) {
    const mode = pendingTamper;
    pendingTamper = null;
    ctx.body = { ...ctx.body, id_token: await tamperIdToken(ctx.body.id_token, mode) };
    stats.tampered.push(mode);
    console.error(`[op] tampered id_token with mode ${mode}`);
  }
}

// The JWT handed out in place of each opaque access token, and back: userinfo (and the
// rest of oidc-provider) is asked with the opaque one.
const opaqueOf = new Map();

async function keycloakAccessToken(opaque, clientId) {
  const token = await provider.AccessToken.find(opaque);
  const claims = accounts.get(String(token?.accountId)) ?? {};
  const now = Math.floor(Date.now() / 1000);
  const payload = {
    iss: issuer, sub: String(token?.accountId), aud: 'account', azp: clientId, typ: 'Bearer',
    iat: now, exp: token?.exp ?? now + 3600, jti: token?.jti, scope: token?.scope,
  };
  for (const name of ['realm_access', 'resource_access', 'email', 'preferred_username']) {
    if (claims[name] !== undefined) payload[name] = claims[name];
  }
  const jwt = await signWith(signingKey, { typ: 'JWT' }, payload);
  opaqueOf.set(jwt, opaque);
  return jwt;
}

function buildProvider() {
  const p = new Provider(issuer, {
    adapter: TestAdapter,
    clients,
    jwks: { keys: [signingKey.jwk] },
    findAccount,
    claims: {
      openid: azure ? ['sub', 'tid', ...azureClaims] : ['sub', 'tid'],
      email: ['email', 'email_verified'],
      profile: [
        'name', 'given_name', 'family_name', 'nickname', 'preferred_username',
        'username', 'groups', 'picture', 'locale', 'updated_at', 'upn',
      ],
      groups: ['groups'],
    },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
    conformIdTokenClaims: !claimsInIdToken,
    // Google's tokeninfo shape: the access token in the query (`?access_token=`) at userinfo.
    acceptQueryParamAccessTokens: cfg.query_access_tokens ?? false,
    responseTypes: ['code'],
    cookies: { keys: cookieKeys },
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: signingAlg,
    },
    features: {
      devInteractions: { enabled: true },
      userinfo: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      // Logout tokens to each client with a backchannel_logout_uri when the user signs out
      // here; GET /__test/observed lists each delivery (`backchannel`).
      backchannelLogout: { enabled: true },
    },
    pkce: {
      required: (_ctx, client) => pkceRequiredFor.has(client.clientId) || client.clientAuthMethod === 'none',
    },
    // refresh tokens for every client allowed the grant, without offline_access/consent
    // (`refresh_tokens: false`: none, as Azure's v2.0 without `offline_access`)
    issueRefreshToken: async (_ctx, client) => (cfg.refresh_tokens ?? true) && client.grantTypeAllowed('refresh_token'),
    // tokens do not die with the provider's browser session (like most real IdPs)
    expiresWithSession: async () => false,
    rotateRefreshToken: Boolean(rotateRefreshTokens),
    // oidc-provider refuses outgoing requests (back-channel logout) to loopback addresses, its
    // SSRF guard; every relying party of this test peer is on loopback.
    fetch: (url, options) => globalThis.fetch(url, { ...options, dispatcher: undefined }),
    routes,
    ttl,
  });
  p.use(testHooks);
  p.on('server_error', (_ctx, err) => console.error('[op] server_error', err));
  p.on('backchannel.success', (_ctx, client, sub, sid) => observed.backchannel.push({ client: client.clientId, sub, sid, ok: true }));
  p.on('backchannel.error', (_ctx, err, client, sub, sid) => {
    console.error(`[op] backchannel logout to ${client.clientId} failed: ${err.message} ${err.cause?.message ?? ""} ${err.cause?.code ?? ""}`);
    observed.backchannel.push({ client: client.clientId, sub, sid, ok: false, error: err.message });
  });
  for (const event of ['grant.error', 'authorization.error', 'userinfo.error', 'end_session.error']) {
    p.on(event, (_ctx, err) => console.error(`[op] ${event}: ${err.error ?? err.name}: ${err.error_description ?? ''} ${err.error_detail ?? ''} ${err.cause?.message ?? ''}`));
  }
  return p;
}

function setProvider(p) {
  provider = p;
  providerCallback = p.callback();
}

// ---------------------------------------------------------------------------
// HTTP front: test-control endpoints, path rewriting for the WSO2 shape

function sendJson(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

async function readJsonBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8').trim();
  return text ? JSON.parse(text) : {};
}

async function control(req, res, pathname) {
  const route = `${req.method} ${pathname}`;
  try {
    switch (route) {
      case 'GET /__test/stats':
        return sendJson(res, 200, { ...stats, pending_tamper: pendingTamper, kid: signingKey.kid });
      case 'POST /__test/reset-stats':
        resetStats();
        return sendJson(res, 200, { ok: true });
      case 'POST /__test/rotate-keys': {
        const old = signingKey.kid;
        signingKey = await generateSigningKey(signingAlg);
        setProvider(buildProvider());
        stats.key_rotations += 1;
        return sendJson(res, 200, { ok: true, old_kid: old, kid: signingKey.kid });
      }
      case 'POST /__test/tamper': {
        const { mode } = await readJsonBody(req);
        if (mode === null || mode === 'off') {
          pendingTamper = null;
          return sendJson(res, 200, { ok: true, mode: null });
        }
        if (!TAMPER_MODES.has(mode)) {
          return sendJson(res, 400, { error: 'unknown mode', modes: [...TAMPER_MODES] });
        }
        pendingTamper = mode;
        return sendJson(res, 200, { ok: true, mode });
      }
      case 'POST /__test/tamper-token': {
        // Tampers a token the caller already holds (a bearer-token test), with the same modes.
        const { token, mode } = await readJsonBody(req);
        if (!TAMPER_MODES.has(mode)) {
          return sendJson(res, 400, { error: 'unknown mode', modes: [...TAMPER_MODES] });
        }
        return sendJson(res, 200, { token: await tamperIdToken(token, mode) });
      }
      case 'POST /__test/sign': {
        // Signs arbitrary claims with the current key: tokens this issuer really issues,
        // for audiences and shapes no login produces (extra_jwt_issuers tests).
        // With `count`, that many distinct tokens (a `jti` each): the benchmark's cold rung.
        // With `key: "other"`, signed by a key this provider never published (same kid).
        // With `typ`, that header type (`logout+jwt`).
        const { claims, count, key, typ } = await readJsonBody(req);
        const now = Math.floor(Date.now() / 1000);
        const payload = { iss: issuer, iat: now, exp: now + 300, ...claims };
        if (key === 'other') {
          const other = await generateSigningKey(signingAlg);
          other.kid = signingKey.kid;
          return sendJson(res, 200, { token: await signWith(other, { typ: typ ?? 'JWT' }, payload) });
        }
        if (typ !== undefined) {
          return sendJson(res, 200, { token: await signWith(signingKey, { typ }, payload) });
        }
        if (count !== undefined) {
          const tokens = [];
          for (let i = 0; i < Math.min(count, 100000); i += 1) {
            tokens.push(await signWith(signingKey, { typ: 'JWT' }, { ...payload, jti: `t${i}` }));
          }
          return sendJson(res, 200, { tokens });
        }
        return sendJson(res, 200, { token: await signWith(signingKey, { typ: 'JWT' }, payload) });
      }
      case 'POST /__test/account': {
        // Replaces an account's claims: what the next ID token or userinfo answer says
        // (a user removed from a group at the provider).
        const { id, claims } = await readJsonBody(req);
        accounts.set(String(id), claims ?? {});
        return sendJson(res, 200, { ok: true });
      }
      case 'POST /__test/misbehave': {
        misbehave = await readJsonBody(req);
        extraKeys = [];
        for (let i = 0; i < (misbehave.extra_keys ?? 0); i += 1) {
          extraKeys.push(await generateSigningKey(signingAlg, 'extra'));
        }
        return sendJson(res, 200, { ok: true, misbehave });
      }
      case 'GET /__test/observed':
        return sendJson(res, 200, observed);
      case 'POST /__test/revoke-refresh-tokens':
        return sendJson(res, 200, { ok: true, revoked: revokeAllRefreshTokens() });
      default:
        return sendJson(res, 404, { error: 'not found', route });
    }
  } catch (err) {
    return sendJson(res, 400, { error: String(err?.message ?? err) });
  }
}

const WSO2_DISCOVERY_PREFIXES = ['/oauth2/token/.well-known/', '/oauth2/oidcdiscovery/.well-known/'];

const htmlEscape = (v) => String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// devInteractions accepts any login and only then asks findAccount, which makes
// oidc-provider fail with a 500 later on. Check the account here instead, like a
// real login form: an unknown account gets the form again with 401 and the
// interaction stays pending (the same URL can be POSTed again).
async function interactionSubmit(req, res, pathname) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const raw = Buffer.concat(chunks);
  const form = new URLSearchParams(raw.toString('utf8'));
  if (form.get('prompt') === 'login' && !accounts.has(form.get('login') ?? '')) {
    const action = `${issuerOrigin}${pathname}`;
    const body = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Sign-in</title></head><body>
<p class="error">Invalid login: unknown account</p>
<form autocomplete="off" action="${htmlEscape(action)}" method="post">
  <input type="hidden" name="prompt" value="login"/>
  <input required type="text" name="login" placeholder="Enter any login" autofocus="on">
  <input required type="password" name="password" placeholder="and password" >
  <button type="submit" class="login login-submit">Sign-in</button>
</form></body></html>
`;
    res.writeHead(401, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    });
    res.end(body);
    return;
  }
  // hand the already-read body to oidc-provider (it falls back to req.body)
  req.body = raw;
  providerCallback(req, res);
}

// The token and userinfo endpoints made strict about how credentials come (oidc-provider
// accepts both ways): judged on the Authorization header, so the body stays unread.
function refusedByMisbehaviour(req, res, pathname) {
  const basic = /^basic /i.test(req.headers.authorization ?? '');
  const bearer = /^bearer /i.test(req.headers.authorization ?? '');
  if (pathname === (routes.token ?? '/token') && req.method === 'POST' && misbehave.client_auth) {
    if ((misbehave.client_auth === 'post') === basic) {
      console.error(`[op] token request refused: only client_secret_${misbehave.client_auth}`);
      sendJson(res, 401, { error: 'invalid_client', error_description: `only client_secret_${misbehave.client_auth}` });
      return true;
    }
  }
  if (pathname === (routes.userinfo ?? '/me')) {
    observed.userinfo_token.push(bearer ? 'header' : 'body');
    if (misbehave.userinfo_token && (misbehave.userinfo_token === 'header') !== bearer) {
      res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_request"', 'content-length': 0 });
      res.end();
      return true;
    }
  }
  return false;
}

// GitLab's GET /api/v4/projects/:id for the account the bearer token names.
async function gitlabProject(req, res, path) {
  const token = /^bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
  const found = await provider.AccessToken.find(opaqueOf.get(token) ?? token);
  if (!found) return sendJson(res, 401, { message: '401 Unauthorized' });
  const project = (accounts.get(String(found.accountId)) ?? {}).gitlab_projects?.[path];
  if (!project) return sendJson(res, 404, { message: '404 Project Not Found' });
  const access = { access_level: project.access_level };
  return sendJson(res, 200, {
    name: path.split('/').pop(),
    path_with_namespace: path,
    archived: project.archived ?? false,
    permissions: project.via === 'group' ? { project_access: null, group_access: access } : { project_access: access, group_access: null },
  });
}

function handler(req, res) {
  const { pathname } = new URL(req.url, 'http://placeholder');
  if (pathname.startsWith('/__test/')) {
    control(req, res, pathname);
    return;
  }
  if (!providerCallback) {
    sendJson(res, 503, { error: 'starting' });
    return;
  }
  if (refusedByMisbehaviour(req, res, pathname)) return;
  if (gitlab && pathname.startsWith('/api/v4/projects/')) {
    gitlabProject(req, res, decodeURIComponent(pathname.slice('/api/v4/projects/'.length))).catch((err) => {
      console.error('[op] gitlab project API failed', err);
      if (!res.headersSent) sendJson(res, 500, { message: 'server error' });
    });
    return;
  }
  if (adfsState && pathname === (routes.authorization ?? '/auth')) {
    const url = new URL(req.url, 'http://placeholder');
    const state = url.searchParams.get('state');
    if (state !== null) {
      try {
        url.searchParams.set('state', decodeURIComponent(state));
        req.url = url.pathname + url.search;
      } catch { /* not escaped: left as it is */ }
    }
  }
  const presented = /^bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
  if (presented && opaqueOf.has(presented)) req.headers.authorization = `Bearer ${opaqueOf.get(presented)}`;
  // Endpoint URLs in discovery and redirects are built from the Host header:
  // pin it to the issuer's authority so they always match the issuer.
  req.headers.host = issuerHost;

  if (shape === 'wso2') {
    const prefix = WSO2_DISCOVERY_PREFIXES.find((x) => pathname.startsWith(x));
    if (prefix) {
      // oidc-provider serves discovery at /.well-known/...; WSO2 serves it under the issuer path.
      req.url = req.url.slice(prefix.length - '/.well-known/'.length);
    } else if (pathname.startsWith('/.well-known/')) {
      sendJson(res, 404, { error: 'not found' });
      return;
    }
  }
  if (req.method === 'POST' && /^\/interaction\/[^/]+$/.test(pathname)) {
    interactionSubmit(req, res, pathname).catch((err) => {
      console.error('[op] interaction submit failed', err);
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
    });
    return;
  }
  providerCallback(req, res);
}

let server;
if (cfg.tls) {
  server = https.createServer({
    cert: fs.readFileSync(cfg.tls.cert),
    key: fs.readFileSync(cfg.tls.key),
  }, handler);
} else {
  server = http.createServer(handler);
}

server.on('error', (err) => {
  console.error('[op] server error', err);
  process.exit(1);
});

server.listen(cfg.port ?? 0, bind, () => {
  const { port } = server.address();
  const scheme = cfg.tls ? 'https' : 'http';
  issuerHost = `${host}:${port}`;
  issuerOrigin = `${scheme}://${issuerHost}`;
  issuer = shape === 'wso2'
    ? `${scheme}://${issuerHost}/oauth2/token`
    : `${scheme}://${issuerHost}`;
  setProvider(buildProvider());
  writeStdout(`READY ${JSON.stringify({ issuer, port })}`);
});

function shutdown(signal) {
  console.error(`[op] ${signal}, exiting`);
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

// Opt-in: a test that spawns the peer with a piped stdin can get it to exit
// when the test process goes away (the pipe closes) even without a signal.
if (cfg.exit_on_stdin_eof) {
  process.stdin.on('end', () => shutdown('stdin EOF'));
  process.stdin.on('error', () => shutdown('stdin error'));
  process.stdin.resume();
}
