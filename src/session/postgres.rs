//! The shared store: a session's dumps in PostgreSQL (`[session] store = "postgres://…"`), so
//! that a team's collectors write one session and every tester's screen follows it.
//!
//! Tables (created and upgraded by [`migrate`] on connect, versioned in
//! `covtop_schema_version`): `covtop_sessions` (name, the last sequence number handed out),
//! `covtop_blobs` (payloads by SHA-256: identical payloads are kept once across sessions and
//! replicas) and `covtop_dumps` (per session: sequence number, identity, metadata, blob).
//!
//! A dump is appended in one transaction that first locks its session's row (taking the next
//! sequence number), so sequence numbers are handed out in commit order and a reader following
//! the session from a position never misses one; a dump whose identity the session holds is not
//! stored again (several collectors on one session never conflict), and the commit notifies
//! (`NOTIFY covtop_dumps`) every screen that follows the session.
//!
//! The password comes from `password_file`, `PGPASSWORD` or a `.pgpass` file (`PGPASSFILE`,
//! else `~/.pgpass`), never from the URL, and appears in nothing covtop prints or writes: the
//! store's [`DumpStore::location`] names host, port and database only.

use super::pg_tls::{self, MakeRustls, TlsSettings};
use super::store::{self, DumpFeed, DumpStore, DumpStream, Loaded, Persisted};
use super::{
    DumpMeta, MergeSummary, ProblemKind, SessionError, SessionProblem, SessionStore, StoredDump,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio_postgres::config::Host;
use tokio_postgres::{AsyncMessage, Client};

/// The channel every append notifies, with payload `<session id>:<seq>`.
const CHANNEL: &str = "covtop_dumps";
/// One statement (or connect) longer than this is a store that does not answer.
const OP_TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The spool's store folder inside the session's local folder.
const SPOOL_DIR: &str = "spool";
/// Taken while migrating, so that two covtops connecting at once never migrate together.
const MIGRATE_LOCK: i64 = 0x636f_7674_6f70;

/// The schema, one step per version: `MIGRATIONS[i]` takes the schema from version `i` to `i+1`.
/// Published steps are never edited; a change is a new step.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE covtop_sessions (
         id BIGSERIAL PRIMARY KEY,
         name TEXT NOT NULL UNIQUE,
         last_seq BIGINT NOT NULL DEFAULT 0,
         created_ms BIGINT NOT NULL
     );
     CREATE TABLE covtop_blobs (
         digest BYTEA PRIMARY KEY,
         payload BYTEA NOT NULL
     );
     CREATE TABLE covtop_dumps (
         session_id BIGINT NOT NULL REFERENCES covtop_sessions (id) ON DELETE CASCADE,
         seq BIGINT NOT NULL,
         identity BYTEA NOT NULL,
         target TEXT NOT NULL,
         replica TEXT NOT NULL,
         fetched_at_ms BIGINT NOT NULL,
         reset_after BOOLEAN NOT NULL,
         meta TEXT NOT NULL,
         blob BYTEA REFERENCES covtop_blobs (digest),
         PRIMARY KEY (session_id, seq),
         UNIQUE (session_id, identity)
     );",
    // Checkpoints: one per session, replaced in one statement; `aside` names why one that
    // could not be read was set aside (it is then not read again until replaced).
    "CREATE TABLE covtop_checkpoints (
         session_id BIGINT PRIMARY KEY REFERENCES covtop_sessions (id) ON DELETE CASCADE,
         upto BIGINT NOT NULL,
         made_ms BIGINT NOT NULL,
         body BYTEA NOT NULL,
         aside TEXT
     );",
    // A stored dump that cannot be used (it does not decode, exceeds a budget or made covtop
    // fail) is set aside: it stays, with why and when, and is never replayed again.
    "ALTER TABLE covtop_dumps ADD COLUMN quarantined_reason TEXT, ADD COLUMN quarantined_ms BIGINT;",
    // One checkpoint per session and configured revision: covtops opened at two revisions on
    // one session never replace each other's ('' is the one written before this step).
    "ALTER TABLE covtop_checkpoints ADD COLUMN revision TEXT NOT NULL DEFAULT '';
     ALTER TABLE covtop_checkpoints DROP CONSTRAINT covtop_checkpoints_pkey;
     ALTER TABLE covtop_checkpoints ADD PRIMARY KEY (session_id, revision);",
];

/// Removes the payloads no dump names any more.
const DROP_UNUSED_BLOBS: &str = "DELETE FROM covtop_blobs b WHERE NOT EXISTS \
     (SELECT 1 FROM covtop_dumps d WHERE d.blob = b.digest)";

/// The schema version this covtop writes.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// True when `store` (the `[session] store` setting) names a PostgreSQL database.
pub fn is_postgres_url(store: &str) -> bool {
    store.starts_with("postgres://") || store.starts_with("postgresql://")
}

/// How to reach the database: the parsed URL with the password resolved.
#[derive(Clone)]
pub struct PgTarget {
    config: tokio_postgres::Config,
    location: String,
    /// The URL's `sslmode` and `sslrootcert`, made into the connector of every connection.
    tls: MakeRustls,
}

impl std::fmt::Debug for PgTarget {
    // The config holds the password: only the location is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTarget")
            .field("location", &self.location)
            .finish()
    }
}

impl PgTarget {
    /// Checks the `[session] store` URL without connecting: it parses, names a database and
    /// holds no password. The error says what to write instead.
    pub fn check_url(url: &str) -> Result<(tokio_postgres::Config, TlsSettings), String> {
        let (url, tls) = pg_tls::split_url(url)?;
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            format!("is not a PostgreSQL URL ({e}); write postgres://USER@HOST[:PORT]/DATABASE")
        })?;
        config.ssl_mode(pg_tls::pg_mode(tls.mode));
        if config.get_password().is_some() {
            return Err(
                "holds a password: take it out of the URL and put it in [session] password_file, \
                 PGPASSWORD or a .pgpass file"
                    .into(),
            );
        }
        if config.get_dbname().is_none() {
            return Err(format!(
                "names no database: write {}/DATABASE",
                location_of(&config)
            ));
        }
        Ok((config, tls))
    }

    /// Parses `url` (`postgres://user@host[:port]/db`; `postgres:///db?user=U&host=/socket/dir`
    /// for a unix socket)
    /// and finds the password: `password_file`, then `PGPASSWORD`, then the `.pgpass` file.
    pub fn new(url: &str, password_file: Option<&Path>) -> Result<PgTarget, SessionError> {
        let invalid = |message| SessionError::Database {
            store: "[session] store".into(),
            message,
        };
        let (mut config, tls) = Self::check_url(url).map_err(invalid)?;
        let tls = MakeRustls::new(&tls).map_err(invalid)?;
        let location = location_of(&config);
        if config.get_user().is_none()
            && let Some(user) = std::env::var("PGUSER")
                .ok()
                .or_else(|| std::env::var("USER").ok())
        {
            config.user(&user);
        }
        let password = match password_file {
            Some(path) => {
                Some(
                    read_password_file(path).map_err(|message| SessionError::Database {
                        store: format!("[session] password_file = {}", path.display()),
                        message,
                    })?,
                )
            }
            None => std::env::var("PGPASSWORD")
                .ok()
                .filter(|p| !p.is_empty())
                .or_else(|| pgpass_password(&config)),
        };
        if let Some(p) = password {
            config.password(p);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("covtop");
        Ok(PgTarget {
            config,
            location,
            tls,
        })
    }

    /// Host, port and database: never the user nor the password.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Opens a connection: the client and the connection task to drive.
    async fn open_connection(
        &self,
    ) -> Result<
        (
            Client,
            tokio_postgres::Connection<tokio_postgres::Socket, pg_tls::RustlsStream>,
        ),
        ConnectFailure,
    > {
        match tokio::time::timeout(OP_TIMEOUT, self.config.connect(self.tls.clone())).await {
            Err(_) => Err(ConnectFailure {
                unreachable: true,
                message: format!("no answer within {}s", OP_TIMEOUT.as_secs()),
            }),
            Ok(Err(e)) => Err(ConnectFailure {
                // Refused, reset, no route, no such host: the server is away. A refusal by the
                // server itself (password, database) or a TLS failure is not.
                unreachable: e.as_db_error().is_none()
                    && std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()),
                message: pg_error(&e),
            }),
            Ok(Ok(c)) => Ok(c),
        }
    }

    async fn connect(&self) -> Result<Client, ConnectFailure> {
        let (client, connection) = self.open_connection().await?;
        tokio::spawn(async move {
            // Ends when the client is dropped or the server goes away; the next call reconnects.
            let _ = connection.await;
        });
        Ok(client)
    }
}

