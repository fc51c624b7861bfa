//! The search scenario (issue 20): how fast `GET /api/search` answers over a big history, and what the index
//! costs. It writes a seeded history of N messages as `chatweb export` lines (history.rs), imports them with
//! `chatweb import` into a fresh SQLite file or a PostgreSQL database of its own, adds a staff user and an
//! API token (`chatweb createsuperuser --noinput`, `chatweb token create`), starts `chatweb serve` on a free
//! loopback port and waits until the indexer has followed every room to its end (`search_marks` against
//! `rooms.last_seq`, read from the database). Then it asks the queries one after another, as that user,
//! and reports the latency per kind of query and overall, what the hits were, and the index's size on
//! disk. Everything it made (processes, the database, the temporary directory) is gone when it returns,
//! and the whole run is bounded by `--timeout`. There is no relay run: the relay stores nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::history::{self, Rng, Shape, Written};
use crate::report::{CpuMeter, Progress, per_second, round3};
use crate::searchdb::{BenchDb, ScratchDatabase, sqlite_files};
use crate::server::{self, Server};

/// How often the bench looks at the indexer's marks.
const POLL: Duration = Duration::from_millis(200);
/// A query not answered within this long counts as failed (status 0), and the run goes on.
const QUERY_TIMEOUT: Duration = Duration::from_secs(20);
/// The account the queries are asked as.
const SEARCHER: &str = "bench_searcher";

/// Which store the server runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// A fresh SQLite file in a temporary directory.
    Sqlite,
    /// A database of its own on the PostgreSQL server `--database-url` names.
    Postgres,
}

/// Parameters of `chatweb-bench search`.
#[derive(Clone, clap::Args, serde::Serialize)]
pub struct SearchArgs {
    /// Messages in the history.
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: u64,
    /// Rooms they are spread over (the first ones busiest).
    #[arg(long, default_value_t = 200)]
    pub rooms: usize,
    /// People who wrote them (the first ones most active).
    #[arg(long, default_value_t = 300)]
    pub users: usize,
    /// Queries asked, of every kind in turn.
    #[arg(long, default_value_t = 100)]
    pub queries: usize,
    /// The generator's seed: the same seed writes the same history and asks the same queries.
    #[arg(long, default_value_t = 20)]
    pub seed: u64,
    /// The store.
    #[arg(long, value_enum, default_value_t = Engine::Sqlite)]
    pub engine: Engine,
    /// With `--engine postgres`: a PostgreSQL server on loopback to make the run's own database on
    /// (`chatweb_bench_search_<pid>`, dropped afterwards), given by any database URL on it.
    #[arg(long, env = "CHATWEB_TEST_DATABASE_URL")]
    #[serde(skip)]
    pub database_url: Option<String>,
    /// The latency goal a kind of query is held to: its p95, in milliseconds.
    #[arg(long, default_value_t = 50.0)]
    pub goal_p95_ms: f64,
    /// Upper bound of the whole run (generating, importing, indexing, querying), in seconds.
    #[arg(long, visible_alias = "duration", default_value_t = 3600.0)]
    #[serde(skip)]
    pub timeout: f64,
    /// The chatweb binary (default: `chatweb` next to this executable).
    #[arg(long)]
    #[serde(skip)]
    pub chatweb: Option<PathBuf>,
    /// PostgreSQL: run `ANALYZE` once the index has caught up, before the queries (a server with autovacuum
    /// on does it by itself after such a load; with autovacuum off nothing ever does).
    #[arg(long)]
    pub analyze: bool,
    /// Keep the database (the SQLite file's directory, or the PostgreSQL database) for a look afterwards
    /// (EXPLAIN); its place is printed on stderr. The server is stopped all the same.
    #[arg(long)]
    #[serde(skip)]
    pub keep: bool,
    /// CI size: 5,000 messages, 20 rooms, 28 queries.
    #[arg(long)]
    #[serde(skip)]
    pub quick: bool,
}

