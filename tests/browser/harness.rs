//! What a flow is written with: a [`Browser`] that acts as a person does (visit, fill, click,
//! press keys) and waits for what the page shows with a bounded poll, failing with the page's
//! address and text; screenshots at phone and desktop width; and [`Scene`], chaperone serving
//! the example school with an admin who signs in with a password.

use std::path::PathBuf;
use std::time::Duration;

use crate::accessibility;
use crate::provider::{self, Provider};
use crate::server::{Installation, Server};
use crate::webdriver::{Driver, Element, Programs, Session};

/// How long a page may take to show what a flow waits for.
const WAIT_TIMEOUT: Duration = Duration::from_secs(15);
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How much of a page's text a failure message quotes.
const QUOTED_TEXT_CHARS: usize = 3_000;

/// The widths screenshots are taken at, as CSS pixels (the viewport, not the window).
pub const PHONE: Viewport = Viewport {
    name: "phone",
    width: 390,
    height: 844,
    mobile: true,
};
pub const DESKTOP: Viewport = Viewport {
    name: "desktop",
    width: 1280,
    height: 800,
    mobile: false,
};

#[derive(Clone, Copy)]
pub struct Viewport {
    pub name: &'static str,
    pub width: u32,
    pub height: u32,
    pub mobile: bool,
}

impl Viewport {
    /// Makes the browser's viewport this one.
    pub async fn apply(self, session: &Session) {
        session
            .set_viewport(self.width, self.height, self.mobile)
            .await;
    }
}

/// The first admin, added with `chaperone users add` and a local password.
pub const ADMIN_EMAIL: &str = "it.admin@greenfield.sch.uk";
pub const ADMIN_NAME: &str = "Ivy Admin";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
/// A school admin who signs in only through the school's identity provider.
pub const STAFF_EMAIL: &str = "sam.okafor@greenfield.sch.uk";
pub const STAFF_NAME: &str = "Sam Okafor";

/// Cargo's `target/` folder: `CARGO_TARGET_DIR` when set, else the folder above the one the
/// binary was built into.
pub fn target_folder() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|folder| !folder.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_BIN_EXE_chaperone"))
                .parent()
                .and_then(|profile| profile.parent())
                .expect("the binary is built under target/<profile>/")
                .to_path_buf()
        })
}

/// Where screenshots go: `target/browser-screenshots/`.
pub fn screenshot_folder() -> PathBuf {
    target_folder().join("browser-screenshots")
}

/// A headless Chromium with a profile of its own, pointed at one chaperone.
pub struct Browser {
    session: Session,
    /// Dropped after the session: the driver closes the browser as it stops.
    _driver: Driver,
    _profile: tempfile::TempDir,
    base: String,
    /// Names this flow's screenshots.
    flow: &'static str,
}

impl Browser {
    /// Opens a browser for chaperone at `base` (`http://127.0.0.1:PORT`), at desktop size;
    /// `flow` prefixes its screenshots' names.
    pub async fn open(base: &str, flow: &'static str) -> Browser {
        let programs = Programs::find();
        let driver = Driver::start(&programs);
        let profile = tempfile::tempdir().expect("a browser profile folder");
        let session = driver.new_session(&programs.chromium, profile.path()).await;
        let browser = Browser {
            session,
            _driver: driver,
            _profile: profile,
            base: base.trim_end_matches('/').to_string(),
            flow,
        };
        DESKTOP.apply(&browser.session).await;
        browser
    }

    /// The WebDriver session, for what these helpers do not cover.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Opens `path` on chaperone (or a full address) and waits for it to load.
    pub async fn visit(&self, path: &str) {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        self.session.navigate(&url).await;
    }

    /// The address shown, without chaperone's origin when it is chaperone's
    /// (`/sign-in?return_to=%2F`).
    pub async fn location(&self) -> String {
        let url = self.session.current_url().await;
        match url.strip_prefix(&self.base) {
            Some("") => "/".to_string(),
            Some(rest) if rest.starts_with('/') => rest.to_string(),
            _ => url,
        }
    }

    /// Waits until the address (without its query) is `path`.
    pub async fn wait_for_path(&self, path: &str) {
        let reached = self
            .poll(|| async {
                let location = self.location().await;
                location.split(['?', '#']).next() == Some(path)
            })
            .await;
        if !reached {
            self.fail(&format!("the browser never reached {path}"))
                .await;
        }
    }

    /// Waits for an element matching the CSS `selector`.
    pub async fn wait_for(&self, selector: &str) -> Element {
        match self.poll_for(|| self.session.find(selector)).await {
            Some(element) => element,
            None => self.fail(&format!("nothing matches {selector:?}")).await,
        }
    }

    /// Waits until the page's text contains `text`.
    pub async fn wait_for_text(&self, text: &str) {
        let shown = self
            .poll(|| async { self.text().await.contains(text) })
            .await;
        if !shown {
            self.fail(&format!("the page never showed {text:?}")).await;
        }
    }

