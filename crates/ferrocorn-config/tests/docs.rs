//! `docs/settings.md` is rendered from the settings table; this fails when the committed file is
//! stale. Regenerate with `cargo run -p ferrocorn-config --example render-docs > docs/settings.md`,
//! or run this test with `FERROCORN_BLESS=1` to rewrite the file.

use std::path::PathBuf;

#[test]
fn docs_are_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/settings.md");
    let want = ferrocorn_config::docs::render();
    if std::env::var_os("FERROCORN_BLESS").is_some() {
        std::fs::write(&path, &want).expect("write docs/settings.md");
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    if have != want {
        let line = have
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .map(|i| i + 1)
            .unwrap_or_else(|| have.lines().count().min(want.lines().count()) + 1);
        panic!(
            "docs/settings.md differs from the settings table (first at line {line}); \
             regenerate it: `{}` (or FERROCORN_BLESS=1 cargo test -p ferrocorn-config --test docs)",
            ferrocorn_config::docs::REGENERATE
        );
    }
}

#[test]
fn every_setting_is_documented() {
    let doc = ferrocorn_config::docs::render();
    for s in ferrocorn_config::table::SETTINGS {
        assert!(
            doc.contains(&format!("### `{}`", s.name)),
            "{} undocumented",
            s.name
        );
    }
    for e in ferrocorn_config::table::INI_EXTRAS {
        for k in e.keys {
            assert!(
                doc.contains(&format!("| `{k}` |")),
                "ini key {k} undocumented"
            );
        }
    }
}