/// Runs the scenario and builds its JSON line; cleans up whatever happens, Ctrl-C included.
pub async fn measure(mut args: SearchArgs) -> anyhow::Result<Value> {
    if args.quick {
        args.messages = 5_000;
        args.rooms = 20;
        args.users = 70;
        args.queries = 28;
        args.timeout = args.timeout.min(120.0);
    }
    if args.messages == 0 || args.rooms == 0 || args.users == 0 {
        bail!("--messages, --rooms and --users must be at least 1");
    }
    let binary = server::chatweb_binary(args.chatweb.as_deref())?;
    let timeout = Duration::try_from_secs_f64(args.timeout.clamp(1.0, 86_400.0))
        .unwrap_or(Duration::from_secs(3600));
    let deadline = Instant::now() + timeout;
    let dir = TempDir(server::fresh_dir()?);
    let scratch = match args.engine {
        Engine::Sqlite => None,
        Engine::Postgres => {
            let admin = args.database_url.as_deref().context(
                "--engine postgres needs --database-url (or CHATWEB_TEST_DATABASE_URL): a PostgreSQL server on loopback",
            )?;
            Some(ScratchDatabase::create(admin).await?)
        }
    };
    let url = match &scratch {
        Some(db) => db.url.clone(),
        None => format!("sqlite://{}", dir.0.join("db.sqlite3").display()),
    };
    let mut fields = Map::new();
    fields.insert("engine".into(), json!(args.engine));
    let run = Run {
        args: &args,
        binary: &binary,
        dir: &dir.0,
        url: &url,
        deadline,
    };
    let result = tokio::select! {
        result = tokio::time::timeout_at(deadline, run.run(&mut fields)) => {
            result.unwrap_or_else(|_| Err(anyhow::anyhow!("the run did not finish within --timeout")))
        }
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    // The server and every child process were killed when the run's future was dropped.
    let mut ok = true;
    if let Err(error) = &result {
        eprintln!("search run failed: {error:#}");
        fields.insert("error".into(), json!(format!("{error:#}")));
        ok = false;
    }
    if args.keep {
        eprintln!("kept: {url}");
        std::mem::forget(dir);
    } else {
        if let Some(db) = scratch
            && let Err(error) = db.drop_now().await
        {
            eprintln!("chatweb-bench: {error:#}");
            fields.insert("cleanup_error".into(), json!(format!("{error:#}")));
        }
        drop(dir);
    }
    let clean = fields.get("clean").and_then(Value::as_bool) == Some(true);
    fields.remove("clean");
    let p95 = fields
        .get("latency_ms")
        .and_then(|l| l.get("p95"))
        .cloned()
        .unwrap_or(Value::Null);
    Ok(json!({
        "scenario": "search",
        "params": serde_json::to_value(&args)?,
        "timeout_s": timeout.as_secs_f64(),
        "chatweb": fields,
        "relay": null,
        "relay_note": "the relay stores nothing and cannot search: no relay run",
        "ratio": { "p95_ms": null },
        "p95_ms": p95,
        "ok": ok && clean,
    }))
}

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One run's settings.
struct Run<'a> {
    args: &'a SearchArgs,
    binary: &'a Path,
    dir: &'a Path,
    url: &'a str,
    deadline: Instant,
}

