//! JWT bearer tokens from a team's own identity provider: configuration, key loading and
//! verification, with `jsonwebtoken` (RustCrypto backend) doing the cryptography.
//!
//! A deployment trusts either one HS256 shared secret or the public keys of a JWKS file
//! (RS256 with RSA keys, ES256 with EC P-256 keys). A verified token's `sub` is the user.
//!
//! Algorithm confusion is impossible by construction: the algorithm a key verifies is fixed when
//! the key is loaded (the HS256 secret verifies only HS256, an RSA key only RS256, a P-256 key
//! only ES256), and a token whose header names any other algorithm is refused before any
//! signature check. Keys the token itself points to (`jwk`, `jku`, `x5u`, `x5c` headers) are
//! ignored: only configured keys are ever used. `alg: none` is not an algorithm here at all.
//!
//! Every [`JwtError`] is an HTTP 401; [`JwtError::code`] gives the protocol's code.
//! [`looks_like_jwt`] tells a JWT from an opaque token (see [`crate::token_hash`]) so the server
//! can send a bearer token to the right check.

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;

use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, Validation};
use serde::Deserialize;
use syncline_protocol::codes;

/// Clock skew tolerated on `exp` and `nbf` unless configured: 30 s covers servers and identity
/// providers kept in sync by NTP (typically well under a second apart) with a wide margin, while
/// an expired token stays usable for at most half a minute.
pub const DEFAULT_LEEWAY_SECS: u64 = 30;

/// Largest accepted leeway. Leeway is for clock skew, which is seconds, not hours; a bigger value
/// is a configuration mistake that would keep expired tokens alive.
pub const MAX_LEEWAY_SECS: u64 = 600;

/// Shortest accepted HS256 secret: 32 bytes, the size of the SHA-256 output (RFC 7518 §3.2
/// requires a key at least that long for HS256).
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// Longest accepted user id (`sub`), in bytes.
pub const MAX_USER_ID_BYTES: usize = 256;

/// Smallest accepted RSA modulus: 2048 bits (NIST SP 800-131A; 1024-bit keys are breakable).
const MIN_RSA_BITS: usize = 2048;

/// Longest token verified. Real JWTs from identity providers are 1–2 KiB; refusing huge ones
/// before base64 and JSON decoding bounds the work an unauthenticated request can cause.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Longest part of a token-supplied `kid` repeated in an error message.
const MAX_KID_IN_MESSAGE: usize = 64;

/// Which tokens to trust and which claims to enforce. Deserializable from the server's
/// configuration, e.g. `{"keys": {"jwks_file": "/etc/syncline/jwks.json"}, "audience": "syncline",
/// "issuer": "https://idp.example.com/"}`, or built in code with [`JwtConfig::hs256`] /
/// [`JwtConfig::jwks_file`] and the `with_*` methods.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// The keys that verify signatures.
    pub keys: JwtKeys,
    /// When set, a token must carry this value in `aud` (a string, or an array containing it).
    /// When not set, `aud` is not checked at all: then any token your identity provider issues
    /// for any application is accepted, so set it whenever the provider serves more than
    /// Syncline.
    #[serde(default)]
    pub audience: Option<String>,
    /// When set, a token's `iss` must be exactly this value; when not set, `iss` is not checked.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Seconds of clock skew tolerated on `exp` and `nbf`; default [`DEFAULT_LEEWAY_SECS`], at
    /// most [`MAX_LEEWAY_SECS`].
    #[serde(default = "default_leeway_secs")]
    pub leeway_secs: u64,
    /// When set, a token carrying this claim (a string) authenticates the service it names on
    /// the backend API (`syncline-server service add`), not a device user.
    #[serde(default)]
    pub service_claim: Option<String>,
}

fn default_leeway_secs() -> u64 {
    DEFAULT_LEEWAY_SECS
}

/// Where the verification keys come from. In configuration, `{"hs256_secret": "..."}` or
/// `{"jwks_file": "path"}`.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum JwtKeys {
    /// A shared secret (its UTF-8 bytes are the HMAC key), at least [`MIN_HS256_SECRET_BYTES`]
    /// long; tokens must be HS256.
    Hs256Secret(String),
    /// A JSON Web Key Set file (RFC 7517), read once by [`JwtVerifier::new`]: RSA keys verify
    /// RS256, EC P-256 keys ES256. Keys marked `"use": "enc"` are skipped; any other key the
    /// server cannot use is a configuration error. Rotating keys means replacing the file and
    /// building a new verifier.
    JwksFile(PathBuf),
}

impl fmt::Debug for JwtKeys {
    // Configuration gets logged; the secret must not be.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtKeys::Hs256Secret(_) => f.write_str("Hs256Secret(<redacted>)"),
            JwtKeys::JwksFile(path) => f.debug_tuple("JwksFile").field(path).finish(),
        }
    }
}

impl JwtConfig {
    /// Trust HS256 tokens signed with `secret`; no audience or issuer check, default leeway.
    pub fn hs256(secret: impl Into<String>) -> Self {
        Self::with_keys(JwtKeys::Hs256Secret(secret.into()))
    }

    /// Trust RS256/ES256 tokens signed by the keys of a JWKS file; no audience or issuer check,
    /// default leeway.
    pub fn jwks_file(path: impl Into<PathBuf>) -> Self {
        Self::with_keys(JwtKeys::JwksFile(path.into()))
    }

    fn with_keys(keys: JwtKeys) -> Self {
        JwtConfig {
            keys,
            audience: None,
            issuer: None,
            leeway_secs: DEFAULT_LEEWAY_SECS,
            service_claim: None,
        }
    }

    /// Let a token name a service through the claim `claim` (docs/backend.md).
    pub fn with_service_claim(mut self, claim: impl Into<String>) -> Self {
        self.service_claim = Some(claim.into());
        self
    }

    /// Require `aud` to contain `audience`.
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Require `iss` to be `issuer`.
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Tolerate `secs` seconds of clock skew on `exp` and `nbf`.
    pub fn with_leeway_secs(mut self, secs: u64) -> Self {
        self.leeway_secs = secs;
        self
    }
}

