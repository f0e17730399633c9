//! The console driven as a browser without script drives it: pages fetched, cookies kept,
//! forms posted with the token the page carried, redirects looked at one by one.

mod audit_page;
mod calendar_feed;
mod call_page;
mod connections_page;
mod contacts_page;
mod directory_page;
mod findings_page;
mod policy_page;
mod register_page;
mod reports_page;
mod role_matrix;
mod schools_page;
mod sign_in;
mod timetable_page;
mod users_page;

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::helpers::TestApp;

pub const PASSWORD: &str = "a long enough passphrase";

/// What a page request answered.
pub struct Page {
    pub status: u16,
    /// Where a redirect sends the browser.
    pub location: Option<String>,
    pub body: String,
}

impl Page {
    /// The CSRF token in the page's first form, if it has one.
    pub fn csrf(&self) -> Option<String> {
        field_value(&self.body, "csrf")
    }
}

/// The `value` of the first `<input name="{name}" …>` in `html`.
pub fn field_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_string())
}

/// A browser: its own cookies, no automatic redirects.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    client: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
    /// The CSRF token of the last page that had one.
    pub csrf: Option<String>,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Browser {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
            csrf: None,
        }
    }

    /// The browser's HTTP client, for requests a page would not make.
    pub fn client_for_test(&self) -> &reqwest::Client {
        &self.client
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn read(&mut self, response: reqwest::Response) -> Page {
        for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let text = value.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") || value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .map(|value| value.to_str().unwrap().to_string());
        let body = response.text().await.unwrap();
        let page = Page {
            status,
            location,
            body,
        };
        if let Some(csrf) = page.csrf() {
            self.csrf = Some(csrf);
        }
        page
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.app.address))
            .header(reqwest::header::COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.read(response).await
    }

    /// Posts `fields` as an urlencoded form exactly as given (no token added).
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let response = self
            .client
            .post(format!("{}{path}", self.app.address))
            .header(reqwest::header::COOKIE, self.cookie_header())
            .form(fields)
            .send()
            .await
            .unwrap();
        self.read(response).await
    }

    /// Posts `fields` with the CSRF token of the last page read, as the page's form would.
    pub async fn submit(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self
            .csrf
            .clone()
            .expect("a page with a form was read first");
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Uploads `bytes` as file field `field` of a multipart form (with the token in the
    /// address, as the page's form does), with the other `fields`.
    pub async fn upload(
        &mut self,
        path: &str,
        field: &str,
        file_name: &str,
        bytes: Vec<u8>,
        fields: &[(&str, &str)],
    ) -> Page {
        let csrf = self
            .csrf
            .clone()
            .expect("a page with a form was read first");
        let mut form = reqwest::multipart::Form::new().part(
            field.to_string(),
            reqwest::multipart::Part::bytes(bytes)
                .file_name(file_name.to_string())
                .mime_str("text/csv")
                .unwrap(),
        );
        for (name, value) in fields {
            form = form.text(name.to_string(), value.to_string());
        }
        let separator = if path.contains('?') { '&' } else { '?' };
        let response = self
            .client
            .post(format!("{}{path}{separator}csrf={csrf}", self.app.address))
            .header(reqwest::header::COOKIE, self.cookie_header())
            .multipart(form)
            .send()
            .await
            .unwrap();
        self.read(response).await
    }

    /// Signs in with a local password through the sign-in page; the page it lands on.
    pub async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let form = self.get("/sign-in").await;
        assert_eq!(form.status, 200, "{}", form.body);
        let signed_in = self
            .submit("/sign-in", &[("email", email), ("password", password)])
            .await;
        match signed_in.location.clone() {
            Some(location) if signed_in.status == 303 => self.get(&location).await,
            _ => signed_in,
        }
    }
}

/// Adds a user with `roles` (as the bootstrap admin) and a browser signed in as them.
pub async fn signed_in<'a>(app: &'a TestApp, email: &str, roles: Value) -> Browser<'a> {
    let created = app
        .post_json(
            "/api/v1/users",
            json!({"email": email, "name": "Console User", "password": PASSWORD, "roles": roles}),
        )
        .await;
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    let mut browser = Browser::new(app);
    let home = browser.sign_in(email, PASSWORD).await;
    assert_eq!(home.status, 200, "{:?} {}", home.location, home.body);
    browser
}

/// The id of the school with `slug`.
pub async fn school_id(app: &TestApp, slug: &str) -> i64 {
    use sqlx::Row;
    sqlx::query("SELECT id FROM schools WHERE slug = $1")
        .bind(slug)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .try_get("id")
        .unwrap()
}
