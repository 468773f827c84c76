//! The `swarm` launcher: `up` starts a swarm from YAML, `validate` checks a file,
//! `graph` draws its topology, `repair` rewrites a vector collection's corrupt log, `fhe`
//! makes FHE keys and encrypts values with a public key, `run` runs a workflow or agent.

mod run_cmd;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use swarm_actors::vector::core::wal_repair::{RepairMode, repair_collection};
use swarm_runtime::topology::{render_dot, render_text, wait_for_signal};
use swarm_runtime::{Swarm, SwarmConfig, telemetry};

// mimalloc: glibc's malloc spent ~11% of the gateway's CPU under load, much of it waiting
// on arena locks between threads; with mimalloc the gateway serves ~16% more requests.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "swarm",
    version,
    about = "Run agent swarms as supervised actors"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the swarm described by a config file; stops gracefully on SIGINT/SIGTERM.
    Up {
        /// The swarm's YAML file.
        #[arg(long, short, default_value = "config/swarm.yaml")]
        config: PathBuf,
    },
    /// Run one workflow or agent of the swarm on a task, printing its progress (agent,
    /// turn, tool) and then the answer; `--resume ID` carries an interrupted run on.
    Run {
        /// The workflow or agent (a service name).
        name: Option<String>,
        /// The task.
        #[arg(long)]
        input: Option<String>,
        /// Carry run ID on from its last completed step (needs a `runs` service).
        #[arg(long)]
        resume: Option<String>,
        /// The swarm's YAML file.
        #[arg(long, short, default_value = "config/swarm.yaml")]
        config: PathBuf,
    },
    /// Check a config file: exit 0, or print every error and exit 1.
    Validate {
        /// The swarm's YAML file.
        file: PathBuf,
    },
    /// Print the topology (services, pools, queues, supervision tree).
    Graph {
        /// The swarm's YAML file.
        file: PathBuf,
        /// `dot` for Graphviz, `text` for a tree.
        #[arg(long, value_enum, default_value_t = Format::Dot)]
        format: Format,
    },
    /// FHE keys and client-side encryption.
    Fhe {
        #[command(subcommand)]
        command: FheCommand,
    },
    /// Examine a vector collection whose write-ahead log is corrupt mid-log (the swarm
    /// serves it as 503 and names the file); with --apply, keep a copy of the log's bytes
    /// and rewrite it. Run it while the swarm is stopped.
    Repair {
        /// The collection's directory, `<data_dir>/<name>`.
        collection: PathBuf,
        /// What to keep.
        #[arg(long, value_enum, default_value_t = Mode::Truncate)]
        mode: Mode,
        /// Rewrite the log; without it, only report what would be kept and dropped.
        #[arg(long)]
        apply: bool,
    },
}