/// Why a [`JwtConfig`] cannot be used. The server should refuse to start on any of these.
#[derive(Debug, thiserror::Error)]
pub enum JwtConfigError {
    /// The JWKS file could not be read.
    #[error("cannot read the JWKS file {path}: {source}")]
    ReadJwks {
        /// The configured path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The JWKS file is not a JSON Web Key Set.
    #[error("the JWKS file {path} is not a JSON Web Key Set ({{\"keys\": [...]}}): {source}")]
    ParseJwks {
        /// The configured path.
        path: PathBuf,
        /// What JSON parsing said.
        source: serde_json::Error,
    },
    /// A signing key in the JWKS uses an algorithm, key type or curve the server does not
    /// verify.
    #[error("JWKS key {key}: {detail}; supported are RS256 (RSA keys) and ES256 (EC P-256 keys)")]
    UnsupportedAlgorithm {
        /// The key's `kid`, or its position when it has none.
        key: String,
        /// What is unsupported.
        detail: String,
    },
    /// A key in the JWKS is damaged or too weak.
    #[error("JWKS key {key} is not usable: {detail}")]
    InvalidKey {
        /// The key's `kid`, or its position when it has none.
        key: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Two keys in the JWKS have the same `kid`, so a token could not say which one signed it.
    #[error("the JWKS has more than one key with kid `{0}`")]
    DuplicateKid(String),
    /// The JWKS has no key that verifies signatures.
    #[error("the JWKS file {path} has no signing keys")]
    NoKeys {
        /// The configured path.
        path: PathBuf,
    },
    /// The HS256 secret is too short to be safe.
    #[error(
        "the HS256 secret is {len} bytes; at least {MIN_HS256_SECRET_BYTES} are required \
         (a random one: `openssl rand -base64 48`)"
    )]
    SecretTooShort {
        /// The configured secret's length in bytes.
        len: usize,
    },
    /// `audience` or `issuer` is configured as an empty string.
    #[error("`{0}` is configured but empty; leave it out to not check it")]
    EmptySetting(&'static str),
    /// The leeway is larger than [`MAX_LEEWAY_SECS`].
    #[error("leeway_secs is {0}; at most {MAX_LEEWAY_SECS} is accepted (it is for clock skew)")]
    LeewayTooLarge(u64),
    /// `jsonwebtoken` has no crypto backend (a build problem, not a configuration one).
    #[error("jsonwebtoken has no crypto provider installed")]
    NoCryptoProvider,
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The user id: the token's `sub`, non-empty, at most [`MAX_USER_ID_BYTES`] bytes, without
    /// control characters.
    pub user: String,
    /// The token's `exp` in milliseconds since the Unix epoch. Always `Some` for a JWT (`exp` is
    /// required); an `Option` to line up with opaque tokens, which may never expire. Within the
    /// leeway it may already be slightly in the past.
    pub expires_at: Option<i64>,
    /// The service the token names through the configured service claim, if it does: then it
    /// authenticates that service on the backend API, and no device user.
    pub service: Option<String>,
}

/// Why a bearer JWT is refused. Every variant is an HTTP 401; [`JwtError::code`] is the
/// protocol's error code, the `Display` text the human message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not a well-formed JWT: wrong shape, bad base64 or JSON, an unknown `alg` (including
    /// `none`), or too long.
    #[error("the bearer token is not a well-formed JWT: {0}")]
    Malformed(String),
    /// The header's `alg` is not the algorithm of the key that would verify it (or of any
    /// configured key).
    #[error("the token is signed with {token_alg}, but this server accepts only {allowed} for it")]
    AlgorithmNotAllowed {
        /// The header's `alg`.
        token_alg: String,
        /// The algorithm(s) the chosen key, or the configured keys, verify.
        allowed: String,
    },
    /// The header's `kid` names no configured key.
    #[error("the token names key {0:?}, which this server does not have")]
    UnknownKey(String),
    /// The header has no `kid`, and more than one configured key verifies its algorithm.
    #[error("the token names no key (kid), and this server has several {0} keys")]
    AmbiguousKey(String),
    /// The signature does not verify with the configured key.
    #[error("the token's signature does not verify")]
    BadSignature,
    /// `exp` has passed (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("the token is not valid yet (nbf is in the future)")]
    NotYetValid,
    /// `aud` does not contain the configured audience.
    #[error("the token was issued for another audience (aud)")]
    WrongAudience,
    /// `iss` is not the configured issuer.
    #[error("the token comes from another issuer (iss)")]
    WrongIssuer,
    /// A required claim (`sub`, `exp`, or a configured `aud`/`iss`) is missing.
    #[error("the token has no `{0}` claim")]
    MissingClaim(String),
    /// A claim is present but unusable (a `sub` that is not a sane user id, a non-numeric `exp`).
    #[error("the token's `{claim}` claim {reason}")]
    InvalidClaim {
        /// The claim's name.
        claim: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl JwtError {
    /// The stable error code for the 401 answer: `token_expired` for [`JwtError::Expired`] (an
    /// app can then fetch a fresh token from its identity provider without asking the user),
    /// `unauthorized` for everything else. The core client treats every 401 alike, as "sign-in
    /// needed" (`core/src/transport.rs`); the message tells people which check failed.
    pub fn code(&self) -> &'static str {
        match self {
            JwtError::Expired => codes::TOKEN_EXPIRED,
            _ => codes::UNAUTHORIZED,
        }
    }

    /// Maps `jsonwebtoken`'s error; the algorithm and key checks happen before it is called, so
    /// its own `InvalidAlgorithm` is unexpected and reported as malformed.
    fn from_library(e: &jsonwebtoken::errors::Error) -> Self {
        match e.kind() {
            ErrorKind::InvalidSignature => JwtError::BadSignature,
            ErrorKind::ExpiredSignature => JwtError::Expired,
            ErrorKind::ImmatureSignature => JwtError::NotYetValid,
            ErrorKind::InvalidAudience => JwtError::WrongAudience,
            ErrorKind::InvalidIssuer => JwtError::WrongIssuer,
            ErrorKind::MissingRequiredClaim(claim) => JwtError::MissingClaim(claim.clone()),
            ErrorKind::InvalidClaimFormat(claim) => JwtError::InvalidClaim {
                claim: claim.clone(),
                reason: "has the wrong type".into(),
            },
            _ => JwtError::Malformed(e.to_string()),
        }
    }
}

/// Whether a bearer token has the shape of a JWT (JWS compact serialisation): three base64url
/// segments separated by dots, the first two non-empty (the third is empty only for `alg: none`,
/// which is sent here to be refused with a clear message). No decoding: this only routes a token
/// to [`JwtVerifier::verify`] or to the opaque-token lookup. Opaque tokens from
/// [`crate::token_hash::new_token`] are hex without dots, so they never look like a JWT.
pub fn looks_like_jwt(token: &str) -> bool {
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(header), Some(payload), Some(signature), None) => {
            !header.is_empty()
                && !payload.is_empty()
                && [header, payload, signature]
                    .iter()
                    .all(|part| part.bytes().all(is_base64url))
        }
        _ => false,
    }
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// One configured key and the one algorithm it verifies.
#[derive(Debug)]
struct VerifyKey {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
    /// Claim checks with `algorithms == [alg]`, built once.
    validation: Validation,
}

