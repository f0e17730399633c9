//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the API, made from the table of
//! routes ([`super::routes::ROUTES`]) and the roles table ([`Role::allows`]), so that it says
//! what the router serves and who may use each route. Public: it describes, it reveals no data.

use std::sync::LazyLock;

use axum::Json;
use serde_json::{json, Map, Value};

use super::routes::{RouteDoc, ROUTES};
use crate::identity::Role;

/// Made once: the document depends on nothing but the code.
static DOCUMENT: LazyLock<Value> = LazyLock::new(document);

pub async fn get_openapi() -> Json<&'static Value> {
    Json(&DOCUMENT)
}

const DESCRIPTION: &str = "\
chaperone's admin and DSL API. Every route but the sign-in routes and this document needs \
`Authorization: Bearer <secret>`, the secret being one of:\n\n\
- a **session** (`chs_…`) from `POST /api/v1/sign-in` with a local password, or from signing \
in with the school's identity provider at `/sign-in/oidc` (then carried in the \
`chaperone_session` cookie); it ends after 30 minutes idle, 12 hours after sign-in, or at \
`POST /api/v1/sign-out`;\n\
- a **personal API token** (`chp_…`) made with `POST /api/v1/tokens`, shown once and acting as \
one role its owner holds;\n\
- the deployment's **bootstrap** token (`CHAPERONE__API__ADMIN_TOKEN`), with every power at \
every school, for setting up an installation.\n\n\
A role is held at one school or at every school. Each operation's `x-roles` lists the roles \
that may use it; a request at a school where the principal holds none of them is refused 403. \
Errors are `{\"code\", \"detail\"}`: a stable code and a sentence.";

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let item = paths
            .entry(route.path)
            .or_insert_with(|| Value::Object(Map::new()));
        item[route.method.to_ascii_lowercase()] = operation(route);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "chaperone",
            "version": env!("CARGO_PKG_VERSION"),
            "description": DESCRIPTION,
            "license": {"name": "AGPL-3.0-only", "identifier": "AGPL-3.0-only"},
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A session (`chs_…`), a personal API token (`chp_…`) or the bootstrap token.",
                },
                "session_cookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": crate::identity::oidc::SESSION_COOKIE,
                    "description": "The session of a browser signed in through the identity provider.",
                },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["code", "detail"],
                    "properties": {
                        "code": {"type": "string", "description": "Stable, for programs (`not_found`, `forbidden`)."},
                        "detail": {"type": "string", "description": "For people."},
                    },
                },
                "Role": {
                    "type": "string",
                    "enum": Role::ALL.map(Role::as_str),
                },
            },
        },
    })
}

fn operation(route: &RouteDoc) -> Value {
    let mut operation = json!({
        "operationId": route.operation_id,
        "summary": route.summary,
        "description": description(route),
        "parameters": route.parameters.iter().map(|param| json!({
            "name": param.name,
            "in": param.location.as_str(),
            "required": param.required,
            "description": param.description,
            "schema": {"type": param.kind.as_str()},
        })).collect::<Vec<_>>(),
        "responses": responses(route),
    });
    if let Some(schema) = route.request_body {
        let schema: Value = serde_json::from_str(schema).unwrap_or_else(|error| {
            panic!(
                "the request body of {} is JSON: {error}",
                route.operation_id
            )
        });
        operation["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": schema}},
        });
    }
    if route.public {
        // An empty list: no security at all.
        operation["security"] = json!([]);
    } else {
        operation["security"] = json!([{"bearer": []}, {"session_cookie": []}]);
        operation["x-roles"] = json!(roles(route)
            .into_iter()
            .map(Role::as_str)
            .collect::<Vec<_>>());
    }
    operation
}

/// The roles that may use a protected route, as the roles table says; every role where the
/// route asks for no capability.
fn roles(route: &RouteDoc) -> Vec<Role> {
    Role::ALL
        .into_iter()
        .filter(|role| {
            route.capabilities.is_empty()
                || route
                    .capabilities
                    .iter()
                    .any(|capability| role.allows(*capability))
        })
        .collect()
}

fn description(route: &RouteDoc) -> String {
    let who = if route.public {
        "Public: no bearer secret needed.".to_string()
    } else if route.capabilities.is_empty() {
        "Needs a signed-in user, whatever their roles.".to_string()
    } else {
        let roles = roles(route);
        if roles.len() == Role::ALL.len() {
            "Needs a role at the school.".to_string()
        } else {
            let names: Vec<&str> = roles.into_iter().map(role_name).collect();
            let listed = match names.split_last() {
                Some((last, [])) => last.to_string(),
                Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                None => "no".to_string(),
            };
            format!("Needs the {listed} role at the school.")
        }
    };
    if route.notes.is_empty() {
        who
    } else {
        format!("{} {who}", route.notes)
    }
}

/// A role as a sentence names it.
fn role_name(role: Role) -> &'static str {
    match role {
        Role::TrustAdmin => "trust admin",
        Role::SchoolAdmin => "school admin",
        Role::Dsl => "DSL",
        Role::DeputyDsl => "deputy DSL",
        Role::Staff => "staff",
        Role::Governor => "governor",
    }
}

