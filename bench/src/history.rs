//! Chat history for the search scenario: a seeded generator of `chatweb export` lines (one JSON object per
//! message, rooms one after another, ids 1.. gap-free per room) whose text looks like a team's chat:
//! common words in a Zipf distribution, rarer invented words, stock phrases, code (`C++20`,
//! `snake_case_name`, `make deploy`), file names (`foo_123.png`), URLs, numbers, accented words and
//! Japanese, Chinese and Korean sentences. Room sizes and user activity are skewed too. The same seed
//! gives the same file, and the generator remembers some of what it wrote (file names, URL parts, rare
//! words) so that the queries ask for things that are there.

use std::io::Write;

use chatweb::archive::ArchiveLine;

/// 2025-01-01T00:00:00Z in ms: the history starts here.
const START_MS: i64 = 1_735_689_600_000;
/// It spans 300 days.
const SPAN_MS: i64 = 300 * 86_400_000;
/// A message every this many holds `foo_123.png`, the issue's example file name.
const FOO_EVERY: u64 = 50_000;

/// SplitMix64: small, fast, seeded, and the same everywhere.
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Picks indexes with probability proportional to 1 / (rank + 1)^s.
pub struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    /// Over `n` ranks with exponent `s`.
    pub fn new(n: usize, s: f64) -> Self {
        let mut total = 0.0;
        let cumulative = (0..n.max(1))
            .map(|i| {
                total += 1.0 / ((i + 1) as f64).powf(s);
                total
            })
            .collect();
        Self { cumulative }
    }

    /// A rank.
    pub fn sample(&self, rng: &mut Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let x = rng.unit() * total;
        self.cumulative
            .partition_point(|&c| c <= x)
            .min(self.cumulative.len() - 1)
    }

    /// The share of rank `i`.
    pub fn share(&self, i: usize) -> f64 {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let below = if i == 0 { 0.0 } else { self.cumulative[i - 1] };
        (self.cumulative[i] - below) / total
    }
}

/// Everyday words, most frequent first.
pub const COMMON: &[&str] = &[
    "the",
    "to",
    "and",
    "a",
    "is",
    "it",
    "for",
    "on",
    "we",
    "that",
    "this",
    "in",
    "you",
    "of",
    "be",
    "with",
    "can",
    "have",
    "not",
    "just",
    "I",
    "ok",
    "so",
    "but",
    "are",
    "will",
    "do",
    "at",
    "now",
    "what",
    "if",
    "me",
    "there",
    "was",
    "my",
    "all",
    "get",
    "up",
    "out",
    "about",
    "should",
    "think",
    "need",
    "like",
    "see",
    "one",
    "going",
    "time",
    "today",
    "tomorrow",
    "yes",
    "no",
    "thanks",
    "also",
    "check",
    "please",
    "build",
    "deploy",
    "test",
    "tests",
    "review",
    "merge",
    "branch",
    "release",
    "server",
    "issue",
    "bug",
    "fix",
    "fixed",
    "error",
    "logs",
    "config",
    "staging",
    "production",
    "meeting",
    "customer",
    "ticket",
    "update",
    "change",
    "changes",
    "PR",
    "docs",
    "design",
    "data",
    "query",
    "index",
    "cache",
    "latency",
    "database",
    "api",
    "client",
    "team",
    "lunch",
    "coffee",
    "weekend",
    "morning",
    "afternoon",
    "ready",
    "done",
    "working",
    "broken",
    "looks",
    "good",
    "great",
    "sure",
    "maybe",
    "later",
    "soon",
    "again",
    "already",
    "still",
    "back",
    "let",
    "know",
    "new",
    "old",
    "first",
    "last",
    "next",
    "week",
    "sprint",
    "plan",
    "roadmap",
    "demo",
    "slides",
    "call",
    "sync",
    "standup",
    "migration",
    "schema",
    "rollback",
    "alert",
    "pager",
    "oncall",
    "incident",
    "outage",
    "dashboard",
    "metrics",
    "graph",
    "memory",
    "cpu",
    "disk",
    "network",
    "timeout",
    "retry",
    "queue",
    "worker",
    "job",
    "cron",
    "script",
    "pipeline",
    "CI",
    "green",
    "red",
    "flaky",
    "passing",
    "failing",
    "approved",
    "shipped",
    "landed",
    "reverted",
    "deployment",
    "kubernetes",
    "postgres",
    "terraform",
    "certificate",
    "dependency",
    "upgrade",
    "benchmark",
    "profiling",
    "refactor",
    "permissions",
];

