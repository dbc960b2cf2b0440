//! Identity end to end, on a real server: JWTs from a team's identity provider (HS256 here, the
//! JWKS algorithms are covered by `jwt`'s unit tests), opaque tokens kept only as hashes, and the
//! admin commands of the server binary setting a deployment up from nothing.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use common::Api;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value as Json};
use syncline_server::testing::ScratchDb;
use syncline_server::testing::TestServer;
use syncline_server::ServerOptions;
use syncline_server::{JwtConfig, JwtVerifier};

const SECRET: &str = "a-team-secret-of-at-least-32-bytes!!";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn jwt(secret: &str, claims: &Json) -> String {
    let key = EncodingKey::from_secret(secret.as_bytes()).expect("key");
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).expect("encode")
}

fn server_trusting_the_team() -> TestServer {
    server_trusting(
        JwtConfig::hs256(SECRET)
            .with_audience("syncline")
            .with_issuer("https://id.example.com"),
    )
}

/// A demo server that trusts the JWTs `config` describes.
fn server_trusting(config: JwtConfig) -> TestServer {
    let verifier = JwtVerifier::new(config).expect("verifier");
    let options = ServerOptions {
        jwt: Some(Arc::new(verifier)),
        ..ServerOptions::default()
    };
    let server = TestServer::try_start_with_options(options).expect("server");
    server.seed_demo().expect("seed");
    server
}

fn claims(sub: &str, exp: i64, aud: &str) -> Json {
    json!({"sub": sub, "exp": exp, "iat": now(), "aud": aud, "iss": "https://id.example.com"})
}

#[test]
fn a_jwt_from_the_teams_provider_identifies_its_user_and_bad_ones_get_the_matching_401() {
    let server = server_trusting_the_team();
    let api = Api::new(&server);
    let hour = now() + 3600;

    // A user the server has never seen: created on first sight, sees only their memberships.
    let dana = jwt(SECRET, &claims("dana", hour, "syncline"));
    let (status, body) = api.me(Some(&dana));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user_id"], "dana");
    assert!(server.store().user_exists("dana").expect("exists"));
    assert!(common::upsert_keys(&api.pull_all(&dana, "tasks", &["title"])).is_empty());
    server
        .store()
        .add_membership("dana", "p-harbor")
        .expect("member");
    assert_eq!(
        common::upsert_keys(&api.pull_all(&dana, "tasks", &["title"])).len(),
        5
    );
    // A JWT for a demo user sees what their opaque token sees.
    let bob = jwt(SECRET, &claims("bob", hour, "syncline"));
    assert_eq!(api.me(Some(&bob)).1["user_id"], "bob");

    let refused = |token: &str, code: &str| {
        let (status, body) = api.me(Some(token));
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"]["code"], code, "{body}");
    };
    refused(
        &jwt(SECRET, &claims("dana", now() - 3600, "syncline")),
        "token_expired",
    );
    refused(
        &jwt(
            "another-secret-that-is-also-32-bytes-long",
            &claims("dana", hour, "syncline"),
        ),
        "unauthorized",
    );
    refused(
        &jwt(SECRET, &claims("dana", hour, "other-app")),
        "unauthorized",
    );
    let mut wrong_issuer = claims("dana", hour, "syncline");
    wrong_issuer["iss"] = json!("https://evil.example.com");
    refused(&jwt(SECRET, &wrong_issuer), "unauthorized");
    let mut early = claims("dana", hour, "syncline");
    early["nbf"] = json!(now() + 600);
    refused(&jwt(SECRET, &early), "unauthorized");
    // Opaque tokens keep working next to JWTs.
    assert_eq!(api.me(Some("demo-alice")).0, StatusCode::OK);
}

#[test]
fn without_jwt_settings_a_jwt_is_just_an_unknown_token() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    let token = jwt(SECRET, &claims("dana", now() + 3600, "syncline"));
    let (status, body) = api.me(Some(&token));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    assert!(!server.store().user_exists("dana").expect("exists"));
}