#[derive(Debug)]
enum KeySource {
    /// The HS256 secret: a `kid` in the header is ignored (some providers send one with HS256).
    Secret(Box<VerifyKey>),
    /// JWKS keys, selected by `kid`.
    Set(Vec<VerifyKey>),
}

/// Verifies bearer JWTs against a [`JwtConfig`]. Built once at startup; `verify` does no I/O
/// and is safe to call from many threads.
#[derive(Debug)]
pub struct JwtVerifier {
    keys: KeySource,
    /// The configured clock-skew leeway, in milliseconds.
    leeway_ms: i64,
    /// The claim that names a service, if tokens may.
    service_claim: Option<String>,
}

impl JwtVerifier {
    /// Checks the configuration, reads and parses the JWKS file (once), and builds every key's
    /// verifier so a damaged key fails here rather than on the first request.
    pub fn new(config: JwtConfig) -> Result<Self, JwtConfigError> {
        if config.leeway_secs > MAX_LEEWAY_SECS {
            return Err(JwtConfigError::LeewayTooLarge(config.leeway_secs));
        }
        if config.audience.as_deref() == Some("") {
            return Err(JwtConfigError::EmptySetting("audience"));
        }
        if config.issuer.as_deref() == Some("") {
            return Err(JwtConfigError::EmptySetting("issuer"));
        }
        let provider = crypto_provider()?;
        let keys = match &config.keys {
            JwtKeys::Hs256Secret(secret) => {
                if secret.len() < MIN_HS256_SECRET_BYTES {
                    return Err(JwtConfigError::SecretTooShort { len: secret.len() });
                }
                let key = DecodingKey::from_secret(secret.as_bytes())
                    .map_err(|_| JwtConfigError::SecretTooShort { len: secret.len() })?;
                KeySource::Secret(Box::new(VerifyKey {
                    kid: None,
                    alg: Algorithm::HS256,
                    key,
                    validation: validation(Algorithm::HS256, &config),
                }))
            }
            JwtKeys::JwksFile(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| JwtConfigError::ReadJwks {
                        path: path.clone(),
                        source,
                    })?;
                let set: JwkSet =
                    serde_json::from_str(&text).map_err(|source| JwtConfigError::ParseJwks {
                        path: path.clone(),
                        source,
                    })?;
                let keys = load_jwks(&set, provider, &config)?;
                if keys.is_empty() {
                    return Err(JwtConfigError::NoKeys { path: path.clone() });
                }
                KeySource::Set(keys)
            }
        };
        let described = match &keys {
            KeySource::Secret(_) => "an HS256 secret".to_string(),
            KeySource::Set(keys) => keys
                .iter()
                .map(|k| format!("{} ({:?})", k.kid.as_deref().unwrap_or("no kid"), k.alg))
                .collect::<Vec<_>>()
                .join(", "),
        };
        log::info!(
            "JWT bearer tokens verified with {described}; audience {:?}, issuer {:?}, leeway {} s",
            config.audience,
            config.issuer,
            config.leeway_secs
        );
        if config.audience.is_none() {
            log::warn!(
                "JWT audience not configured: tokens your identity provider issues for any \
                 application are accepted"
            );
        }
        Ok(JwtVerifier {
            keys,
            leeway_ms: i64::try_from(config.leeway_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
            service_claim: config.service_claim,
        })
    }

    /// Verifies a bearer JWT: its size and shape, that its `alg` is the one its key verifies, the
    /// signature, then `exp` (required), `nbf` (when present), the configured `aud` and `iss`, and
    /// finally `sub`. Claims are only looked at once the signature holds, so an expired token is
    /// reported as expired only if it is genuine.
    pub fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        let result = self.verify_inner(token);
        if let Err(e) = &result {
            log::debug!("JWT refused: {e}");
        }
        result
    }

    /// How long after its `exp` a token is still accepted (the clock-skew leeway), in ms: a
    /// live stream on a JWT ends when the token stops being accepted.
    pub(crate) fn leeway_ms(&self) -> i64 {
        self.leeway_ms
    }

    fn verify_inner(&self, token: &str) -> Result<Claims, JwtError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JwtError::Malformed(format!(
                "longer than {MAX_TOKEN_BYTES} bytes"
            )));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| JwtError::Malformed(format!("bad header: {e}")))?;
        let key = self.select_key(header.kid.as_deref(), header.alg)?;
        let data = jsonwebtoken::decode::<RawClaims>(token, &key.key, &key.validation)
            .map_err(|e| JwtError::from_library(&e))?;
        let user = check_sub(data.claims.sub)?;
        let expires_at = match data.claims.exp {
            Some(exp) => Some(exp_to_ms(&exp)?),
            None => return Err(JwtError::MissingClaim("exp".into())),
        };
        let service = match self
            .service_claim
            .as_ref()
            .and_then(|claim| data.claims.rest.get(claim))
        {
            None => None,
            Some(serde_json::Value::String(name)) if !name.is_empty() => Some(name.clone()),
            Some(_) => {
                return Err(JwtError::InvalidClaim {
                    claim: self.service_claim.clone().unwrap_or_default(),
                    reason: "not a service name".into(),
                })
            }
        };
        Ok(Claims {
            user,
            expires_at,
            service,
        })
    }

    /// The configured key for a token's header; the algorithm comes from the key, and the
    /// header's `alg` must equal it.
    fn select_key(&self, kid: Option<&str>, alg: Algorithm) -> Result<&VerifyKey, JwtError> {
        let not_allowed = |allowed: String| JwtError::AlgorithmNotAllowed {
            token_alg: format!("{alg:?}"),
            allowed,
        };
        let keys = match &self.keys {
            KeySource::Secret(key) if key.alg == alg => return Ok(key),
            KeySource::Secret(key) => return Err(not_allowed(format!("{:?}", key.alg))),
            KeySource::Set(keys) => keys,
        };
        if let Some(kid) = kid {
            let key = keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .ok_or_else(|| unknown_key(kid))?;
            return if key.alg == alg {
                Ok(key)
            } else {
                Err(not_allowed(format!("{:?}", key.alg)))
            };
        }
        // No kid: unambiguous only when exactly one key verifies this algorithm.
        let mut matching = keys.iter().filter(|k| k.alg == alg);
        match (matching.next(), matching.next()) {
            (Some(key), None) => Ok(key),
            (Some(_), Some(_)) => Err(JwtError::AmbiguousKey(format!("{alg:?}"))),
            (None, _) => {
                let algs: Vec<String> = keys
                    .iter()
                    .map(|k| format!("{:?}", k.alg))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                Err(not_allowed(algs.join(" or ")))
            }
        }
    }
}

/// [`JwtError::UnknownKey`] with a bounded copy of the token's `kid` (attacker input that goes
/// back into a response).
fn unknown_key(kid: &str) -> JwtError {
    JwtError::UnknownKey(kid.chars().take(MAX_KID_IN_MESSAGE).collect())
}

