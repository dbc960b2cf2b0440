//! The OpenAPI 3.1 document of the server's whole HTTP API: the device routes, the backend
//! routes and the operations routes, each with its parameters, request body, answers and the
//! token it takes.
//!
//! It is generated, not written: from the `#[utoipa::path]` annotation on each handler and the
//! `ToSchema` derives of the bodies the handlers read and write (the protocol crate's wire
//! types behind its `openapi` feature, the backend's answers in `backend.rs` and
//! `provision.rs`), so a body type that changes changes the document with it. Served at
//! `GET /v1/openapi.json`; committed as `docs/openapi.json` (`syncline-server openapi >
//! docs/openapi.json`). `server/tests/openapi.rs` fails when the two differ, when a route is
//! served and not documented or the other way round, and when a real answer does not match its
//! schema.
//!
//! This module holds all of it but the list of operations: the title and tags, the security
//! schemes, the error answers routes share, and the document's text. The list, the
//! `#[derive(OpenApi)]` that names the handlers, is in `http/mod.rs` beside the routes: it
//! names the handlers there, and the router serves this document, so here it would make the two
//! modules depend on each other (`cargo xtask cycles`).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, Object, Ref, RefOr, Response as ApiResponse, ResponseBuilder,
    Type,
};
use utoipa::{IntoParams, IntoResponses, Modify};

use super::error::ApiError;

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/v1/openapi.json";

/// What the document says of itself.
const TITLE: &str = "Syncline sync server";
const DESCRIPTION: &str = "The reference server's HTTP API. Device routes (tag `device`) take \
a device user's token and are specified in docs/protocol.md; backend routes (tag `backend`, \
`/v1/admin/`) take a service's token and are described in docs/backend.md; operations routes \
(tag `ops`) are for load balancers, monitoring and tooling. Every non-2xx answer has the JSON \
error body `ErrorBody`, and every answer carries `x-request-id`.";

/// The tags, one per kind of client, with what each is.
const TAGS: [(&str, &str); 3] = [
    (
        "device",
        "What devices call, with a device user's token (docs/protocol.md).",
    ),
    (
        "backend",
        "The office's systems, with a service's token (docs/backend.md).",
    ),
    ("ops", "Health, metrics and this document."),
];

/// The document as served and committed: pretty-printed JSON ending in a newline, so the
/// committed file is exactly what `syncline-server openapi` prints and reads well in diffs.
pub(super) fn to_json(doc: &utoipa::openapi::OpenApi) -> Result<String, serde_json::Error> {
    doc.to_pretty_json().map(|mut text| {
        text.push('\n');
        text
    })
}

/// The served document's text, made by `make` on the first request (it never changes while the
/// server runs).
pub(super) fn served(
    make: fn() -> Result<String, serde_json::Error>,
) -> Result<&'static str, ApiError> {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    if let Some(text) = DOCUMENT.get() {
        return Ok(text);
    }
    let text = make().map_err(ApiError::internal)?;
    Ok(DOCUMENT.get_or_init(|| text))
}

/// The path parameters of a record's routes, `/v1/admin/records/{entity}/{key}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Read by the derive only: the handlers take a `Path<(String, String)>`.
pub(super) struct RecordPath {
    /// The entity, as the schema file names it.
    entity: String,
    /// The record's key.
    key: String,
}

/// The path parameter of the import and export routes, `/v1/admin/import/{entity}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Read by the derive only: the handlers take a `Path<String>`.
pub(super) struct EntityPath {
    /// The entity, as the schema file names it.
    entity: String,
}

/// Everything of the document but its operations: title and tags, the security schemes, and
/// the error answers many routes share, as components (the annotations refer to them instead of
/// repeating each description on every route). The `modifiers` of the derive in `http/mod.rs`.
pub(super) struct Document;

/// Names of the shared error answers in `components.responses`.
const UNAUTHORIZED: &str = "Unauthorized";
const FORBIDDEN: &str = "ServiceForbidden";
const RATE_LIMITED: &str = "RateLimited";
const INTERNAL: &str = "Internal";
const TOO_LARGE: &str = "PayloadTooLarge";

