use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use kumo_bench::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let o = cli.scenario.opts().clone();
    let threads = o
        .threads
        .unwrap_or_else(kumo_bench::sys::available_cores)
        .max(1);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kumo-bench: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match rt.block_on(kumo_bench::run::run(cli.scenario)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kumo-bench: {e:#}");
            return ExitCode::from(2);
        }
    };
    // Client tasks are done; do not wait for stragglers.
    rt.shutdown_background();
    let json = serde_json::to_string_pretty(&report).expect("report serializes");
    match o.json.as_deref() {
        Some("-") => println!("{json}"),
        Some(path) => {
            print!("{}", report.table());
            if let Err(e) = std::fs::write(path, json + "\n") {
                eprintln!("kumo-bench: cannot write {path}: {e}");
                return ExitCode::from(2);
            }
        }
        None => print!("{}", report.table()),
    }
    if report.generator_saturated {
        eprintln!("WARNING: the generator may be the bottleneck (see generator cpu above)");
    }
    let _ = std::io::stdout().flush();
    ExitCode::SUCCESS
}