/// Why a connection could not be opened; `unreachable` when the server is away (dumps are
/// then spooled), not when it refused covtop.
struct ConnectFailure {
    unreachable: bool,
    message: String,
}

fn location_of(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{host}:{port}/{}",
        config.get_dbname().unwrap_or_default()
    )
}

fn read_password_file(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() || meta.len() > 4096 {
        return Err("is not a small regular file holding the password".into());
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let p = text.trim_end_matches(['\n', '\r']);
    if p.is_empty() {
        return Err("is empty; write the password on its first line".into());
    }
    Ok(p.to_string())
}

/// The password a `.pgpass` file (`PGPASSFILE`, else `~/.pgpass`) gives for this connection:
/// the first line `host:port:database:user:password` whose fields match (`*` matches anything,
/// `\:` and `\\` escape).
fn pgpass_password(config: &tokio_postgres::Config) -> Option<String> {
    let path = std::env::var_os("PGPASSFILE")
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".pgpass")))?;
    let meta = std::fs::metadata(&path).ok()?;
    if !meta.is_file() || meta.len() > 1 << 20 {
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(_)) => "localhost".into(),
        None => "localhost".into(),
    };
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432)
        .to_string();
    let want = [
        host.as_str(),
        port.as_str(),
        config.get_dbname().unwrap_or_default(),
        config.get_user().unwrap_or_default(),
    ];
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| pgpass_line(line, &want))
}

fn pgpass_line(line: &str, want: &[&str; 4]) -> Option<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => cur.extend(chars.next()),
            ':' if fields.len() < 4 => fields.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if fields.len() != 4 {
        return None;
    }
    let matches = fields.iter().zip(want).all(|(f, w)| f == "*" || f == w);
    matches.then_some(cur)
}

/// The message of a database error, with the server's own text when there is one.
fn pg_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        // With its causes: "error performing TLS handshake" alone would not say which check.
        None => {
            let mut message = e.to_string();
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                let text = c.to_string();
                if !message.contains(&text) {
                    message.push_str(": ");
                    message.push_str(&text);
                }
                cause = c.source();
            }
            message
        }
    }
}

/// Creates or upgrades the schema to [`SCHEMA_VERSION`], under an advisory lock; a database
/// whose schema is newer than this covtop knows is refused (upgrade covtop).
pub async fn migrate(client: &mut Client) -> Result<i32, String> {
    let tx = client.transaction().await.map_err(|e| pg_error(&e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])
        .await
        .map_err(|e| pg_error(&e))?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS covtop_schema_version (version INTEGER NOT NULL)")
        .await
        .map_err(|e| pg_error(&e))?;
    let current: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM covtop_schema_version",
            &[],
        )
        .await
        .map_err(|e| pg_error(&e))?
        .get(0);
    if current > SCHEMA_VERSION {
        return Err(format!(
            "the database's covtop schema is version {current}, newer than this covtop's \
             ({SCHEMA_VERSION}): upgrade covtop"
        ));
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        tx.batch_execute(step).await.map_err(|e| pg_error(&e))?;
        tx.execute(
            "INSERT INTO covtop_schema_version (version) VALUES ($1)",
            &[&(i as i32 + 1)],
        )
        .await
        .map_err(|e| pg_error(&e))?;
    }
    tx.commit().await.map_err(|e| pg_error(&e))?;
    Ok(SCHEMA_VERSION)
}

/// One session in PostgreSQL.
///
/// When the database cannot take a dump, the dump goes to a local spool — a folder store in
/// `local_dir/spool` — and is acknowledged from there (durable, with sequence number 0: the session
/// numbers it when it is uploaded). The spool is uploaded in order before any later append, and
/// by an uploader thread that tries every second while it holds dumps, so the session gets them
/// in the order they were taken as soon as the database answers; opening the store uploads what
/// an earlier run left. A database that cannot be reached when the store is opened is no error:
/// the store opens on its spool (the session's earlier dumps are read when it answers). Only
/// when the spool cannot take a dump either is an append an error (and a reset waiting for it is
/// not done).
pub struct PgStore {
    target: PgTarget,
    name: String,
    session: Session,
    /// The folder for what the session keeps locally (saved build lines, the spool).
    local_dir: PathBuf,
    spool: Arc<Mutex<Spool>>,
    /// Runs the database I/O, whatever runtime (if any) the caller is on.
    rt: Option<tokio::runtime::Runtime>,
    io: Io,
    /// Tells the uploader thread to stop.
    stop: Arc<AtomicBool>,
}

/// The local spool of a session and what is known of its upload.
struct Spool {
    /// The spool's folder store (`spool/sessions/<name>` in the session's local folder).
    store: Option<SessionStore>,
    /// The spool's root (`spool/`), whose unused blobs are removed after an upload.
    root: PathBuf,
    /// The spool may hold dumps not uploaded yet.
    pending: bool,
    /// Why the last append went to the spool, while it holds dumps.
    unreachable: Option<String>,
    /// Session sequence numbers of spooled dumps uploaded since [`DumpStore::take_uploaded`].
    uploaded: Vec<u64>,
}

fn lock(spool: &Mutex<Spool>) -> std::sync::MutexGuard<'_, Spool> {
    // Every update of the spool's state is a single step: a holder that panicked left it whole.
    spool.lock().unwrap_or_else(|e| e.into_inner())
}

/// The store's connection and the statements it prepared on it.
struct Conn {
    client: Client,
    /// Prepared on first use ([`Conn::append_statements`]).
    append: Option<AppendStatements>,
}

/// The statements of an append, prepared once per connection: parsed and planned by the
/// server once, not for every dump (a quarter of the database's work per append).
#[derive(Clone)]
struct AppendStatements {
    blob: tokio_postgres::Statement,
    number: tokio_postgres::Statement,
    seq: tokio_postgres::Statement,
}