impl Modify for Document {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        // The version stays the crate's, as the derive sets it.
        openapi.info.title = TITLE.to_string();
        openapi.info.description = Some(DESCRIPTION.to_string());
        openapi.tags = Some(
            TAGS.iter()
                .map(|(name, description)| {
                    TagBuilder::new()
                        .name(*name)
                        .description(Some(*description))
                        .build()
                })
                .collect(),
        );
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            let mut http = Http::new(HttpAuthScheme::Bearer);
            http.description = Some(description.to_string());
            SecurityScheme::Http(http)
        };
        components.add_security_scheme(
            "device_token",
            bearer(
                "A device user's token: an opaque token the server issued (`token issue`, \
                 `POST /v1/admin/users/{id}/tokens`) or, on a server configured for it, a JWT \
                 from the team's identity provider. Refused on the backend routes (403).",
            ),
        );
        components.add_security_scheme(
            "service_token",
            bearer(
                "A service's token (`service add`, `POST /v1/admin/services`) or a JWT naming a \
                 service through the configured claim (`--jwt-service-claim`). Refused on the \
                 device routes (401).",
            ),
        );
        components.add_security_scheme(
            "metrics_token",
            bearer("The metrics token, when the server was started with `--metrics-token`."),
        );
        let shared = [
            (
                UNAUTHORIZED,
                "`unauthorized` (no token, a malformed header, an unknown or revoked token, a \
                 JWT that fails verification, the other kind of identity's token) or \
                 `token_expired`",
                false,
            ),
            (
                FORBIDDEN,
                "`forbidden`: a device user's token; or the service may not do this (a scope it \
                 does not reach, a write by a read-only service, a deployment-wide call by a \
                 service without every scope)",
                false,
            ),
            (
                RATE_LIMITED,
                "`rate_limited`: too many requests from this identity, or too many failed \
                 authentications from this address",
                true,
            ),
            (
                INTERNAL,
                "`internal`: the server failed; retry later",
                false,
            ),
            (
                TOO_LARGE,
                "`payload_too_large`: the body is over 4 MiB after decompression",
                false,
            ),
        ];
        for (name, description, retry_after) in shared {
            components.responses.insert(
                name.to_string(),
                RefOr::T(error_answer(description, retry_after)),
            );
        }
    }
}

/// An error answer: `description`, the JSON error body, and `Retry-After` when it says when to
/// retry.
fn error_answer(description: &str, retry_after: bool) -> ApiResponse {
    let body = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorBody")))
        .build();
    let answer = ResponseBuilder::new()
        .description(description)
        .content("application/json", body);
    let answer = if retry_after {
        answer.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(Object::with_type(Type::Integer)))
                .description(Some("Seconds to wait before retrying"))
                .build(),
        )
    } else {
        answer
    };
    answer.build()
}

/// The shared answers with these statuses, as references to `components.responses`.
fn refer(answers: &[(&str, &str)]) -> BTreeMap<String, RefOr<ApiResponse>> {
    answers
        .iter()
        .map(|(status, name)| {
            (
                status.to_string(),
                RefOr::Ref(Ref::from_response_name(*name)),
            )
        })
        .collect()
}

/// The error answers of every route that takes a device user's token: 401, 429, 500.
pub(super) struct DeviceErrors;

impl IntoResponses for DeviceErrors {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        refer(&[
            ("401", UNAUTHORIZED),
            ("429", RATE_LIMITED),
            ("500", INTERNAL),
        ])
    }
}

/// The error answers of every backend route: 401, 403, 429, 500.
pub(super) struct ServiceErrors;

impl IntoResponses for ServiceErrors {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        refer(&[
            ("401", UNAUTHORIZED),
            ("403", FORBIDDEN),
            ("429", RATE_LIMITED),
            ("500", INTERNAL),
        ])
    }
}

/// The 413 of every route that reads a body.
pub(super) struct TooLarge;

impl IntoResponses for TooLarge {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        refer(&[("413", TOO_LARGE)])
    }
}
