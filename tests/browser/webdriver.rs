//! A small W3C WebDriver client (<https://www.w3.org/TR/webdriver2/>) over `reqwest`: enough
//! to start ChromeDriver, open a headless Chromium session and drive it like a person
//! (navigate, find, type, click, press a key) and read back what it shows.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

/// The key W3C WebDriver names a found element by.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Longest wait for ChromeDriver to say which port it listens on.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(20);

/// Keys as WebDriver spells them (the specification's "normalised key values").
pub mod keys {
    pub const TAB: &str = "\u{E004}";
    pub const ENTER: &str = "\u{E007}";
}

/// Where the browser and its driver are: Debian's `chromium` and `chromium-driver`, or the
/// programs named by `CHAPERONE_TEST_CHROMIUM` and `CHAPERONE_TEST_CHROMEDRIVER`. A missing one
/// fails the test: the browser tests are part of CI and are never skipped.
pub struct Programs {
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
}

impl Programs {
    pub fn find() -> Programs {
        let find = |variable: &str, names: &[&str]| -> Option<PathBuf> {
            if let Some(path) = std::env::var_os(variable).filter(|path| !path.is_empty()) {
                return Some(PathBuf::from(path)).filter(|path| path.is_file());
            }
            let path = std::env::var_os("PATH").unwrap_or_default();
            std::env::split_paths(&path)
                .chain([PathBuf::from("/usr/bin")])
                .flat_map(|folder| names.iter().map(move |name| folder.join(name)))
                .find(|candidate| candidate.is_file())
        };
        let chromium = find("CHAPERONE_TEST_CHROMIUM", &["chromium", "chromium-browser"]);
        let chromedriver = find("CHAPERONE_TEST_CHROMEDRIVER", &["chromedriver"]);
        match (chromium, chromedriver) {
            (Some(chromium), Some(chromedriver)) => Programs {
                chromium,
                chromedriver,
            },
            (chromium, chromedriver) => panic!(
                "the browser tests need headless Chromium and ChromeDriver, and {} not found. \
                 Install Debian's packages: apt-get install chromium chromium-driver (.ci/run \
                 does this), or name the programs in CHAPERONE_TEST_CHROMIUM and \
                 CHAPERONE_TEST_CHROMEDRIVER.",
                match (chromium.is_none(), chromedriver.is_none()) {
                    (true, true) => "neither chromium nor chromedriver was",
                    (true, false) => "chromium was",
                    _ => "chromedriver was",
                }
            ),
        }
    }
}

/// A ChromeDriver process on a port of its own choosing; killed when dropped.
pub struct Driver {
    process: Child,
    base: String,
    http: reqwest::Client,
}

impl Driver {
    pub fn start(programs: &Programs) -> Driver {
        let mut process = Command::new(&programs.chromedriver)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot start {}: {error}", programs.chromedriver.display())
            });
        // It prints "ChromeDriver was started successfully on port N." once listening.
        let stdout = process.stdout.take().expect("chromedriver's stdout");
        let (said, heard) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line
                    .split("started successfully on port ")
                    .nth(1)
                    .and_then(|rest| rest.trim_end_matches('.').trim().parse::<u16>().ok())
                {
                    let _ = said.send(port);
                }
            }
        });
        let port = match heard.recv_timeout(DRIVER_START_TIMEOUT) {
            Ok(port) => port,
            Err(_) => {
                let _ = process.kill();
                panic!(
                    "{} did not say which port it listens on within {DRIVER_START_TIMEOUT:?}",
                    programs.chromedriver.display()
                )
            }
        };
        Driver {
            process,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("an HTTP client"),
        }
    }

    /// A new headless Chromium with a profile of its own in `profile`.
    pub async fn new_session(&self, chromium: &Path, profile: &Path) -> Session {
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            // Scripts get long enough for axe-core to check a long page on a busy machine.
            "timeouts": {"pageLoad": 30_000, "script": 30_000, "implicit": 0},
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.display()),
                    "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                    "--lang=en-GB",
                    // Overlay scrollbars, as on a phone: none takes width from the page.
                    "--hide-scrollbars",
                ],
            },
        }}});
        let answer = send(
            self.http
                .post(format!("{}/session", self.base))
                .json(&capabilities),
            "new session",
        )
        .await;
        let id = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("ChromeDriver opened no session: {answer}"))
            .to_string();
        Session {
            base: format!("{}/session/{id}", self.base),
            http: self.http.clone(),
        }
    }
}