impl std::ops::Deref for Conn {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

impl Conn {
    /// The append's statements, prepared on this connection the first time.
    async fn append_statements(&mut self) -> Result<AppendStatements, String> {
        use tokio_postgres::types::Type;
        if let Some(s) = &self.append {
            return Ok(s.clone());
        }
        let c = &self.client;
        let (blob, number, seq) = futures_util::join!(
            c.prepare_typed(INSERT_BLOB, &[Type::BYTEA, Type::BYTEA]),
            c.prepare_typed(
                INSERT_NUMBERED,
                &[
                    Type::INT8,
                    Type::BYTEA,
                    Type::TEXT,
                    Type::TEXT,
                    Type::INT8,
                    Type::BOOL,
                    Type::TEXT,
                    Type::BYTEA,
                    Type::TEXT
                ]
            ),
            c.prepare_typed(SEQ_OF_IDENTITY, &[Type::INT8, Type::BYTEA]),
        );
        let e = |e: tokio_postgres::Error| pg_error(&e);
        let s = AppendStatements {
            blob: blob.map_err(e)?,
            number: number.map_err(e)?,
            seq: seq.map_err(e)?,
        };
        self.append = Some(s.clone());
        Ok(s)
    }
}

/// Keeps a payload by digest; it travels only when the database does not hold it yet.
const INSERT_BLOB: &str = "INSERT INTO covtop_blobs (digest, payload) SELECT $1, $2 \
     WHERE NOT EXISTS (SELECT 1 FROM covtop_blobs WHERE digest = $1) \
     ON CONFLICT (digest) DO NOTHING";

/// Locks session `$1`'s row, takes its next number, inserts the dump (identity `$2`, target,
/// replica, time, reset, metadata, blob: `$3`…`$8`) unless the session holds its identity, and
/// notifies channel `$9`; returns the number (no row when the session held the dump already).
const INSERT_NUMBERED: &str = "WITH s AS (UPDATE covtop_sessions SET last_seq = last_seq + 1 \
            WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM covtop_dumps \
              WHERE session_id = $1 AND identity = $2) \
            RETURNING last_seq), \
      ins AS (INSERT INTO covtop_dumps (session_id, seq, identity, target, replica, \
              fetched_at_ms, reset_after, meta, blob) \
            SELECT $1, s.last_seq, $2, $3, $4, $5, $6, $7, $8 FROM s \
            ON CONFLICT (session_id, identity) DO NOTHING \
            RETURNING seq) \
     SELECT i.seq, pg_notify($9, $1::text || ':' || i.seq::text)::text FROM ins i";

/// The sequence number of the dump of identity `$2` in session `$1`.
const SEQ_OF_IDENTITY: &str =
    "SELECT seq FROM covtop_dumps WHERE session_id = $1 AND identity = $2";

/// What [`Io::run`] runs with the client: a database exchange.
type Work<'c, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, String>> + Send + 'c>>;

/// The store's connection, used from its I/O runtime: by the store and by the streams it
/// hands out (which may outlive a call).
#[derive(Clone)]
struct Io {
    handle: tokio::runtime::Handle,
    client: Arc<tokio::sync::Mutex<Option<Conn>>>,
    target: PgTarget,
    /// The last connection attempt failed because the server is away.
    away: Arc<AtomicBool>,
}

impl Io {
    /// Runs `f` with a connected client on the I/O runtime and waits for it. A closed
    /// connection is replaced (and the schema checked) first, so a database that went away and
    /// came back is used again.
    fn run<T, F>(&self, f: F) -> Result<T, String>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> Work<'c, T> + Send + 'static,
    {
        let slot = self.client.clone();
        let target = self.target.clone();
        let away = self.away.clone();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        // Once the runtime is shut down (the store dropped) the task is dropped unrun, and
        // the sender with it.
        self.handle.spawn(async move {
            let work = async {
                let mut guard = slot.lock().await;
                if guard.as_ref().is_none_or(|c| c.is_closed()) {
                    let mut client = target.connect().await.map_err(|f| {
                        away.store(f.unreachable, Ordering::Relaxed);
                        f.message
                    })?;
                    away.store(false, Ordering::Relaxed);
                    migrate(&mut client).await?;
                    *guard = Some(Conn {
                        client,
                        append: None,
                    });
                }
                let client = guard.as_mut().expect("connected above");
                let out = tokio::time::timeout(OP_TIMEOUT, f(client))
                    .await
                    .map_err(|_| format!("no answer within {}s", OP_TIMEOUT.as_secs()))?;
                if out.is_err() && client.is_closed() {
                    *guard = None;
                }
                out
            };
            let _ = tx.send(work.await);
        });
        rx.recv()
            .unwrap_or_else(|_| Err("the store is closed (its I/O thread stopped)".into()))
    }

    /// Asks the database for nothing, connecting if needed: does it answer?
    fn ping(&self) -> Result<(), String> {
        self.run(|client| {
            Box::pin(async move {
                client
                    .batch_execute("SELECT 1")
                    .await
                    .map_err(|e| pg_error(&e))
            })
        })
    }

    /// Whether the last connection attempt found the server away.
    fn away(&self) -> bool {
        self.away.load(Ordering::Relaxed)
    }
}

/// One session of the database, as the store, its streams and its uploader reach it.
#[derive(Clone)]
struct Session {
    io: Io,
    name: String,
    /// Its id in `covtop_sessions`, once the database has answered.
    id: Arc<OnceLock<i64>>,
    location: String,
}

impl Session {
    /// The session's id, creating the session if needed.
    fn id(&self) -> Result<i64, String> {
        if let Some(&id) = self.id.get() {
            return Ok(id);
        }
        let name = self.name.clone();
        let id = self
            .io
            .run(move |client| Box::pin(async move { session_id(client, &name).await }))?;
        let _ = self.id.set(id);
        Ok(id)
    }

    fn dump_path(&self, seq: i64) -> PathBuf {
        PathBuf::from(format!("{}#{seq}", self.location))
    }

    /// Uploads the spooled dumps in order; each leaves the spool once the session has it.
    fn upload(&self, spool: &mut Spool) -> Result<(), String> {
        // The database must answer, even when the spool holds nothing (a viewer's).
        self.id()?;
        let Some(store) = &spool.store else {
            spool.pending = false;
            return Ok(());
        };
        let (dumps, _) = store.load_all().map_err(|e| e.to_string())?;
        let had = !dumps.is_empty();
        for d in dumps {
            let (seq, _) = self.append(&d.meta, &d.payload)?;
            spool.uploaded.push(seq as u64);
            // A file that stays is uploaded again next time, and found there (same identity).
            let _ = std::fs::remove_file(&d.path);
        }
        spool.pending = false;
        spool.unreachable = None;
        if had {
            super::remove_unused_blobs(&spool.root, Duration::from_secs(60));
        }
        Ok(())
    }

