//! Rebuild when a migration file changes: refinery embeds them with `include_str!`,
//! which cargo does not track for files that are added later.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