fn responses(route: &RouteDoc) -> Map<String, Value> {
    let mut responses = Map::new();
    for (status, description) in route.responses {
        responses.insert(status.to_string(), response(route, *status, description));
    }
    if !route.public {
        responses
            .entry("401")
            .or_insert_with(|| response(route, 401, "No live bearer secret."));
        if !route.capabilities.is_empty() {
            responses.entry("403").or_insert_with(|| {
                response(
                    route,
                    403,
                    "Signed in, but without the role this needs at the school.",
                )
            });
        }
    }
    responses
}

fn response(route: &RouteDoc, status: u16, description: &str) -> Value {
    if status < 400 {
        return json!({"description": description});
    }
    // The API answers errors in its JSON shape; the browser sign-in routes with a sentence.
    let content = if route.path.starts_with("/api/") {
        json!({"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}})
    } else {
        json!({"text/plain": {"schema": {"type": "string"}}})
    };
    json!({"description": description, "content": content})
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};

    use super::*;

    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    /// Every `(method, path, operation)` of the document.
    fn operations(document: &Value) -> Vec<(&str, &str, &Value)> {
        let paths = document["paths"].as_object().expect("paths is an object");
        paths
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .expect("a path item is an object")
                    .iter()
                    .map(move |(method, operation)| (method.as_str(), path.as_str(), operation))
            })
            .collect()
    }

    fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("$ref", Value::String(target)) => found.push(target),
                        _ => refs(value, found),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| refs(item, found)),
            _ => {}
        }
    }

    #[test]
    fn the_document_is_openapi_3_1_in_shape() {
        let document = document();
        assert_eq!(document["openapi"], "3.1.0");
        assert_eq!(document["info"]["title"], "chaperone");
        assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(
            document["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );

        let operations = operations(&document);
        assert_eq!(
            operations.len(),
            ROUTES.len(),
            "two rows of the table are one method at one path"
        );
        let mut operation_ids = HashSet::new();
        for (method, path, operation) in operations {
            let named = format!("{} {path}", method.to_uppercase());
            assert!(path.starts_with('/'), "{named}");
            assert!(METHODS.contains(&method), "{named}");
            let id = operation["operationId"].as_str().expect("an operationId");
            assert!(operation_ids.insert(id), "{named}: operationId {id} twice");
            assert!(operation["summary"].is_string(), "{named}");

            let parameters = operation["parameters"].as_array().expect("parameters");
            let declared: BTreeSet<&str> = parameters
                .iter()
                .filter(|param| param["in"] == "path")
                .map(|param| {
                    assert_eq!(
                        param["required"], true,
                        "{named}: path parameters are required"
                    );
                    param["name"].as_str().expect("a parameter name")
                })
                .collect();
            let in_path: BTreeSet<&str> = path
                .split('/')
                .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            assert_eq!(declared, in_path, "{named}: path parameters");
            for param in parameters {
                assert!(
                    ["query", "path"].contains(&param["in"].as_str().unwrap()),
                    "{named}"
                );
                assert!(param["schema"]["type"].is_string(), "{named}");
            }

            let responses = operation["responses"].as_object().expect("responses");
            assert!(!responses.is_empty(), "{named}");
            for (status, response) in responses {
                assert!(
                    status.len() == 3 && status.parse::<u16>().is_ok(),
                    "{named}: status {status}"
                );
                assert!(response["description"].is_string(), "{named} {status}");
            }

            let security = operation["security"]
                .as_array()
                .expect("security is stated");
            if operation.get("x-roles").is_some() {
                assert!(!security.is_empty(), "{named}: protected, with security");
                assert!(responses.contains_key("401"), "{named}: a 401");
            } else {
                assert!(security.is_empty(), "{named}: public, without security");
            }
        }
        // A route that asks for a role refuses 403 without it (sign-out, which asks for
        // none, cannot).
        for route in ROUTES.iter().filter(|route| !route.capabilities.is_empty()) {
            let operation = &document["paths"][route.path][route.method.to_ascii_lowercase()];
            assert!(operation["x-roles"].is_array(), "{}", route.path);
            assert!(
                operation["responses"]["403"].is_object(),
                "{} {}: a 403",
                route.method,
                route.path
            );
        }

        let mut found = Vec::new();
        refs(&document, &mut found);
        assert!(!found.is_empty());
        for target in found {
            let pointer = target
                .strip_prefix('#')
                .expect("a reference within the document");
            assert!(document.pointer(pointer).is_some(), "{target} resolves");
        }
    }

    #[test]
    fn the_roles_of_a_route_follow_the_roles_table() {
        let document = document();
        let findings = &document["paths"]["/api/v1/findings"]["get"];
        assert_eq!(findings["x-roles"], json!(["dsl", "deputy_dsl"]));
        assert!(findings["description"]
            .as_str()
            .unwrap()
            .ends_with("Needs the DSL or deputy DSL role at the school."));
        let connections = &document["paths"]["/api/v1/connections"]["get"];
        assert_eq!(
            connections["x-roles"],
            json!(["trust_admin", "school_admin"])
        );
        let audit = &document["paths"]["/api/v1/audit"]["get"];
        assert_eq!(
            audit["x-roles"],
            json!(["trust_admin", "school_admin", "dsl", "deputy_dsl"])
        );
        let sessions = &document["paths"]["/api/v1/planned-sessions"]["post"];
        assert_eq!(sessions["x-roles"], json!(["dsl", "deputy_dsl", "staff"]));
        let sign_in = &document["paths"]["/api/v1/sign-in"]["post"];
        assert!(sign_in.get("x-roles").is_none());
        assert_eq!(sign_in["security"], json!([]));
    }
}