    /// Appends one dump to the database (no spool): its sequence number, and whether it is new.
    ///
    /// One transaction, sent whole (pipelined: BEGIN, the payload, the numbered insert and
    /// COMMIT in one round trip, statements prepared once per connection): the payload, kept
    /// once by digest, first; then one statement that locks the session's row, takes the next
    /// number, inserts the dump unless its identity is there, and notifies. The lock ends with
    /// the commit (durable: the WAL flushed), so numbers follow commits; it is held for that
    /// statement and the commit only, never across a round trip to covtop.
    fn append(&self, meta: &DumpMeta, payload: &[u8]) -> Result<(i64, bool), String> {
        let sid = self.id()?;
        let identity = store::identity(meta, payload).to_vec();
        let blob = (!payload.is_empty()).then(|| store::digest(payload).to_vec());
        let mut meta = meta.clone();
        // The payload is kept in covtop_blobs, not where a file store kept it.
        meta.blob = None;
        meta.len = payload.len() as u64;
        meta.crc32 = crc32fast::hash(payload);
        meta.seq = 0;
        let text = serde_json::to_string(&meta).map_err(|e| e.to_string())?;
        let payload = payload.to_vec();
        self.io.run(move |client| {
            Box::pin(async move {
                let e = |e: tokio_postgres::Error| pg_error(&e);
                let st = client.append_statements().await?;
                let at = meta.fetched_at_ms as i64;
                let store_blob = async {
                    match &blob {
                        Some(digest) => client.execute(&st.blob, &[digest, &payload]).await,
                        None => Ok(0),
                    }
                };
                let row: [&(dyn tokio_postgres::types::ToSql + Sync); 9] = [
                    &sid,
                    &identity,
                    &meta.target,
                    &meta.replica,
                    &at,
                    &meta.reset_after,
                    &text,
                    &blob,
                    &CHANNEL,
                ];
                let number = client.query(&st.number, &row);
                let (begun, stored, numbered, committed) = futures_util::join!(
                    client.batch_execute("BEGIN"),
                    store_blob,
                    number,
                    client.batch_execute("COMMIT")
                );
                begun.map_err(e)?;
                stored.map_err(e)?;
                // COMMIT after a failed statement rolls back: the first error says why.
                let numbered = numbered.map_err(e)?;
                committed.map_err(e)?;
                if let Some(row) = numbered.first() {
                    return Ok((row.get::<_, i64>(0), true));
                }
                // The session holds this dump already (a retry, or another writer of it).
                let seq = client.query(&st.seq, &row[..2]).await.map_err(e)?;
                let seq = seq
                    .first()
                    .map(|r| r.get::<_, i64>(0))
                    .ok_or("a conflicting dump vanished; retry")?;
                Ok((seq, false))
            })
        })
    }
}

/// The id of session `name`, created if it does not exist yet.
async fn session_id(client: &Client, name: &str) -> Result<i64, String> {
    client
        .execute(
            "INSERT INTO covtop_sessions (name, created_ms) VALUES ($1, $2) \
             ON CONFLICT (name) DO NOTHING",
            &[&name, &now_ms()],
        )
        .await
        .map_err(|e| pg_error(&e))?;
    let row = client
        .query_one("SELECT id FROM covtop_sessions WHERE name = $1", &[&name])
        .await
        .map_err(|e| pg_error(&e))?;
    Ok(row.get::<_, i64>(0))
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("location", &self.location())
            .finish()
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Allowed inside an async context too (the engine task drops its store).
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl PgStore {
    /// Opens (creating if needed) session `name`, connecting and migrating the schema. A
    /// database that does not answer (refused, unreachable, no reply) is no error: the store
    /// opens on its local spool and says so ([`DumpStore::health`]); a database that refuses
    /// covtop (password, permissions, a newer schema) is. `local_dir` is created: the session
    /// keeps saved build lines and the spool there.
    pub fn open(target: PgTarget, name: &str, local_dir: &Path) -> Result<PgStore, SessionError> {
        std::fs::create_dir_all(local_dir).map_err(|source| SessionError::Create {
            path: local_dir.to_path_buf(),
            source,
        })?;
        let store = PgStore::new(target, name, local_dir)?;
        // The spool is a folder store of its own inside `local_dir` (`spool/sessions/<name>`,
        // `spool/blobs`): never a folder session that happens to share the name.
        lock(&store.spool).store = SessionStore::open(&local_dir.join(SPOOL_DIR), name).ok();
        match store.session.id() {
            Ok(_) => {
                // What an earlier run could not upload goes first (it stays spooled if that
                // fails).
                let mut spool = lock(&store.spool);
                let _ = store.session.upload(&mut spool);
            }
            Err(why) if store.io.away() && lock(&store.spool).store.is_some() => {
                let mut spool = lock(&store.spool);
                spool.pending = true;
                spool.unreachable = Some(store.err(why).to_string());
            }
            Err(why) => return Err(store.err(why)),
        }
        store.start_uploader();
        Ok(store)
    }

    /// Connects (migrating the schema) without opening a session: for listing and removing
    /// sessions. Appends need [`PgStore::open`].
    pub fn connect(target: PgTarget, local_dir: &Path) -> Result<PgStore, SessionError> {
        let store = PgStore::new(target, "", local_dir)?;
        // Connects and migrates now: a wrong URL or password is an error at once.
        store.sessions()?;
        Ok(store)
    }

    fn new(target: PgTarget, name: &str, local_dir: &Path) -> Result<PgStore, SessionError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("covtop-postgres")
            .enable_all()
            .build()
            .map_err(|e| SessionError::Database {
                store: target.location.clone(),
                message: format!("cannot start its I/O thread: {e}"),
            })?;
        let io = Io {
            handle: rt.handle().clone(),
            client: Arc::new(tokio::sync::Mutex::new(None)),
            target: target.clone(),
            away: Arc::new(AtomicBool::new(false)),
        };
        let mut store = PgStore {
            session: Session {
                io: io.clone(),
                name: String::new(),
                id: Arc::new(OnceLock::new()),
                location: String::new(),
            },
            target,
            name: name.to_string(),
            local_dir: local_dir.to_path_buf(),
            spool: Arc::new(Mutex::new(Spool {
                store: None,
                root: local_dir.join(SPOOL_DIR),
                pending: false,
                unreachable: None,
                uploaded: Vec::new(),
            })),
            io,
            rt: Some(rt),
            stop: Arc::new(AtomicBool::new(false)),
        };
        store.session = store.session_named(name);
        Ok(store)
    }

    /// Starts the thread that uploads the spool, in order, once the database answers again
    /// (tried every second while the spool holds dumps; it ends with the store).
    fn start_uploader(&self) {
        let (session, spool, stop) = (self.session.clone(), self.spool.clone(), self.stop.clone());
        let _ = std::thread::Builder::new()
            .name("covtop-spool-upload".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(250));
                    if !lock(&spool).pending {
                        continue;
                    }
                    // Whether the database answers is asked without the spool's lock: a
                    // database that does not answer never holds up the screen's questions
                    // (health, uploaded numbers) for a connect timeout.
                    if session.id().is_ok() && session.io.ping().is_ok() {
                        let mut s = lock(&spool);
                        if s.pending && !stop.load(Ordering::Relaxed) {
                            let _ = session.upload(&mut s);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(750));
                }
            });
    }

    /// The session's id (the database must answer). While a store opened without the database
    /// has not reached it yet, this fails at once: the uploader keeps asking, and a start on a
    /// database that does not answer waits for one connect timeout, not one per question.
    fn sid(&self) -> Result<i64, SessionError> {
        if let Some(&id) = self.session.id.get() {
            return Ok(id);
        }
        if self.io.away() {
            return Err(
                self.err("unreachable: the session is read once the database answers".into())
            );
        }
        self.session.id().map_err(|m| self.err(m))
    }

    /// Keeps a dump the database could not take (`cause`) in the local spool.
    fn spool_append(
        &self,
        spool: &mut Spool,
        meta: &DumpMeta,
        payload: &[u8],
        cause: String,
    ) -> Result<Persisted, SessionError> {
        let Some(store) = spool.store.as_mut() else {
            return Err(self.err(cause));
        };
        match store.append_idempotent(meta, payload) {
            Ok(p) => {
                spool.pending = true;
                spool.unreachable = Some(self.err(cause).to_string());
                Ok(Persisted {
                    seq: 0,
                    location: p.location,
                    new: p.new,
                })
            }
            Err(e) => Err(self.err(format!(
                "{cause}; and the local spool {} failed too: {e}",
                self.local_dir.display()
            ))),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database: host, port and name (never the user nor the password).
    pub fn database(&self) -> &str {
        &self.target.location
    }

    fn err(&self, message: String) -> SessionError {
        SessionError::Database {
            store: self.location(),
            message,
        }
    }

    /// Runs `f` with a connected client on the store's I/O thread and waits for it (see
    /// [`Io::run`]).
    fn run<T, F>(&self, f: F) -> Result<T, SessionError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> Work<'c, T> + Send + 'static,
    {
        self.io.run(f).map_err(|m| self.err(m))
    }

    /// Removes session `name` and its dumps (payloads no session uses any more too).
    pub fn remove_session(&self, name: &str) -> Result<u64, SessionError> {
        let name = name.to_string();
        self.run(move |client| {
            Box::pin(async move {
                let tx = client.transaction().await.map_err(|e| pg_error(&e))?;
                let n = tx
                    .execute("DELETE FROM covtop_sessions WHERE name = $1", &[&name])
                    .await
                    .map_err(|e| pg_error(&e))?;
                tx.execute(DROP_UNUSED_BLOBS, &[])
                    .await
                    .map_err(|e| pg_error(&e))?;
                tx.commit().await.map_err(|e| pg_error(&e))?;
                Ok(n)
            })
        })
    }

    /// What `covtop session list` shows of every session of the database (`current` marked):
    /// dumps, resets, targets, replicas, revisions, span, and the bytes of the payloads it uses
    /// (each payload once per session, though the database keeps it once for all).
    pub fn summaries(&self, current: &str) -> Result<Vec<super::SessionSummary>, SessionError> {
        let rows = self.run(|client| {
            Box::pin(async move {
                let rows = client
                    .query(
                        "SELECT s.name, d.meta, d.blob, octet_length(b.payload), \
                                c.upto, c.made_ms, octet_length(c.body), \
                                d.quarantined_reason IS NOT NULL \
                         FROM covtop_sessions s \
                         LEFT JOIN covtop_dumps d ON d.session_id = s.id \
                         LEFT JOIN covtop_blobs b ON b.digest = d.blob \
                         LEFT JOIN LATERAL (SELECT upto, made_ms, body \
                                FROM covtop_checkpoints k \
                                WHERE k.session_id = s.id AND k.aside IS NULL \
                                ORDER BY made_ms DESC LIMIT 1) c ON true \
                         ORDER BY s.name, d.seq",
                        &[],
                    )
                    .await
                    .map_err(|e| pg_error(&e))?;
                Ok(rows
                    .into_iter()
                    .map(|r| {
                        // The session's checkpoint: (every dump up to, written at, bytes).
                        let checkpoint = r.get::<_, Option<i64>>(4).map(|upto| {
                            (
                                upto.max(0) as u64,
                                r.get::<_, Option<i64>>(5).unwrap_or(0).max(0) as u64,
                                r.get::<_, Option<i32>>(6).unwrap_or(0).max(0) as u64,
                            )
                        });
                        (
                            r.get::<_, String>(0),
                            r.get::<_, Option<String>>(1),
                            r.get::<_, Option<Vec<u8>>>(2),
                            r.get::<_, Option<i32>>(3),
                            checkpoint,
                            r.get::<_, Option<bool>>(7).unwrap_or(false),
                        )
                    })
                    .collect::<Vec<_>>())
            })
        })?;
        let mut out: Vec<super::SessionSummary> = Vec::new();
        let mut blobs = std::collections::HashSet::new();
        for (name, meta, blob, len, checkpoint, quarantined) in rows {
            if out.last().is_none_or(|s| s.name != name) {
                let mut summary = super::SessionSummary::new(&name, name == current);
                if let Some((upto, made, bytes)) = checkpoint {
                    summary.checkpoint = Some((upto, made));
                    summary.bytes += bytes;
                }
                out.push(summary);
                blobs.clear();
            }
            let s = out.last_mut().expect("pushed above");
            match meta.map(|m| serde_json::from_str::<DumpMeta>(&m)) {
                Some(_) if quarantined => s.quarantined += 1,
                Some(Ok(m)) => s.count(&m),
                Some(Err(_)) => s.bad_files += 1,
                None => {}
            }
            if let Some(b) = blob
                && blobs.insert(b)
            {
                s.bytes += len.unwrap_or(0).max(0) as u64;
            }
        }
        Ok(out)
    }

    /// Copies every dump of sessions `sources` (they must exist) into session `into` (created
    /// if missing) with its metadata, in the order they were fetched, one dump in memory at a
    /// time. A dump `into` holds already (same identity) is not copied again, so merging twice
    /// changes nothing; dumps set aside are not copied; rows that cannot be read are named.
    pub fn merge(&self, sources: &[String], into: &str) -> Result<MergeSummary, SessionError> {
        let mut incoming: Vec<(u64, usize, i64)> = Vec::new();
        let mut from = Vec::new();
        for (i, name) in sources.iter().enumerate() {
            let src = self.session_named(name);
            let sid = src.id().map_err(|m| self.err(m))?;
            let rows = self.rows_of(
                "SELECT seq, fetched_at_ms FROM covtop_dumps \
                 WHERE session_id = $1 AND quarantined_reason IS NULL",
                sid,
                |r| (r.get::<_, i64>(0), r.get::<_, i64>(1)),
            )?;
            incoming.extend(rows.into_iter().map(|(seq, at)| (at.max(0) as u64, i, seq)));
            from.push(src);
        }
        incoming.sort();
        let dst = self.session_named(into);
        let mut summary = MergeSummary::default();
        for (_, i, seq) in incoming {
            for read in from[i].rows(seq - 1, seq).map_err(|m| self.err(m))? {
                match read {
                    Ok(d) => match dst.append(&d.meta, &d.payload).map_err(|m| self.err(m))? {
                        (_, true) => summary.copied += 1,
                        (_, false) => summary.already_present += 1,
                    },
                    Err(p) => summary.skipped.push((p.path, p.problem)),
                }
            }
        }
        Ok(summary)
    }

    /// Runs `sql` with a session id as its one parameter, and maps every row it returns.
    fn rows_of<T: Send + 'static>(
        &self,
        sql: &'static str,
        sid: i64,
        map: fn(&tokio_postgres::Row) -> T,
    ) -> Result<Vec<T>, SessionError> {
        self.run(move |client| {
            Box::pin(async move {
                let rows = client.query(sql, &[&sid]).await.map_err(|e| pg_error(&e))?;
                Ok(rows.iter().map(map).collect())
            })
        })
    }

    /// Session `name` of this database (its id is looked up, or the session created, when
    /// first needed).
    fn session_named(&self, name: &str) -> Session {
        Session {
            io: self.io.clone(),
            name: name.to_string(),
            id: Arc::new(OnceLock::new()),
            location: format!("{} session {name}", self.target.location),
        }
    }

    /// The session's dumps set aside, in order, with why and when.
    pub fn quarantine_reasons(&self) -> Result<Vec<Quarantined>, SessionError> {
        let rows = self.rows_of(
            "SELECT seq, quarantined_reason, quarantined_ms FROM covtop_dumps \
             WHERE session_id = $1 AND quarantined_reason IS NOT NULL ORDER BY seq",
            self.sid()?,
            |r| {
                (
                    r.get::<_, i64>(0),
                    r.get::<_, String>(1),
                    r.get::<_, Option<i64>>(2),
                )
            },
        )?;
        Ok(rows
            .into_iter()
            .map(|(seq, reason, at)| Quarantined {
                dump: self.dump_path(seq),
                reason,
                at_ms: at.unwrap_or(0).max(0) as u64,
            })
            .collect())
    }

    /// How a dump of the session is named in messages: the store's location and its number.
    fn dump_path(&self, seq: i64) -> PathBuf {
        self.session.dump_path(seq)
    }

    /// The dumps waiting in the local spool, in order, numbered 0 (not uploaded yet).
    fn spooled(&self) -> DumpStream {
        let dumps = lock(&self.spool)
            .store
            .as_ref()
            .and_then(|s| s.load_all().ok())
            .map(|(dumps, _)| dumps)
            .unwrap_or_default();
        Box::new(dumps.into_iter().map(|mut d| {
            d.meta.seq = 0;
            Ok(d)
        }))
    }

    /// How many payloads the database keeps (each once, whatever number of dumps use it).
    pub fn blob_count(&self) -> Result<i64, SessionError> {
        self.run(|client| {
            Box::pin(async move {
                Ok(client
                    .query_one("SELECT COUNT(*) FROM covtop_blobs", &[])
                    .await
                    .map_err(|e| pg_error(&e))?
                    .get(0))
            })
        })
    }
}