/// Phrases that come up again and again, word for word.
pub const PHRASES: &[&str] = &[
    "see you tomorrow",
    "can you take a look",
    "the build is green again",
    "works on my machine",
    "let me check",
    "sounds good",
    "ship it",
    "good morning everyone",
    "any update on this",
    "out of office until Monday",
    "I will be a few minutes late",
    "thanks for the quick fix",
];

/// Code as people paste it.
pub const CODE: &[&str] = &[
    "C++20",
    "snake_case_name",
    "`make deploy`",
    "`cargo build --release`",
    "git rebase -i HEAD~3",
    "kubectl get pods -n prod",
    "std::vector<int>",
    "fn main() { println!(\"hi\"); }",
    "SELECT * FROM users WHERE id = 42;",
    "`npm run build`",
    "docker compose up -d",
    "x86_64-unknown-linux-gnu",
    "O(n log n)",
    "#include <iostream>",
    "ERR_CONNECTION_REFUSED",
    "NullPointerException",
    "HTTP 503",
    "--max-connections=100",
    "python3 -m venv .venv",
    "async fn handle(req: Request) -> Response",
];

/// File name stems, extensions.
const FILE_STEMS: &[&str] = &[
    "foo",
    "screenshot",
    "report",
    "diagram",
    "invoice",
    "backup",
    "notes",
    "IMG",
    "dump",
    "build",
];
const FILE_EXTS: &[&str] = &["png", "jpg", "pdf", "txt", "log", "tar.gz", "csv"];

/// Words with accents, as typed.
pub const ACCENTED: &[&str] = &[
    "café",
    "crème brûlée",
    "naïve",
    "résumé",
    "Zürich",
    "señor",
    "über",
    "déjà vu",
    "façade",
    "São Paulo",
    "Ærøskøbing",
    "Straße",
    "jalapeño",
    "Ångström",
    "piñata",
    "Málaga",
    "Kraków",
    "Düsseldorf",
    "entrée",
    "Ñandú",
];

/// Japanese, Chinese and Korean sentences.
pub const CJK: &[&str] = &[
    "明日の会議は10時からです",
    "進捗どうですか",
    "資料を確認しました",
    "東京オフィスに行きます",
    "新しいリリースが出ました",
    "你好，今天的部署完成了吗",
    "谢谢大家",
    "这个问题已经修复了",
    "서버 점검 중입니다",
    "감사합니다",
];

/// First names the users are made of.
const NAMES: &[&str] = &[
    "ada",
    "grace",
    "linus",
    "margaret",
    "dennis",
    "ken",
    "barbara",
    "alan",
    "edsger",
    "donald",
    "frances",
    "john",
    "radia",
    "tim",
    "vint",
    "bjarne",
    "guido",
    "james",
    "yukihiro",
    "rasmus",
    "larry",
    "anders",
    "brendan",
    "rob",
    "sophie",
    "hedy",
    "katherine",
    "dorothy",
    "mary",
    "annie",
    "jean",
    "kathleen",
    "betty",
    "marlyn",
    "ruth",
    "adele",
    "evelyn",
    "joan",
    "karen",
    "shafi",
    "leslie",
    "tony",
    "niklaus",
    "robin",
    "ivan",
    "fran",
    "butler",
    "whitfield",
    "martin",
    "erich",
    "yuki",
    "sakura",
    "hiro",
    "mei",
    "wei",
    "jun",
    "minho",
    "jisoo",
    "amara",
    "chidi",
];

/// Room names before numbering.
const ROOMS: &[&str] = &[
    "general",
    "random",
    "design",
    "ops",
    "oncall",
    "frontend",
    "backend",
    "infra",
    "release",
    "support",
    "sales",
    "marketing",
    "hiring",
    "security",
    "data",
    "ml",
    "mobile",
    "qa",
    "docs",
    "announcements",
];

/// What to generate.
#[derive(Clone, Debug)]
pub struct Shape {
    pub messages: u64,
    pub rooms: usize,
    pub users: usize,
    pub seed: u64,
}

