//! Print `docs/settings.md` as rendered from the settings table:
//! `cargo run -p ferrocorn-config --example render-docs > docs/settings.md`.

fn main() {
    print!("{}", ferrocorn_config::docs::render());
}
