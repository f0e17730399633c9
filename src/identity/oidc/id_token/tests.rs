//! The claim checks, one rule at a time, on claims made here (the signature is checked over
//! HTTP in tests/api/oidc.rs, against a provider signing for real).

use chrono::TimeZone;
use serde_json::json;

use super::*;

const GOOGLE: &str = "https://accounts.google.com";
const ENTRA: &str = "https://login.microsoftonline.com/5b8e2c1a-93f4-4d1e-8a7b-0c2d3e4f5a6b/v2.0";
const CLIENT: &str = "1234.apps.googleusercontent.com";
const NONCE: &str = "n-0S6_WzA2Mj";
const NOW: i64 = 1_764_000_000;

fn domains() -> Vec<String> {
    vec!["greenfield.sch.uk".into()]
}

fn expected<'a>(issuer: &'a str, domains: &'a [String]) -> Expected<'a> {
    Expected {
        issuer,
        client_id: CLIENT,
        nonce: NONCE,
        leeway: Duration::from_secs(60),
        allowed_domains: domains,
    }
}

fn good(issuer: &str) -> Value {
    json!({
        "iss": issuer, "aud": CLIENT, "azp": CLIENT, "sub": "110169484474386276334",
        "email": "Dana.Lee@greenfield.sch.uk", "email_verified": true, "nonce": NONCE,
        "iat": NOW - 5, "exp": NOW + 3595,
    })
}

fn check(claims: Value, issuer: &str) -> Result<VerifiedIdentity, IdTokenError> {
    let domains = domains();
    let claims: Claims = serde_json::from_value(claims).unwrap();
    check_claims(
        &claims,
        &expected(issuer, &domains),
        Utc.timestamp_opt(NOW, 0).unwrap(),
    )
}

fn with(issuer: &str, changes: Value) -> Value {
    let mut claims = good(issuer);
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

#[test]
fn a_good_token_gives_the_address_in_lower_case() {
    let identity = check(good(GOOGLE), GOOGLE).unwrap();
    assert_eq!(identity.email, "dana.lee@greenfield.sch.uk");
    assert_eq!(identity.subject, "110169484474386276334");
}

#[test]
fn the_issuer_must_be_exactly_the_configured_one() {
    for issuer in [
        json!("accounts.google.com"),
        json!("https://accounts.google.com/"),
        json!(null),
    ] {
        assert_eq!(
            check(with(GOOGLE, json!({"iss": issuer})), GOOGLE),
            Err(IdTokenError::Issuer)
        );
    }
}

#[test]
fn the_audience_must_be_this_client_and_other_audiences_need_azp() {
    let refused = [
        json!({"aud": "another-client"}),
        json!({"aud": null}),
        json!({"aud": [CLIENT, "another-client"], "azp": null}),
        json!({"aud": [CLIENT, "another-client"], "azp": "another-client"}),
        json!({"aud": ["another-client"]}),
        json!({"aud": [CLIENT, 7]}),
        json!({"azp": "another-client"}),
    ];
    for changes in refused {
        assert_eq!(
            check(with(GOOGLE, changes.clone()), GOOGLE),
            Err(IdTokenError::Audience),
            "{changes}"
        );
    }
    for changes in [
        json!({"aud": [CLIENT], "azp": null}),
        json!({"aud": [CLIENT, "another-client"]}),
        json!({"azp": null}),
    ] {
        assert!(
            check(with(GOOGLE, changes.clone()), GOOGLE).is_ok(),
            "{changes}"
        );
    }
}

#[test]
fn the_times_are_checked_with_the_leeway_either_way() {
    assert!(check(with(GOOGLE, json!({"exp": NOW - 60})), GOOGLE).is_ok());
    assert_eq!(
        check(with(GOOGLE, json!({"exp": NOW - 61})), GOOGLE),
        Err(IdTokenError::Expired)
    );
    assert!(check(with(GOOGLE, json!({"iat": NOW + 60})), GOOGLE).is_ok());
    assert_eq!(
        check(with(GOOGLE, json!({"iat": NOW + 61})), GOOGLE),
        Err(IdTokenError::NotYetValid)
    );
    assert_eq!(
        check(with(GOOGLE, json!({"nbf": NOW + 61})), GOOGLE),
        Err(IdTokenError::NotYetValid)
    );
    assert!(matches!(
        check(with(GOOGLE, json!({"iat": null})), GOOGLE),
        Err(IdTokenError::Malformed(_))
    ));
    assert!(matches!(
        check(with(GOOGLE, json!({"exp": null})), GOOGLE),
        Err(IdTokenError::Malformed(_))
    ));
}

#[test]
fn the_nonce_must_be_this_sign_in_s() {
    assert_eq!(
        check(with(GOOGLE, json!({"nonce": "another"})), GOOGLE),
        Err(IdTokenError::Nonce)
    );
    assert_eq!(
        check(with(GOOGLE, json!({"nonce": null})), GOOGLE),
        Err(IdTokenError::Nonce)
    );
}

#[test]
fn the_address_must_be_verified_and_in_an_allowed_domain() {
    let cases = [
        (json!({"email": null}), IdTokenError::EmailMissing),
        (
            json!({"email_verified": false}),
            IdTokenError::EmailUnverified,
        ),
        (
            json!({"email_verified": "false"}),
            IdTokenError::EmailUnverified,
        ),
        (
            json!({"email_verified": null}),
            IdTokenError::EmailUnverified,
        ),
        (json!({"email": "dana@gmail.com"}), IdTokenError::Domain),
        (
            json!({"email": "dana@evil.greenfield.sch.uk"}),
            IdTokenError::Domain,
        ),
        (
            json!({"email": "dana@greenfield.sch.uk.evil.example"}),
            IdTokenError::Domain,
        ),
        (json!({"email": "@greenfield.sch.uk"}), IdTokenError::Domain),
        (json!({"email": "greenfield.sch.uk"}), IdTokenError::Domain),
    ];
    for (changes, error) in cases {
        assert_eq!(
            check(with(GOOGLE, changes.clone()), GOOGLE),
            Err(error),
            "{changes}"
        );
    }
    assert!(check(with(GOOGLE, json!({"email_verified": "true"})), GOOGLE).is_ok());
}

#[test]
fn entra_id_s_address_without_email_verified_is_taken_from_one_tenant_in_an_allowed_domain() {
    assert!(check(with(ENTRA, json!({"email_verified": null})), ENTRA).is_ok());
    assert_eq!(
        check(
            with(
                ENTRA,
                json!({"email_verified": null, "email": "dana@gmail.com"})
            ),
            ENTRA
        ),
        Err(IdTokenError::Domain)
    );
    assert_eq!(
        check(with(ENTRA, json!({"email_verified": false})), ENTRA),
        Err(IdTokenError::EmailUnverified)
    );
    for issuer in [
        "https://login.microsoftonline.com/common/v2.0",
        "https://login.microsoftonline.com/organizations/v2.0",
        "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
        "https://login.microsoftonline.com/5b8e2c1a-93f4-4d1e-8a7b-0c2d3e4f5a6b/v2.0/evil",
    ] {
        assert_eq!(
            check(with(issuer, json!({"email_verified": null})), issuer),
            Err(IdTokenError::EmailUnverified),
            "{issuer}"
        );
    }
}