impl Run<'_> {
    /// Generates, imports, serves, waits for the index, asks the queries; figures go into `out` as they
    /// come, so a run that fails halfway still says how far it got.
    async fn run(&self, out: &mut Map<String, Value>) -> anyhow::Result<()> {
        // 1. The history.
        let jsonl = self.dir.join("history.jsonl");
        let shape = Shape {
            messages: self.args.messages,
            rooms: self.args.rooms,
            users: self.args.users,
            seed: self.args.seed,
        };
        let started = Instant::now();
        let path = jsonl.clone();
        let written = tokio::task::spawn_blocking(move || {
            let file = std::fs::File::create(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            history::write(&shape, file)
        })
        .await??;
        out.insert(
            "generate_s".into(),
            json!(round3(started.elapsed().as_secs_f64())),
        );
        out.insert("jsonl_bytes".into(), json!(written.bytes));
        out.insert("messages".into(), json!(written.lines));
        out.insert(
            "largest_room".into(),
            json!(written.rooms.iter().map(|r| r.1).max()),
        );

        // 2. The import, the searcher and a token, with no server running.
        let started = Instant::now();
        // `chatweb import` stores nothing twice: a run that failed halfway is resumed by running it again.
        let mut retries = Vec::new();
        let imported = loop {
            match self.cli(&["import", &jsonl.to_string_lossy()], &[]).await {
                Ok(imported) => break imported,
                Err(error) if retries.len() < 20 => {
                    eprintln!("chatweb import failed, running it again: {error:#}");
                    retries.push(format!("{error:#}"));
                }
                Err(error) => return Err(error.context("chatweb import")),
            }
        };
        out.insert("import_retries".into(), json!(retries));
        let elapsed = started.elapsed();
        out.insert("import_s".into(), json!(round3(elapsed.as_secs_f64())));
        out.insert(
            "imported_per_s".into(),
            json!(per_second(written.lines, elapsed)),
        );
        out.insert("import_summary".into(), json!(imported.trim()));
        let _ = std::fs::remove_file(&jsonl);
        let password = format!(
            "{:016x}{:016x}",
            Rng::new(now_seed()).next_u64(),
            now_seed()
        );
        self.cli(
            &["createsuperuser", "--noinput", "--username", SEARCHER],
            &[(chatweb::manage::SUPERUSER_PASSWORD_ENV, &password)],
        )
        .await
        .context("chatweb createsuperuser")?;
        let token = self
            .cli(
                &["token", "create", SEARCHER, "--name", "search-bench"],
                &[],
            )
            .await
            .context("chatweb token create")?;
        let token = token.trim().to_owned();
        if token.is_empty() || token.contains(char::is_whitespace) {
            bail!("chatweb token create printed no token");
        }

        let db = match self.args.engine {
            Engine::Sqlite => BenchDb::sqlite(&self.dir.join("db.sqlite3")).await?,
            Engine::Postgres => BenchDb::postgres(self.url).await?,
        };
        let result = self.serve_and_search(&db, &written, &token, out).await;
        db.close().await;
        result
    }

    /// Starts the server, waits for the index, measures its size, asks the queries.
    async fn serve_and_search(
        &self,
        db: &BenchDb,
        written: &Written,
        token: &str,
        out: &mut Map<String, Value>,
    ) -> anyhow::Result<()> {
        out.insert("size_before_index".into(), db.sizes().await?);

        // 3. The server, and the indexer catching up.
        let started = Instant::now();
        let (binary, url) = (self.binary.to_owned(), self.url.to_owned());
        let mut server =
            tokio::task::spawn_blocking(move || Server::spawn_chatweb_on(&binary, &url, 0))
                .await??;
        let cpu = CpuMeter::start(server.proc);
        let total = u64::try_from(db.progress().await?.last).unwrap_or(0);
        let bar = Progress::start("indexing".into(), total);
        let caught_up = loop {
            let progress = db.progress().await?;
            bar.counter().store(
                u64::try_from(progress.indexed).unwrap_or(0),
                Ordering::Relaxed,
            );
            if progress.rooms_behind == 0 && progress.indexed == progress.last {
                break started.elapsed();
            }
            if server.exited() {
                bar.finish().await;
                bail!("chatweb exited while indexing");
            }
            tokio::time::sleep(POLL).await;
        };
        bar.finish().await;
        let mut indexing = Map::new();
        indexing.insert("index_s".into(), json!(round3(caught_up.as_secs_f64())));
        indexing.insert(
            "indexed_per_s".into(),
            json!(per_second(written.lines, caught_up)),
        );
        cpu.stop(&mut indexing);
        let docs = db.docs().await?;
        indexing.insert("docs".into(), json!(docs));
        out.insert("indexing".into(), Value::Object(indexing));
        if let Engine::Sqlite = self.args.engine {
            out.insert(
                "files_after_index".into(),
                sqlite_files(&self.dir.join("db.sqlite3")),
            );
        }
        out.insert("size_after_index".into(), db.sizes().await?);

        if self.args.analyze {
            let started = Instant::now();
            if db.analyze().await? {
                out.insert(
                    "analyze_s".into(),
                    json!(round3(started.elapsed().as_secs_f64())),
                );
            }
        }

        // 4. The queries.
        let queries = queries(written, self.args.queries, self.args.seed);
        // One query first, unmeasured, so the first measured one does not pay for the connections.
        ask(&server, token, "warm up").await?;
        let mut answers = Vec::with_capacity(queries.len());
        for query in &queries {
            let answer = ask(&server, token, &query.q).await?;
            answers.push((query, answer));
        }
        let report = summarise(&answers, self.args.goal_p95_ms);
        let sane = report.failures.is_empty();
        for (key, value) in report.fields {
            out.insert(key, value);
        }
        if let Some(log) = server.log() {
            out.insert("server_warnings".into(), json!(log.warnings));
            out.insert("server_errors".into(), json!(log.errors));
            for line in &log.first_problems {
                eprintln!("chatweb logged: {line}");
            }
        }
        out.insert(
            "clean".into(),
            json!(sane && u64::try_from(docs).ok() == Some(written.lines)),
        );
        drop(server);
        Ok(())
    }

    /// Runs `chatweb ARGS --database-url URL` to its end (killed at the deadline) and returns its stdout.
    async fn cli(&self, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<String> {
        let mut command = tokio::process::Command::new(self.binary);
        command
            .args(args)
            .args(["--database-url", self.url])
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "chatweb=warn")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("CHATWEB_") {
                command.env_remove(key);
            }
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let output = tokio::time::timeout_at(self.deadline, command.output())
            .await
            .context("timed out")??;
        if !output.status.success() {
            bail!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// Something unguessable enough for a throwaway password.
fn now_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id())
}

/// One query to ask.
#[derive(Clone, Debug)]
pub struct Query {
    /// Its kind (the report groups by it).
    pub kind: &'static str,
    /// What is typed in the search box.
    pub q: String,
    /// What its hits must be.
    pub expect: Expect,
}

/// What a query's hits must be, for the sanity check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// At least one hit, each with its terms highlighted.
    Found,
    /// At least one hit, each by this author.
    From(String),
    /// At least one hit, each in this room.
    In(String),
    /// No hit.
    Nothing,
}

