//! The relay's router driven in process (`oneshot`): health, readiness, authentication
//! and the JSON error shape.

use axum::{
    body::Body,
    http::{header, Request, StatusCode},
    routing::get,
    Router,
};
use datamgmt_relay::testing::TestRelay;
use datamgmt_relay::{
    auth::{Caller, Role},
    error::ApiError,
    index::Index,
    state::AppState,
};
use serde_json::Value;
use tower::ServiceExt;

fn state(dir: &tempfile::TempDir) -> AppState {
    tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(async {
            let index =
                Index::open(&datamgmt_relay::index::scratch::ephemeral_url().await).await.unwrap();
            TestRelay::new(dir.path()).index(index).state().await
        })
    })
}

async fn call(app: Router, request: Request<Body>) -> (StatusCode, Option<String>, Value) {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let authenticate = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|value| value.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, authenticate, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn get_request(path: &str, token: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(path);
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, token);
    }
    builder.body(Body::empty()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (status, _, body) =
        call(datamgmt_relay::app(state(&dir)), get_request("/healthz", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["account"], "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
    assert!(body["node_id"].as_str().unwrap().starts_with("node_"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_while_the_chain_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let (status, _, body) =
        call(datamgmt_relay::app(state(&dir)), get_request("/readyz", None)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["storage"], "ok");
    assert_eq!(body["index"], "ok");
    assert!(body["chain"].as_str().unwrap().contains("unavailable"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_are_404() {
    let dir = tempfile::tempdir().unwrap();
    let (status, _, _) = call(datamgmt_relay::app(state(&dir)), get_request("/nope", None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A router with one user route and one admin route, to check the `Caller` extractor.
fn guarded(dir: &tempfile::TempDir) -> Router {
    async fn user(caller: Caller) -> String {
        caller.name
    }
    async fn admin(caller: Caller) -> Result<String, ApiError> {
        caller.require(Role::Admin)?;
        Ok(caller.name)
    }
    Router::new().route("/user", get(user)).route("/admin", get(admin)).with_state(state(dir))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_wrong_tokens_are_401_with_the_error_shape() {
    let dir = tempfile::tempdir().unwrap();
    for token in
        [None, Some("user-token"), Some("Bearer "), Some("Bearer wrong"), Some("Basic dXNlcg==")]
    {
        let (status, authenticate, body) = call(guarded(&dir), get_request("/user", token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(authenticate.as_deref(), Some("Bearer"));
        assert_eq!(body["error"]["code"], "unauthorized");
        assert!(body["error"]["message"].as_str().unwrap().contains("bearer token"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_gate_routes_with_403() {
    let dir = tempfile::tempdir().unwrap();
    let app = guarded(&dir);
    let request = |path, token| get_request(path, Some(token));
    let (status, _, _) = call(app.clone(), request("/user", "Bearer user-token")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = call(app.clone(), request("/admin", "Bearer user-token")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "forbidden");
    let (status, _, _) = call(app, request("/admin", "Bearer admin-token")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_on_a_socket_and_shuts_down_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(datamgmt_relay::run(listener, state(&dir), None, async {
        let _ = stopped.await;
    }));
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

fn post_json(path: &str, token: Option<&str>, body: &str) -> Request<Body> {
    let mut builder = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, token);
    }
    builder.body(Body::from(body.to_owned())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_data_refuses_bad_input_with_4xx_and_the_error_shape() {
    let dir = tempfile::tempdir().unwrap();
    let token = Some("Bearer user-token");
    let cases: [(&str, StatusCode); 9] = [
        ("{", StatusCode::BAD_REQUEST),
        ("[]", StatusCode::BAD_REQUEST),
        (r#"{"recipient": "node_b2c3d4e5f6a1"}"#, StatusCode::BAD_REQUEST),
        (r#"{"data": 5, "recipient": "node_b2c3d4e5f6a1"}"#, StatusCode::BAD_REQUEST),
        (
            r#"{"data": "x", "recipient": "node_b2c3d4e5f6a1", "surprise": 1}"#,
            StatusCode::BAD_REQUEST,
        ),
        (r#"{"data": "x", "recipient": "nobody"}"#, StatusCode::BAD_REQUEST),
        (
            r#"{"data": "x", "recipient": "node_b2c3d4e5f6a1", "require_payment": true, "price": -5}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"data": "x", "recipient": "node_b2c3d4e5f6a1", "expires_at": 1}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"data": "x", "recipient": "node_b2c3d4e5f6a1", "encrypt": false}"#,
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (body, expected) in cases {
        let (status, _, json) =
            call(datamgmt_relay::app(state(&dir)), post_json("/share_data", token, body)).await;
        assert_eq!(status, expected, "{body}: {json}");
        assert_eq!(json["error"]["code"], "bad_request", "{body}");
        assert!(!json["error"]["message"].as_str().unwrap().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_data_needs_a_token_and_a_json_body() {
    let dir = tempfile::tempdir().unwrap();
    let body = r#"{"data": "x", "recipient": "node_b2c3d4e5f6a1"}"#;
    let (status, _, _) =
        call(datamgmt_relay::app(state(&dir)), post_json("/share_data", None, body)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let request = Request::post("/share_data")
        .header(header::AUTHORIZATION, "Bearer user-token")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(body))
        .unwrap();
    let (status, _, json) = call(datamgmt_relay::app(state(&dir)), request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_413() {
    let dir = tempfile::tempdir().unwrap();
    let huge =
        format!(r#"{{"data": "{}", "recipient": "node_b2c3d4e5f6a1"}}"#, "x".repeat(17 << 20));
    let request = post_json("/share_data", Some("Bearer user-token"), &huge);
    let (status, _, json) = call(datamgmt_relay::app(state(&dir)), request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json["error"]["code"], "payload_too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_data_is_503_with_retry_after_while_the_chain_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let body = r#"{"data": "x", "recipient": "node_b2c3d4e5f6a1"}"#;
    let response = datamgmt_relay::app(state(&dir))
        .oneshot(post_json("/share_data", Some("Bearer user-token"), body))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let json: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(json["error"]["code"], "unavailable");
    assert!(
        !json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no chain connection has been started"),
        "causes stay in the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_hashes_are_checked_before_anything_else() {
    let dir = tempfile::tempdir().unwrap();
    let token = Some("Bearer user-token");
    for bad in [
        "7f83b1657ff1fc53b92dc18148a1d65dfc2d4b1fa3d677284addd200126d9069",
        "sha256:7F83B1657FF1FC53B92DC18148A1D65DFC2D4B1FA3D677284ADDD200126D9069",
        "sha256:7f83",
        "sha256:..%2F..%2Fetc%2Fpasswd",
    ] {
        let (status, _, json) =
            call(datamgmt_relay::app(state(&dir)), get_request(&format!("/data/{bad}"), token))
                .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {json}");
        assert_eq!(json["error"]["code"], "bad_request");
    }
    let unknown = "/data/sha256:7f83b1657ff1fc53b92dc18148a1d65dfc2d4b1fa3d677284addd200126d9069";
    let (status, _, json) =
        call(datamgmt_relay::app(state(&dir)), get_request(unknown, token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{json}");
    let (status, _, _) = call(datamgmt_relay::app(state(&dir)), get_request(unknown, None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_list_checks_every_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let token = Some("Bearer user-token");
    for query in [
        "limit=0",
        "limit=100000",
        "limit=ten",
        "page_token=garbage!",
        "page_token=bm9wZQ",
        "from=yesterday",
        "to=2026-13-01T00:00:00Z",
        "sender=someone",
        "recipient=node_123",
        "surprise=1",
    ] {
        let (status, _, json) = call(
            datamgmt_relay::app(state(&dir)),
            get_request(&format!("/data/list?{query}"), token),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {json}");
        assert_eq!(json["error"]["code"], "bad_request", "{query}");
    }
    let (status, _, json) =
        call(datamgmt_relay::app(state(&dir)), get_request("/data/list?limit=500", token)).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["items"], serde_json::json!([]));
    assert!(json["next_page_token"].is_null());
    let (status, _, _) =
        call(datamgmt_relay::app(state(&dir)), get_request("/data/list", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_data_checks_the_hash_and_says_when_nothing_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let token = Some("Bearer user-token");
    let (status, _, json) =
        call(datamgmt_relay::app(state(&dir)), get_request("/verify_data/sha256:00", token)).await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request"))
    );
    let unknown =
        "/verify_data/sha256:7f83b1657ff1fc53b92dc18148a1d65dfc2d4b1fa3d677284addd200126d9069";
    let (status, _, json) =
        call(datamgmt_relay::app(state(&dir)), get_request(unknown, token)).await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_route_template() {
    let dir = tempfile::tempdir().unwrap();
    let app = datamgmt_relay::app(state(&dir));
    let token = Some("Bearer user-token");
    call(app.clone(), get_request("/healthz", None)).await;
    call(app.clone(), get_request("/healthz", None)).await;
    let hash = "sha256:7f83b1657ff1fc53b92dc18148a1d65dfc2d4b1fa3d677284addd200126d9069";
    call(app.clone(), get_request(&format!("/data/{hash}"), token)).await;
    call(app.clone(), get_request("/nope", None)).await;
    let response = app.oneshot(get_request("/metrics", None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    for line in [
        r#"datamgmt_http_requests_total{method="GET",route="/healthz",status="200"} 2"#,
        r#"datamgmt_http_requests_total{method="GET",route="/data/{hash}",status="404"} 1"#,
        r#"datamgmt_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        "# TYPE datamgmt_http_request_duration_seconds histogram",
        "# TYPE datamgmt_indexed_block gauge",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

/// The OpenAPI description generated from the code is the one checked in at
/// `relay/openapi.json`: a change to a route or a type shows in review.
/// `DATAMGMT_UPDATE_OPENAPI=1` writes the new one instead of failing.
#[test]
fn openapi_snapshot_is_current() {
    let snapshot = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let generated = datamgmt_relay::api::openapi::document();
    if std::env::var_os("DATAMGMT_UPDATE_OPENAPI").is_some() {
        std::fs::write(&snapshot, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&snapshot).unwrap();
    assert!(
        checked_in == generated,
        "relay/openapi.json differs from the description the code generates; \
         run `DATAMGMT_UPDATE_OPENAPI=1 cargo test -p datamgmt-relay --test router` and review the diff"
    );
    let parsed: Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(parsed["openapi"], "3.1.0");
    // Every error code the relay sends is in the document.
    let codes = &parsed["components"]["schemas"]["ErrorCode"]["enum"];
    for code in ["access_denied", "bad_signature", "bad_gateway", "releases_paused", "rate_limited"]
    {
        assert!(codes.as_array().unwrap().iter().any(|c| c == code), "{code} in {codes}");
    }
}

/// Every operation the OpenAPI document names is routed (a request is not refused by the
/// router itself), and every route the relay serves is in the document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_matches_the_routes() {
    let dir = tempfile::tempdir().unwrap();
    let app = datamgmt_relay::app(state(&dir));
    let (status, _, served) = call(app.clone(), get_request("/openapi.json", None)).await;
    assert_eq!(status, StatusCode::OK);
    let document = served;
    let mut documented = Vec::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            documented.push(format!("{} {path}", method.to_uppercase()));
            let concrete = path
                .replace(
                    "{hash}",
                    "sha256:7f83b1657ff1fc53b92dc18148a1d65dfc2d4b1fa3d677284addd200126d9069",
                )
                .replace("{share_id}", "share_00000000000000000000000000000000");
            let request = Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(&concrete)
                .header(header::AUTHORIZATION, "Bearer user-token")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{}"))
                .unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
            // The router's own refusals (no such route or method) come from its fallbacks.
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let message = body["error"]["message"].as_str().unwrap_or_default();
            let routed = !(status == StatusCode::METHOD_NOT_ALLOWED
                || (status == StatusCode::NOT_FOUND && message.starts_with("no route for")));
            assert!(routed, "{method} {path} is documented but not routed ({status})");
        }
    }
    documented.sort();
    let mut served_routes = [
        "POST /share_data",
        "GET /data/{hash}",
        "GET /data/list",
        "GET /verify_data/{hash}",
        "POST /shares/{share_id}/revoke",
        "PUT /shares/{share_id}/expiry",
        "POST /shares/{share_id}/pay",
        "POST /share_envelope",
        "GET /p2p/envelopes/{share_id}",
        "GET /admin/keys",
        "POST /admin/keys/rotate",
        "POST /admin/keys/rewrap",
        "GET /admin/releases",
        "POST /admin/releases/acknowledge",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
        "GET /openapi.json",
        "GET /contract",
        "GET /nodes",
    ];
    served_routes.sort();
    assert_eq!(documented, served_routes, "the document lists exactly the served routes");
}

/// Stores `data` as a share this node made, as `POST /share_data` would have, and
/// indexes it; returns its hash.
async fn store_share(state: &AppState, id: u8, data: &[u8]) -> datamgmt_abi::DataHash {
    use datamgmt_client::envelope::{self, Header, DEFAULT_CHUNK_SIZE};
    use datamgmt_client::keys::DataKey;
    let share_id = datamgmt_abi::ShareId([id; 16]);
    let data_key = DataKey::generate();
    let mut header = Header::new(DEFAULT_CHUNK_SIZE).unwrap();
    let key_version = {
        let keyring = state.node().keyring.read().await;
        let (version, master) = keyring.current_master();
        header.add_custody(version, master, &data_key).unwrap();
        version
    };
    let mut upload = state.store().upload(share_id).await.unwrap();
    let sealed = envelope::encrypt(data, &mut upload, &header, &data_key, 1).await.unwrap();
    upload.complete().await.unwrap();
    let owner = datamgmt_client::chain::to_abi_account(&state.node().signer.account_id());
    let row = datamgmt_relay::index::ShareRow {
        share_id,
        data_hash: sealed.content_hash,
        owner,
        recipient: datamgmt_abi::AccountId([2; 32]),
        price: 0,
        expires_at: None,
        key_version,
        plaintext_len: data.len() as u64,
        envelope_len: sealed.envelope_len,
        created_at: 1_700_000_000_000 + u64::from(id),
        recorded: None,
        revoked_at: None,
        attempts: 0,
        last_error: None,
    };
    state.index().insert_pending(&row).await.unwrap();
    row.data_hash
}

const ADMIN: Option<&str> = Some("Bearer admin-token");
const USER: Option<&str> = Some("Bearer user-token");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_routes_are_for_admins_only() {
    let dir = tempfile::tempdir().unwrap();
    let app = datamgmt_relay::app(state(&dir));
    let requests = [
        get_request("/admin/keys", USER),
        post_json("/admin/keys/rotate", USER, r#"{"key":"master"}"#),
        post_json("/admin/keys/rewrap", USER, "{}"),
    ];
    for request in requests {
        let (status, _, body) = call(app.clone(), request).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body["error"]["code"], "forbidden");
    }
    let (status, _, _) = call(app.clone(), get_request("/admin/keys", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for bad in [r#"{"key":"other"}"#, r#"{}"#, r#"{"key":"master","x":1}"#, "[", r#"{"key":1}"#] {
        let (status, _, body) =
            call(app.clone(), post_json("/admin/keys/rotate", ADMIN, bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body["error"]["code"], "bad_request", "{bad}");
    }
    assert!(!dir.path().join("keyring.json").exists(), "a refused call saved the keyring");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_the_master_key_saves_the_keyring_first() {
    let dir = tempfile::tempdir().unwrap();
    let app = datamgmt_relay::app(state(&dir));
    let (status, _, body) = call(app.clone(), get_request("/admin/keys", ADMIN)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["master_version"], 1);
    assert_eq!(body["min_decrypt_version"], 1);
    assert_eq!(body["node_key_version"], 1);

    let rotate = || post_json("/admin/keys/rotate", ADMIN, r#"{"key":"master"}"#);
    let (status, _, body) = call(app.clone(), rotate()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["key"], "master");
    assert_eq!(body["previous_version"], 1);
    assert_eq!(body["version"], 2);
    assert_eq!(body["chain"], Value::Null);
    let saved = datamgmt_client::keyring::Keyring::open(
        &dir.path().join("keyring.json"),
        &datamgmt_relay::testing::KEYRING_PASSPHRASE.into(),
    )
    .unwrap();
    assert_eq!(saved.current_master().0, 2);
    let (_, _, body) = call(app.clone(), rotate()).await;
    assert_eq!(body["version"], 3);
    let (_, _, body) = call(app, get_request("/admin/keys", ADMIN)).await;
    assert_eq!(body["master_version"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_the_node_key_needs_the_chain_and_changes_nothing_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let app = datamgmt_relay::app(state(&dir));
    let (status, _, body) =
        call(app.clone(), post_json("/admin/keys/rotate", ADMIN, r#"{"key":"node"}"#)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "unavailable");
    let (_, _, body) = call(app, get_request("/admin/keys", ADMIN)).await;
    assert_eq!(body["node_key_version"], 1);
    assert!(!dir.path().join("keyring.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrap_moves_envelopes_to_the_new_master_key_and_retires_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir);
    let app = datamgmt_relay::app(state.clone());
    let mut hashes = Vec::new();
    for id in 1..=3u8 {
        hashes.push(store_share(&state, id, format!("record {id}").as_bytes()).await);
    }
    // A share whose envelope is gone is reported, not fatal.
    store_share(&state, 9, b"gone").await;
    state.store().delete(datamgmt_abi::ShareId([9; 16])).await.unwrap();

    let (_, _, body) =
        call(app.clone(), post_json("/admin/keys/rotate", ADMIN, r#"{"key":"master"}"#)).await;
    assert_eq!(body["version"], 2);
    let (_, _, body) = call(app.clone(), get_request("/admin/keys", ADMIN)).await;
    assert_eq!(body["envelopes_on_older_master"], 4);

    // Retiring version 1 while an envelope needs it is refused.
    let (status, _, body) =
        call(app.clone(), post_json("/admin/keys/rewrap", ADMIN, r#"{"retire_older":true}"#)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rewrapped"], 3);
    assert_eq!(body["missing"], serde_json::json!([datamgmt_abi::ShareId([9; 16])]));
    assert_eq!(body["failed"], serde_json::json!([]));
    assert_eq!(body["min_decrypt_version"], 2);
    let (_, _, body) = call(app.clone(), get_request("/admin/keys", ADMIN)).await;
    assert_eq!(body["min_decrypt_version"], 2);
    assert_eq!(body["envelopes_on_older_master"], 1, "only the missing envelope");

    // Version 1 no longer decrypts, and every stored share still reads back.
    for (id, hash) in (1..=3u8).zip(&hashes) {
        let (status, _, body) =
            call(app.clone(), get_request(&format!("/data/{hash}"), USER)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"], format!("record {id}"));
        assert_eq!(body["verified"], true);
    }
    // Nothing is left to do.
    let (_, _, body) = call(app, post_json("/admin/keys/rewrap", ADMIN, "{}")).await;
    assert_eq!(body["rewrapped"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrap_reports_an_unreadable_envelope_and_keeps_the_old_key() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir);
    let app = datamgmt_relay::app(state.clone());
    let hash = store_share(&state, 1, b"fine").await;
    store_share(&state, 2, b"to be damaged").await;
    // Damage the second envelope's custody stanza on disk.
    let path = dir.path().join("store/envelopes").join(datamgmt_abi::ShareId([2; 16]).to_string());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[40] ^= 1;
    std::fs::write(&path, bytes).unwrap();

    call(app.clone(), post_json("/admin/keys/rotate", ADMIN, r#"{"key":"master"}"#)).await;
    let (status, _, body) =
        call(app.clone(), post_json("/admin/keys/rewrap", ADMIN, r#"{"retire_older":true}"#)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("1 envelope"), "{body}");
    let (_, _, body) = call(app.clone(), get_request("/admin/keys", ADMIN)).await;
    assert_eq!(body["min_decrypt_version"], 1);
    assert_eq!(body["envelopes_on_older_master"], 1);
    let (status, _, body) = call(app, get_request(&format!("/data/{hash}"), USER)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A signed node-to-node request for `path`, as `suri` at `timestamp`.
fn p2p_request(suri: &str, path: &str, timestamp: u64) -> (Request<Body>, Vec<(String, String)>) {
    use datamgmt_client::{chain::NodeSigner, p2p::SignedHeaders};
    let signer = NodeSigner::from_suri(suri).unwrap();
    let pairs: Vec<(String, String)> = SignedHeaders::sign(&signer, "GET", path, b"", timestamp)
        .to_pairs()
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
    (signed_request(path, &pairs), pairs)
}

fn signed_request(path: &str, pairs: &[(String, String)]) -> Request<Body> {
    let mut builder = Request::get(path);
    for (name, value) in pairs {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder.body(Body::empty()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p2p_requests_need_a_fresh_unique_signature() {
    let dir = tempfile::tempdir().unwrap();
    let app = datamgmt_relay::app(state(&dir));
    let path = "/p2p/envelopes/share_0123456789abcdef0123456789abcdef";
    let now = datamgmt_relay::time::now_ms();

    // Unsigned, even with a valid bearer token.
    let (status, _, body) = call(app.clone(), get_request(path, ADMIN)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "bad_signature");
    assert!(body["error"]["message"].as_str().unwrap().contains("x-dmn-account"), "{body}");

    // Stale, and from the future.
    for timestamp in [now - 120_000, now + 120_000] {
        let (request, _) = p2p_request("//Bob", path, timestamp);
        let (status, _, body) = call(app.clone(), request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("timestamp"), "{body}");
    }

    // Signed for another path, or by another key than the account named.
    let (_, pairs) =
        p2p_request("//Bob", "/p2p/envelopes/share_ffffffffffffffffffffffffffffffff", now);
    let (status, _, body) = call(app.clone(), signed_request(path, &pairs)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_signature"))
    );
    let (_, mut pairs) = p2p_request("//Charlie", path, now);
    let bob = datamgmt_client::chain::to_abi_account(
        &datamgmt_client::chain::NodeSigner::from_suri("//Bob").unwrap().account_id(),
    );
    pairs[0].1 = bob.to_string();
    let (status, _, body) = call(app.clone(), signed_request(path, &pairs)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_signature"))
    );

    // A good signature gets as far as the share (unknown here); nothing is kept for a
    // request that concerns no share of this node (not even its nonce: replays of
    // requests that release something are refused, see the end-to-end suites).
    let (request, pairs) = p2p_request("//Bob", path, now);
    let (status, _, body) = call(app.clone(), request).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found")),
        "{body}"
    );
    let (status, _, body) = call(app.clone(), signed_request(path, &pairs)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // A bad share id, correctly signed, is a 400.
    let (request, _) = p2p_request("//Bob", "/p2p/envelopes/share_xyz", now);
    let (status, _, _) = call(app, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paying_checks_the_share_id_and_needs_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let app = datamgmt_relay::app(state(&dir));
    let (status, _, _) = call(app.clone(), post_json("/shares/share_1/pay", USER, "")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let path = "/shares/share_0123456789abcdef0123456789abcdef/pay";
    let (status, _, _) = call(app.clone(), post_json(path, None, "")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = call(app, post_json(path, USER, "")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_envelope_checks_its_request_before_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let app = datamgmt_relay::app(state(&dir));
    let hash = "sha256:7f83b1657ff1fc53b92dc18148a1d65dfc2d4b1fa3d677284addd200126d9069";
    let raw = |query: &str, content_type: &str, token: Option<&str>| {
        let mut builder = Request::post(format!("/share_envelope?{query}"))
            .header(header::CONTENT_TYPE, content_type);
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, token);
        }
        builder.body(Body::from("not an envelope")).unwrap()
    };
    let good = format!("recipient=node_000000000001&data_hash={hash}");
    let octets = "application/octet-stream";
    for (query, content_type, token, expected) in [
        (good.as_str(), octets, None, StatusCode::UNAUTHORIZED),
        (good.as_str(), "application/json", USER, StatusCode::BAD_REQUEST),
        ("recipient=node_000000000001", octets, USER, StatusCode::BAD_REQUEST),
        ("recipient=node_000000000001&data_hash=sha256:00", octets, USER, StatusCode::BAD_REQUEST),
        (&format!("{good}&price=-1"), octets, USER, StatusCode::BAD_REQUEST),
        (&format!("{good}&expires_at=1"), octets, USER, StatusCode::BAD_REQUEST),
        (good.as_str(), octets, USER, StatusCode::SERVICE_UNAVAILABLE),
    ] {
        let (status, _, body) = call(app.clone(), raw(query, content_type, token)).await;
        assert_eq!(status, expected, "{query} {content_type}: {body}");
        assert!(body["error"]["code"].is_string(), "{body}");
    }
}

/// `start` puts every background task on the state's tracker, and `stop` ends them all
/// (the chain connection too, while it is still trying to connect), promptly. Writes
/// that need the index's group writer still commit afterwards, on their own.
#[tokio::test(flavor = "multi_thread")]
async fn stop_ends_every_background_task() {
    let dir = tempfile::tempdir().unwrap();
    // A file-backed index: an in-memory one lives in its one pooled connection, which a
    // query cut short by the cancellation may close, taking the tables with it.
    let state = TestRelay::new(dir.path()).state().await;
    let nowhere = datamgmt_relay::ChainEndpoint {
        url: "ws://127.0.0.1:9".into(),
        contract: datamgmt_client::chain::AccountId32([7; 32]),
    };
    datamgmt_relay::start(&state, Some(nowhere), datamgmt_relay::Workers::ALL);
    // The recorder, the outbox and the indexer run under the chain writer's task.
    assert_eq!(state.tasks().len(), 4, "chain, index writer, watch, chain writer");
    let account = datamgmt_abi::AccountId([9; 32]);
    assert!(state.index().remember_nonce(&account, "before", 1, 0).await.unwrap());

    let began = std::time::Instant::now();
    tokio::time::timeout(std::time::Duration::from_secs(5), datamgmt_relay::stop(&state))
        .await
        .expect("every task ends within 5 s of stop");
    assert!(state.tasks().is_empty() && state.tasks().is_closed());
    println!("stopped in {} ms", began.elapsed().as_millis());
    assert!(state.index().remember_nonce(&account, "after", 2, 0).await.unwrap());
}

/// `GET /contract` answers without a token with what the relay was given, and browsers
/// on the configured origins (only) may read it; without metadata it is a clear 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_is_published_to_the_configured_origins() {
    use datamgmt_client::api::ContractInfo;
    use datamgmt_relay::state::Public;
    let dir = tempfile::tempdir().unwrap();
    let app = datamgmt_relay::app(state(&dir));
    let (status, _, body) = call(app, get_request("/contract", None)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );

    let info = ContractInfo {
        address: "5DzLKiTeVgq1WjUTSV7panh17YPPKbRMTwWdWthQQ52eftCB".into(),
        code_hash: "0x1234".into(),
        node_url: Some("ws://127.0.0.1:9944".into()),
        metadata: serde_json::json!({"source": {"hash": "0x1234"}, "spec": {"messages": []}}),
    };
    let public = Public {
        contract: Some(info.clone()),
        cors_origins: vec!["http://dapp.example:8080".into()],
        console: None,
    };
    let state = tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(async {
            let index =
                Index::open(&datamgmt_relay::index::scratch::ephemeral_url().await).await.unwrap();
            TestRelay::new(dir.path()).index(index).public(public).state().await
        })
    });
    let app = datamgmt_relay::app(state);
    let (status, _, body) = call(app.clone(), get_request("/contract", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(serde_json::from_value::<ContractInfo>(body).unwrap(), info);

    let preflight = |origin: &str| {
        Request::builder()
            .method("OPTIONS")
            .uri("/contract")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .body(Body::empty())
            .unwrap()
    };
    let allowed = app.clone().oneshot(preflight("http://dapp.example:8080")).await.unwrap();
    assert_eq!(
        allowed.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).unwrap(),
        "http://dapp.example:8080"
    );
    let other = app.clone().oneshot(preflight("http://elsewhere.example")).await.unwrap();
    assert!(other.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    let read = Request::builder()
        .uri("/contract")
        .header(header::ORIGIN, "http://elsewhere.example")
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(read).await.unwrap();
    assert!(response.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_lists_registered_nodes_by_id_in_pages() {
    use datamgmt_abi::{AccountId, EncryptionKey, Node};
    use datamgmt_client::api::NodesResponse;
    use datamgmt_relay::index::IndexedNode;
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir);
    let node = |byte: u8, endpoint: &str, key_version: u32, block_number: u64| {
        let account = AccountId([byte; 32]);
        IndexedNode {
            block_number,
            account,
            node: Node {
                node_id: datamgmt_client::chain::node_id_of(
                    &datamgmt_client::chain::from_abi_account(&account),
                ),
                encryption_key: EncryptionKey([byte; 32]),
                key_version,
                endpoint: endpoint.into(),
                registered_at: 1_700_000_000_000,
                updated_at: 1_700_000_000_000 + block_number,
            },
        }
    };
    let index = state.index();
    let registered: Vec<IndexedNode> =
        (1..=5).map(|byte| node(byte, &format!("http://n{byte}.example"), 1, 10)).collect();
    index.record_block(10, &[], &registered).await.unwrap();
    // An update rewrites its node's row; it does not add one.
    index.record_block(11, &[], &[node(3, "http://moved.example", 2, 11)]).await.unwrap();

    let app = datamgmt_relay::app(state.clone());
    let token = Some("Bearer user-token");
    let mut seen = Vec::new();
    let mut path = "/nodes?limit=2".to_owned();
    loop {
        let (status, _, body) = call(app.clone(), get_request(&path, token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page: NodesResponse = serde_json::from_value(body).unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items);
        match page.next_page_token {
            Some(token) => path = format!("/nodes?limit=2&page_token={token}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let ids: Vec<String> = seen.iter().map(|n| n.node_id.to_string()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "by node id");
    let moved = seen.iter().find(|n| n.endpoint == "http://moved.example").unwrap();
    assert_eq!((moved.key_version, moved.block_number), (2, 11));
    assert_eq!(moved.account, datamgmt_client::chain::AccountId32([3; 32]).to_string());
    assert!(seen.iter().all(|n| !n.this_node));

    for query in ["limit=0", "limit=501", "page_token=bm9wZQ", "page_token=YTpi", "x=1"] {
        let (status, _, body) =
            call(app.clone(), get_request(&format!("/nodes?{query}"), token)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
    }
    let (status, _, _) = call(app, get_request("/nodes", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_with_a_strict_content_security_policy() {
    use datamgmt_relay::console::Console;
    use datamgmt_relay::state::Public;
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    std::fs::create_dir_all(site.join("assets")).unwrap();
    std::fs::write(site.join("index.html"), "<!doctype html><title>console</title>").unwrap();
    std::fs::write(site.join("dapp.html"), "<!doctype html><title>dapp</title>").unwrap();
    std::fs::write(site.join("assets/console-abc.js"), "export const x = 1;\n".repeat(100))
        .unwrap();
    let console =
        Console { dir: site.clone(), node_url: Some("ws://127.0.0.1:9944/some/path".into()) };
    let public = Public { console: Some(console), ..Public::default() };
    let state = tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(async {
            let index =
                Index::open(&datamgmt_relay::index::scratch::ephemeral_url().await).await.unwrap();
            TestRelay::new(dir.path()).index(index).public(public).state().await
        })
    });
    let app = datamgmt_relay::app(state);
    let fetch = |path: &str| {
        let app = app.clone();
        let request = get_request(path, None);
        async move { app.oneshot(request).await.unwrap() }
    };
    let page = fetch("/").await;
    assert_eq!(page.status(), StatusCode::OK);
    let policy = page.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
    for directive in
        ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]
    {
        assert!(policy.contains(directive), "{directive} in {policy}");
    }
    assert!(
        !policy.contains("unsafe-inline") && !policy.contains("wasm") && !policy.contains("ws:")
    );
    assert_eq!(page.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let dapp = fetch("/dapp.html").await;
    let policy = dapp.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(policy.contains("connect-src 'self' ws://127.0.0.1:9944"), "{policy}");
    assert!(!policy.contains("/some/path"), "an origin, not a URL: {policy}");
    assert!(policy.contains("script-src 'self' 'wasm-unsafe-eval'"), "{policy}");
    assert!(!policy.contains("unsafe-inline"));
    let asset = fetch("/assets/console-abc.js").await;
    assert_eq!(asset.status(), StatusCode::OK);
    let gzipped = app
        .clone()
        .oneshot(
            Request::get("/assets/console-abc.js")
                .header(header::ACCEPT_ENCODING, "gzip")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(gzipped.headers()[header::CONTENT_ENCODING], "gzip");
    assert!(asset.headers()[header::CACHE_CONTROL].to_str().unwrap().contains("immutable"));
    for missing in ["/assets/nope.js", "/assets/../index.html", "/index.htm"] {
        let response = fetch(missing).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{missing}");
        if let Some(cache) = response.headers().get(header::CACHE_CONTROL) {
            assert!(!cache.to_str().unwrap().contains("immutable"), "{missing}: {cache:?}");
        }
    }
    // The API is unchanged beside it.
    let (status, _, _) = call(app.clone(), get_request("/data/list", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// With a certificate the relay serves HTTPS only: a client trusting its CA gets
/// answers, plain HTTP gets none, and a client that does not trust the CA refuses the
/// server. The roots file is what `[tls] peer_roots` reads for calling other nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_is_served_with_the_configured_certificate() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let relay_key = KeyPair::generate().unwrap();
    let relay_params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let relay_cert = relay_params.signed_by(&relay_key, &ca, &ca_key).unwrap();
    let (cert, key, roots) =
        (dir.path().join("relay.pem"), dir.path().join("relay.key"), dir.path().join("ca.pem"));
    std::fs::write(&cert, relay_cert.pem() + &ca.pem()).unwrap();
    std::fs::write(&key, relay_key.serialize_pem()).unwrap();
    std::fs::write(&roots, ca.pem()).unwrap();

    let acceptor = datamgmt_relay::tls::acceptor(&cert, &key).expect("the certificate serves");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(datamgmt_relay::run(listener, state(&dir), Some(acceptor), async {
        let _ = stopped.await;
    }));

    let trusted = datamgmt_relay::tls::peer_roots(&roots).unwrap();
    let mut client = reqwest::Client::builder();
    for root in trusted {
        client = client.add_root_certificate(root);
    }
    let client = client.build().unwrap();
    let answer = client.get(format!("https://{address}/healthz")).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(reqwest::get(format!("http://{address}/healthz")).await.is_err(), "no plain HTTP");
    let stranger = reqwest::get(format!("https://{address}/healthz")).await.unwrap_err();
    assert!(stranger.is_connect(), "an unknown CA is refused: {stranger}");
    assert!(datamgmt_relay::tls::acceptor(&roots, &cert).is_err(), "a certificate is no key");

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
