//! The templates, compiled into the binary and loaded once. Names ending `.html` are
//! escaped by default: a value reaches a page as text unless a template says otherwise,
//! which none does. An undefined value is an error, so a misspelt name fails its test
//! rather than rendering blank.

use std::sync::LazyLock;

use minijinja::{Environment, UndefinedBehavior};

/// Each page module's templates, by name.
const TEMPLATE_SETS: [&[(&str, &str)]; 17] = [
    COMMON,
    super::sign_in::TEMPLATES,
    super::home::TEMPLATES,
    super::schools::TEMPLATES,
    super::connections::TEMPLATES,
    super::directory::TEMPLATES,
    super::policy::TEMPLATES,
    super::contacts::TEMPLATES,
    super::users::TEMPLATES,
    super::audit::TEMPLATES,
    super::findings::TEMPLATES,
    super::calls::TEMPLATES,
    super::register::TEMPLATES,
    super::timetable::TEMPLATES,
    super::reports::TEMPLATES,
    super::calendar::TEMPLATES,
    crate::http::acknowledge::TEMPLATES,
];

const COMMON: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("bare.html", include_str!("templates/bare.html")),
    ("error.html", include_str!("templates/error.html")),
];

static ENVIRONMENT: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut environment = Environment::new();
    environment.set_undefined_behavior(UndefinedBehavior::Strict);
    for (name, source) in TEMPLATE_SETS.iter().flat_map(|set| set.iter()) {
        environment
            .add_template(name, source)
            .unwrap_or_else(|error| panic!("template {name} does not compile: {error}"));
    }
    environment
});

/// Renders template `name` with `context`.
pub fn render(name: &str, context: minijinja::Value) -> Result<String, minijinja::Error> {
    ENVIRONMENT.get_template(name)?.render(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        assert!(ENVIRONMENT.templates().count() >= COMMON.len());
    }

    #[test]
    fn values_are_escaped() {
        let html = render(
            "error.html",
            minijinja::context! { title => "<script>x</script>", message => "a & b", me => (), nav => (), notice => (), csrf => "" },
        )
        .unwrap();
        assert!(html.contains("&lt;script&gt;x"), "{html}");
        assert!(!html.contains("<script>x"));
    }
}