/// The claims read from a token. Lenient on purpose: `jsonwebtoken` deserialises them before it
/// checks `exp`, `aud` and `iss`, and a strict type here would report a missing `sub` on an expired
/// token instead of "expired"; `sub` and `exp` are checked afterwards.
#[derive(Deserialize)]
struct RawClaims {
    #[serde(default)]
    sub: Option<serde_json::Value>,
    #[serde(default)]
    exp: Option<serde_json::Value>,
    /// Every other claim (the service claim among them, when configured).
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

/// `sub` as a user id: a non-empty string of at most [`MAX_USER_ID_BYTES`] bytes without control
/// characters (it ends up in logs, the database and other users' views).
fn check_sub(sub: Option<serde_json::Value>) -> Result<String, JwtError> {
    let invalid = |reason: &str| JwtError::InvalidClaim {
        claim: "sub".into(),
        reason: reason.into(),
    };
    let sub = match sub {
        None | Some(serde_json::Value::Null) => return Err(JwtError::MissingClaim("sub".into())),
        Some(serde_json::Value::String(s)) => s,
        Some(_) => return Err(invalid("is not a string")),
    };
    if sub.is_empty() {
        return Err(invalid("is empty"));
    }
    if sub.len() > MAX_USER_ID_BYTES {
        return Err(invalid(&format!(
            "is longer than {MAX_USER_ID_BYTES} bytes"
        )));
    }
    if sub.chars().any(char::is_control) {
        return Err(invalid("contains control characters"));
    }
    Ok(sub)
}

/// `exp` (seconds, an integer or a fraction per RFC 7519's NumericDate) in milliseconds,
/// saturating at `i64::MAX` for absurd values.
fn exp_to_ms(exp: &serde_json::Value) -> Result<i64, JwtError> {
    if let Some(secs) = exp.as_u64() {
        return Ok(i64::try_from(secs)
            .ok()
            .and_then(|s| s.checked_mul(1000))
            .unwrap_or(i64::MAX));
    }
    match exp.as_f64() {
        // `as` saturates for floats out of range.
        Some(secs) if secs.is_finite() && secs >= 0.0 => Ok((secs * 1000.0) as i64),
        _ => Err(JwtError::InvalidClaim {
            claim: "exp".into(),
            reason: "is not a non-negative number".into(),
        }),
    }
}

/// The claim checks for tokens verified with `alg`.
fn validation(alg: Algorithm, config: &JwtConfig) -> Validation {
    let mut v = Validation::new(alg);
    v.leeway = config.leeway_secs;
    v.validate_exp = true;
    // jsonwebtoken leaves `nbf` unchecked by default; a token must not work before its time.
    v.validate_nbf = true;
    let mut required = vec!["exp"];
    // jsonwebtoken checks `aud`/`iss` only when present; a configured one must also be there.
    match &config.audience {
        Some(audience) => {
            v.set_audience(&[audience]);
            required.push("aud");
        }
        // Otherwise jsonwebtoken would refuse every token that has an `aud` at all.
        None => v.validate_aud = false,
    }
    if let Some(issuer) = &config.issuer {
        v.set_issuer(&[issuer]);
        required.push("iss");
    }
    v.set_required_spec_claims(&required);
    v
}

/// jsonwebtoken's crypto provider. With only the `rust_crypto` feature it is chosen
/// automatically; if another crate in the build also enables `aws_lc_rs`, jsonwebtoken would
/// panic on first use, so RustCrypto is installed explicitly.
fn crypto_provider() -> Result<&'static CryptoProvider, JwtConfigError> {
    if let Some(provider) = CryptoProvider::try_get_default() {
        return Ok(provider);
    }
    // An Err means another thread installed one first, which is as good.
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
    CryptoProvider::try_get_default().ok_or(JwtConfigError::NoCryptoProvider)
}

/// The JWKS's signing keys, each with its one algorithm and a verifier built once to prove the
/// key usable.
fn load_jwks(
    set: &JwkSet,
    provider: &CryptoProvider,
    config: &JwtConfig,
) -> Result<Vec<VerifyKey>, JwtConfigError> {
    let mut keys = Vec::with_capacity(set.keys.len());
    let mut kids = HashSet::new();
    for (index, jwk) in set.keys.iter().enumerate() {
        let name = match &jwk.common.key_id {
            Some(kid) => format!("`{kid}`"),
            None => format!("#{index} (no kid)"),
        };
        // Identity providers often publish encryption keys in the same set (Keycloak's
        // RSA-OAEP key); they never sign tokens, so they are no reason to refuse the file.
        if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
            log::info!("JWKS key {name} is an encryption key (use: enc); skipped");
            continue;
        }
        let alg = key_algorithm(jwk, &name)?;
        let invalid = |detail: String| JwtConfigError::InvalidKey {
            key: name.clone(),
            detail,
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|e| invalid(e.to_string()))?;
        if let DecodingKeyKind::RsaModulusExponent { n, .. } = key.kind() {
            let bits = modulus_bits(n);
            if bits < MIN_RSA_BITS {
                return Err(invalid(format!(
                    "a {bits}-bit RSA key; at least {MIN_RSA_BITS} bits are required"
                )));
            }
        }
        // Builds the RSA public key or the P-256 point now: a bad modulus or a point off the
        // curve is a startup error, not a 401 for every user later.
        (provider.verifier_factory)(&alg, &key).map_err(|e| invalid(e.to_string()))?;
        if let Some(kid) = &jwk.common.key_id {
            if !kids.insert(kid.clone()) {
                return Err(JwtConfigError::DuplicateKid(kid.clone()));
            }
        }
        keys.push(VerifyKey {
            kid: jwk.common.key_id.clone(),
            alg,
            key,
            validation: validation(alg, config),
        });
    }
    Ok(keys)
}

/// The one algorithm a JWK verifies, from its key type and curve; a declared `alg` must agree.
fn key_algorithm(jwk: &Jwk, name: &str) -> Result<Algorithm, JwtConfigError> {
    let unsupported = |detail: String| JwtConfigError::UnsupportedAlgorithm {
        key: name.to_string(),
        detail,
    };
    let declared = jwk.common.key_algorithm;
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => match declared {
            None | Some(KeyAlgorithm::RS256) => Ok(Algorithm::RS256),
            Some(other) => Err(unsupported(format!("RSA key for {other}"))),
        },
        AlgorithmParameters::EllipticCurve(params) if params.curve != EllipticCurve::P256 => {
            Err(unsupported(format!("EC key on curve {:?}", params.curve)))
        }
        AlgorithmParameters::EllipticCurve(_) => match declared {
            None | Some(KeyAlgorithm::ES256) => Ok(Algorithm::ES256),
            Some(other) => Err(unsupported(format!("EC P-256 key for {other}"))),
        },
        AlgorithmParameters::OctetKey(_) => Err(unsupported(
            "a symmetric (oct) key; configure an hs256_secret instead of putting it in a JWKS"
                .into(),
        )),
        AlgorithmParameters::OctetKeyPair(_) => Err(unsupported("an EdDSA (OKP) key".into())),
        _ => Err(unsupported("an unknown key type (kty)".into())),
    }
}