    /// Opens `path` again and again until it shows `text`, for what the server records after
    /// answering (a connection's status, say).
    pub async fn revisit_until(&self, path: &str, text: &str) {
        let shown = self
            .poll(|| async {
                self.visit(path).await;
                self.text().await.contains(text)
            })
            .await;
        if !shown {
            self.fail(&format!("{path} never showed {text:?}")).await;
        }
    }

    /// The page's visible text (empty while a new page replaces it).
    pub async fn text(&self) -> String {
        match self.session.find("body").await {
            Some(body) => self
                .session
                .text_if_current(&body)
                .await
                .unwrap_or_default(),
            None => String::new(),
        }
    }

    /// The text of the first element matching `selector`, once there is one.
    pub async fn text_of(&self, selector: &str) -> String {
        let read = self
            .poll_for(|| async {
                let element = self.session.find(selector).await?;
                self.session.text_if_current(&element).await
            })
            .await;
        match read {
            Some(text) => text,
            None => self.fail(&format!("nothing matches {selector:?}")).await,
        }
    }

    /// The page's main heading.
    pub async fn heading(&self) -> String {
        self.text_of("h1").await
    }

    /// Types `value` into the field matching `selector`, replacing what it held.
    pub async fn fill(&self, selector: &str, value: &str) {
        let field = self.wait_for(selector).await;
        self.session.clear(&field).await;
        self.session.send_keys(&field, value).await;
    }

    /// Fills the field labelled by `<label for>` whose text is `label`.
    pub async fn fill_labelled(&self, label: &str, value: &str) {
        let id = self.labelled_id(label).await;
        self.fill(&format!("#{id}"), value).await;
    }

    /// Chooses, in the `<select>` matching `selector`, the option whose value or text is
    /// `option`.
    pub async fn choose(&self, selector: &str, option: &str) {
        let select = self.wait_for(selector).await;
        for candidate in self.session.find_all_within(&select, "option").await {
            let value = self.session.attribute(&candidate, "value").await;
            let text = self.session.text(&candidate).await;
            if value.as_deref() == Some(option) || text.trim() == option {
                self.session.click(&candidate).await;
                return;
            }
        }
        self.fail(&format!("{selector:?} offers no option {option:?}"))
            .await;
    }

    /// Picks `file` in the file input matching `selector` (as the file chooser would).
    pub async fn attach(&self, selector: &str, file: &std::path::Path) {
        let input = self.wait_for(selector).await;
        self.session
            .send_keys(&input, &file.display().to_string())
            .await;
    }

    /// The text of each cell of each body row of the table matching `selector`
    /// (`<th>` and `<td>` alike).
    pub async fn table_rows(&self, selector: &str) -> Vec<Vec<String>> {
        let table = self.wait_for(selector).await;
        let mut rows = Vec::new();
        for row in self.session.find_all_within(&table, "tbody tr").await {
            let mut cells = Vec::new();
            for cell in self.session.find_all_within(&row, "th, td").await {
                cells.push(self.session.text(&cell).await.trim().to_string());
            }
            rows.push(cells);
        }
        rows
    }

    /// The notice a form's redirect left on this page (`<p class="notice" role="status">`).
    pub async fn notice(&self) -> String {
        self.text_of(".notice[role=status]").await
    }

    /// Clicks the element matching `selector`.
    pub async fn click(&self, selector: &str) {
        let element = self.wait_for(selector).await;
        self.session.click(&element).await;
    }

    /// Clicks the button or link whose visible text is `label`.
    pub async fn click_named(&self, label: &str) {
        let found = self
            .poll_for(|| async {
                for element in self.session.find_all("button, a, input[type=submit]").await {
                    let text = self.session.text_if_current(&element).await?;
                    if text.trim() == label {
                        return Some(element);
                    }
                }
                None
            })
            .await;
        match found {
            Some(element) => self.session.click(&element).await,
            None => {
                self.fail(&format!("no button or link says {label:?}"))
                    .await
            }
        }
    }

    /// Signs in on the sign-in page with a local password (the browser must be on it).
    pub async fn sign_in_with_password(&self, email: &str, password: &str) {
        self.wait_for_path("/sign-in").await;
        self.fill("input[name=email]", email).await;
        self.fill("input[name=password]", password).await;
        self.click("form[action='/sign-in'] button[type=submit]")
            .await;
    }

    /// Presses "Sign out" in the header and waits for the sign-in page.
    pub async fn sign_out(&self) {
        self.click("form.sign-out button[type=submit]").await;
        self.wait_for_path("/sign-in").await;
    }