impl DumpStore for PgStore {
    fn location(&self) -> String {
        format!("{} session {}", self.target.location, self.name)
    }

    fn local_dir(&self) -> &Path {
        &self.local_dir
    }

    fn append(&mut self, meta: &DumpMeta, payload: &[u8]) -> Result<Persisted, SessionError> {
        // Held through the append: the uploader never interleaves, so the order is kept.
        let spool = self.spool.clone();
        let mut spool = lock(&spool);
        if spool.pending
            && let Err(e) = self.session.upload(&mut spool)
        {
            return self.spool_append(&mut spool, meta, payload, e);
        }
        match self.session.append(meta, payload) {
            Ok((seq, new)) => Ok(Persisted {
                seq: seq as u64,
                location: self.dump_path(seq),
                new,
            }),
            Err(e) => self.spool_append(&mut spool, meta, payload, e),
        }
    }

    fn take_uploaded(&mut self) -> Vec<u64> {
        std::mem::take(&mut lock(&self.spool).uploaded)
    }

    fn shared(&self) -> bool {
        true
    }

    fn health(&self) -> Option<String> {
        lock(&self.spool).unreachable.as_ref().map(|why| {
            format!(
                "unreachable ({why}): dumps are kept in the local spool {} and uploaded in order when it answers",
                self.local_dir.display()
            )
        })
    }

