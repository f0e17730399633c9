//! Every page a flow captures is checked with axe-core (Deque's WCAG 2 A/AA and best-practice
//! rules, <https://github.com/dequelabs/axe-core>) in the browser as rendered, at phone and
//! desktop width: a violation whose impact is serious or critical fails the test, naming the
//! rule, its impact and the elements. axe-core is put into the page through WebDriver, whose
//! scripts the page's Content-Security-Policy does not govern, so the console needs no
//! exception for it.
//!
//! The pinned axe-core comes from npm: `.ci/run` installs it into `target/axe-core/`
//! (`npm install --prefix target/axe-core axe-core@VERSION`); `CHAPERONE_TEST_AXE_CORE` may
//! name another copy's package folder. Without it every browser test fails, saying so.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::harness::target_folder;
use crate::webdriver::Session;

/// The axe-core release the checks are written against; `.ci/run` installs the same.
pub const AXE_CORE_VERSION: &str = "4.14.1";

/// Names an axe-core package folder (the one holding `axe.min.js`) to use instead.
const AXE_CORE_VARIABLE: &str = "CHAPERONE_TEST_AXE_CORE";

/// The impacts that fail a test; "moderate" and "minor" do not.
const FAILING_IMPACTS: [&str; 2] = ["serious", "critical"];

/// Runs axe over the whole document and answers, for each violation, its rule, impact, help
/// text and the CSS selectors of the elements at fault.
const RUN_AXE: &str = r#"
var done = arguments[arguments.length - 1];
window.axe.run(document, { resultTypes: ["violations"] }).then(function (results) {
  done({ violations: results.violations.map(function (violation) {
    return {
      rule: violation.id,
      impact: violation.impact,
      help: violation.help,
      targets: violation.nodes.map(function (node) { return [].concat(node.target).join(" "); })
    };
  }) });
}, function (error) { done({ error: String(error) }); });
"#;

/// One rule broken on a page.
#[derive(Debug)]
pub struct Violation {
    pub rule: String,
    pub impact: String,
    pub help: String,
    pub targets: Vec<String>,
}

fn package_folder() -> PathBuf {
    std::env::var_os(AXE_CORE_VARIABLE)
        .filter(|folder| !folder.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| target_folder().join("axe-core/node_modules/axe-core"))
}

/// The text of the pinned `axe.min.js`, read once; fails the test when it is missing or is
/// another version.
pub fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let folder = package_folder();
        let install = format!(
            "Install it as .ci/run does: npm install --prefix target/axe-core --no-save \
             axe-core@{AXE_CORE_VERSION} (or name its package folder in {AXE_CORE_VARIABLE})."
        );
        let manifest = std::fs::read_to_string(folder.join("package.json")).unwrap_or_else(|_| {
            panic!(
                "the browser tests check every page with axe-core, which is not in {}. {install}",
                folder.display()
            )
        });
        let version = serde_json::from_str::<Value>(&manifest)
            .ok()
            .and_then(|manifest| manifest["version"].as_str().map(str::to_string))
            .unwrap_or_default();
        assert_eq!(
            version,
            AXE_CORE_VERSION,
            "{} holds axe-core {version:?}, the tests expect {AXE_CORE_VERSION}. {install}",
            folder.display()
        );
        let script = folder.join("axe.min.js");
        std::fs::read_to_string(&script)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}. {install}", script.display()))
    })
}

/// The serious and critical violations axe finds on the page the browser shows.
pub async fn serious_violations(session: &Session) -> Vec<Violation> {
    // A new page has no axe; checking again at another width reuses the one put in.
    let present = session
        .execute("return typeof window.axe === 'object';", json!([]))
        .await;
    if present != Value::Bool(true) {
        let installed = session
            .execute(
                &format!("{}\nreturn typeof window.axe === 'object';", axe_source()),
                json!([]),
            )
            .await;
        assert_eq!(installed, Value::Bool(true), "axe-core did not load");
    }
    let answer = session.execute_async(RUN_AXE, json!([])).await;
    if let Some(error) = answer["error"].as_str() {
        panic!("axe-core could not check the page: {error}");
    }
    let violations = answer["violations"]
        .as_array()
        .unwrap_or_else(|| panic!("axe-core answered {answer}"));
    violations
        .iter()
        .map(|violation| Violation {
            rule: text(&violation["rule"]),
            impact: text(&violation["impact"]),
            help: text(&violation["help"]),
            targets: violation["targets"]
                .as_array()
                .map(|targets| targets.iter().map(text).collect())
                .unwrap_or_default(),
        })
        .filter(|violation| FAILING_IMPACTS.contains(&violation.impact.as_str()))
        .collect()
}

/// One line per violation: `rule (impact): help — at selector, selector`.
pub fn describe(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|violation| {
            format!(
                "  {} ({}): {} — at {}",
                violation.rule,
                violation.impact,
                violation.help,
                violation.targets.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

/// Puts into the page an image without a text alternative and faint grey text on white,
/// through the DOM (which the page's CSP allows a driver's script to do).
const BREAK_THE_PAGE: &str = r##"
var image = document.createElement("img");
image.src = "/assets/console.css";
image.width = 10;
image.height = 10;
var faint = document.createElement("p");
faint.textContent = "Barely readable";
faint.style.color = "#c8c8c8";
faint.style.background = "#ffffff";
var main = document.querySelector("main");
main.appendChild(image);
main.appendChild(faint);
"##;

#[tokio::test]
async fn the_check_finds_a_missing_text_alternative_and_faint_text() {
    let scene = crate::harness::Scene::start("accessibility", |_| {}).await;
    let session = scene.browser.session();
    scene.browser.visit("/sign-in").await;
    scene.browser.wait_for("main h1").await;
    assert!(
        serious_violations(session).await.is_empty(),
        "the sign-in page as served passes"
    );

    session.execute(BREAK_THE_PAGE, json!([])).await;
    let found = serious_violations(session).await;
    let rules: Vec<&str> = found
        .iter()
        .map(|violation| violation.rule.as_str())
        .collect();
    assert!(rules.contains(&"image-alt"), "{}", describe(&found));
    assert!(rules.contains(&"color-contrast"), "{}", describe(&found));
    assert!(
        found.iter().all(|violation| !violation.targets.is_empty()),
        "the elements are named: {}",
        describe(&found)
    );

    scene.finish().await;
}
