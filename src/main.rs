//! The `replywatch` binary: parse the command line, dispatch; no logic here.

use clap::Parser;
use replywatch::cli::{
    BenchCommand, Cli, Command, run_analyze, run_generate, run_ingest, run_migrate, run_serve,
};
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Analyze(args) => run_analyze(
            args,
            Path::new("."),
            &mut std::io::stdout().lock(),
            &mut std::io::stderr(),
        ),
        Command::Bench(BenchCommand::Ingest(args)) => {
            replywatch::bench::run_bench_ingest(args, &mut std::io::stdout().lock())
        }
        Command::Bench(BenchCommand::Metrics(args)) => {
            replywatch::bench::run_bench_metrics(args, &mut std::io::stdout().lock())
        }
        Command::Bench(BenchCommand::Cluster(args)) => {
            replywatch::bench::cluster::run_bench_cluster(args, &mut std::io::stdout())
        }
        Command::Bench(BenchCommand::Engine(args)) => {
            replywatch::bench::engine::run_bench_engine(args, &mut std::io::stdout().lock())
        }
        Command::Bench(BenchCommand::Slo(args)) => {
            replywatch::bench::slo::run_bench_slo(args, &mut std::io::stdout().lock())
        }
        #[cfg(feature = "reports")]
        Command::Report(args) => replywatch::cli::run_report(args, &mut std::io::stdout().lock()),
        Command::Serve(config) => run_serve((**config).clone()),
        Command::Generate(args) => run_generate(args),
        Command::Migrate(args) => run_migrate(args, &mut std::io::stdout().lock()),
        Command::Ingest(args) => run_ingest(args, &mut std::io::stdout().lock()),
        Command::Rules(args) => replywatch::slo::run_rules(args, &mut std::io::stdout().lock()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