/// Some of what was written, kept to make queries that find something.
#[derive(Clone, Debug, Default)]
pub struct Written {
    /// Lines written.
    pub lines: u64,
    /// Bytes written.
    pub bytes: u64,
    /// The rooms, in the order written, with their message counts.
    pub rooms: Vec<(String, u64)>,
    /// The users, most active first.
    pub users: Vec<String>,
    /// Invented rare words, each with how many messages hold it.
    pub rare: Vec<(String, u64)>,
    /// File names written (a sample).
    pub files: Vec<String>,
    /// Parts of URLs written (a sample).
    pub url_parts: Vec<String>,
}

/// Invented words: a seeded string of syllables, 7 to 9 letters, never a common word.
fn rare_words(rng: &mut Rng, n: usize) -> Vec<String> {
    const ONSETS: &[&str] = &[
        "b", "br", "d", "dr", "f", "g", "gl", "k", "kr", "l", "m", "n", "p", "pl", "qu", "r", "s",
        "sk", "t", "tr", "v", "z",
    ];
    const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ai", "ou", "y"];
    let mut words = Vec::with_capacity(n);
    while words.len() < n {
        let mut word = String::new();
        while word.len() < 7 {
            word.push_str(rng.pick::<&str>(ONSETS));
            word.push_str(rng.pick::<&str>(VOWELS));
        }
        word.push_str(rng.pick::<&str>(&["x", "m", "th", "rk", "n"]));
        if !words.contains(&word) && !COMMON.iter().any(|c| word.contains(c) && c.len() > 3) {
            words.push(word);
        }
    }
    words
}

/// The users: first names, then first names with a number.
fn user_names(n: usize) -> Vec<String> {
    (0..n.max(1))
        .map(|i| match i / NAMES.len() {
            0 => NAMES[i % NAMES.len()].to_owned(),
            k => format!("{}_{k}", NAMES[i % NAMES.len()]),
        })
        .collect()
}

/// The rooms: named ones, then numbered teams.
fn room_names(n: usize) -> Vec<String> {
    (0..n.max(1))
        .map(|i| match i / ROOMS.len() {
            0 => ROOMS[i % ROOMS.len()].to_owned(),
            k => format!("{}-{k}", ROOMS[i % ROOMS.len()]),
        })
        .collect()
}

/// Splits `total` over `n` rooms, the first ones busiest (Zipf 0.8), every room at least one message.
fn room_sizes(total: u64, n: usize) -> Vec<u64> {
    let zipf = Zipf::new(n, 0.8);
    let mut sizes: Vec<u64> = (0..n)
        .map(|i| ((total as f64 * zipf.share(i)).floor() as u64).max(1))
        .collect();
    let mut sum: u64 = sizes.iter().sum();
    let mut i = 0;
    while sum < total {
        sizes[i % n] += 1;
        sum += 1;
        i += 1;
    }
    while sum > total {
        let largest = (0..n).max_by_key(|&j| sizes[j]).unwrap_or(0);
        if sizes[largest] <= 1 {
            break;
        }
        sizes[largest] -= 1;
        sum -= 1;
    }
    sizes
}

/// Keeps up to `cap` samples of a stream (reservoir sampling, on its own generator).
struct Reservoir {
    rng: Rng,
    seen: u64,
    cap: usize,
    items: Vec<String>,
}

impl Reservoir {
    fn new(seed: u64, cap: usize) -> Self {
        Self {
            rng: Rng::new(seed),
            seen: 0,
            cap,
            items: Vec::new(),
        }
    }

    fn offer(&mut self, item: &str) {
        self.seen += 1;
        if self.items.len() < self.cap {
            self.items.push(item.to_owned());
        } else {
            let j = (self.rng.next_u64() % self.seen) as usize;
            if j < self.cap {
                self.items[j] = item.to_owned();
            }
        }
    }
}

/// The text of one message.
struct Texts {
    common: Zipf,
    rare: Vec<String>,
    rare_counts: Vec<u64>,
    users: Vec<String>,
    files: Reservoir,
    urls: Reservoir,
}