/// The kinds of query, asked in turn.
pub const KINDS: &[&str] = &[
    "common",
    "rare",
    "prefix",
    "file",
    "code",
    "url",
    "accented",
    "cjk",
    "two_words",
    "phrase",
    "from",
    "in",
    "short",
    "absent",
];

/// `n` queries over `written`, kinds in turn, each kind's examples in turn.
pub fn queries(written: &Written, n: usize, seed: u64) -> Vec<Query> {
    let mut rng = Rng::new(seed ^ 0x5EA2C4);
    let found = |kind, q: &str| Query {
        kind,
        q: q.to_owned(),
        expect: Expect::Found,
    };
    let mut rare: Vec<&(String, u64)> = written.rare.iter().filter(|(_, n)| *n > 0).collect();
    // Rarest first, so that "rare" means a word a handful of messages hold.
    rare.sort_by_key(|(word, n)| (*n, word.clone()));
    let mut files: Vec<String> = vec!["foo_123.png".into()];
    files.extend(written.files.iter().take(12).cloned());
    let mut urls: Vec<String> = vec!["https://github.com/acme".into()];
    urls.extend(written.url_parts.iter().take(12).cloned());
    let users = &written.users;
    let mut rooms: Vec<&str> = written.rooms.iter().map(|r| r.0.as_str()).collect();
    if rooms.is_empty() {
        rooms.push("general");
    }
    (0..n)
        .map(|i| {
            let kind = KINDS[i % KINDS.len()];
            let j = i / KINDS.len();
            let pick = |list: &[&str]| list[j % list.len()].to_owned();
            match kind {
                "common" => found(
                    kind,
                    &pick(&[
                        "deploy", "build", "meeting", "tomorrow", "review", "thanks", "check",
                        "today", "please", "release",
                    ]),
                ),
                "rare" => match rare.get(j * 7 % rare.len().max(1)) {
                    Some((word, _)) => found(kind, word),
                    None => found(kind, "deploy"),
                },
                "prefix" => found(
                    kind,
                    &pick(&[
                        "depl", "migr", "rollb", "dashb", "incid", "kuber", "benchm", "certif",
                        "perm", "refac",
                    ]),
                ),
                "file" => found(kind, &files[j % files.len()]),
                "code" => found(
                    kind,
                    &pick(&[
                        "C++20",
                        "snake_case_name",
                        "std::vector<int>",
                        "x86_64-unknown",
                        "ERR_CONNECTION_REFUSED",
                        "--max-connections=100",
                        "HEAD~3",
                        "println!",
                    ]),
                ),
                "url" => found(kind, &urls[j % urls.len()]),
                "accented" => found(
                    kind,
                    &pick(&[
                        "cafe",
                        "Zürich",
                        "CRÈME",
                        "krakow",
                        "Düsseldorf",
                        "angstrom",
                        "naïve",
                        "jalapeno",
                    ]),
                ),
                "cjk" => found(
                    kind,
                    &pick(&[
                        "会議",
                        "東京",
                        "確認しました",
                        "部署",
                        "问题",
                        "감사합니다",
                        "リリース",
                        "進捗",
                    ]),
                ),
                "two_words" => found(
                    kind,
                    &pick(&[
                        "deploy staging",
                        "build failing",
                        "review merge",
                        "database migration",
                        "cache latency",
                        "incident pager",
                        "coffee morning",
                        "release tomorrow",
                    ]),
                ),
                "phrase" => found(
                    kind,
                    &pick(&[
                        "\"see you tomorrow\"",
                        "\"works on my machine\"",
                        "\"make deploy\"",
                        "\"the build is green again\"",
                        "\"let me check\"",
                        "\"ship it\"",
                        "\"thanks for the quick fix\"",
                    ]),
                ),
                "from" => {
                    // Active people, and now and then a quiet one.
                    let who = if j % 3 == 2 {
                        users[rng.below(users.len())].clone()
                    } else {
                        users[j % users.len().min(10)].clone()
                    };
                    let q = if j.is_multiple_of(2) {
                        format!("from:{who}")
                    } else {
                        format!("from:{who} deploy")
                    };
                    Query {
                        kind,
                        q,
                        expect: Expect::From(who),
                    }
                }
                "in" => {
                    // Busy rooms and quiet ones.
                    let room = if j.is_multiple_of(2) {
                        rooms[j % rooms.len().min(5)].to_owned()
                    } else {
                        rooms[rooms.len() - 1 - rng.below(rooms.len().div_ceil(2))].to_owned()
                    };
                    let q = if j % 3 == 1 {
                        format!("in:{room}")
                    } else {
                        format!("in:{room} the")
                    };
                    Query {
                        kind,
                        q,
                        expect: Expect::In(room),
                    }
                }
                "short" => found(kind, &pick(&["ok", "CI", "PR", "up", "v2", "db"])),
                _ => Query {
                    kind,
                    q: pick(&["xylophonequartz", "qqzzxxjjvv", "nonexistentword42"]),
                    expect: Expect::Nothing,
                },
            }
        })
        .collect()
}