/// Bit length of a big-endian unsigned integer (leading zero bytes and bits not counted).
fn modulus_bits(n: &[u8]) -> usize {
    match n.iter().position(|&b| b != 0) {
        Some(first) => (n.len() - first) * 8 - n[first].leading_zeros() as usize,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::{json, Value};
    use std::path::Path;

    const SECRET: &str = "an-hs256-test-secret-of-40-bytes-length!";
    const AUD: &str = "syncline";
    const ISS: &str = "https://idp.example.com/";
    const RSA_KID: &str = "test-rsa-1";
    const EC_KID: &str = "test-ec-1";

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/jwt")
            .join(name)
    }

    fn read_fixture(name: &str) -> Vec<u8> {
        std::fs::read(fixture(name)).expect("fixture")
    }

    fn now() -> i64 {
        i64::try_from(jsonwebtoken::get_current_timestamp()).expect("time")
    }

    /// Valid claims for the test audience and issuer, expiring in an hour.
    fn claims() -> Value {
        json!({"sub": "alice", "exp": now() + 3600, "aud": AUD, "iss": ISS})
    }

    fn with(mut claims: Value, key: &str, value: Value) -> Value {
        claims[key] = value;
        claims
    }

    fn without(mut claims: Value, key: &str) -> Value {
        claims.as_object_mut().expect("object").remove(key);
        claims
    }

    fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_string);
        jsonwebtoken::encode(&header, claims, key).expect("encode")
    }

    fn sign_hs(claims: &Value) -> String {
        let key = EncodingKey::from_secret(SECRET.as_bytes()).expect("key");
        sign(Algorithm::HS256, None, &key, claims)
    }

    fn rsa_key() -> EncodingKey {
        EncodingKey::from_rsa_pem(&read_fixture("rsa-private.pem")).expect("rsa pem")
    }

    fn ec_key() -> EncodingKey {
        EncodingKey::from_ec_pem(&read_fixture("ec-private.pem")).expect("ec pem")
    }

    fn sign_rs(kid: Option<&str>, claims: &Value) -> String {
        sign(Algorithm::RS256, kid, &rsa_key(), claims)
    }

    fn sign_es(kid: Option<&str>, claims: &Value) -> String {
        sign(Algorithm::ES256, kid, &ec_key(), claims)
    }

    fn hs_verifier() -> JwtVerifier {
        JwtVerifier::new(JwtConfig::hs256(SECRET).with_audience(AUD).with_issuer(ISS))
            .expect("hs256 config")
    }

    fn jwks_verifier() -> JwtVerifier {
        JwtVerifier::new(
            JwtConfig::jwks_file(fixture("jwks.json"))
                .with_audience(AUD)
                .with_issuer(ISS),
        )
        .expect("jwks config")
    }

    /// The fixture JWKS's keys, as JSON values to build variants from.
    fn fixture_jwks() -> Vec<Value> {
        let set: Value = serde_json::from_slice(&read_fixture("jwks.json")).expect("json");
        set["keys"].as_array().expect("keys").clone()
    }

    /// A verifier for a JWKS written to a temporary file.
    fn verifier_for(keys: Vec<Value>) -> Result<JwtVerifier, JwtConfigError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("jwks.json");
        std::fs::write(&path, json!({ "keys": keys }).to_string()).expect("write");
        JwtVerifier::new(JwtConfig::jwks_file(&path))
    }

    fn unsigned(header: &Value, claims: &Value) -> String {
        format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    #[test]
    fn hs256_valid_token_gives_user_and_expiry() {
        let exp = now() + 3600;
        let token = sign_hs(&with(claims(), "exp", json!(exp)));
        assert!(looks_like_jwt(&token));
        assert_eq!(
            hs_verifier().verify(&token),
            Ok(Claims {
                user: "alice".into(),
                expires_at: Some(exp * 1000),
                service: None,
            })
        );
    }

    #[test]
    fn expired_tokens_are_token_expired_beyond_the_leeway() {
        let v = hs_verifier();
        let err = v
            .verify(&sign_hs(&with(claims(), "exp", json!(now() - 3600))))
            .expect_err("expired");
        assert_eq!(err, JwtError::Expired);
        assert_eq!(err.code(), "token_expired");
        // 10 s past expiry is within the default 30 s leeway.
        let token = sign_hs(&with(claims(), "exp", json!(now() - 10)));
        assert!(v.verify(&token).is_ok());
        let strict = JwtVerifier::new(
            JwtConfig::hs256(SECRET)
                .with_audience(AUD)
                .with_leeway_secs(0),
        )
        .expect("config");
        assert_eq!(strict.verify(&token), Err(JwtError::Expired));
    }

    #[test]
    fn expiry_is_reported_only_for_genuine_tokens() {
        let other =
            EncodingKey::from_secret(b"another-secret-that-is-32-bytes-long!!").expect("key");
        let forged = sign(
            Algorithm::HS256,
            None,
            &other,
            &with(claims(), "exp", json!(now() - 3600)),
        );
        assert_eq!(hs_verifier().verify(&forged), Err(JwtError::BadSignature));
    }

    #[test]
    fn not_before_is_honoured() {
        let v = hs_verifier();
        let err = v
            .verify(&sign_hs(&with(claims(), "nbf", json!(now() + 3600))))
            .expect_err("nbf");
        assert_eq!(err, JwtError::NotYetValid);
        assert_eq!(err.code(), "unauthorized");
        assert!(v
            .verify(&sign_hs(&with(claims(), "nbf", json!(now() - 60))))
            .is_ok());
        assert!(v
            .verify(&sign_hs(&with(claims(), "nbf", json!(now() + 10))))
            .is_ok());
    }

    #[test]
    fn audience_is_enforced_when_configured() {
        let v = hs_verifier();
        let err = v
            .verify(&sign_hs(&with(claims(), "aud", json!("another-app"))))
            .expect_err("aud");
        assert_eq!(err, JwtError::WrongAudience);
        assert_eq!(err.code(), "unauthorized");
        assert_eq!(
            v.verify(&sign_hs(&without(claims(), "aud"))),
            Err(JwtError::MissingClaim("aud".into()))
        );
        assert!(v
            .verify(&sign_hs(&with(claims(), "aud", json!(["other", AUD]))))
            .is_ok());
        // Not configured: not checked, whether the token has one or not.
        let open = JwtVerifier::new(JwtConfig::hs256(SECRET)).expect("config");
        assert!(open
            .verify(&sign_hs(&with(claims(), "aud", json!("another-app"))))
            .is_ok());
        assert!(open.verify(&sign_hs(&without(claims(), "aud"))).is_ok());
    }

    #[test]
    fn issuer_is_enforced_when_configured() {
        let v = hs_verifier();
        let err = v
            .verify(&sign_hs(&with(
                claims(),
                "iss",
                json!("https://evil.example/"),
            )))
            .expect_err("iss");
        assert_eq!(err, JwtError::WrongIssuer);
        assert_eq!(err.code(), "unauthorized");
        assert_eq!(
            v.verify(&sign_hs(&without(claims(), "iss"))),
            Err(JwtError::MissingClaim("iss".into()))
        );
        let open = JwtVerifier::new(JwtConfig::hs256(SECRET).with_audience(AUD)).expect("config");
        assert!(open
            .verify(&sign_hs(&with(claims(), "iss", json!("https://other/"))))
            .is_ok());
    }

    #[test]
    fn bad_signatures_are_refused() {
        let v = hs_verifier();
        let other =
            EncodingKey::from_secret(b"another-secret-that-is-32-bytes-long!!").expect("key");
        let err = v
            .verify(&sign(Algorithm::HS256, None, &other, &claims()))
            .expect_err("other key");
        assert_eq!(err, JwtError::BadSignature);
        assert_eq!(err.code(), "unauthorized");
        // A valid signature over different claims: swap in another payload.
        let genuine = sign_hs(&claims());
        let forged_payload =
            URL_SAFE_NO_PAD.encode(with(claims(), "sub", json!("mallory")).to_string());
        let parts: Vec<&str> = genuine.split('.').collect();
        let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(v.verify(&tampered), Err(JwtError::BadSignature));
        // No signature at all.
        let stripped = format!("{}.{}.", parts[0], parts[1]);
        assert_eq!(v.verify(&stripped), Err(JwtError::BadSignature));
    }

    #[test]
    fn alg_none_is_refused() {
        let token = unsigned(&json!({"alg": "none", "typ": "JWT"}), &claims());
        assert!(looks_like_jwt(&token));
        for v in [hs_verifier(), jwks_verifier()] {
            let err = v.verify(&token).expect_err("alg none");
            assert!(matches!(err, JwtError::Malformed(_)), "{err:?}");
            assert_eq!(err.code(), "unauthorized");
        }
        let token = unsigned(&json!({"alg": "None", "kid": RSA_KID}), &claims());
        assert!(matches!(
            jwks_verifier().verify(&token),
            Err(JwtError::Malformed(_))
        ));
    }

    #[test]
    fn hs256_token_against_rs256_jwks_is_algorithm_confusion() {
        // The classic attack: HMAC-sign with the server's *public* key material as the secret.
        let public = read_fixture("jwks.json");
        let as_secret = EncodingKey::from_secret(&public).expect("key");
        let v = jwks_verifier();
        for kid in [Some(RSA_KID), None] {
            let token = sign(Algorithm::HS256, kid, &as_secret, &claims());
            let err = v.verify(&token).expect_err("confusion");
            assert!(
                matches!(&err, JwtError::AlgorithmNotAllowed { token_alg, .. } if token_alg == "HS256"),
                "{err:?}"
            );
            assert_eq!(err.code(), "unauthorized");
        }
        let rsa = fixture_jwks()[0].clone();
        let n = rsa["n"].as_str().expect("n").as_bytes().to_vec();
        let token = sign(
            Algorithm::HS256,
            Some(RSA_KID),
            &EncodingKey::from_secret(&n).expect("key"),
            &claims(),
        );
        assert!(matches!(
            v.verify(&token),
            Err(JwtError::AlgorithmNotAllowed { .. })
        ));
    }

    #[test]
    fn hs256_config_accepts_only_hs256() {
        let v = hs_verifier();
        for token in [sign_rs(None, &claims()), sign_es(Some(EC_KID), &claims())] {
            assert!(matches!(
                v.verify(&token),
                Err(JwtError::AlgorithmNotAllowed { allowed, .. }) if allowed == "HS256"
            ));
        }
        // HS384 with the right secret is still not HS256.
        let key = EncodingKey::from_secret(SECRET.as_bytes()).expect("key");
        assert!(matches!(
            v.verify(&sign(Algorithm::HS384, None, &key, &claims())),
            Err(JwtError::AlgorithmNotAllowed { .. })
        ));
        // A kid is ignored with a shared secret (some providers send one).
        assert!(v
            .verify(&sign(Algorithm::HS256, Some("whatever"), &key, &claims()))
            .is_ok());
    }

    #[test]
    fn rs256_and_es256_verify_with_kid_selection() {
        let v = jwks_verifier();
        // One set of claims for the expectation and the tokens: `exp` is in whole seconds, and
        // a second may tick between two calls of `claims()`.
        let c = claims();
        let expected = Ok(Claims {
            user: "alice".into(),
            expires_at: c["exp"].as_i64().map(|s| s * 1000),
            service: None,
        });
        assert_eq!(v.verify(&sign_rs(Some(RSA_KID), &c)), expected);
        assert_eq!(v.verify(&sign_es(Some(EC_KID), &c)), expected);
        // Without kid: exactly one key per algorithm in the fixture set.
        assert!(v.verify(&sign_rs(None, &claims())).is_ok());
        assert!(v.verify(&sign_es(None, &claims())).is_ok());
        // A kid naming a key of the other algorithm.
        assert!(matches!(
            v.verify(&sign_es(Some(RSA_KID), &claims())),
            Err(JwtError::AlgorithmNotAllowed { allowed, .. }) if allowed == "RS256"
        ));
        assert!(matches!(
            v.verify(&sign_rs(Some(EC_KID), &claims())),
            Err(JwtError::AlgorithmNotAllowed { allowed, .. }) if allowed == "ES256"
        ));
        let err = v
            .verify(&sign_rs(Some("rotated-away"), &claims()))
            .expect_err("unknown kid");
        assert_eq!(err, JwtError::UnknownKey("rotated-away".into()));
        assert_eq!(err.code(), "unauthorized");
        // Claims are checked for asymmetric keys too.
        assert_eq!(
            v.verify(&sign_es(
                Some(EC_KID),
                &with(claims(), "exp", json!(now() - 3600))
            )),
            Err(JwtError::Expired)
        );
        assert_eq!(
            v.verify(&sign_rs(Some(RSA_KID), &with(claims(), "aud", json!("x")))),
            Err(JwtError::WrongAudience)
        );
        // RS512 by the right RSA key is still not RS256.
        assert!(matches!(
            v.verify(&sign(
                Algorithm::RS512,
                Some(RSA_KID),
                &rsa_key(),
                &claims()
            )),
            Err(JwtError::AlgorithmNotAllowed { .. })
        ));
        // A tampered RS256 payload.
        let genuine = sign_rs(Some(RSA_KID), &claims());
        let parts: Vec<&str> = genuine.split('.').collect();
        let payload = URL_SAFE_NO_PAD.encode(with(claims(), "sub", json!("mallory")).to_string());
        assert_eq!(
            v.verify(&format!("{}.{}.{}", parts[0], payload, parts[2])),
            Err(JwtError::BadSignature)
        );
    }

    #[test]
    fn a_token_without_kid_needs_exactly_one_matching_key() {
        let rsa = fixture_jwks()[0].clone();
        let v = verifier_for(vec![
            with(rsa.clone(), "kid", json!("a")),
            with(rsa, "kid", json!("b")),
        ])
        .expect("two rsa keys");
        let claims = without(without(claims(), "aud"), "iss");
        assert_eq!(
            v.verify(&sign_rs(None, &claims)),
            Err(JwtError::AmbiguousKey("RS256".into()))
        );
        assert!(v.verify(&sign_rs(Some("b"), &claims)).is_ok());
        assert!(matches!(
            v.verify(&sign_es(None, &claims)),
            Err(JwtError::AlgorithmNotAllowed { allowed, .. }) if allowed == "RS256"
        ));
    }

    #[test]
    fn sub_must_be_a_sane_user_id() {
        let v = hs_verifier();
        let invalid = |sub: Value| v.verify(&sign_hs(&with(claims(), "sub", sub)));
        assert_eq!(
            v.verify(&sign_hs(&without(claims(), "sub"))),
            Err(JwtError::MissingClaim("sub".into()))
        );
        for bad in [
            json!(""),
            json!(42),
            json!("a\nb"),
            json!("tab\there"),
            json!("x".repeat(MAX_USER_ID_BYTES + 1)),
        ] {
            let err = invalid(bad.clone()).expect_err("bad sub");
            assert!(
                matches!(&err, JwtError::InvalidClaim { claim, .. } if claim == "sub"),
                "{bad}: {err:?}"
            );
            assert_eq!(err.code(), "unauthorized");
        }
        for good in [
            "x".repeat(MAX_USER_ID_BYTES),
            "jürgen@example.com".into(),
            "auth0|5f1c".into(),
        ] {
            assert_eq!(invalid(json!(good)).expect("good sub").user, good);
        }
    }

    #[test]
    fn exp_is_required() {
        let v = hs_verifier();
        assert_eq!(
            v.verify(&sign_hs(&without(claims(), "exp"))),
            Err(JwtError::MissingClaim("exp".into()))
        );
        assert!(v
            .verify(&sign_hs(&with(claims(), "exp", json!("tomorrow"))))
            .is_err());
        // A fractional NumericDate is allowed.
        let exp = now() as f64 + 3600.5;
        let got = v
            .verify(&sign_hs(&with(claims(), "exp", json!(exp))))
            .expect("fractional exp");
        assert_eq!(got.expires_at, Some((exp * 1000.0) as i64));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let v = hs_verifier();
        for token in [
            "",
            "abc",
            "a.b",
            "a.b.c.d",
            "!!!.###.$$$",
            "eyJhbGciOiJIUzI1NiJ9.e30",
        ] {
            assert!(
                matches!(v.verify(token), Err(JwtError::Malformed(_))),
                "{token:?}"
            );
        }
        let huge = format!("{}.e30.sig", "A".repeat(MAX_TOKEN_BYTES));
        assert!(matches!(v.verify(&huge), Err(JwtError::Malformed(_))));
        // An unknown kid is echoed only in part.
        let token = sign_rs(Some(&"k".repeat(1000)), &claims());
        match jwks_verifier().verify(&token) {
            Err(JwtError::UnknownKey(kid)) => assert_eq!(kid.len(), MAX_KID_IN_MESSAGE),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn jwt_shape_is_recognised_cheaply() {
        assert!(looks_like_jwt(
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.sig-_nature"
        ));
        assert!(looks_like_jwt("a.b."));
        assert!(!looks_like_jwt("demo-alice"));
        assert!(!looks_like_jwt(&"0123456789abcdef".repeat(4)));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt("a.b.c.d"));
        assert!(!looks_like_jwt(".b.c"));
        assert!(!looks_like_jwt("a..c"));
        assert!(!looks_like_jwt("a.b=.c"));
        assert!(!looks_like_jwt("a.b+/.c"));
        assert!(!looks_like_jwt("a.b c.d"));
        assert!(!looks_like_jwt(""));
    }

    #[test]
    fn only_expiry_has_its_own_code() {
        let all = [
            JwtError::Malformed("x".into()),
            JwtError::AlgorithmNotAllowed {
                token_alg: "HS256".into(),
                allowed: "RS256".into(),
            },
            JwtError::UnknownKey("k".into()),
            JwtError::AmbiguousKey("RS256".into()),
            JwtError::BadSignature,
            JwtError::NotYetValid,
            JwtError::WrongAudience,
            JwtError::WrongIssuer,
            JwtError::MissingClaim("sub".into()),
            JwtError::InvalidClaim {
                claim: "sub".into(),
                reason: "is empty".into(),
            },
        ];
        let messages: HashSet<String> = all.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), all.len(), "distinct messages");
        for e in &all {
            assert_eq!(e.code(), codes::UNAUTHORIZED, "{e:?}");
        }
        assert_eq!(JwtError::Expired.code(), codes::TOKEN_EXPIRED);
    }

    #[test]
    fn fixture_jwks_matches_the_private_keys() {
        let keys = fixture_jwks();
        let rsa = Jwk::from_encoding_key(&rsa_key(), Algorithm::RS256).expect("rsa jwk");
        let ec = Jwk::from_encoding_key(&ec_key(), Algorithm::ES256).expect("ec jwk");
        match rsa.algorithm {
            AlgorithmParameters::RSA(p) => {
                assert_eq!(keys[0]["n"], json!(p.n));
                assert_eq!(keys[0]["e"], json!(p.e));
            }
            other => panic!("{other:?}"),
        }
        match ec.algorithm {
            AlgorithmParameters::EllipticCurve(p) => {
                assert_eq!(keys[1]["x"], json!(p.x));
                assert_eq!(keys[1]["y"], json!(p.y));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn secrets_shorter_than_32_bytes_are_refused() {
        for (secret, len) in [("", 0), ("too-short", 9), (&SECRET[..31], 31)] {
            let err = JwtVerifier::new(JwtConfig::hs256(secret)).expect_err("short");
            assert!(matches!(err, JwtConfigError::SecretTooShort { len: l } if l == len));
            assert!(err.to_string().contains("at least 32"), "{err}");
        }
        assert!(JwtVerifier::new(JwtConfig::hs256(&SECRET[..32])).is_ok());
    }

    #[test]
    fn unusable_jwks_files_are_configuration_errors() {
        let missing = JwtVerifier::new(JwtConfig::jwks_file(fixture("no-such.json")));
        assert!(matches!(missing, Err(JwtConfigError::ReadJwks { .. })));

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bad.json");
        std::fs::write(&path, "{not json").expect("write");
        let bad = JwtVerifier::new(JwtConfig::jwks_file(&path));
        assert!(matches!(bad, Err(JwtConfigError::ParseJwks { .. })));
        std::fs::write(&path, "[]").expect("write");
        let bad = JwtVerifier::new(JwtConfig::jwks_file(&path));
        assert!(matches!(bad, Err(JwtConfigError::ParseJwks { .. })));

        assert!(matches!(
            verifier_for(vec![]),
            Err(JwtConfigError::NoKeys { .. })
        ));
    }

    #[test]
    fn keys_the_server_cannot_verify_with_are_refused() {
        let [rsa, ec] = [fixture_jwks()[0].clone(), fixture_jwks()[1].clone()];
        let unsupported = |keys: Vec<Value>| {
            let err = verifier_for(keys).expect_err("unsupported");
            assert!(
                matches!(err, JwtConfigError::UnsupportedAlgorithm { .. }),
                "{err:?}"
            );
            err
        };
        let err = unsupported(vec![with(rsa.clone(), "alg", json!("RS512"))]);
        assert!(err.to_string().contains("`test-rsa-1`"), "{err}");
        unsupported(vec![with(rsa.clone(), "alg", json!("PS256"))]);
        unsupported(vec![with(ec.clone(), "alg", json!("ES384"))]);
        unsupported(vec![with(ec.clone(), "crv", json!("P-384"))]);
        unsupported(vec![
            json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode(SECRET), "alg": "HS256"}),
        ]);
        unsupported(vec![
            json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}),
        ]);
        unsupported(vec![json!({"kty": "weird", "kid": "w"})]);
        // Without a declared alg the key type decides.
        assert!(verifier_for(vec![
            without(rsa.clone(), "alg"),
            without(ec.clone(), "alg")
        ])
        .is_ok());
    }

    #[test]
    fn damaged_or_weak_keys_are_refused() {
        let [rsa, ec] = [fixture_jwks()[0].clone(), fixture_jwks()[1].clone()];
        // A 1024-bit modulus.
        let mut n = vec![0xc5u8; 128];
        n[127] |= 1;
        let weak = with(rsa.clone(), "n", json!(URL_SAFE_NO_PAD.encode(&n)));
        let err = verifier_for(vec![weak]).expect_err("weak");
        assert!(err.to_string().contains("1024-bit"), "{err}");
        // A point off the curve.
        let off = with(ec.clone(), "y", ec["x"].clone());
        assert!(matches!(
            verifier_for(vec![off]),
            Err(JwtConfigError::InvalidKey { .. })
        ));
        let bad_b64 = with(rsa.clone(), "n", json!("not base64url!"));
        assert!(matches!(
            verifier_for(vec![bad_b64]),
            Err(JwtConfigError::InvalidKey { .. })
        ));
        assert!(matches!(
            verifier_for(vec![rsa.clone(), with(ec, "kid", json!(RSA_KID))]),
            Err(JwtConfigError::DuplicateKid(kid)) if kid == RSA_KID
        ));
    }

    #[test]
    fn encryption_keys_in_the_set_are_skipped() {
        let rsa = fixture_jwks()[0].clone();
        let enc = with(
            with(
                with(rsa.clone(), "use", json!("enc")),
                "alg",
                json!("RSA-OAEP"),
            ),
            "kid",
            json!("enc-1"),
        );
        let v = verifier_for(vec![enc.clone(), rsa]).expect("enc skipped");
        let claims = without(without(claims(), "aud"), "iss");
        assert!(v.verify(&sign_rs(Some(RSA_KID), &claims)).is_ok());
        assert_eq!(
            v.verify(&sign_rs(Some("enc-1"), &claims)),
            Err(JwtError::UnknownKey("enc-1".into()))
        );
        assert!(matches!(
            verifier_for(vec![enc]),
            Err(JwtConfigError::NoKeys { .. })
        ));
    }

    #[test]
    fn settings_are_checked() {
        assert!(matches!(
            JwtVerifier::new(JwtConfig::hs256(SECRET).with_leeway_secs(MAX_LEEWAY_SECS + 1)),
            Err(JwtConfigError::LeewayTooLarge(_))
        ));
        assert!(
            JwtVerifier::new(JwtConfig::hs256(SECRET).with_leeway_secs(MAX_LEEWAY_SECS)).is_ok()
        );
        assert!(matches!(
            JwtVerifier::new(JwtConfig::hs256(SECRET).with_audience("")),
            Err(JwtConfigError::EmptySetting("audience"))
        ));
        assert!(matches!(
            JwtVerifier::new(JwtConfig::hs256(SECRET).with_issuer("")),
            Err(JwtConfigError::EmptySetting("issuer"))
        ));
    }

    #[test]
    fn config_deserializes_with_defaults_and_hides_the_secret() {
        let config: JwtConfig = serde_json::from_value(json!({
            "keys": {"jwks_file": "/etc/syncline/jwks.json"},
            "audience": AUD,
        }))
        .expect("jwks config");
        assert!(
            matches!(&config.keys, JwtKeys::JwksFile(p) if p == Path::new("/etc/syncline/jwks.json"))
        );
        assert_eq!(config.audience.as_deref(), Some(AUD));
        assert_eq!(config.issuer, None);
        assert_eq!(config.leeway_secs, DEFAULT_LEEWAY_SECS);

        let config: JwtConfig = serde_json::from_value(json!({
            "keys": {"hs256_secret": SECRET},
            "issuer": ISS,
            "leeway_secs": 5,
        }))
        .expect("hs256 config");
        assert_eq!(config.leeway_secs, 5);
        assert!(!format!("{config:?}").contains(SECRET));
        let v = JwtVerifier::new(config).expect("verifier");
        assert!(!format!("{v:?}").contains(SECRET));
        assert!(v.verify(&sign_hs(&without(claims(), "aud"))).is_ok());

        for bad in [
            json!({"keys": {"hs256_secret": SECRET}, "audiense": AUD}),
            json!({"keys": {"pem_file": "k.pem"}}),
            json!({"audience": AUD}),
        ] {
            assert!(
                serde_json::from_value::<JwtConfig>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }
}