impl Texts {
    fn message(&mut self, rng: &mut Rng, n: u64) -> String {
        let mut parts: Vec<String> = Vec::new();
        // Now and then a whole message in Japanese, Chinese or Korean.
        if rng.chance(0.03) {
            let mut text = (*rng.pick(CJK)).to_owned();
            if rng.chance(0.3) {
                text.push(' ');
                text.push_str(rng.pick::<&str>(CJK));
            }
            return text;
        }
        let words = 3 + rng.below(14) + rng.below(10) * usize::from(rng.chance(0.3));
        for _ in 0..words {
            parts.push(COMMON[self.common.sample(rng)].to_owned());
        }
        // What goes between the words, each at a random place.
        let mut extra: Vec<String> = Vec::new();
        if rng.chance(0.12) {
            extra.push((*rng.pick(PHRASES)).to_owned());
        }
        if rng.chance(0.06) {
            let i = rng.below(self.rare.len());
            self.rare_counts[i] += 1;
            extra.push(self.rare[i].clone());
        }
        if rng.chance(0.06) {
            let code = if rng.chance(0.3) {
                // An identifier made of words.
                let k = 2 + rng.below(3);
                (0..k)
                    .map(|_| COMMON[60 + rng.below(COMMON.len() - 60)].to_lowercase())
                    .collect::<Vec<_>>()
                    .join("_")
            } else {
                (*rng.pick(CODE)).to_owned()
            };
            extra.push(code);
        }
        if rng.chance(0.04) || n % FOO_EVERY == 7 {
            let file = if n % FOO_EVERY == 7 {
                "foo_123.png".to_owned()
            } else {
                format!(
                    "{}_{}.{}",
                    rng.pick(FILE_STEMS),
                    rng.below(1000),
                    rng.pick(FILE_EXTS)
                )
            };
            self.files.offer(&file);
            extra.push(file);
        }
        if rng.chance(0.04) {
            let (url, part) = url(rng);
            self.urls.offer(&part);
            extra.push(url);
        }
        if rng.chance(0.10) {
            extra.push(number(rng));
        }
        if rng.chance(0.05) {
            extra.push((*rng.pick(ACCENTED)).to_owned());
        }
        if rng.chance(0.05) {
            let who = self.users[rng.below(self.users.len())].clone();
            extra.push(format!("@{who}"));
        }
        if rng.chance(0.02) {
            extra.push((*rng.pick(CJK)).to_owned());
        }
        for text in extra {
            let at = rng.below(parts.len() + 1);
            parts.insert(at, text);
        }
        let mut text = parts.join(" ");
        if rng.chance(0.4) {
            let mut chars = text.chars();
            if let Some(first) = chars.next() {
                text = first.to_uppercase().chain(chars).collect();
            }
        }
        match rng.below(6) {
            0 => text.push('.'),
            1 => text.push('?'),
            2 => text.push('!'),
            _ => {}
        }
        text
    }
}

/// A URL, and a part of it someone would search for.
fn url(rng: &mut Rng) -> (String, String) {
    const REPOS: &[&str] = &["api", "web", "infra", "mobile", "chatweb", "billing"];
    const CRATES: &[&str] = &["tokio", "serde", "axum", "sqlx", "clap", "hyper"];
    match rng.below(6) {
        0 => {
            let repo = rng.pick(REPOS);
            let n = 1 + rng.below(4000);
            (
                format!("https://github.com/acme/{repo}/pull/{n}"),
                format!("github.com/acme/{repo}"),
            )
        }
        1 => {
            let name = rng.pick(CRATES);
            (
                format!("https://docs.rs/{name}/latest/{name}/"),
                format!("docs.rs/{name}"),
            )
        }
        2 => {
            let n = 100 + rng.below(9000);
            (
                format!("https://jira.acme.io/browse/OPS-{n}"),
                format!("OPS-{n}"),
            )
        }
        3 => {
            let hex = rng.next_u64() & 0xFF_FFFF;
            (
                format!("https://grafana.acme.io/d/{hex:06x}/latency?orgId=1"),
                "grafana.acme.io".to_owned(),
            )
        }
        4 => {
            let port = rng.pick(&[3000, 8000, 8080, 5173, 9090]);
            (
                format!("http://localhost:{port}/api/health"),
                format!("localhost:{port}"),
            )
        }
        _ => {
            let word = COMMON[60 + rng.below(COMMON.len() - 60)].to_lowercase();
            (
                format!("https://example.com/{word}?q={word}&page=2"),
                format!("example.com/{word}"),
            )
        }
    }
}