#[derive(Subcommand)]
enum FheCommand {
    /// Make a scoring key (an LWE secret key, mode 0600) for encrypted model scoring; it
    /// stays with you: the swarm never sees it.
    ScoreKey {
        /// The key file to create (never replaced).
        #[arg(long)]
        out: PathBuf,
    },
    /// Quantise a sample's features with a model's card (`GET /v1/fhe/models/NAME`,
    /// saved to a file) and encrypt them under a scoring key: the body for
    /// `POST /v1/fhe/models/NAME/score`, on stdout.
    ScoreEncrypt {
        /// The scoring key file.
        #[arg(long)]
        key: PathBuf,
        /// The model's card (JSON).
        #[arg(long)]
        card: PathBuf,
        /// Comma-separated features, prepared as the model's description says.
        #[arg(
            long,
            value_delimiter = ',',
            allow_hyphen_values = true,
            required = true
        )]
        features: Vec<f64>,
    },
    /// Decrypt a score (the answer of `POST /v1/fhe/models/NAME/score`, on stdin) and
    /// print it as JSON: the accumulator, the score and, for logistic models, σ(score).
    ScoreDecrypt {
        /// The scoring key file.
        #[arg(long)]
        key: PathBuf,
        /// The model's card (JSON).
        #[arg(long)]
        card: PathBuf,
    },
    /// Generate a key set (client key mode 0600, compressed server key, compact public
    /// key) for the pinned parameter set; refuses to replace an existing one.
    Keygen {
        /// The key directory (the `fhe` service's `params.keys`).
        #[arg(long)]
        out: PathBuf,
    },
    /// Encrypt values with a public key (a key directory's `public_key.bin`, or the file
    /// `GET /v1/fhe/public-key` serves) and write them as one framed list, ready to send
    /// or to append to a body of several (`>> ballots.bin`).
    Encrypt {
        /// The public key file.
        #[arg(long)]
        key: PathBuf,
        /// A one-hot ballot for this option (0-based); needs --options.
        #[arg(long, conflicts_with = "values")]
        ballot: Option<usize>,
        /// Options in the ballot.
        #[arg(long, requires = "ballot")]
        options: Option<usize>,
        /// A sealed bid: one 16-bit amount.
        #[arg(long, conflicts_with_all = ["ballot", "values", "update"])]
        bid: Option<u16>,
        /// A federated-learning update for a secure_fedavg round: comma-separated
        /// parameters, encoded in the round's fixed point (default clip 4, 2^16, max
        /// weight 1000; give the round's own with --encoding) and weighted by --examples.
        #[arg(
            long,
            value_delimiter = ',',
            allow_hyphen_values = true,
            requires = "examples"
        )]
        update: Vec<f32>,
        /// Training examples behind --update.
        #[arg(long)]
        examples: Option<u64>,
        /// The round's encoding as JSON, e.g. '{"clip": 2, "scale_bits": 14}'.
        #[arg(long)]
        encoding: Option<String>,
        /// Comma-separated 8-bit values (e.g. a ballot that is not one-hot).
        #[arg(long, value_delimiter = ',')]
        values: Vec<u8>,
    },
}

/// How `repair` rewrites a corrupt log.
#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    /// Keep the records before the first bad one (the state as of that write).
    Truncate,
    /// Keep every sound record, dropping only the damaged bytes.
    Salvage,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Dot,
    Text,
}

