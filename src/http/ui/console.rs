//! Who is using the console, and the checks every request passes before a page's handler:
//! a live session, and on anything but a read, the session's CSRF token.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Utc;
use minijinja::{context, Value};
use serde::{Deserialize, Serialize};

use super::error::PageError;
use super::templates;
use crate::findings::{self, access::Attention};
use crate::http::cookies;
use crate::identity::oidc::SESSION_COOKIE;
use crate::identity::{sessions, Capability, Principal, Reach, SignedIn};
use crate::state::AppState;

/// A short message for the next page (after a form's redirect), kept for a minute.
const NOTICE_COOKIE: &str = "chaperone_notice";

/// The signed-in person behind a console request, with what a page needs to show them.
#[derive(Clone)]
pub struct Console {
    principal: Principal,
    session_secret: String,
    /// The token this session's forms carry.
    pub csrf: String,
    notice: Option<String>,
    secure_cookies: bool,
    /// The request's path, to mark the section it belongs to.
    path: String,
    /// For those who see findings: how many wait for someone, always in the header.
    attention: Option<Attention>,
}

impl Console {
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The signed-in user (a console session always has one).
    pub fn user(&self) -> &SignedIn {
        match &self.principal {
            Principal::User(user) => user,
            Principal::Bootstrap => unreachable!("sessions belong to users"),
        }
    }

    pub fn session_secret(&self) -> &str {
        &self.session_secret
    }

    pub fn secure_cookies(&self) -> bool {
        self.secure_cookies
    }

    /// Refuses (403) unless the person may use `capability` at `school_id`.
    pub fn require(&self, capability: Capability, school_id: i64) -> Result<(), PageError> {
        if self.principal.may(capability, school_id) {
            Ok(())
        } else {
            Err(PageError::Forbidden(needed(capability)))
        }
    }

    /// Where the person may use `capability`; refused (403) where nowhere.
    pub fn reach(&self, capability: Capability) -> Result<Reach, PageError> {
        let reach = self.principal.reach(capability);
        if reach.is_nowhere() {
            Err(PageError::Forbidden(needed(capability)))
        } else {
            Ok(reach)
        }
    }

    /// Renders `template` inside the layout: the page's own `context`, and `me`, `nav`,
    /// `csrf` and `notice` for every page. Pages hold personal data: never cached.
    pub fn page(&self, template: &str, context: Value) -> Result<Response, PageError> {
        self.page_with_status(StatusCode::OK, template, context)
    }

    /// As [`Console::page`], with another status (a form shown again with its errors: 422).
    pub fn page_with_status(
        &self,
        status: StatusCode,
        template: &str,
        context: Value,
    ) -> Result<Response, PageError> {
        let html = templates::render(template, context! { ..context, ..self.common_context() })
            .map_err(|error| PageError::Internal(anyhow::Error::new(error)))?;
        let mut response = html_response(status, html);
        if self.notice.is_some() {
            append_cookie(
                &mut response,
                &cookies::clear(NOTICE_COOKIE, self.secure_cookies),
            );
        }
        Ok(response)
    }

    /// The values every page's layout uses.
    pub fn common_context(&self) -> Value {
        let user = self.user();
        let roles: Vec<&str> = user
            .grants
            .iter()
            .map(|grant| grant.role.as_str())
            .collect();
        context! {
            me => context! { name => user.name.clone(), roles => roles },
            nav => self.navigation(),
            active => self.active_section(),
            csrf => self.csrf.clone(),
            notice => self.notice.clone(),
            attention => self.attention,
        }
    }

    /// The sections this person may open, in the order the layout lists them.
    fn navigation(&self) -> Vec<NavItem> {
        use Capability::{Configure, RecordSessions, SeeReports, SeeSafeguarding, SeeSchools};
        let sections: [(&str, &str, &[Capability]); 13] = [
            ("/", "Overview", &[SeeSchools]),
            ("/findings", "Findings", &[SeeSafeguarding]),
            ("/register", "Register", &[SeeSafeguarding]),
            ("/timetable", "Timetable", &[RecordSessions]),
            ("/calendar", "My calendar", &[RecordSessions]),
            ("/reports", "Reports", &[SeeReports]),
            ("/admin/schools", "Schools", &[Configure]),
            ("/admin/connections", "Connections", &[Configure]),
            ("/admin/directory", "Directory", &[Configure]),
            ("/admin/policy", "Policy", &[Configure]),
            ("/admin/contacts", "Alert contacts", &[Configure]),
            ("/admin/users", "Users and tokens", &[Configure]),
            // The DSLs read the log of what was done about their schools, as in the API.
            ("/admin/audit", "Audit log", &[Configure, SeeSafeguarding]),
        ];
        sections
            .into_iter()
            .filter(|(_, _, needs)| {
                needs
                    .iter()
                    .any(|capability| !self.principal.reach(*capability).is_nowhere())
            })
            .map(|(href, label, _)| NavItem { href, label })
            .collect()
    }

    /// The section the page belongs to: the longest section path the request's path starts with.
    fn active_section(&self) -> &'static str {
        // A call's page is reached from its findings (and the register): it is not a section
        // of its own.
        let path = match self.path.strip_prefix("/calls/") {
            Some(_) => "/findings/",
            None => self.path.as_str(),
        };
        self.navigation()
            .into_iter()
            .map(|item| item.href)
            .filter(|href| *href == "/" || path == *href || path.starts_with(&format!("{href}/")))
            .max_by_key(|href| href.len())
            .unwrap_or("")
    }

    /// A redirect after a form (303, so the browser reads the page again with GET), carrying
    /// `notice` to be shown there once.
    pub fn redirect_with_notice(&self, to: &str, notice: &str) -> Response {
        let mut response = Redirect::to(to).into_response();
        append_cookie(
            &mut response,
            &cookies::set(
                NOTICE_COOKIE,
                &URL_SAFE_NO_PAD.encode(notice),
                60,
                self.secure_cookies,
            ),
        );
        response
    }
}

