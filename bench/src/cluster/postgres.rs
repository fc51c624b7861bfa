//! The private PostgreSQL: `initdb` into the run's temporary directory, run as the `postgres` user (through
//! `setpriv`; PostgreSQL refuses root) in its own namespace, trusting only the cluster's back network, and
//! also listening on a Unix socket in that directory, so that the harness, which has no address on the
//! cluster's networks, can reach it. The machine's own PostgreSQL is never touched.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use sqlx::postgres::PgConnectOptions;

use super::net::Host;
use super::procs::{Recipe, Service, poll_ready};

/// The port PostgreSQL listens on.
pub const PG_PORT: u16 = 5432;

/// The private PostgreSQL.
pub struct Postgres {
    /// Its process.
    pub service: Service,
    dir: PathBuf,
    data: PathBuf,
    /// `postgres://postgres@<addr>:5432/postgres`, what the nodes use.
    pub url: String,
}

/// Runs `program args` as the `postgres` user, in the root namespace, and fails with its output.
fn as_postgres(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("setpriv")
        .args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            program,
        ])
        .args(args)
        .output()
        .with_context(|| format!("running {program} as postgres (setpriv)"))?;
    if !output.status.success() {
        bail!(
            "{program} {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout).trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// The `postgres` user's uid and gid.
fn postgres_ids() -> anyhow::Result<(u32, u32)> {
    let id = |flag: &str| -> anyhow::Result<u32> {
        let out = Command::new("id").args([flag, "postgres"]).output()?;
        if !out.status.success() {
            bail!("there is no postgres user to run the private PostgreSQL as");
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
    };
    Ok((id("-u")?, id("-g")?))
}

impl Postgres {
    /// `initdb` into `dir` (made here, owned by `postgres`), then starts it in `host`'s namespace.
    pub fn create(host: &Host, dir: &Path, bin: &Path) -> anyhow::Result<Self> {
        let (uid, gid) = postgres_ids()?;
        std::fs::create_dir_all(dir)?;
        std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
        let data = dir.join("data");
        let initdb = bin.join("initdb");
        as_postgres(
            &initdb.to_string_lossy(),
            &[
                "-D",
                &data.to_string_lossy(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        let addr = host.back.context("PostgreSQL has no address")?;
        // The nodes connect from the back network: trust it (the cluster's own private range).
        let hba = data.join("pg_hba.conf");
        let mut rules = File::options().append(true).open(&hba)?;
        writeln!(
            rules,
            "host all all {}/24 trust",
            super::net::back_network()
        )?;
        let log = dir.join("postgres.log");
        File::create(&log)?;
        std::os::unix::fs::chown(&log, Some(uid), Some(gid))?;
        let recipe = Recipe {
            ns: host.ns.clone(),
            program: "setpriv".into(),
            args: [
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                &bin.join("postgres").to_string_lossy(),
                "-D",
                &data.to_string_lossy(),
                "-c",
                &format!("listen_addresses={addr}"),
                "-c",
                &format!("port={PG_PORT}"),
                "-c",
                &format!("unix_socket_directories={}", dir.display()),
                "-c",
                "max_connections=200",
            ]
            .map(str::to_owned)
            .to_vec(),
            env: Vec::new(),
            log,
        };
        let service = Service::start("pg", recipe, None)?;
        let pg = Self {
            service,
            dir: dir.to_owned(),
            data,
            url: format!("postgres://postgres@{addr}:{PG_PORT}/postgres"),
        };
        pg.wait_ready()?;
        Ok(pg)
    }

    /// Where the harness connects: the Unix socket in the data's parent directory.
    pub fn local_options(&self) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.dir)
            .port(PG_PORT)
            .username("postgres")
            .database("postgres")
    }

    fn wait_ready(&self) -> anyhow::Result<()> {
        let socket = self.dir.join(format!(".s.PGSQL.{PG_PORT}"));
        let pid_file = self.data.join("postmaster.pid");
        // postmaster.pid's last line says "ready" once it accepts connections.
        poll_ready("PostgreSQL", || {
            socket.exists()
                && std::fs::read_to_string(&pid_file)
                    .is_ok_and(|s| s.lines().any(|l| l.trim() == "ready"))
        })
    }

    /// A fast shutdown (`pg_ctl stop -m fast`: open transactions are rolled back, clients cut off).
    pub fn stop_fast(&mut self, bin: &Path) -> anyhow::Result<()> {
        as_postgres(
            &bin.join("pg_ctl").to_string_lossy(),
            &[
                "stop",
                "-D",
                &self.data.to_string_lossy(),
                "-m",
                "fast",
                "-w",
            ],
        )?;
        if let Some(mut child) = self.service.child.take() {
            let _ = child.wait();
        }
        Ok(())
    }

    /// Starts it again after [`Postgres::stop_fast`] and waits until it accepts connections.
    pub fn start_again(&mut self) -> anyhow::Result<()> {
        self.service.restart(None)?;
        self.wait_ready()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGINT is PostgreSQL's fast shutdown: it leaves no shared memory behind.
        self.service.stop_with("INT");
    }
}
