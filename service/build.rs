//! Rebuild when the embedded SQL migrations change (`sqlx::migrate!` reads them at compile time).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
