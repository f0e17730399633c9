//! The console: the pages a school's admins (and, later, its DSL) use in a browser.
//! Server-rendered from templates that escape by default, with one stylesheet embedded in
//! the binary and no script but one small one of its own that a page works without, so it
//! works on a phone and from the keyboard alike.
//!
//! Every page but signing in sits behind [`console::guard`]: a live session from the
//! `chaperone_session` cookie, or a redirect to the sign-in page that comes back afterwards;
//! and every form that changes something carries the session's CSRF token, checked there
//! too, before any handler runs. Handlers take a [`Console`] and ask it for the capability
//! they need, as the API's handlers ask their principal.

mod assets;
mod audit;
mod calendar;
pub(crate) mod calls;
mod connections;
pub(in crate::http) mod console;
mod contacts;
mod directory;
mod error;
mod findings;
mod home;
mod policy;
mod register;
mod reports;
mod school_choice;
mod schools;
mod sign_in;
pub(in crate::http) mod templates;
mod time_view;
mod timetable;
mod users;

use axum::routing::{get, post};
use axum::{middleware, Router};

pub use console::Console;
pub use error::PageError;

use crate::state::AppState;

pub fn router(state: AppState) -> Router<AppState> {
    let signed_in = Router::new()
        .route("/", get(home::show_home))
        .route("/sign-out", post(sign_in::sign_out))
        .merge(findings::routes())
        .merge(calls::routes())
        .merge(register::routes())
        .merge(timetable::routes())
        .merge(reports::routes())
        .merge(calendar::routes())
        .merge(schools::routes())
        .merge(connections::routes())
        .merge(directory::routes())
        .merge(policy::routes())
        .merge(contacts::routes())
        .merge(users::routes())
        .merge(audit::routes())
        .route_layer(middleware::from_fn_with_state(state, console::guard));
    Router::new()
        .merge(signed_in)
        .route(
            "/sign-in",
            get(sign_in::show_sign_in).post(sign_in::sign_in_with_password),
        )
        .route(assets::STYLESHEET_PATH, get(assets::stylesheet))
        .route(assets::FINDINGS_SCRIPT_PATH, get(assets::findings_script))
}