    fn load_after(&self, after: u64) -> Result<Loaded, SessionError> {
        let after = after.min(i64::MAX as u64) as i64;
        let mut dumps = Vec::new();
        let mut problems = Vec::new();
        for item in self
            .session
            .rows(after, i64::MAX)
            .map_err(|m| self.err(m))?
        {
            match item {
                Ok(d) => dumps.push(d),
                Err(p) => problems.push(p),
            }
        }
        Ok((dumps, problems))
    }

    /// The dumps are read in pages of at most [`PAGE_BYTES`] of payload (or one dump, when
    /// larger) as the stream advances: first the numbers and payload sizes of the session's
    /// dumps, then each page by its range of numbers.
    fn stream_after(&self, after: u64) -> Result<DumpStream, SessionError> {
        let after = after.min(i64::MAX as u64) as i64;
        let sid = match self.sid() {
            Ok(sid) => sid,
            // Opened while the database is away: what this session holds here is its spool
            // (numbered when uploaded; the rest is read when the database answers).
            Err(_) if self.io.away() && after == 0 => return Ok(self.spooled()),
            Err(e) => return Err(e),
        };
        let sizes = self.run(move |client| {
            Box::pin(async move {
                let rows = client
                    .query(
                        "SELECT d.seq, COALESCE(octet_length(b.payload), 0) FROM covtop_dumps d \
                         LEFT JOIN covtop_blobs b ON b.digest = d.blob \
                         WHERE d.session_id = $1 AND d.seq > $2 \
                         AND d.quarantined_reason IS NULL ORDER BY d.seq",
                        &[&sid, &after],
                    )
                    .await
                    .map_err(|e| pg_error(&e))?;
                Ok(rows
                    .into_iter()
                    .map(|r| (r.get::<_, i64>(0), r.get::<_, i32>(1).max(0) as u64))
                    .collect::<Vec<_>>())
            })
        })?;
        Ok(Box::new(PageStream {
            read: self.session.clone(),
            pages: pages(&sizes, PAGE_BYTES).into(),
            page: std::collections::VecDeque::new(),
        }))
    }

    fn write_checkpoint(
        &mut self,
        revision: &str,
        upto: u64,
        bytes: &[u8],
    ) -> Result<(), SessionError> {
        let sid = self.sid()?;
        let upto = upto.min(i64::MAX as u64) as i64;
        let made = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let body = bytes.to_vec();
        let revision = revision.to_string();
        self.run(move |client| {
            Box::pin(async move {
                client
                    .execute(
                        "INSERT INTO covtop_checkpoints (session_id, revision, upto, made_ms, body) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (session_id, revision) DO UPDATE \
                         SET upto = $3, made_ms = $4, body = $5, aside = NULL",
                        &[&sid, &revision, &upto, &made, &body],
                    )
                    .await
                    .map_err(|e| pg_error(&e))?;
                Ok(())
            })
        })
    }

    fn read_checkpoint(
        &self,
        revision: &str,
    ) -> Result<Option<super::StoredCheckpoint>, SessionError> {
        let sid = self.sid()?;
        let revision = revision.to_string();
        let row = self.run(move |client| {
            Box::pin(async move {
                // This revision's, else the newest other one (named, not used, by the engine).
                let row = client
                    .query_opt(
                        "SELECT upto, made_ms, body, revision FROM covtop_checkpoints \
                         WHERE session_id = $1 AND aside IS NULL \
                         ORDER BY revision = $2 DESC, made_ms DESC LIMIT 1",
                        &[&sid, &revision],
                    )
                    .await
                    .map_err(|e| pg_error(&e))?;
                Ok(row.map(|r| {
                    (
                        r.get::<_, i64>(0),
                        r.get::<_, i64>(1),
                        r.get::<_, Vec<u8>>(2),
                        r.get::<_, String>(3),
                    )
                }))
            })
        })?;
        Ok(
            row.map(|(upto, made, bytes, slot)| super::StoredCheckpoint {
                upto: upto.max(0) as u64,
                made_at_ms: made.max(0) as u64,
                bytes,
                location: format!("{} checkpoint", self.location()),
                slot,
            }),
        )
    }

