//! Every console page asked by every role, at their own school and at another: allowed or
//! refused as the README's table says, the navigation offering exactly the pages allowed, and
//! nothing of another school shown to someone who holds no role there.

use serde_json::json;

use super::{school_id, signed_in};
use crate::helpers::spawn_app;

const HILLSIDE: &str =
    "[[school]]\nslug = \"hillside\"\nname = \"Hillside Primary\"\ntimezone = \"Europe/London\"\n";

/// The console's sections, and whether each role may open them: trust admin, school admin,
/// DSL, deputy DSL, staff, governor.
const PAGES: [(&str, [bool; 6]); 8] = [
    ("/", [true, true, true, true, true, true]),
    ("/admin/schools", [true, true, false, false, false, false]),
    (
        "/admin/connections",
        [true, true, false, false, false, false],
    ),
    ("/admin/directory", [true, true, false, false, false, false]),
    ("/admin/policy", [true, true, false, false, false, false]),
    ("/admin/contacts", [true, true, false, false, false, false]),
    ("/admin/users", [true, true, false, false, false, false]),
    ("/admin/audit", [true, true, true, true, false, false]),
];

const ROLES: [&str; 6] = [
    "trust_admin",
    "school_admin",
    "dsl",
    "deputy_dsl",
    "staff",
    "governor",
];

#[tokio::test]
async fn every_page_by_every_role_at_their_school_and_at_another() {
    let app = spawn_app().await;
    app.import_toml(HILLSIDE).await;
    let greenfield = school_id(&app, "greenfield").await;
    let hillside = school_id(&app, "hillside").await;

    for (index, role) in ROLES.into_iter().enumerate() {
        let grant = if role == "trust_admin" {
            json!([{"role": role}])
        } else {
            json!([{"role": role, "school_id": greenfield}])
        };
        let mut browser = signed_in(&app, &format!("{role}@greenfield.test"), grant).await;
        let home = browser.get("/").await;
        for (path, allowed) in PAGES {
            let page = browser.get(path).await;
            let expected = if allowed[index] { 200 } else { 403 };
            assert_eq!(page.status, expected, "{role} at {path}: {}", page.body);
            // Templates escape `/` too.
            let linked = home
                .body
                .contains(&format!("href=\"{}\"", path.replace('/', "&#x2f;")));
            assert_eq!(
                linked, allowed[index],
                "{role}: the navigation and {path} agree"
            );
            if role != "trust_admin" {
                assert!(
                    !page.body.contains("Hillside"),
                    "{role} at {path} sees another school"
                );
            }
        }

        // The other school's records, asked for by id.
        for path in [
            format!("/admin/schools/{hillside}"),
            format!("/admin/connections?school={hillside}"),
            format!("/admin/directory?school={hillside}"),
            format!("/admin/policy?school={hillside}"),
            format!("/admin/contacts?school={hillside}"),
            format!("/admin/audit?school={hillside}"),
        ] {
            let page = browser.get(&path).await;
            if role == "trust_admin" {
                assert_eq!(page.status, 200, "{role} at {path}: {}", page.body);
                assert!(page.body.contains("Hillside"), "{role} at {path}");
            } else {
                assert!(
                    page.status == 403 || page.status == 404,
                    "{role} at {path}: {}",
                    page.status
                );
                assert!(!page.body.contains("Hillside"), "{role} at {path}");
            }
        }
    }
}