/// One answer to a query.
struct Answer {
    latency: Duration,
    status: u16,
    body: Value,
}

/// Asks `q` as the searcher and times the whole exchange (connect, request, answer).
async fn ask(server: &Server, token: &str, q: &str) -> anyhow::Result<Answer> {
    let path = format!("/api/search?q={}", percent_encode(q));
    let auth = format!("Bearer {token}");
    let started = Instant::now();
    let headers = [("Authorization", auth.as_str())];
    let asked = crate::signup::request(server.addr, "GET", &path, &headers, "");
    let Ok(response) = tokio::time::timeout(QUERY_TIMEOUT, asked).await else {
        return Ok(Answer {
            latency: started.elapsed(),
            status: 0,
            body: Value::Null,
        });
    };
    let response = response?;
    let latency = started.elapsed();
    let body = serde_json::from_str(&response.body).unwrap_or(Value::Null);
    Ok(Answer {
        latency,
        status: response.status,
        body,
    })
}

/// `text` percent-encoded for a query string (everything but unreserved ASCII).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The report of the queries.
struct Summary {
    fields: Map<String, Value>,
    failures: Vec<String>,
}

/// Latency per kind and overall, hits, and what did not add up.
fn summarise(answers: &[(&Query, Answer)], goal_ms: f64) -> Summary {
    let mut failures = Vec::new();
    let mut by_kind: BTreeMap<&str, Vec<(f64, usize, bool)>> = BTreeMap::new();
    let mut all = Vec::with_capacity(answers.len());
    let mut per_query = Vec::with_capacity(answers.len());
    for (query, answer) in answers {
        let ms = answer.latency.as_secs_f64() * 1000.0;
        let hits = answer.body["hits"].as_array().cloned().unwrap_or_default();
        let more = !answer.body["next"].is_null();
        if let Some(problem) = check(query, answer.status, &hits) {
            failures.push(format!("{:?}: {problem}", query.q));
        }
        all.push(ms);
        by_kind
            .entry(query.kind)
            .or_default()
            .push((ms, hits.len(), more));
        per_query.push(json!([query.kind, query.q, round3(ms), hits.len(), more]));
    }
    let mut kinds = Map::new();
    let mut slow = Vec::new();
    for (kind, runs) in &by_kind {
        let latencies: Vec<f64> = runs.iter().map(|r| r.0).collect();
        let stats = percentiles(&latencies);
        if stats["p95"].as_f64().is_some_and(|p95| p95 > goal_ms) {
            slow.push(*kind);
        }
        let mut entry = stats;
        entry["queries"] = json!(runs.len());
        entry["hits_min"] = json!(runs.iter().map(|r| r.1).min());
        entry["hits_max"] = json!(runs.iter().map(|r| r.1).max());
        entry["with_next_page"] = json!(runs.iter().filter(|r| r.2).count());
        kinds.insert((*kind).to_owned(), entry);
    }
    let overall = percentiles(&all);
    let mut fields = Map::new();
    fields.insert("queries".into(), json!(answers.len()));
    fields.insert(
        "p95_goal_met".into(),
        json!(overall["p95"].as_f64().is_some_and(|p| p <= goal_ms)),
    );
    fields.insert("latency_ms".into(), overall);
    fields.insert("by_kind".into(), Value::Object(kinds));
    fields.insert("slow_kinds".into(), json!(slow));
    fields.insert("sanity_failures".into(), json!(failures.len()));
    if !failures.is_empty() {
        for failure in failures.iter().take(5) {
            eprintln!("search sanity: {failure}");
        }
        fields.insert(
            "first_failures".into(),
            json!(failures.iter().take(5).collect::<Vec<_>>()),
        );
    }
    fields.insert("per_query".into(), json!(per_query));
    Summary { fields, failures }
}

