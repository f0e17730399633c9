//! What a console page answers when it cannot show what was asked: a page, never JSON, with
//! nothing internal in it (internal errors are logged once, by id, here).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use minijinja::context;

use super::console::html_response;
use super::templates;

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("not found: {0}")]
    NotFound(&'static str),
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A form without its session's CSRF token, or from another site.
    #[error("the form is not from this session")]
    StaleForm,
    #[error("the request is too large")]
    TooLarge,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for PageError {
    fn from(error: sqlx::Error) -> Self {
        PageError::Internal(anyhow::Error::new(error))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self {
            PageError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "Not found",
                format!("There is no such {what}, or it is not yours to see."),
            ),
            PageError::Forbidden(why) => (StatusCode::FORBIDDEN, "Not allowed", why.clone()),
            PageError::StaleForm => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form was not sent from your current session, so nothing was changed. \
                 Go back, reload the page and try again."
                    .to_string(),
            ),
            PageError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Too large",
                "What was sent is larger than chaperone accepts; nothing was changed.".to_string(),
            ),
            PageError::Internal(error) => {
                tracing::error!(error = %format!("{error:#}"), "a console page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "chaperone could not show this page. Please try again in a moment.".to_string(),
                )
            }
        };
        let html = templates::render(
            "error.html",
            context! { title => title, message => message, me => (), nav => (), notice => (), csrf => "" },
        )
        .unwrap_or_else(|_| "Something went wrong".to_string());
        html_response(status, html)
    }
}