impl Drop for Driver {
    /// Asks ChromeDriver to shut down, which closes the browsers it started (killed, it would
    /// leave them running), and kills it if it has not gone within a few seconds.
    fn drop(&mut self) {
        let address = self.base.trim_start_matches("http://");
        if let Ok(mut stream) = std::net::TcpStream::connect(address) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                stream,
                "GET /shutdown HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.read_to_end(&mut Vec::new());
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.process.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// One browser, driven through its WebDriver session.
pub struct Session {
    base: String,
    http: reqwest::Client,
}

/// An element found on the current page (stale once the page changes).
#[derive(Clone, Debug)]
pub struct Element(String);

impl Session {
    async fn get(&self, path: &str) -> Value {
        send(self.http.get(format!("{}{path}", self.base)), path).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        send(
            self.http.post(format!("{}{path}", self.base)).json(&body),
            path,
        )
        .await
    }

    /// Opens `url` and waits for its load to finish.
    pub async fn navigate(&self, url: &str) {
        self.post("/url", json!({"url": url})).await;
    }

    pub async fn current_url(&self) -> String {
        string(self.get("/url").await)
    }

    pub async fn title(&self) -> String {
        string(self.get("/title").await)
    }

    /// The first element matching the CSS `selector`, if there is one now.
    pub async fn find(&self, selector: &str) -> Option<Element> {
        let answer = self
            .http
            .post(format!("{}/element", self.base))
            .json(&json!({"using": "css selector", "value": selector}))
            .send()
            .await
            .unwrap_or_else(|error| panic!("WebDriver find {selector:?}: {error}"));
        let ok = answer.status().is_success();
        let answer: Value = answer.json().await.unwrap_or_default();
        match (ok, answer["value"][ELEMENT_KEY].as_str()) {
            (true, Some(id)) => Some(Element(id.to_string())),
            (false, _) if answer["value"]["error"] == "no such element" => None,
            _ => panic!("WebDriver find {selector:?} answered {answer}"),
        }
    }

    /// Every element matching the CSS `selector`, in document order.
    pub async fn find_all(&self, selector: &str) -> Vec<Element> {
        elements(
            self.post(
                "/elements",
                json!({"using": "css selector", "value": selector}),
            )
            .await,
        )
    }

    /// Every element inside `parent` matching the CSS `selector`, in document order.
    pub async fn find_all_within(&self, parent: &Element, selector: &str) -> Vec<Element> {
        elements(
            self.post(
                &format!("/element/{}/elements", parent.0),
                json!({"using": "css selector", "value": selector}),
            )
            .await,
        )
    }

    /// The element that has the keyboard's focus (the body when nothing has).
    pub async fn active_element(&self) -> Element {
        let answer = self.get("/element/active").await;
        Element(
            answer[ELEMENT_KEY]
                .as_str()
                .unwrap_or_else(|| panic!("no active element: {answer}"))
                .to_string(),
        )
    }

    pub async fn text(&self, element: &Element) -> String {
        string(self.get(&format!("/element/{}/text", element.0)).await)
    }

    /// The element's text, or `None` when the page has changed since it was found (as while
    /// a form's answer loads).
    pub async fn text_if_current(&self, element: &Element) -> Option<String> {
        let path = format!("/element/{}/text", element.0);
        self.unless_stale(&path, self.http.get(format!("{}{path}", self.base)))
            .await
            .map(string)
    }

    /// An attribute as written in the page (`None` when absent).
    pub async fn attribute(&self, element: &Element, name: &str) -> Option<String> {
        self.get(&format!("/element/{}/attribute/{name}", element.0))
            .await
            .as_str()
            .map(str::to_string)
    }

    /// As [`Session::attribute`], `None` as well when the page has changed since the element
    /// was found.
    pub async fn attribute_if_current(&self, element: &Element, name: &str) -> Option<String> {
        let path = format!("/element/{}/attribute/{name}", element.0);
        self.unless_stale(&path, self.http.get(format!("{}{path}", self.base)))
            .await
            .and_then(|value| value.as_str().map(str::to_string))
    }

    async fn unless_stale(&self, what: &str, request: reqwest::RequestBuilder) -> Option<Value> {
        match try_send(request, what).await {
            Ok(value) => Some(value),
            Err(refusal) if refusal.is_stale() => None,
            Err(refusal) => panic!(
                "WebDriver {what} failed: {}: {}",
                refusal.error, refusal.message
            ),
        }
    }

    pub async fn tag_name(&self, element: &Element) -> String {
        string(self.get(&format!("/element/{}/name", element.0)).await)
    }

    pub async fn click(&self, element: &Element) {
        self.post(&format!("/element/{}/click", element.0), json!({}))
            .await;
    }

    pub async fn clear(&self, element: &Element) {
        self.post(&format!("/element/{}/clear", element.0), json!({}))
            .await;
    }

    /// Types `text` into the element, as a person would (it takes the focus first).
    pub async fn send_keys(&self, element: &Element, text: &str) {
        self.post(
            &format!("/element/{}/value", element.0),
            json!({"text": text}),
        )
        .await;
    }

    /// Presses and releases `key` (see [`keys`]) wherever the focus is.
    pub async fn press(&self, key: &str) {
        self.post(
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
                {"type": "keyDown", "value": key},
                {"type": "keyUp", "value": key},
            ]}]}),
        )
        .await;
    }

    /// Makes the viewport `width` × `height` CSS pixels at one device pixel per CSS pixel, as
    /// a phone (`mobile`: the page's `<meta name="viewport">` applies and scrollbars overlay)
    /// or a desktop. Chromium's own emulation through ChromeDriver: resizing the window would
    /// leave the viewport short by the window's frame, and under load the new size reaches
    /// the page only some time after the resize has been answered.
    pub async fn set_viewport(&self, width: u32, height: u32, mobile: bool) {
        self.post(
            "/goog/cdp/execute",
            json!({"cmd": "Emulation.setDeviceMetricsOverride", "params": {
                "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile,
            }}),
        )
        .await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let measured = self
                .post(
                    "/execute/sync",
                    json!({"script": "return [window.innerWidth, window.innerHeight]", "args": []}),
                )
                .await;
            let inner = (measured[0].as_u64(), measured[1].as_u64());
            if inner == (Some(width.into()), Some(height.into())) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the viewport should be {width}x{height}, the page measures {measured}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs `script` as the body of a function in the page, with `args` as `arguments`, and
    /// returns what it returns. Scripts run this way are the driver's, not the page's: the
    /// page's Content-Security-Policy does not apply to them.
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": args}))
            .await
    }

    /// As [`Session::execute`] for a script that answers later: it calls the function passed
    /// as its last argument with the result, within the session's script timeout.
    pub async fn execute_async(&self, script: &str, args: Value) -> Value {
        self.post("/execute/async", json!({"script": script, "args": args}))
            .await
    }

    /// The whole page at the viewport's width, down to its end, as PNG bytes (Chromium's
    /// `Page.captureScreenshot` beyond the viewport: WebDriver's own shows only the viewport).
    pub async fn full_page_screenshot(&self, width: u32) -> Vec<u8> {
        let height = self
            .post(
                "/execute/sync",
                json!({"script": "return document.documentElement.scrollHeight", "args": []}),
            )
            .await
            .as_u64()
            .unwrap_or(0);
        let answer = self
            .post(
                "/goog/cdp/execute",
                json!({"cmd": "Page.captureScreenshot", "params": {
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": {"x": 0, "y": 0, "width": width, "height": height.max(1), "scale": 1},
                }}),
            )
            .await;
        STANDARD
            .decode(string(answer["data"].clone()))
            .expect("a base64 screenshot")
    }

    /// Closes the browser.
    pub async fn quit(&self) {
        let _ = self.http.delete(&self.base).send().await;
    }
}