/// What is wrong with the hits of `query`, if anything.
fn check(query: &Query, status: u16, hits: &[Value]) -> Option<String> {
    if status == 0 {
        return Some(format!("no answer within {QUERY_TIMEOUT:?}"));
    }
    if status != 200 {
        return Some(format!("status {status}"));
    }
    if query.expect == Expect::Nothing {
        return (!hits.is_empty()).then(|| format!("{} hits, expected none", hits.len()));
    }
    if hits.is_empty() {
        return Some("no hit".into());
    }
    let has_terms =
        !(query.q.starts_with("from:") || query.q.starts_with("in:")) || query.q.contains(' ');
    for hit in hits {
        let highlighted = hit["highlights"].as_array().is_some_and(|h| !h.is_empty());
        if has_terms && !highlighted {
            return Some(format!("a hit without highlights: {hit}"));
        }
        match &query.expect {
            Expect::From(who)
                if !hit["user"]
                    .as_str()
                    .is_some_and(|u| u.eq_ignore_ascii_case(who)) =>
            {
                return Some(format!("a hit by someone else: {hit}"));
            }
            Expect::In(room) if hit["room"].as_str() != Some(room.as_str()) => {
                return Some(format!("a hit in another room: {hit}"));
            }
            _ => {}
        }
    }
    None
}

/// p50, p95, p99, max and mean of `ms` (nearest rank), rounded.
fn percentiles(ms: &[f64]) -> Value {
    if ms.is_empty() {
        return json!({ "p50": null, "p95": null, "p99": null, "max": null, "mean": null });
    }
    let mut sorted = ms.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        round3(sorted[rank - 1])
    };
    let mean = sorted.iter().sum::<f64>() / sorted.len() as f64;
    json!({ "p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "max": at(1.0), "mean": round3(mean) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_cover_every_kind_and_are_encoded() {
        let shape = Shape {
            messages: 2_000,
            rooms: 10,
            users: 30,
            seed: 3,
        };
        let written = history::write(&shape, std::io::sink()).expect("writes");
        let list = queries(&written, 100, 3);
        assert_eq!(list.len(), 100);
        for kind in KINDS {
            assert!(
                list.iter().filter(|q| q.kind == *kind).count() >= 7,
                "{kind}"
            );
        }
        assert!(list.iter().any(|q| q.q == "foo_123.png"));
        assert!(list.iter().any(|q| q.q == "C++20"));
        assert_eq!(percent_encode("C++20 \"é\""), "C%2B%2B20%20%22%C3%A9%22");
        let p = percentiles(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(p["p50"], 2.0);
        assert_eq!(p["max"], 4.0);
    }
}