#[test]
fn tokens_are_stored_only_as_hashes() {
    let server = TestServer::with_demo();
    let token = server.store().issue_token("bob", None).expect("token");
    assert_eq!(token.len(), 64, "256 random bits in hex");
    // Copy whatever the tokens table holds into a table of its own, then look for the token
    // and the demo token in it from the outside.
    server
        .execute_sql(&format!(
            "CREATE TABLE leak AS SELECT token FROM tokens;
             CREATE TABLE found AS SELECT COUNT(*) AS n FROM leak
                WHERE token = '{token}' OR token = 'demo-bob';"
        ))
        .expect("copy");
    server
        .execute_sql(
            "DELETE FROM tokens WHERE token IN (SELECT token FROM leak)
               AND (SELECT n FROM found) > 0",
        )
        .expect("check");
    // Nothing was deleted: neither token is stored in the clear, and both still work.
    let api = Api::new(&server);
    assert_eq!(api.me(Some(&token)).0, StatusCode::OK);
    assert_eq!(api.me(Some("demo-bob")).0, StatusCode::OK);
    assert!(server.store().revoke_token(&token).expect("revoke"));
    assert_eq!(api.me(Some(&token)).0, StatusCode::UNAUTHORIZED);
}

/// Runs the server binary with `args` on `db`; returns its stdout.
fn admin(db: &ScratchDb, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_syncline-server"))
        .arg("--db")
        .arg(db.arg())
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run syncline-server");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_deployment_is_set_up_from_nothing_with_the_admin_commands() {
    let db = ScratchDb::new();
    assert_eq!(
        admin(&db, &["user", "add", "dana"]).trim(),
        "user dana added"
    );
    assert_eq!(
        admin(&db, &["scope", "create", "p-lab", "--name", "Lab"]).trim(),
        "project p-lab created"
    );
    assert!(admin(&db, &["member", "add", "dana", "p-lab"]).contains("now a member of p-lab"));
    let issued = admin(&db, &["token", "issue", "dana", "--ttl-days", "30"]);
    let token = issued.lines().next().expect("the token").to_string();
    assert!(issued.contains("shown only now"));
    assert_eq!(admin(&db, &["user", "list"]), "dana\t1 projects\n1 users\n");

    let server = TestServer::start_at(db.location().clone());
    let api = Api::new(&server);
    let (status, body) = api.me(Some(&token));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user_id"], "dana");
    let projects = common::upsert_keys(&api.pull_all(&token, "projects", &["name"]));
    assert_eq!(projects, vec!["p-lab"]);

    // The running server sees a revocation at once.
    assert_eq!(
        admin(&db, &["token", "revoke", &token]).trim(),
        "token revoked"
    );
    assert_eq!(api.me(Some(&token)).0, StatusCode::UNAUTHORIZED);
    assert!(admin(&db, &["member", "remove", "dana", "p-lab"]).contains("no longer a member"));
    // A command that cannot be carried out fails with a message and changes nothing.
    let out = Command::new(env!("CARGO_BIN_EXE_syncline-server"))
        .args(["--db", &db.arg(), "token", "issue", "nobody"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown user `nobody`"));
}

#[test]
fn a_jwt_names_a_service_through_the_configured_claim() {
    let server = server_trusting(
        JwtConfig::hs256(SECRET)
            .with_audience("syncline")
            .with_service_claim("syncline_service"),
    );
    server
        .store()
        .add_service(&syncline_server::Service {
            name: "erp".into(),
            scopes: vec!["p-harbor".into()],
            all_scopes: false,
            read_only: false,
        })
        .expect("erp");
    let hour = now() + 3600;
    let get = |path: &str, token: &str| {
        let resp = reqwest::blocking::Client::new()
            .get(format!("{}{path}", server.url()))
            .bearer_auth(token)
            .send()
            .expect("request");
        resp.status()
    };
    let as_service = |name: &str| {
        let mut c = json!({"sub": "erp-client", "exp": hour, "aud": "syncline"});
        c["syncline_service"] = json!(name);
        jwt(SECRET, &c)
    };
    let record = "/v1/admin/records/tasks/t-harbor-1";
    // The service it names, with that service's scopes.
    assert_eq!(get(record, &as_service("erp")), StatusCode::OK);
    assert_eq!(
        get("/v1/admin/records/tasks/t-depot-1", &as_service("erp")),
        StatusCode::FORBIDDEN
    );
    // A service the server does not know: 401; a user's JWT on the backend: 403.
    assert_eq!(get(record, &as_service("nobody")), StatusCode::UNAUTHORIZED);
    let user = jwt(
        SECRET,
        &json!({"sub": "alice", "exp": hour, "aud": "syncline"}),
    );
    assert_eq!(get(record, &user), StatusCode::FORBIDDEN);
    // A service's JWT is no device user's: the device routes refuse it.
    assert_eq!(get("/v1/me", &as_service("erp")), StatusCode::UNAUTHORIZED);
    assert_eq!(get("/v1/me", &user), StatusCode::OK);
}