/// A command's refusal, as WebDriver names it (`stale element reference`, `no such element`).
#[derive(Debug)]
pub struct Refusal {
    pub error: String,
    pub message: String,
}

impl Refusal {
    /// The element is gone: the page changed since it was found.
    fn is_stale(&self) -> bool {
        self.error == "stale element reference" || self.error == "no such element"
    }
}

/// Sends a WebDriver command and returns its `value`, or panics with the driver's error.
async fn send(request: reqwest::RequestBuilder, what: &str) -> Value {
    match try_send(request, what).await {
        Ok(value) => value,
        Err(refusal) => panic!(
            "WebDriver {what} failed: {}: {}",
            refusal.error, refusal.message
        ),
    }
}

/// Sends a WebDriver command: its `value`, or what the driver refused with. Only a driver
/// that cannot be reached or does not answer in JSON panics.
async fn try_send(request: reqwest::RequestBuilder, what: &str) -> Result<Value, Refusal> {
    let response = request
        .send()
        .await
        .unwrap_or_else(|error| panic!("WebDriver {what}: {error}"));
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .unwrap_or_else(|error| panic!("WebDriver {what} answered {status} with no JSON: {error}"));
    if status.is_success() {
        Ok(body["value"].clone())
    } else {
        Err(Refusal {
            error: body["value"]["error"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            message: body["value"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        })
    }
}

fn elements(found: Value) -> Vec<Element> {
    found
        .as_array()
        .map(|found| {
            found
                .iter()
                .filter_map(|element| element[ELEMENT_KEY].as_str())
                .map(|id| Element(id.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn string(value: Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}