fn load(file: &std::path::Path) -> Result<SwarmConfig, ExitCode> {
    SwarmConfig::from_file(file, &swarm_actors::registry()).map_err(|errors| {
        eprintln!("{errors}");
        eprintln!("{} error(s) in {}", errors.0.len(), file.display());
        ExitCode::from(1)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { file } => match load(&file) {
            Ok(config) => {
                println!(
                    "{}: ok ({} services)",
                    file.display(),
                    config.services.len()
                );
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Graph { file, format } => match load(&file) {
            Ok(config) => {
                let out = match format {
                    Format::Dot => render_dot(&config),
                    Format::Text => render_text(&config),
                };
                print!("{out}");
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Fhe { command } => match fhe(command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("swarm fhe: {e:#}");
                ExitCode::from(1)
            }
        },
        Command::Repair {
            collection,
            mode,
            apply,
        } => {
            let mode = match mode {
                Mode::Truncate => RepairMode::Truncate,
                Mode::Salvage => RepairMode::Salvage,
            };
            match repair_collection(&collection, mode, apply) {
                Ok(report) => {
                    println!("{report}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("swarm repair: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Run {
            name,
            input,
            resume,
            config,
        } => {
            let config = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let outcome = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")
                .and_then(|rt| {
                    let out = rt.block_on(async {
                        let guard = telemetry::init(&config.telemetry)?;
                        let out = run_cmd::run(config, name, input, resume).await;
                        guard.shutdown();
                        out
                    });
                    rt.shutdown_timeout(Duration::from_secs(1));
                    out
                });
            match outcome {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("swarm run: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Up { config } => {
            let config = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match run(config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("swarm: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

fn fhe(command: FheCommand) -> anyhow::Result<()> {
    use swarm_actors::fhe::core::linear::{ModelCard, ModelKind, sigmoid};
    use swarm_actors::fhe::core::lwe_score::ScoringKey;
    use swarm_actors::fhe::core::{keys, wire};
    let card = |path: &PathBuf| -> anyhow::Result<ModelCard> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a model card", path.display()))
    };
    match command {
        FheCommand::ScoreKey { out } => {
            ScoringKey::generate().save(&out)?;
            println!("scoring key in {} (0600); keep it private", out.display());
        }
        FheCommand::ScoreEncrypt {
            key,
            card: card_file,
            features,
        } => {
            let card = card(&card_file)?;
            anyhow::ensure!(
                features.len() == card.features,
                "{} features given; the model takes {}",
                features.len(),
                card.features
            );
            let sample = ScoringKey::load(&key)?.encrypt(&card.quantise(&features))?;
            std::io::stdout().write_all(&sample)?;
        }
        FheCommand::ScoreDecrypt {
            key,
            card: card_file,
        } => {
            let card = card(&card_file)?;
            let mut answer = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut answer)?;
            let acc = ScoringKey::load(&key)?.decrypt(&answer)?;
            let score = card.score(acc);
            let mut out = serde_json::json!({ "accumulator": acc, "score": score });
            if card.kind == ModelKind::Logistic {
                out["probability"] = serde_json::json!(sigmoid(score));
            }
            println!("{out}");
        }
        FheCommand::Keygen { out } => {
            let started = std::time::Instant::now();
            let files = keys::generate(&out)?;
            println!(
                "FHE keys for {} in {} ({:.1} s): client_key.bin {} bytes (0600), server_key.bin {} bytes (compressed), public_key.bin {} bytes",
                swarm_actors::fhe::core::params::PARAMS_VERSION,
                out.display(),
                started.elapsed().as_secs_f64(),
                files.client,
                files.server,
                files.public
            );
        }
        FheCommand::Encrypt {
            key,
            ballot,
            options,
            bid,
            update,
            examples,
            encoding,
            values,
        } => {
            let bytes =
                std::fs::read(&key).with_context(|| format!("reading {}", key.display()))?;
            let public = swarm_actors::fhe::PublicKey::from_bytes(&bytes)?;
            let list = match (ballot, options, bid) {
                _ if !update.is_empty() => {
                    let encoding: swarm_actors::fhe::core::secure_sum::FixedPoint = match encoding {
                        Some(json) => serde_json::from_str(&json).context("--encoding")?,
                        None => Default::default(),
                    };
                    public.update(&update, examples.unwrap_or(1), &encoding)?
                }
                (_, _, Some(amount)) => public.bid(amount)?,
                (Some(choice), Some(options), _) => public.ballot(choice, options)?,
                _ if !values.is_empty() => public.encrypt_u8(&values)?,
                _ => anyhow::bail!(
                    "give --ballot with --options, --bid, --update with --examples, or --values"
                ),
            };
            let mut framed = Vec::new();
            wire::frame(&mut framed, &list);
            std::io::stdout().write_all(&framed)?;
        }
    }
    Ok(())
}

fn run(config: SwarmConfig) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let outcome = runtime.block_on(async move {
        let guard = telemetry::init(&config.telemetry)?;
        let name = config.name.clone();
        let swarm = Swarm::start(config)
            .await
            .context("the swarm failed to start")?;
        let lines = swarm.ready_lines();
        println!("swarm {name} ready: {}", lines.join("; "));
        std::io::stdout().flush()?;
        wait_for_signal().await.context("cannot wait for signals")?;
        tracing::info!("signal received; shutting down");
        let report = swarm.shutdown().await;
        for (service, n) in report.unavailable.iter().filter(|(_, n)| *n > 0) {
            tracing::warn!(%service, unanswered = n, "grace period ran out; answered Unavailable");
        }
        println!("swarm {name} stopped");
        guard.shutdown();
        Ok(())
    });
    // Blocking work still running (a solver past its deadline between two budget checks,
    // a compaction) must not hold the process: every request is already answered.
    runtime.shutdown_timeout(Duration::from_secs(1));
    outcome
}
