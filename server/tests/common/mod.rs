//! Shared helpers of the integration tests: a tiny blocking HTTP client for the protocol.
#![allow(dead_code)]

pub mod receiver;

use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::{json, Value as Json};
use syncline_protocol::{PullPage, PushResponse};
use syncline_server::testing::TestServer;

pub struct Api {
    pub url: String,
    pub client: Client,
}

impl Api {
    pub fn new(server: &TestServer) -> Api {
        Api {
            url: server.url(),
            client: Client::new(),
        }
    }

    pub fn post(&self, path: &str, token: Option<&str>, body: &Json) -> (StatusCode, Json) {
        let mut req = self.client.post(format!("{}{path}", self.url)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().expect("request");
        let status = resp.status();
        let body: Json = resp.json().expect("a JSON body");
        (status, body)
    }

    pub fn me(&self, token: Option<&str>) -> (StatusCode, Json) {
        let mut req = self.client.get(format!("{}/v1/me", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().expect("request");
        let status = resp.status();
        (status, resp.json().expect("a JSON body"))
    }

    /// A pull that must succeed.
    pub fn pull(
        &self,
        token: &str,
        entity: &str,
        cursor: Option<&str>,
        limit: u32,
        fields: &[&str],
    ) -> PullPage {
        let (status, body) = self.post(
            "/v1/pull",
            Some(token),
            &json!({"entity": entity, "cursor": cursor, "limit": limit, "fields": fields}),
        );
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value(body).expect("a pull page")
    }

    /// Pulls every page from the beginning; returns all pages.
    pub fn pull_all(&self, token: &str, entity: &str, fields: &[&str]) -> Vec<PullPage> {
        self.pull_from(token, entity, None, fields)
    }

    /// Pulls every page after `cursor`.
    pub fn pull_from(
        &self,
        token: &str,
        entity: &str,
        cursor: Option<&str>,
        fields: &[&str],
    ) -> Vec<PullPage> {
        let mut pages = Vec::new();
        let mut cursor = cursor.map(str::to_string);
        loop {
            let page = self.pull(token, entity, cursor.as_deref(), 1000, fields);
            cursor = Some(page.cursor.clone());
            let more = page.has_more;
            pages.push(page);
            if !more {
                return pages;
            }
        }
    }

    /// A push that must be answered 200.
    pub fn push(&self, token: &str, client_id: &str, mutations: Json) -> PushResponse {
        let (status, body) = self.push_raw(token, client_id, mutations);
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value(body).expect("a push response")
    }

    pub fn push_raw(&self, token: &str, client_id: &str, mutations: Json) -> (StatusCode, Json) {
        self.post(
            "/v1/push",
            Some(token),
            &json!({"client_id": client_id, "mutations": mutations}),
        )
    }
}

/// Keys of all upserts of some pages.
pub fn upsert_keys(pages: &[PullPage]) -> Vec<String> {
    pages
        .iter()
        .flat_map(|p| p.upserts.iter())
        .filter_map(|u| u.first().and_then(Json::as_str).map(str::to_string))
        .collect()
}

/// Keys of all tombstones of some pages.
pub fn tombstone_keys(pages: &[PullPage]) -> Vec<String> {
    pages
        .iter()
        .flat_map(|p| p.tombstones.iter())
        .map(|(k, _)| k.clone())
        .collect()
}

/// Asserts a JSON error body with the given code.
pub fn assert_error(body: &Json, code: &str) {
    assert_eq!(body["error"]["code"], json!(code), "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
}

/// The status and code of the n-th result of a push.
pub fn outcome(resp: &PushResponse, i: usize) -> Json {
    serde_json::to_value(&resp.results[i]).expect("serialize")
}