    fn set_checkpoint_aside(&self, slot: &str, reason: &str) -> Result<String, SessionError> {
        let sid = self.sid()?;
        let reason: String = crate::redact::redact(reason).to_string();
        let slot = slot.to_string();
        self.run(move |client| {
            Box::pin(async move {
                client
                    .execute(
                        "UPDATE covtop_checkpoints SET aside = $3 \
                         WHERE session_id = $1 AND revision = $2",
                        &[&sid, &slot, &reason],
                    )
                    .await
                    .map_err(|e| pg_error(&e))?;
                Ok(())
            })
        })?;
        Ok(format!(
            "{} checkpoint (kept in covtop_checkpoints with its reason in `aside`)",
            self.location()
        ))
    }

    fn drop_raw(&mut self, upto: u64, before_ms: u64) -> Result<super::Dropped, SessionError> {
        let sid = self.sid()?;
        let upto = upto.min(i64::MAX as u64) as i64;
        let before = before_ms.min(i64::MAX as u64) as i64;
        let (dumps, blobs) = self.run(move |client| {
            Box::pin(async move {
                let tx = client.transaction().await.map_err(|e| pg_error(&e))?;
                let dumps = tx
                    .execute(
                        "DELETE FROM covtop_dumps WHERE session_id = $1 AND seq <= $2 \
                         AND fetched_at_ms < $3 AND quarantined_reason IS NULL",
                        &[&sid, &upto, &before],
                    )
                    .await
                    .map_err(|e| pg_error(&e))?;
                let blobs = tx
                    .execute(DROP_UNUSED_BLOBS, &[])
                    .await
                    .map_err(|e| pg_error(&e))?;
                tx.commit().await.map_err(|e| pg_error(&e))?;
                Ok((dumps, blobs))
            })
        })?;
        Ok(super::Dropped {
            dumps: dumps as usize,
            blobs: blobs as usize,
        })
    }

    fn catalog(&self) -> Result<Vec<DumpMeta>, SessionError> {
        let rows = self.rows_of(
            "SELECT seq, meta FROM covtop_dumps \
             WHERE session_id = $1 AND quarantined_reason IS NULL ORDER BY seq",
            self.sid()?,
            |r| (r.get::<_, i64>(0), r.get::<_, String>(1)),
        )?;
        Ok(rows
            .into_iter()
            .filter_map(|(seq, text)| {
                let mut m: DumpMeta = serde_json::from_str(&text).ok()?;
                m.seq = seq as u64;
                Some(m)
            })
            .collect())
    }

    fn sessions(&self) -> Result<Vec<String>, SessionError> {
        self.run(|client| {
            Box::pin(async move {
                Ok(client
                    .query("SELECT name FROM covtop_sessions ORDER BY name", &[])
                    .await
                    .map_err(|e| pg_error(&e))?
                    .into_iter()
                    .map(|r| r.get::<_, String>(0))
                    .collect())
            })
        })
    }

    /// The dump stays in the database, marked with the reason (redacted) and the time, and is
    /// never read again by a load, a stream, the catalog or a follower. A dump still in the local
    /// spool (acknowledged while the database was away) is set aside in the spool, so it is
    /// never uploaded.
    fn quarantine(&self, dump: &Path, reason: &str) -> Result<PathBuf, SessionError> {
        let shown = dump.to_string_lossy();
        let Some(seq) = shown
            .strip_prefix(&format!("{}#", self.location()))
            .and_then(|n| n.parse::<i64>().ok())
        else {
            if let Some(spool) = &lock(&self.spool).store
                && dump.starts_with(spool.dir())
            {
                return spool.quarantine(dump, reason);
            }
            return Err(self.err(format!("{shown} is not a dump of this session")));
        };
        let reason = crate::redact::redacted(reason);
        let sid = self.sid()?;
        let at = now_ms();
        let found = self.run(move |client| {
            Box::pin(async move {
                // Set aside once: a second call keeps the first reason and time.
                client
                    .query_opt(
                        "UPDATE covtop_dumps SET \
                         quarantined_reason = COALESCE(quarantined_reason, $3), \
                         quarantined_ms = COALESCE(quarantined_ms, $4) \
                         WHERE session_id = $1 AND seq = $2 RETURNING seq",
                        &[&sid, &seq, &reason, &at],
                    )
                    .await
                    .map(|r| r.is_some())
                    .map_err(|e| pg_error(&e))
            })
        })?;
        if !found {
            return Err(self.err(format!("{shown}: no such dump in the session")));
        }
        Ok(dump.to_path_buf())
    }

    /// The session's dumps set aside (named as loads name them), then those set aside in the
    /// local spool.
    fn quarantined(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = self
            .quarantine_reasons()
            .unwrap_or_default()
            .into_iter()
            .map(|q| q.dump)
            .collect();
        if let Some(spool) = &lock(&self.spool).store {
            out.extend(spool.quarantined());
        }
        out
    }

    fn quarantine_place(&self) -> (String, &'static str) {
        (
            self.location(),
            "in the database with it (covtop_dumps.quarantined_reason)",
        )
    }

    /// A connection of its own listens on the channel every append notifies. When it is lost
    /// (the database restarted), it is opened again every second; once back, the session's
    /// highest sequence number is announced, so that nothing stored meanwhile is missed. A
    /// database that is away when the feed starts is waited for the same way. The feed ends
    /// only when the follower drops it (or when the database refuses the first connection: an
    /// error).
    fn subscribe(&self) -> Result<DumpFeed, SessionError> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let target = self.target.clone();
        let session = self.session.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        self.io.handle.spawn(async move {
            let mut ready = Some(ready_tx);
            let mut catch_up = false;
            loop {
                match listen(&target, &session, &tx, catch_up).await {
                    Ok((client, ended)) => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(Ok(()));
                        }
                        tokio::select! {
                            _ = ended => {}
                            _ = tx.closed() => return,
                        }
                        drop(client);
                    }
                    Err(f) => {
                        if let Some(r) = ready.take() {
                            if !f.unreachable {
                                let _ = r.send(Err(f.message));
                                return;
                            }
                            // Away: the feed starts now and catches up when it answers.
                            let _ = r.send(Ok(()));
                        }
                    }
                }
                catch_up = true;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = tx.closed() => return,
                }
            }
        });
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(rx),
            Ok(Err(m)) => Err(self.err(m)),
            Err(_) => Err(self.err("its I/O thread stopped".into())),
        }
    }
}

/// Opens a connection that LISTENs for the session's new dumps and forwards their sequence
/// numbers to `feed`; with `catch_up`, first announces the session's highest sequence number.
/// Returns the client (the connection lives as long as it) and a receiver that completes when
/// the connection ends.
async fn listen(
    target: &PgTarget,
    session: &Session,
    feed: &tokio::sync::mpsc::UnboundedSender<u64>,
    catch_up: bool,
) -> Result<(Client, tokio::sync::oneshot::Receiver<()>), ConnectFailure> {
    let (client, mut connection) = target.open_connection().await?;
    let refused = |message: String| ConnectFailure {
        unreachable: false,
        message,
    };
    let (ended_tx, ended) = tokio::sync::oneshot::channel();
    let forward = feed.clone();
    // Set before LISTEN below, so before any notification arrives.
    let id = session.id.clone();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        use futures_util::StreamExt;
        while let Some(Ok(m)) = messages.next().await {
            if let AsyncMessage::Notification(n) = m
                && n.channel() == CHANNEL
                && let Some((sid, seq)) = n.payload().split_once(':')
                && id.get().is_some_and(|id| id.to_string() == sid)
                && let Ok(seq) = seq.parse::<u64>()
                && forward.send(seq).is_err()
            {
                break;
            }
        }
        let _ = ended_tx.send(());
    });
    let sid = match session.id.get() {
        Some(&sid) => sid,
        None => {
            let sid = session_id(&client, &session.name).await.map_err(refused)?;
            let _ = session.id.set(sid);
            sid
        }
    };
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .map_err(|e| refused(pg_error(&e)))?;
    if catch_up {
        let top: i64 = client
            .query_one(
                "SELECT COALESCE(MAX(seq), 0) FROM covtop_dumps WHERE session_id = $1",
                &[&sid],
            )
            .await
            .map_err(|e| refused(pg_error(&e)))?
            .get(0);
        if top > 0 {
            let _ = feed.send(top as u64);
        }
    }
    Ok((client, ended))
}