/// A number as it appears in chat.
fn number(rng: &mut Rng) -> String {
    match rng.below(7) {
        0 => format!("v{}.{}.{}", 1 + rng.below(3), rng.below(21), rng.below(10)),
        1 => format!("{}ms", 1 + rng.below(2000)),
        2 => format!("{}%", rng.below(101)),
        3 => format!("port {}", 1024 + rng.below(60000)),
        4 => format!("#{}", 1 + rng.below(5000)),
        5 => format!("€{}", 5 + rng.below(5000)),
        _ => format!("{}:{:02}", rng.below(24), rng.below(60)),
    }
}

/// Writes the history as export lines to `out`.
pub fn write(shape: &Shape, out: impl Write) -> anyhow::Result<Written> {
    let mut rng = Rng::new(shape.seed);
    let rare = rare_words(&mut rng, 2000);
    let users = user_names(shape.users);
    let rooms = room_names(shape.rooms);
    let sizes = room_sizes(shape.messages.max(1), rooms.len());
    let activity = Zipf::new(users.len(), 1.0);
    let mut texts = Texts {
        common: Zipf::new(COMMON.len(), 1.0),
        rare_counts: vec![0; rare.len()],
        rare,
        users: users.clone(),
        files: Reservoir::new(shape.seed ^ 1, 64),
        urls: Reservoir::new(shape.seed ^ 2, 64),
    };
    let mut out = CountingWriter {
        inner: std::io::BufWriter::with_capacity(1 << 20, out),
        bytes: 0,
    };
    let mut written = Written::default();
    let mut n = 0_u64;
    for (room, &size) in rooms.iter().zip(&sizes) {
        let step = (SPAN_MS / i64::try_from(size).unwrap_or(i64::MAX)).max(1);
        for id in 1..=size {
            let at = START_MS + (id as i64 - 1) * step + (rng.next_u64() % step as u64) as i64;
            let line = ArchiveLine {
                room: room.clone(),
                id,
                ts: chatweb::domain::rfc3339_ms(at),
                user: users[activity.sample(&mut rng)].clone(),
                guest: false,
                message: texts.message(&mut rng, n),
                edited: false,
                deleted: false,
                kind: None,
                target: None,
                reply_to: None,
                files: Vec::new(),
                bot: false,
            };
            serde_json::to_writer(&mut out, &line)?;
            out.write_all(b"\n")?;
            n += 1;
        }
        written.rooms.push((room.clone(), size));
    }
    out.flush()?;
    written.lines = n;
    written.bytes = out.bytes;
    written.users = users;
    written.rare = texts.rare.into_iter().zip(texts.rare_counts).collect();
    written.files = texts.files.items;
    written.url_parts = texts.urls.items;
    Ok(written)
}

/// Counts what passes through.
struct CountingWriter<W: Write> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_writes_the_same_valid_lines() {
        let shape = Shape {
            messages: 3_000,
            rooms: 25,
            users: 70,
            seed: 7,
        };
        let mut a = Vec::new();
        let written = write(&shape, &mut a).expect("writes");
        let mut b = Vec::new();
        write(&shape, &mut b).expect("writes");
        assert_eq!(a, b);
        assert_eq!(written.lines, 3_000);
        assert_eq!(written.bytes, a.len() as u64);
        assert_eq!(written.rooms.len(), 25);
        assert_eq!(written.rooms.iter().map(|r| r.1).sum::<u64>(), 3_000);
        let text = String::from_utf8(a).expect("utf-8");
        let mut next_id = std::collections::HashMap::new();
        for line in text.lines() {
            let line = ArchiveLine::parse(line).expect("a valid export line");
            let expected = next_id.entry(line.room.clone()).or_insert(1);
            assert_eq!(line.id, *expected, "ids are 1.. gap-free per room");
            *expected += 1;
        }
        assert!(text.contains("foo_123.png"));
        assert!(text.contains("C++20"));
        assert!(text.contains("https://"));
        assert!(text.contains("café") || text.contains("Zürich"));
        assert!(CJK.iter().any(|s| text.contains(s)));
        assert!(!written.files.is_empty() && !written.url_parts.is_empty());
        for part in &written.url_parts {
            assert!(text.contains(part.as_str()), "{part}");
        }
    }
}
