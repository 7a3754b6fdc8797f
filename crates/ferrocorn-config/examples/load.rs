//! Run the config loader on a command line, without a server: prints what `ferrocorn` would
//! print for `--help`, `--check-config` or `--print-config`, or a summary of the config.
//! `cargo run -p ferrocorn-config --example load -- --ini app.ini --print-config`.
//! Python config files need the Python side, so they are refused here.

use ferrocorn_config::{load, Loaded, Sources};

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let no_python = |p: &str| Err(format!("{p}: this example cannot run Python config files"));
    let code = match load(Sources::from_process(argv, &no_python)) {
        Err(e) => {
            eprintln!("ferrocorn: error: {e}");
            e.code
        }
        Ok(Loaded::Exit(exit)) => {
            print!("{}", exit.stdout);
            for line in &exit.stderr {
                eprintln!("ferrocorn: {line}");
            }
            exit.code
        }
        Ok(Loaded::Run(cfg, warnings)) => {
            for w in &warnings {
                eprintln!("ferrocorn: warning: {w}");
            }
            for p in cfg.environment_problems() {
                eprintln!("ferrocorn: error: {p}");
            }
            println!("app {} listeners {:?}", cfg.app, cfg.listeners);
            0
        }
    };
    std::process::exit(code);
}