    /// Screenshots the whole page at phone and then desktop width, as
    /// `target/browser-screenshots/<flow>-<page>-<phone|desktop>.png`, and checks it with
    /// axe-core at each (see [`accessibility`]); leaves the browser at desktop width.
    pub async fn capture(&self, page: &str) {
        let folder = screenshot_folder();
        std::fs::create_dir_all(&folder).expect("the screenshot folder");
        for viewport in [PHONE, DESKTOP] {
            viewport.apply(&self.session).await;
            let png = self.session.full_page_screenshot(viewport.width).await;
            assert!(
                png.starts_with(b"\x89PNG"),
                "the {page} screenshot is not a PNG"
            );
            let file = folder.join(format!("{}-{page}-{}.png", self.flow, viewport.name));
            std::fs::write(&file, png)
                .unwrap_or_else(|error| panic!("cannot write {}: {error}", file.display()));
            // After the screenshot, so that a page that fails can be looked at.
            let violations = accessibility::serious_violations(&self.session).await;
            if !violations.is_empty() {
                self.fail(&format!(
                    "axe-core finds serious or critical accessibility violations on the {page} \
                     page at {} width ({}px), screenshot {}:\n{}",
                    viewport.name,
                    viewport.width,
                    file.display(),
                    accessibility::describe(&violations)
                ))
                .await;
            }
        }
    }

    /// Fails the test saying `what`, with where the browser is and what the page says.
    pub async fn fail(&self, what: &str) -> ! {
        let location = self.session.current_url().await;
        let title = self.session.title().await;
        let mut text = self.text().await;
        if text.chars().count() > QUOTED_TEXT_CHARS {
            text = text.chars().take(QUOTED_TEXT_CHARS).collect::<String>() + " …";
        }
        panic!("{what}\n  at {location}\n  title {title:?}\n  page text:\n{text}\n");
    }

    /// Closes the browser (it is also closed when dropped, as after a failure).
    pub async fn close(self) {
        self.session.quit().await;
    }

    /// The `id` a `<label for>` reading `label` points at.
    async fn labelled_id(&self, label: &str) -> String {
        let found = self
            .poll_for(|| async {
                for element in self.session.find_all("label[for]").await {
                    let text = self.session.text_if_current(&element).await?;
                    if text.trim() == label || text.lines().next().map(str::trim) == Some(label) {
                        return self.session.attribute_if_current(&element, "for").await;
                    }
                }
                None
            })
            .await;
        match found {
            Some(id) => id,
            None => self.fail(&format!("no field is labelled {label:?}")).await,
        }
    }

    /// Checks `condition` until it holds or the wait is over.
    async fn poll<F, Fut>(&self, mut condition: F) -> bool
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        self.poll_for(|| {
            let checked = condition();
            async move { checked.await.then_some(()) }
        })
        .await
        .is_some()
    }

    /// Asks `find` until it finds something or the wait is over.
    async fn poll_for<T, F, Fut>(&self, mut find: F) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + WAIT_TIMEOUT;
        loop {
            if let Some(found) = find().await {
                return Some(found);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

/// chaperone serving the example school, its first admin added with the command line, and a
/// browser on it.
pub struct Scene {
    pub browser: Browser,
    pub server: Server,
}

impl Scene {
    /// The example school imported and the admin (a trust admin with a local password)
    /// added; then `prepare` can set more and run commands before `serve`. The browser has not
    /// signed in.
    pub async fn start(flow: &'static str, prepare: impl FnOnce(&mut Installation)) -> Scene {
        // Without a browser or axe-core the test fails here, before anything is started.
        Programs::find();
        accessibility::axe_source();
        let mut installation = Installation::new().await;
        installation.import_example_school();
        installation.add_user(
            ADMIN_EMAIL,
            ADMIN_NAME,
            "trust_admin",
            None,
            Some(ADMIN_PASSWORD),
        );
        prepare(&mut installation);
        let server = installation.serve().await;
        let browser = Browser::open(&server.address, flow).await;
        Scene { browser, server }
    }

    /// As [`Scene::start`], with the admin signed in with their password and on the Overview.
    pub async fn signed_in_admin(flow: &'static str) -> Scene {
        let scene = Scene::start(flow, |_| {}).await;
        scene.browser.visit("/sign-in").await;
        scene
            .browser
            .sign_in_with_password(ADMIN_EMAIL, ADMIN_PASSWORD)
            .await;
        scene.browser.wait_for_path("/").await;
        scene
    }

    /// As [`Scene::start`], with sign-in through a local identity provider at which
    /// [`STAFF_EMAIL`] is signed in, a school admin of the example school without a password.
    pub async fn with_identity_provider(flow: &'static str) -> (Scene, Provider) {
        let provider = Provider::start(STAFF_EMAIL).await;
        let scene = Scene::start(flow, |installation| {
            let callback = format!("{}/sign-in/oidc/callback", installation.address());
            installation.set("CHAPERONE__OIDC__ISSUER", &provider.issuer);
            installation.set("CHAPERONE__OIDC__CLIENT_ID", provider::CLIENT_ID);
            installation.set("CHAPERONE__OIDC__CLIENT_SECRET", provider::CLIENT_SECRET);
            installation.set("CHAPERONE__OIDC__REDIRECT_URL", &callback);
            installation.set("CHAPERONE__OIDC__ALLOWED_DOMAINS", "greenfield.sch.uk");
            installation.add_user(
                STAFF_EMAIL,
                STAFF_NAME,
                "school_admin",
                Some("greenfield"),
                None,
            );
        })
        .await;
        (scene, provider)
    }

    /// Closes the browser and stops chaperone.
    pub async fn finish(self) {
        self.browser.close().await;
    }
}