/// At most this many bytes of payload are fetched at once when a session is streamed (a
/// larger dump is fetched alone).
const PAGE_BYTES: u64 = 16 << 20;

/// Splits a session's dumps — (sequence number, payload bytes), in order — into pages of
/// consecutive numbers holding at most `limit` bytes each (a larger dump alone): the first
/// and last number of each.
fn pages(sizes: &[(i64, u64)], limit: u64) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    let mut held = 0u64;
    for &(seq, bytes) in sizes {
        match out.last_mut() {
            Some(page) if held.saturating_add(bytes) <= limit => {
                page.1 = seq;
                held += bytes;
            }
            _ => {
                out.push((seq, seq));
                held = bytes;
            }
        }
    }
    out
}

impl Session {
    /// The session's usable dumps numbered in `(after, upto]`, in order; a row that cannot be
    /// used comes as a problem in its place.
    fn rows(
        &self,
        after: i64,
        upto: i64,
    ) -> Result<Vec<Result<StoredDump, SessionProblem>>, String> {
        let sid = self.id()?;
        let rows = self.io.run(move |client| {
            Box::pin(async move {
                let rows = client
                    .query(
                        "SELECT d.seq, d.meta, d.blob, b.payload FROM covtop_dumps d \
                         LEFT JOIN covtop_blobs b ON b.digest = d.blob \
                         WHERE d.session_id = $1 AND d.seq > $2 AND d.seq <= $3 \
                         AND d.quarantined_reason IS NULL ORDER BY d.seq",
                        &[&sid, &after, &upto],
                    )
                    .await
                    .map_err(|e| pg_error(&e))?;
                Ok(rows
                    .into_iter()
                    .map(|r| {
                        (
                            r.get::<_, i64>(0),
                            r.get::<_, String>(1),
                            r.get::<_, Option<Vec<u8>>>(2),
                            r.get::<_, Option<Vec<u8>>>(3),
                        )
                    })
                    .collect::<Vec<_>>())
            })
        })?;
        Ok(rows
            .into_iter()
            .map(|(seq, text, blob, payload)| {
                let read = check_row(&text, blob.as_deref(), payload).map(|(mut meta, payload)| {
                    meta.seq = seq as u64;
                    (meta, payload)
                });
                super::readable(read, self.dump_path(seq))
            })
            .collect())
    }
}

/// A session's dumps, fetched a page at a time (see [`PgStore::stream_after`]).
struct PageStream {
    read: Session,
    /// The pages not fetched yet: (first, last) sequence number.
    pages: std::collections::VecDeque<(i64, i64)>,
    /// The fetched page's dumps not handed out yet.
    page: std::collections::VecDeque<Result<StoredDump, SessionProblem>>,
}

impl Iterator for PageStream {
    type Item = Result<StoredDump, SessionProblem>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.page.is_empty() {
            let (first, last) = self.pages.pop_front()?;
            match self.read.rows(first - 1, last) {
                Ok(rows) => self.page = rows.into(),
                // The database went away meanwhile: the page's dumps are named as unread.
                Err(problem) => {
                    return Some(Err(SessionProblem {
                        path: PathBuf::from(format!("{}#{first}..{last}", self.read.location)),
                        problem: format!("cannot be read: {problem}"),
                        kind: ProblemKind::BadDump,
                    }));
                }
            }
        }
        self.page.pop_front()
    }
}

/// A dump of the session set aside (see [`DumpStore::quarantine`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    /// The dump, named as loads name it (`<location>#<seq>`).
    pub dump: PathBuf,
    /// Why (credentials redacted).
    pub reason: String,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A stored row checked: its metadata parse, its payload is there and is the one its digest,
/// length and CRC-32 name.
fn check_row(
    text: &str,
    blob: Option<&[u8]>,
    payload: Option<Vec<u8>>,
) -> Result<(DumpMeta, Vec<u8>), String> {
    let meta: DumpMeta =
        serde_json::from_str(text).map_err(|e| format!("corrupt metadata: {e}"))?;
    let payload = match (blob, payload) {
        (None, _) => Vec::new(),
        (Some(_), None) => return Err("its payload is missing from covtop_blobs".into()),
        (Some(digest), Some(p)) => {
            if store::digest(&p).as_slice() != digest {
                return Err("corrupt: payload digest does not match".into());
            }
            p
        }
    };
    if payload.len() as u64 != meta.len || crc32fast::hash(&payload) != meta.crc32 {
        return Err("corrupt: payload length or checksum does not match its metadata".into());
    }
    Ok((meta, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgpass_lines_match_field_by_field_with_wildcards_and_escapes() {
        let want = ["db", "5432", "coverage", "covtop"];
        assert_eq!(
            pgpass_line("db:5432:coverage:covtop:pw", &want).as_deref(),
            Some("pw")
        );
        assert_eq!(
            pgpass_line("*:*:*:covtop:a\\:b\\\\c", &want).as_deref(),
            Some("a:b\\c")
        );
        assert_eq!(pgpass_line("db:5433:coverage:covtop:pw", &want), None);
        assert_eq!(pgpass_line("db:5432:other:covtop:pw", &want), None);
        assert_eq!(pgpass_line("db:5432:coverage", &want), None);
        // A password may hold ':' after the fourth field.
        assert_eq!(pgpass_line("*:*:*:*:x:y", &want).as_deref(), Some("x:y"));
    }

    #[test]
    fn pages_hold_at_most_the_limit_or_one_larger_dump() {
        let sizes = [(1, 4), (2, 4), (3, 3), (5, 20), (6, 0), (9, 10), (10, 1)];
        assert_eq!(
            pages(&sizes, 10),
            vec![(1, 2), (3, 3), (5, 5), (6, 9), (10, 10)]
        );
        assert_eq!(pages(&sizes, 1000), vec![(1, 10)]);
        assert!(pages(&[], 10).is_empty());
    }

    #[test]
    fn the_location_names_host_port_and_database_only() {
        let t = PgTarget::new("postgres://covtop@db.example:5433/coverage", None).unwrap();
        assert_eq!(t.location(), "postgres://db.example:5433/coverage");
        assert!(!format!("{t:?}").contains("covtop@"));
        let (sock, _) =
            PgTarget::check_url("postgres:///coverage?user=covtop&host=/run/pg").unwrap();
        assert_eq!(location_of(&sock), "postgres:///run/pg:5432/coverage");
    }
}