#[derive(Serialize)]
struct NavItem {
    href: &'static str,
    label: &'static str,
}

impl<S: Send + Sync> FromRequestParts<S> for Console {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Console>().cloned().ok_or_else(|| {
            PageError::Internal(anyhow::anyhow!("a console route without its guard"))
        })
    }
}

/// Lets a request through to a console page only with a live session, and a request that
/// may change something only with the session's CSRF token: in an urlencoded form's `csrf`
/// field, or for a file upload (`multipart/form-data`) in the address's `csrf` parameter.
/// A request without a session goes to the sign-in page and comes back after it.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match admit(&state, request).await {
        Ok(request) => next.run(request).await,
        Err(refused) => refused,
    }
}

async fn admit(state: &AppState, request: Request) -> Result<Request, Response> {
    let secure_cookies = state.settings.server.public_url.starts_with("https://");
    let Some(secret) = cookies::read(request.headers(), SESSION_COOKIE) else {
        return Err(to_sign_in(&request, secure_cookies, false));
    };
    let principal = match live_session(state, &secret).await {
        Ok(Some(principal)) => principal,
        Ok(None) => return Err(to_sign_in(&request, secure_cookies, true)),
        Err(error) => return Err(error.into_response()),
    };
    let csrf = state.links.form_token(&secret);
    let safeguarded = principal.reach(Capability::SeeSafeguarding);
    let attention = if safeguarded.is_nowhere() {
        None
    } else {
        let schools = safeguarded.school_ids();
        match findings::access::attention(&state.db, &principal, schools.as_deref()).await {
            Ok(attention) => Some(attention),
            Err(error) => return Err(PageError::from(error).into_response()),
        }
    };
    let notice = cookies::read(request.headers(), NOTICE_COOKIE)
        .and_then(|encoded| URL_SAFE_NO_PAD.decode(encoded).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok());
    let console = Console {
        principal,
        session_secret: secret,
        csrf,
        notice,
        secure_cookies,
        path: request.uri().path().to_string(),
        attention,
    };
    let mut request = if changes_something(request.method()) {
        check_csrf(state, &console, request).await?
    } else {
        request
    };
    request.extensions_mut().insert(console);
    Ok(request)
}

async fn live_session(state: &AppState, secret: &str) -> Result<Option<Principal>, PageError> {
    if !secret.starts_with(sessions::PREFIX) {
        return Ok(None);
    }
    let mut connection = state.db.pool.acquire().await?;
    sessions::principal(&mut connection, secret, Utc::now())
        .await
        .map_err(|error| PageError::Internal(anyhow::Error::new(error)))
}

fn changes_something(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

#[derive(Deserialize)]
struct CsrfField {
    csrf: Option<String>,
}

/// Reads the request's CSRF token without consuming what the handler needs, and refuses
/// (403, nothing changed) a request from another site or without the session's token.
async fn check_csrf(
    state: &AppState,
    console: &Console,
    request: Request,
) -> Result<Request, Response> {
    let from_another_site = request
        .headers()
        .get("sec-fetch-site")
        .is_some_and(|site| site == "cross-site");
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let (parts, body) = request.into_parts();
    let (presented, body) = if content_type.starts_with("multipart/form-data") {
        let query = Query::<CsrfField>::try_from_uri(&parts.uri)
            .map(|Query(field)| field.csrf)
            .unwrap_or(None);
        (query, body)
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        let bytes = axum::body::to_bytes(body, state.settings.server.max_body_bytes)
            .await
            .map_err(|_| PageError::TooLarge.into_response())?;
        let probe = Request::from_parts(parts.clone(), Body::from(bytes.clone()));
        let field = Form::<CsrfField>::from_request(probe, &())
            .await
            .map(|Form(field)| field.csrf)
            .unwrap_or(None);
        (field, Body::from(bytes))
    } else {
        (None, body)
    };
    let valid = presented.is_some_and(|token| {
        state
            .links
            .form_token_matches(console.session_secret(), &token)
    });
    if from_another_site || !valid {
        tracing::warn!(path = %parts.uri.path(), "a console form without its session's CSRF token was refused");
        return Err(PageError::StaleForm.into_response());
    }
    Ok(Request::from_parts(parts, body))
}

/// To the sign-in page, coming back to this page (for a read) afterwards; a stale session
/// cookie is removed.
fn to_sign_in(request: &Request, secure_cookies: bool, stale: bool) -> Response {
    let target = if request.method() == Method::GET {
        let path_and_query = request
            .uri()
            .path_and_query()
            .map(|value| value.as_str())
            .unwrap_or("/");
        format!("/sign-in?return_to={}", percent_encode(path_and_query))
    } else {
        "/sign-in".to_string()
    };
    let mut response = Redirect::to(&target).into_response();
    if stale {
        append_cookie(
            &mut response,
            &cookies::clear(SESSION_COOKIE, secure_cookies),
        );
    }
    response
}

pub fn html_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub fn append_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(SET_COOKIE, value);
    }
}

fn needed(capability: Capability) -> String {
    format!("This page needs {}.", capability.held_by())
}

/// `text` as a query value: every byte but the unreserved ones percent-encoded.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
