//! The OpenAPI document is public and lists exactly the routes the router serves: the routes
//! are read from `src/api/mod.rs` itself, each is asked whether it is really served, and a
//! route added without documentation fails here.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp, ADMIN_TOKEN};

const ROUTER_SOURCE: &str = include_str!("../../src/http/api/mod.rs");

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// A route as `src/api/mod.rs` registers it: its path, and the methods chained in the call
/// (none where the method router is built elsewhere, as the sign-in routes are).
#[derive(Debug)]
struct RegisteredRoute {
    path: String,
    methods: BTreeSet<String>,
}

/// Every `.route("…", get(…).post(…))` call of the router's source, however rustfmt split it.
fn registered_routes(source: &str) -> Vec<RegisteredRoute> {
    let code: String = source
        .lines()
        .map(|line| line.split_once("//").map_or(line, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n");
    let mut routes = Vec::new();
    let mut rest = code.as_str();
    while let Some(start) = rest.find(".route(") {
        let call = &rest[start + ".route(".len()..];
        let mut depth = 1;
        let end = call
            .char_indices()
            .find_map(|(index, character)| {
                match character {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                (depth == 0).then_some(index)
            })
            .expect("a .route( call closes");
        let arguments = &call[..end];
        let path = arguments
            .split('"')
            .nth(1)
            .expect("a route's first argument is its path")
            .to_string();
        let after_path = arguments.split_once(',').map_or("", |(_, after)| after);
        let methods = METHODS
            .iter()
            .filter(|method| calls(after_path, method))
            .map(|method| method.to_uppercase())
            .collect();
        routes.push(RegisteredRoute { path, methods });
        rest = &call[end..];
    }
    routes
}

/// Whether `code` calls `name(` (not as the tail of a longer name).
fn calls(code: &str, name: &str) -> bool {
    let pattern = format!("{name}(");
    code.match_indices(&pattern).any(|(index, _)| {
        code[..index]
            .chars()
            .next_back()
            .is_none_or(|before| !(before.is_alphanumeric() || before == '_'))
    })
}

/// Whether the router serves `method` at `path`: axum's own 404 (no such path) and 405 (no
/// such method) have empty bodies; a handler's refusal (the API's `{code, detail}`, or the
/// sign-in routes' sentence) says something.
async fn served(app: &TestApp, method: &str, path: &str) -> bool {
    let url = format!("{}{}", app.address, with_ids(path));
    let response = app
        .client
        .request(Method::from_bytes(method.as_bytes()).unwrap(), url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("request sent");
    let status = response.status();
    let body = response.text().await.expect("a body");
    match status {
        StatusCode::METHOD_NOT_ALLOWED => false,
        StatusCode::NOT_FOUND => !body.is_empty(),
        _ => true,
    }
}

/// `path` with every `{parameter}` replaced by 1.
fn with_ids(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') && segment.ends_with('}') {
                "1"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn openapi_document(app: &TestApp) -> Value {
    let response = app
        .client
        .get(format!("{}/api/v1/openapi.json", app.address))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), 200, "served without a token");
    response.json().await.expect("a JSON document")
}

#[test]
fn the_route_reader_reads_split_calls_and_chained_methods() {
    let routes = registered_routes(
        r#"Router::new()
        .route("/a", get(a::list))
        .route(
            "/b/{id}",
            get(b::list).post(b::create),
        )
        // .route("/commented", get(c))
        .route_layer(middleware::from_fn(target))
        .route("/c", c::start_route())"#,
    );
    let read: Vec<(&str, Vec<&str>)> = routes
        .iter()
        .map(|route| {
            (
                route.path.as_str(),
                route.methods.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        read,
        [
            ("/a", vec!["GET"]),
            ("/b/{id}", vec!["GET", "POST"]),
            ("/c", vec![]),
        ]
    );
}

#[tokio::test]
async fn the_document_lists_exactly_the_routes_the_router_serves() {
    // Arrange
    let app = spawn_app().await;
    let registered = registered_routes(ROUTER_SOURCE);
    assert!(registered.len() > 20, "the router's routes are read");
    assert!(
        !served(&app, "GET", "/api/v1/no-such-route").await
            && !served(&app, "DELETE", "/api/v1/findings").await,
        "the probe tells the router's own 404 and 405 from a handler's answer"
    );

    // Act: what the router really serves at each registered path.
    let mut served_routes = BTreeSet::new();
    for route in &registered {
        let mut methods = BTreeSet::new();
        for method in METHODS {
            let method = method.to_uppercase();
            if served(&app, &method, &route.path).await {
                methods.insert(method);
            }
        }
        assert!(!methods.is_empty(), "{} is not served", route.path);
        if !route.methods.is_empty() {
            assert_eq!(
                methods, route.methods,
                "{}: the methods served are the ones registered",
                route.path
            );
        }
        for method in methods {
            served_routes.insert((method, route.path.clone()));
        }
    }
    let document = openapi_document(&app).await;

    // Assert
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("a path item")
                .keys()
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let undocumented: Vec<_> = served_routes.difference(&documented).collect();
    let not_served: Vec<_> = documented.difference(&served_routes).collect();
    assert!(
        undocumented.is_empty() && not_served.is_empty(),
        "served but not documented: {undocumented:?}; documented but not served: {not_served:?}"
    );
}

#[tokio::test]
async fn each_route_states_its_roles_and_its_security() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let document = openapi_document(&app).await;

    // Assert
    let paths = &document["paths"];
    assert_eq!(
        paths["/api/v1/findings"]["get"]["x-roles"],
        json!(["dsl", "deputy_dsl"])
    );
    assert_eq!(
        paths["/api/v1/connections"]["get"]["x-roles"],
        json!(["trust_admin", "school_admin"])
    );
    // What the document calls public is served without a token; the rest is refused 401.
    for (path, item) in paths.as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let public = operation["security"] == json!([]);
            let status = app
                .client
                .request(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    format!("{}{}", app.address, with_ids(path)),
                )
                .send()
                .await
                .expect("request sent")
                .status();
            if public {
                assert_ne!(status, 401, "{method} {path} is public");
            } else {
                assert_eq!(status, 401, "{method} {path} needs a token");
            }
        }
    }
}
