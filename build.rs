// The migrations are embedded by `sqlx::migrate!`, which cargo does not know to watch: without
// this, a new migration file is missing from the binary until some source file changes.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
