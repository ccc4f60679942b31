//! `covtop.toml`: schema, defaults and validation with messages that name the key and the line.
//!
//! Lookup order: `--config PATH`, else `./covtop.toml`, else `$XDG_CONFIG_HOME/covtop/covtop.toml`.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// Default poll interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);
/// Default per-request timeout for one replica.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: crate::bounded_read::ReadError,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}:{line}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(
        "no configuration found: looked for covtop.toml here and in the folders above up to the repository's root, and {xdg}; run `covtop init` to write one, or pass --config PATH"
    )]
    NotFound { xdg: String },
}

/// The whole configuration, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the file was read from (`None` for built-in defaults).
    pub source: Option<PathBuf>,
    pub repo: RepoConfig,
    pub poll: PollConfig,
    pub report: ReportConfig,
    pub session: SessionConfig,
    pub targets: Vec<TargetConfig>,
    /// Key overrides for the interactive screen: action name -> keys.
    pub keys: BTreeMap<String, Vec<String>>,
    /// The line of each `[keys]` entry, for errors about it (the screen's key map checks the
    /// entries themselves: `tui::KeyMap::with_overrides`).
    pub key_lines: BTreeMap<String, usize>,
    pub ui: UiSettings,
}

#[derive(Debug, Clone)]
pub struct RepoConfig {
    /// The repository (resolved relative to the config file's folder).
    pub path: PathBuf,
    pub base: String,
    pub revision: String,
    pub range: RangeSetting,
    pub working_tree: bool,
    pub untracked: bool,
    pub ignore_whitespace: bool,
    pub detect_renames: bool,
    /// A unified diff to use instead of git for the changed lines.
    pub diff_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSetting {
    MergeBase,
    TwoDot,
}

#[derive(Debug, Clone)]
pub struct PollConfig {
    pub interval: Duration,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct ReportConfig {
    pub partial_as_covered: bool,
}

#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Directory of the session store (relative paths are relative to the repository).
    pub dir: PathBuf,
    pub name: String,
    /// A PostgreSQL database shared by a team (`postgres://user@host/db`), instead of the folder.
    pub store: Option<String>,
    /// The file holding the database password (else `PGPASSWORD` or `.pgpass`).
    pub password_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Default)]
pub struct UiSettings {
    pub theme: Option<String>,
}

/// One configured target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetConfig {
    pub name: String,
    pub kind: TargetKind,
    /// Overrides the poll timeout for this target.
    pub timeout: Option<Duration>,
    /// The revision this target's build comes from, when it differs from `[repo].revision`.
    pub revision: Option<String>,
    /// goc v2 only: a regexp on each agent's `extra` whose first capture group is the commit
    /// the agent's build comes from (`revision_from_extra = "commit=([0-9a-f]{7,40})"`).
    pub revision_from_extra: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetKind {
    GocV1 {
        url: String,
        services: Vec<String>,
        addresses: Vec<String>,
    },
    GocV2 {
        url: String,
        ids: Vec<String>,
        extra: Option<String>,
    },
    Jacoco {
        /// `host:port` of the agents' tcpserver (`address`, or each of `addresses`); each host
        /// may resolve to many IPs (one replica each).
        addresses: Vec<String>,
        classes: Vec<String>,
        includes: Vec<String>,
        source_roots: Vec<String>,
    },
}

impl TargetKind {
    pub fn name(&self) -> &'static str {
        match self {
            TargetKind::GocV1 { .. } => "goc",
            TargetKind::GocV2 { .. } => "goc-v2",
            TargetKind::Jacoco { .. } => "jacoco",
        }
    }
}

impl fmt::Display for TargetConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            TargetKind::GocV1 { url, .. } | TargetKind::GocV2 { url, .. } => {
                write!(f, "{} ({} {})", self.name, self.kind.name(), url)
            }
            TargetKind::Jacoco { addresses, .. } => {
                write!(f, "{} (jacoco {})", self.name, addresses.join(", "))
            }
        }
    }
}

// ---- raw, as written in the file ----

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    repo: RawRepo,
    #[serde(default)]
    poll: RawPoll,
    #[serde(default)]
    report: RawReport,
    #[serde(default)]
    session: RawSession,
    #[serde(default)]
    target: Vec<Spanned<RawTarget>>,
    #[serde(default)]
    keys: BTreeMap<String, Spanned<KeyList>>,
    #[serde(default)]
    ui: RawUi,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum KeyList {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRepo {
    path: Option<String>,
    base: Option<String>,
    revision: Option<String>,
    range: Option<Spanned<String>>,
    working_tree: Option<bool>,
    untracked: Option<bool>,
    ignore_whitespace: Option<bool>,
    detect_renames: Option<bool>,
    diff_file: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPoll {
    interval: Option<Spanned<DurationValue>>,
    timeout: Option<Spanned<DurationValue>>,
}

/// A duration as written: "2s", "500ms", or a bare number of seconds (negative and fractional
/// numbers are read too, to be refused or taken with a plain message, and so is any other value:
/// a boolean, an array, a table or a date is refused naming the key, never with serde's "did not
/// match any variant").
#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum DurationValue {
    Seconds(u64),
    Signed(i64),
    Fraction(f64),
    Text(String),
    Other(toml::Value),
}

/// The longest duration a setting takes: longer ones are a mistake (and would overflow the
/// clock arithmetic of a poll).
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawReport {
    partial_as_covered: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSession {
    dir: Option<String>,
    name: Option<String>,
    store: Option<Spanned<String>>,
    password_file: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawUi {
    theme: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    name: Option<String>,
    kind: Spanned<String>,
    url: Option<String>,
    services: Option<Vec<String>>,
    addresses: Option<Spanned<Vec<String>>>,
    ids: Option<Vec<String>>,
    extra: Option<String>,
    address: Option<Spanned<String>>,
    classes: Option<Vec<String>>,
    includes: Option<Vec<String>>,
    source_roots: Option<Vec<String>>,
    timeout: Option<Spanned<DurationValue>>,
    revision: Option<String>,
    revision_from_extra: Option<Spanned<String>>,
}

/// Finds the configuration file: an explicit path, `./covtop.toml`, or the XDG config dir.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    // Like git: from any folder of a repository, its covtop.toml (the nearest one upwards, up
    // to the repository's root).
    if let Ok(here) = std::env::current_dir() {
        for dir in here.ancestors() {
            let candidate = dir.join("covtop.toml");
            if candidate.is_file() {
                return Ok(if dir == here {
                    PathBuf::from("covtop.toml")
                } else {
                    candidate
                });
            }
            if dir.join(".git").exists() {
                break;
            }
        }
    }
    let xdg = xdg_path();
    if let Some(x) = &xdg
        && x.exists()
    {
        return Ok(x.clone());
    }
    Err(ConfigError::NotFound {
        xdg: xdg.map_or_else(
            || "$XDG_CONFIG_HOME/covtop/covtop.toml".to_string(),
            |p| p.display().to_string(),
        ),
    })
}

fn xdg_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("covtop").join("covtop.toml"))
}

/// The largest configuration covtop reads.
const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// Reads and validates a configuration file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    // It may be a pipe (`--config <(…)`): read up to the limit.
    let text = crate::bounded_read::read_stream_text(path, MAX_CONFIG_BYTES).map_err(|source| {
        ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }
    })?;
    parse(&text, path)
}

/// Parses and validates configuration text; `path` names it in errors and anchors relative paths.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: describe_toml_error(&e, text),
    })?;
    let ctx = Ctx { path, text };
    let base_dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let base_dir = if base_dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base_dir
    };

    let range = match &raw.repo.range {
        None => RangeSetting::MergeBase,
        Some(r) => match r.get_ref().as_str() {
            "merge-base" | "three-dot" | "..." => RangeSetting::MergeBase,
            "two-dot" | ".." => RangeSetting::TwoDot,
            other => {
                return Err(ctx.invalid(
                    r.span().start,
                    format!("[repo] range = \"{other}\" is not a range mode: use \"merge-base\" (base...revision, the default) or \"two-dot\" (base..revision)"),
                ));
            }
        },
    };
    let repo_path = base_dir.join(raw.repo.path.as_deref().unwrap_or("."));
    let repo = RepoConfig {
        path: repo_path,
        base: raw.repo.base.unwrap_or_else(|| "origin/main".to_string()),
        revision: raw.repo.revision.unwrap_or_else(|| "HEAD".to_string()),
        range,
        working_tree: raw.repo.working_tree.unwrap_or(false),
        untracked: raw.repo.untracked.unwrap_or(false),
        ignore_whitespace: raw.repo.ignore_whitespace.unwrap_or(false),
        detect_renames: raw.repo.detect_renames.unwrap_or(true),
        diff_file: raw.repo.diff_file.map(|d| base_dir.join(d)),
    };
    let poll = PollConfig {
        interval: ctx
            .duration(raw.poll.interval.as_ref(), "[poll] interval")?
            .unwrap_or(DEFAULT_INTERVAL),
        timeout: ctx
            .duration(raw.poll.timeout.as_ref(), "[poll] timeout")?
            .unwrap_or(DEFAULT_TIMEOUT),
    };
    if let Some(i) = &raw.poll.interval
        && poll.interval < Duration::from_millis(100)
    {
        return Err(ctx.invalid(
            i.span().start,
            "[poll] interval must be at least 100ms".to_string(),
        ));
    }
    let mut targets = Vec::new();
    for (i, t) in raw.target.iter().enumerate() {
        let target = ctx.target(t, i)?;
        if targets.iter().any(|o: &TargetConfig| o.name == target.name) {
            return Err(ctx.invalid(
                t.span().start,
                format!(
                    "two targets are named \"{}\": give each [[target]] a distinct name",
                    target.name
                ),
            ));
        }
        targets.push(target);
    }
    let theme = match &raw.ui.theme {
        None => None,
        Some(t) => match t.get_ref().as_str() {
            "dark" | "light" | "no-color" => Some(t.get_ref().clone()),
            other => {
                return Err(ctx.invalid(
                    t.span().start,
                    format!("[ui] theme = \"{other}\": use \"dark\", \"light\" or \"no-color\""),
                ));
            }
        },
    };
    let session_store = match &raw.session.store {
        None => None,
        Some(v) => {
            let url = v.get_ref();
            if !crate::session::postgres::is_postgres_url(url) {
                return Err(ctx.invalid(
                    v.span().start,
                    format!(
                        "[session] store = \"{}\" is not a PostgreSQL URL: write \"postgres://USER@HOST/DATABASE\", or leave store out to keep dumps in [session] dir",
                        crate::redact::redact(url)
                    ),
                ));
            }
            if let Err(e) = crate::session::postgres::PgTarget::check_url(url) {
                return Err(ctx.invalid(
                    v.span().start,
                    format!("[session] store = \"{}\" {e}", crate::redact::redact(url)),
                ));
            }
            Some(url.clone())
        }
    };
    Ok(Config {
        source: Some(path.to_path_buf()),
        repo,
        poll,
        report: ReportConfig {
            partial_as_covered: raw.report.partial_as_covered.unwrap_or(false),
        },
        session: SessionConfig {
            dir: PathBuf::from(raw.session.dir.unwrap_or_else(|| ".covtop".to_string())),
            name: raw.session.name.unwrap_or_else(|| "default".to_string()),
            store: session_store,
            password_file: raw.session.password_file.map(|p| base_dir.join(p)),
        },
        targets,
        key_lines: raw
            .keys
            .iter()
            .map(|(k, v)| (k.clone(), ctx.line_of(v.span().start)))
            .collect(),
        keys: raw
            .keys
            .into_iter()
            .map(|(k, v)| {
                let keys = match v.into_inner() {
                    KeyList::One(s) => vec![s],
                    KeyList::Many(v) => v,
                };
                (k, keys)
            })
            .collect(),
        ui: UiSettings { theme },
    })
}

struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn invalid(&self, offset: usize, message: String) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line: self.line_of(offset),
            message,
        }
    }

    fn duration(
        &self,
        value: Option<&Spanned<DurationValue>>,
        key: &str,
    ) -> Result<Option<Duration>, ConfigError> {
        let Some(v) = value else { return Ok(None) };
        let at = v.span().start;
        let (d, shown) = match v.get_ref() {
            DurationValue::Seconds(s) => (Duration::from_secs((*s).min(u64::from(u32::MAX))), s.to_string()),
            DurationValue::Signed(n) => {
                return Err(self.invalid(
                    at,
                    format!("{key} = {n} is negative: write a positive duration, e.g. \"3s\""),
                ));
            }
            DurationValue::Fraction(f) => {
                if !f.is_finite() || *f < 0.0 {
                    return Err(self.invalid(
                        at,
                        format!("{key} = {f} is not a positive duration: write e.g. \"1.5s\" or \"1500ms\""),
                    ));
                }
                (Duration::from_secs_f64(f.min(u64::from(u32::MAX) as f64)), f.to_string())
            }
            DurationValue::Other(value) => {
                return Err(self.invalid(
                    at,
                    format!(
                        "{key} = {value} is not a duration: write e.g. \"500ms\", \"2s\" or \"1m\""
                    ),
                ));
            }
            DurationValue::Text(text) => (
                parse_duration(text).map_err(|e| {
                    self.invalid(
                        at,
                        format!(
                            "{key} = \"{text}\" is not a duration ({e}): write e.g. \"500ms\", \"2s\" or \"1m\""
                        ),
                    )
                })?,
                format!("\"{text}\""),
            ),
        };
        if d > MAX_DURATION {
            return Err(self.invalid(
                at,
                format!("{key} = {shown} is longer than 24h: write e.g. \"3s\" or \"10m\""),
            ));
        }
        if key.ends_with("timeout") && d.is_zero() {
            return Err(self.invalid(
                at,
                format!("{key} = {shown} would fail every poll at once: give the agents time, e.g. \"3s\""),
            ));
        }
        Ok(Some(d))
    }

    fn target(&self, t: &Spanned<RawTarget>, index: usize) -> Result<TargetConfig, ConfigError> {
        let at = t.span().start;
        let r = t.get_ref();
        let kind_name = r.kind.get_ref().as_str();
        let name = r
            .name
            .clone()
            .unwrap_or_else(|| format!("{kind_name}-{}", index + 1));
        let only = |present: &[(&str, bool)], kind: &str| -> Result<(), ConfigError> {
            for (key, is_set) in present {
                if *is_set {
                    return Err(self.invalid(
                        at,
                        format!("target \"{name}\": `{key}` is not a setting of kind \"{kind}\""),
                    ));
                }
            }
            Ok(())
        };
        let require_url = |url: &Option<String>| -> Result<String, ConfigError> {
            match url {
                Some(u) if !u.trim().is_empty() => Ok(u.trim().to_string()),
                _ => Err(self.invalid(
                    at,
                    format!("target \"{name}\" of kind \"{kind_name}\" needs `url = \"http://host:port\"` (the goc server)"),
                )),
            }
        };
        let kind = match kind_name {
            "goc" | "goc-v1" => {
                only(
                    &[
                        ("ids", r.ids.is_some()),
                        ("extra", r.extra.is_some()),
                        ("address", r.address.is_some()),
                        ("classes", r.classes.is_some()),
                        ("includes", r.includes.is_some()),
                        ("source_roots", r.source_roots.is_some()),
                        ("revision_from_extra", r.revision_from_extra.is_some()),
                    ],
                    "goc",
                )?;
                let services = r.services.clone().unwrap_or_default();
                let addresses = r
                    .addresses
                    .as_ref()
                    .map(|a| a.get_ref().clone())
                    .unwrap_or_default();
                if !services.is_empty() && !addresses.is_empty() {
                    return Err(self.invalid(
                        at,
                        format!("target \"{name}\": set `services` or `addresses`, not both (goc treats both together as ambiguous)"),
                    ));
                }
                TargetKind::GocV1 {
                    url: require_url(&r.url)?,
                    services,
                    addresses,
                }
            }
            "goc-v2" => {
                only(
                    &[
                        ("services", r.services.is_some()),
                        ("addresses", r.addresses.is_some()),
                        ("address", r.address.is_some()),
                        ("classes", r.classes.is_some()),
                        ("includes", r.includes.is_some()),
                        ("source_roots", r.source_roots.is_some()),
                    ],
                    "goc-v2",
                )?;
                if let Some(x) = &r.extra
                    && let Err(e) = regex::Regex::new(x)
                {
                    return Err(self.invalid(
                        at,
                        format!("target \"{name}\": `extra = \"{x}\"` is not a valid regular expression: {e}"),
                    ));
                }
                if let Some(x) = &r.revision_from_extra {
                    let at = x.span().start;
                    let pattern = x.get_ref();
                    match regex::Regex::new(pattern) {
                        Err(e) => {
                            return Err(self.invalid(
                                at,
                                format!("target \"{name}\": `revision_from_extra = \"{pattern}\"` is not a valid regular expression: {e}"),
                            ));
                        }
                        Ok(re) if re.captures_len() < 2 => {
                            return Err(self.invalid(
                                at,
                                format!("target \"{name}\": `revision_from_extra = \"{pattern}\"` has no capture group: put the commit in parentheses, e.g. \"commit=([0-9a-f]{{7,40}})\""),
                            ));
                        }
                        Ok(_) => {}
                    }
                }
                TargetKind::GocV2 {
                    url: require_url(&r.url)?,
                    ids: r.ids.clone().unwrap_or_default(),
                    extra: r.extra.clone(),
                }
            }
            "jacoco" => {
                only(
                    &[
                        ("url", r.url.is_some()),
                        ("services", r.services.is_some()),
                        ("ids", r.ids.is_some()),
                        ("extra", r.extra.is_some()),
                        ("revision_from_extra", r.revision_from_extra.is_some()),
                    ],
                    "jacoco",
                )?;
                let host_port = |a: &str| {
                    a.rsplit_once(':')
                        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
                };
                let addresses = match (&r.address, &r.addresses) {
                    (Some(_), Some(list)) => {
                        return Err(self.invalid(
                            list.span().start,
                            format!("target \"{name}\": set `address` or `addresses`, not both (`addresses = [\"host:6300\", \"host:6301\"]` lists every agent)"),
                        ));
                    }
                    (Some(a), None) if host_port(a.get_ref()) => vec![a.get_ref().clone()],
                    (Some(a), None) => {
                        return Err(self.invalid(
                            a.span().start,
                            format!("target \"{name}\": address = \"{}\" must be host:port, e.g. \"orders-headless:6300\"", a.get_ref()),
                        ));
                    }
                    (None, Some(list)) => {
                        let at = list.span().start;
                        let list = list.get_ref();
                        if list.is_empty() {
                            return Err(self.invalid(
                                at,
                                format!("target \"{name}\": `addresses` is empty: list the agents' tcpserver addresses, e.g. addresses = [\"orders-headless:6300\", \"orders-headless:6301\"]"),
                            ));
                        }
                        let mut seen = std::collections::BTreeSet::new();
                        for a in list {
                            if !host_port(a) {
                                return Err(self.invalid(
                                    at,
                                    format!("target \"{name}\": `addresses` entry \"{a}\" must be host:port, e.g. \"orders-headless:6300\""),
                                ));
                            }
                            if !seen.insert(a.as_str()) {
                                return Err(self.invalid(
                                    at,
                                    format!("target \"{name}\": `addresses` lists \"{a}\" twice"),
                                ));
                            }
                        }
                        list.clone()
                    }
                    (None, None) => {
                        return Err(self.invalid(
                            at,
                            format!("target \"{name}\" of kind \"jacoco\" needs `address = \"host:port\"` or `addresses = [\"host:port\", ...]` (the agents' tcpserver)"),
                        ));
                    }
                };
                TargetKind::Jacoco {
                    addresses,
                    classes: r.classes.clone().unwrap_or_default(),
                    includes: r.includes.clone().unwrap_or_default(),
                    source_roots: r.source_roots.clone().unwrap_or_default(),
                }
            }
            other => {
                return Err(self.invalid(
                    r.kind.span().start,
                    format!(
                        "target kind \"{other}\" is unknown: use \"goc\", \"goc-v2\" or \"jacoco\""
                    ),
                ));
            }
        };
        Ok(TargetConfig {
            name,
            kind,
            timeout: self.duration(r.timeout.as_ref(), "[[target]] timeout")?,
            revision: r.revision.clone(),
            revision_from_extra: r.revision_from_extra.as_ref().map(|x| x.get_ref().clone()),
        })
    }
}

/// Parses "500ms", "2s", "1m30s" (humantime), or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).map_err(|e| e.to_string())
}

fn describe_toml_error(e: &toml::de::Error, text: &str) -> String {
    let msg = e.message();
    match e.span() {
        Some(span) => {
            let line = text.as_bytes()[..span.start.min(text.len())]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            let hint = if msg.contains("unknown field") {
                " (check the spelling; `covtop init` writes a commented example)"
            } else {
                ""
            };
            format!("line {line}: {msg}{hint}")
        }
        None => msg.to_string(),
    }
}

/// `text` as a one-line TOML basic string (quotes, backslashes and control characters escaped;
/// never a multi-line string, which would add lines where a comment shows it).
fn toml_string(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    s.push('"');
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\t' => s.push_str("\\t"),
            '\r' => s.push_str("\\r"),
            c if c.is_control() => s.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// A Maven or Gradle project `covtop init` found: a folder with `src/main/java` (or, when no
/// folder has one, with a build file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JvmProject {
    /// The folder in the repository ("" for its root).
    pub dir: String,
    /// The target name to suggest (the folder's name).
    pub name: String,
    /// "Maven", "Gradle" or "" (sources without a build file).
    pub build: &'static str,
    /// Where its build writes the classes, as the configuration names it.
    pub classes: String,
}

/// How many JVM projects get a commented `[[target]]` each (the others are listed).
const JVM_TARGETS_SHOWN: usize = 8;

/// The commented example written by `covtop init`; `modules` are the go.mod folders found,
/// `repo_path` the repository as the file should name it (relative to the file's folder).
pub fn example(
    go_modules: &[(String, String)],
    jvm: &[JvmProject],
    base: &str,
    repo_path: &str,
) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "# covtop configuration. Every key is optional unless marked required.\n\
         # Docs: covtop --help, README.md.\n\n\
         [repo]\n\
         # The git repository whose deployed revision the services run (relative to this file).\n\
         path = {}\n",
        toml_string(repo_path)
    ));
    // Names found in the repository (folders, module paths, branches) are written as TOML
    // strings, and in comments with control characters escaped: a folder named with a newline
    // cannot add a line to the configuration.
    let base = toml_string(base);
    s.push_str(&format!(
        "# Changed lines are those added or modified from merge-base(base, revision) to revision.\n\
         base = {base}\n\
         # The commit the running build was built from.\n\
         revision = \"HEAD\"\n\
         # range = \"merge-base\"   # or \"two-dot\" (base..revision, tip to tip)\n\
         # working_tree = false    # also count staged and unstaged edits (revision must be HEAD)\n\
         # untracked = false       # untracked files count as wholly added\n\
         # ignore_whitespace = false\n\
         # detect_renames = true\n\
         # diff_file = \"change.diff\"  # a unified diff instead of git\n\n\
         [poll]\n\
         interval = \"2s\"\n\
         timeout = \"3s\"   # per replica; a slow or dead replica never holds up the others\n\n\
         [report]\n\
         partial_as_covered = false\n\n\
         [session]\n\
         dir = \".covtop\"   # dumps are stored here before anything else uses them\n\
         name = \"default\"\n\
         # store = \"postgres://covtop@db/coverage\"  # a team's shared session (password: PGPASSWORD,\n\
         #                                           # ~/.pgpass or password_file; never in the URL)\n\n"
    ));
    if go_modules.is_empty() {
        s.push_str(
            "# No go.mod found at the revision: for Go targets add one, or use a JaCoCo target.\n",
        );
    } else {
        s.push_str("# Go modules found at the revision:\n");
        for (dir, module) in go_modules {
            let dir = crate::escape::field(if dir.is_empty() { "." } else { dir });
            let module = crate::escape::field(module);
            s.push_str(&format!("#   {dir}/go.mod  module {module}\n"));
        }
    }
    let service = go_modules
        .first()
        .and_then(|(_, m)| m.rsplit('/').next())
        .unwrap_or("my-service");
    let (service, service_v2) = (toml_string(service), toml_string(&format!("{service}-v2")));
    let jvm_targets = jvm_example(jvm);
    // A JVM-only repository gets no live Go target: it would fail for want of a go.mod.
    let go = if go_modules.is_empty() && !jvm.is_empty() {
        "# "
    } else {
        ""
    };
    s.push_str(&format!(
        "\n# goc v1: a center (goc server); every registered address is fetched separately.\n\
         {go}[[target]]\n\
         {go}name = {service}\n\
         {go}kind = \"goc\"\n\
         {go}url = \"http://127.0.0.1:7777\"\n\
         {go}services = [{service}]   # optional; or addresses = [\"http://10.0.0.5:7778\"]\n\n\
         # goc v2 server:\n\
         # [[target]]\n\
         # name = {service_v2}\n\
         # kind = \"goc-v2\"\n\
         # url = \"http://127.0.0.1:7777\"\n\
         # ids = []                 # agent ids; empty = all\n\
         # extra = \"ns=staging\"     # regexp on the agents' extra\n\
         # revision_from_extra = \"commit=([0-9a-f]{{7,40}})\"  # agents' build commit, for carry-over\n\n\
         # JaCoCo agent in tcpserver mode (a headless Service resolves to every pod):\n\
         # [[target]]\n\
         # name = \"orders\"\n\
         # kind = \"jacoco\"\n\
         # address = \"orders-headless:6300\"   # or several agents, merged per class:\n\
         # addresses = [\"orders-headless:6300\", \"orders-headless:6301\"]\n\
         # classes = [\"build/libs/orders.jar\"]\n\
         # includes = [\"orders-*.jar\"]   # nested jars of a fat jar to analyse\n\n\
         {jvm_targets}\
         # [keys]                   # remap keys of the interactive screen\n\
         # quit = [\"q\", \"ctrl-c\"]\n\
         # [ui]\n\
         # theme = \"dark\"           # or \"light\", \"no-color\"\n"
    ));
    s
}

/// A commented JaCoCo `[[target]]` for each JVM project found (past [`JVM_TARGETS_SHOWN`], a
/// list).
fn jvm_example(jvm: &[JvmProject]) -> String {
    if jvm.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "# JVM projects found at the revision: run each service with the JaCoCo agent\n\
         # (-javaagent:jacocoagent.jar=output=tcpserver,address=*,port=6300), set its address and\n\
         # uncomment its target. `classes` must be the deployed build's classes (a class folder,\n\
         # a jar, a Spring Boot fat jar or a WAR).\n",
    );
    for p in jvm.iter().take(JVM_TARGETS_SHOWN) {
        let what = match p.build {
            "" => "sources".to_string(),
            build => format!("{build} project"),
        };
        let dir = crate::escape::field(if p.dir.is_empty() { "." } else { &p.dir });
        s.push_str(&format!(
            "# [[target]]                 # {what} in {dir}\n\
             # name = {}\n\
             # kind = \"jacoco\"\n\
             # address = \"127.0.0.1:6300\"\n\
             # classes = [{}]\n\n",
            toml_string(&p.name),
            toml_string(&p.classes)
        ));
    }
    if jvm.len() > JVM_TARGETS_SHOWN {
        s.push_str("# Also JVM projects in:");
        for p in &jvm[JVM_TARGETS_SHOWN..] {
            let dir = crate::escape::field(if p.dir.is_empty() { "." } else { &p.dir });
            s.push_str(&format!(" {dir}"));
        }
        s.push_str("\n\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Config, ConfigError> {
        parse(text, Path::new("/tmp/x/covtop.toml"))
    }

    #[test]
    fn defaults_apply() {
        let c = p("").unwrap();
        assert_eq!(c.repo.base, "origin/main");
        assert_eq!(c.repo.revision, "HEAD");
        assert_eq!(c.repo.range, RangeSetting::MergeBase);
        assert!(c.repo.detect_renames);
        assert_eq!(c.poll.interval, DEFAULT_INTERVAL);
        assert_eq!(c.poll.timeout, DEFAULT_TIMEOUT);
        assert_eq!(c.repo.path, PathBuf::from("/tmp/x/."));
    }

    #[test]
    fn targets_of_every_kind() {
        let c = p(r#"
[poll]
interval = "500ms"
timeout = 5
[[target]]
name = "shop"
kind = "goc"
url = "http://127.0.0.1:7777"
services = ["shop"]
[[target]]
kind = "goc-v2"
url = "http://h:1"
extra = "ns=.*"
[[target]]
name = "orders"
kind = "jacoco"
address = "orders:6300"
classes = ["a.jar"]
timeout = "10s"
"#)
        .unwrap();
        assert_eq!(c.poll.interval, Duration::from_millis(500));
        assert_eq!(c.poll.timeout, Duration::from_secs(5));
        assert_eq!(c.targets.len(), 3);
        assert_eq!(c.targets[1].name, "goc-v2-2");
        assert_eq!(c.targets[2].timeout, Some(Duration::from_secs(10)));
        assert!(
            matches!(&c.targets[0].kind, TargetKind::GocV1 { services, .. } if services == &["shop"])
        );
    }

    #[test]
    fn a_shared_store_is_a_postgres_url_without_a_password() {
        let c = p(
            "[session]\nstore = \"postgres://covtop@db:5433/coverage\"\n\
                   password_file = \"secrets/pw\"\n",
        )
        .unwrap();
        assert_eq!(
            c.session.store.as_deref(),
            Some("postgres://covtop@db:5433/coverage")
        );
        assert_eq!(
            c.session.password_file,
            Some(PathBuf::from("/tmp/x/secrets/pw"))
        );
        assert_eq!(p("").unwrap().session.store, None);
        let e = p("[session]\nname = \"x\"\nstore = \"postgres://covtop:hunter2@db/coverage\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("covtop.toml:3:") && e.contains("password_file"),
            "{e}"
        );
        assert!(!e.contains("hunter2"), "the password is not echoed: {e}");
        let e = p("[session]\nstore = \"mysql://db/coverage\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a PostgreSQL URL"), "{e}");
        let e = p("[session]\nstore = \"postgres://covtop@db\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("names no database"), "{e}");
    }

    #[test]
    fn typo_names_key_and_line() {
        let e = p("[repo]\nbase = \"main\"\nbasee = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3"), "{e}");
        assert!(e.contains("basee"), "{e}");
        assert!(e.contains("covtop.toml"), "{e}");
    }

    #[test]
    fn bad_values_name_line_and_fix() {
        let e = p("[poll]\n\ninterval = \"fast\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":3:") && e.contains("interval") && e.contains("2s"),
            "{e}"
        );
        let e = p("[[target]]\nkind = \"gocc\"\nurl = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2:") && e.contains("gocc"), "{e}");
        let e = p("[[target]]\nkind = \"jacoco\"\naddress = \"nohost\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("host:port"), "{e}");
        let e = p("[[target]]\nkind = \"jacoco\"\naddress = \"h:1\"\nurl = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`url` is not a setting"), "{e}");
        let e = p("[[target]]\nkind = \"goc\"\n").unwrap_err().to_string();
        assert!(e.contains("needs `url"), "{e}");
        let e = p("[[target]]\nkind = \"goc-v2\"\nurl = \"h\"\nextra = \"(\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("regular expression"), "{e}");
        let e = p("[repo]\nrange = \"3dot\"\n").unwrap_err().to_string();
        assert!(e.contains(":2:") && e.contains("merge-base"), "{e}");
        let e = p("[[target]]\nname=\"a\"\nkind=\"goc\"\nurl=\"u\"\n[[target]]\nname=\"a\"\nkind=\"goc\"\nurl=\"u\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("distinct"), "{e}");
        let e = p("[poll\n").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn revision_from_extra_is_checked_with_its_line() {
        let c = p("[[target]]\nkind = \"goc-v2\"\nurl = \"h\"\nrevision_from_extra = \"commit=([0-9a-f]{7,40})\"\n")
            .unwrap();
        assert_eq!(
            c.targets[0].revision_from_extra.as_deref(),
            Some("commit=([0-9a-f]{7,40})")
        );
        let e = p("[[target]]\nkind = \"goc-v2\"\nurl = \"h\"\n\nrevision_from_extra = \"commit=[0-9a-f]+\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":5:") && e.contains("revision_from_extra") && e.contains("capture group"),
            "{e}"
        );
        let e = p("[[target]]\nkind = \"goc-v2\"\nurl = \"h\"\nrevision_from_extra = \"(\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":4:") && e.contains("not a valid regular expression"),
            "{e}"
        );
        let e =
            p("[[target]]\nkind = \"jacoco\"\naddress = \"h:1\"\nrevision_from_extra = \"(x)\"\n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("not a setting of kind"), "{e}");
    }

    #[test]
    fn example_parses() {
        let text = example(
            &[(String::new(), "example.com/shop".into())],
            &[],
            "origin/main",
            ".",
        );
        let c = p(&text).unwrap();
        assert_eq!(c.targets.len(), 1);
        assert_eq!(c.targets[0].name, "shop");
        assert!(!text.contains("JVM projects"), "{text}");
    }

    /// Names found in a hostile repository cannot add lines to the example: folders and a
    /// module path with newlines and quotes, a branch with a quote.
    #[test]
    fn example_names_from_the_repository_cannot_add_lines() {
        let jvm: Vec<JvmProject> = ["svc\nINJECTED = 1", "x"]
            .iter()
            .chain(std::iter::repeat_n(&"more\n[[target]]", 8))
            .map(|dir| JvmProject {
                dir: dir.to_string(),
                name: dir.to_string(),
                build: "Maven",
                classes: format!("{dir}/target/classes"),
            })
            .collect();
        let text = example(
            &[(
                "gen\nINJECTED = 1".into(),
                "example.com/a\"b\n[[target]]\nkind = \"x".into(),
            )],
            &jvm,
            "we\"ird",
            ".",
        );
        assert!(!text.contains("\nINJECTED"), "{text}");
        let c = p(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(c.targets.len(), 1, "{text}");
        assert_eq!(c.targets[0].name, "a\"b\n[[target]]\nkind = \"x");
        assert_eq!(c.repo.base, "we\"ird");
    }

    /// JVM projects get a commented JaCoCo target each, valid once uncommented.
    #[test]
    fn example_has_a_commented_jacoco_target_per_jvm_project() {
        let jvm: Vec<JvmProject> = (0..10)
            .map(|i| JvmProject {
                dir: format!("svc{i}"),
                name: format!("svc{i}"),
                build: if i == 0 { "Maven" } else { "Gradle" },
                classes: format!("svc{i}/target/classes"),
            })
            .collect();
        let text = example(&[], &jvm, "main", ".");
        let c = p(&text).unwrap();
        assert!(
            c.targets.is_empty(),
            "the JaCoCo targets stay commented, and without go.mod so does the goc one"
        );
        let with_go = example(
            &[(String::new(), "example.com/shop".into())],
            &jvm,
            "main",
            ".",
        );
        assert_eq!(p(&with_go).unwrap().targets.len(), 1);
        assert!(text.contains("# [[target]]                 # Maven project in svc0\n"));
        assert!(
            text.contains("# Also JVM projects in: svc8 svc9\n"),
            "{text}"
        );
        assert!(!text.contains("name = \"svc8\""), "{text}");
        // Uncommented, the first one is a valid JaCoCo target.
        let start = text.find("# [[target]]                 # Maven").unwrap();
        let block: String = text[start..]
            .lines()
            .take_while(|l| !l.is_empty())
            .map(|l| format!("{}\n", l.trim_start_matches("# ")))
            .collect();
        let c = p(&block).unwrap();
        assert_eq!(c.targets[0].name, "svc0");
        assert_eq!(c.targets[0].kind.name(), "jacoco");
        assert!(
            block.contains("classes = [\"svc0/target/classes\"]"),
            "{block}"
        );
    }

    #[test]
    fn jacoco_takes_one_address_or_several() {
        let c = p("[[target]]\nkind = \"jacoco\"\naddresses = [\"h:6300\", \"h:6301\"]\n").unwrap();
        assert!(
            matches!(&c.targets[0].kind, TargetKind::Jacoco { addresses, .. } if addresses == &["h:6300", "h:6301"])
        );
        let c = p("[[target]]\nkind = \"jacoco\"\naddress = \"h:6300\"\n").unwrap();
        assert!(
            matches!(&c.targets[0].kind, TargetKind::Jacoco { addresses, .. } if addresses == &["h:6300"])
        );
        assert_eq!(c.targets[0].to_string(), "jacoco-1 (jacoco h:6300)");
        // Both keys: the error names them and the line of `addresses`.
        let e = p("[[target]]\nkind = \"jacoco\"\naddress = \"h:1\"\naddresses = [\"h:2\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":4:") && e.contains("`address` or `addresses`, not both"),
            "{e}"
        );
        let e = p("[[target]]\nkind = \"jacoco\"\n\naddresses = []\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":4:") && e.contains("`addresses` is empty"),
            "{e}"
        );
        let e = p("[[target]]\nkind = \"jacoco\"\naddresses = [\"h:1\", \"nohost\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":3:") && e.contains("\"nohost\" must be host:port"),
            "{e}"
        );
        let e = p("[[target]]\nkind = \"jacoco\"\naddresses = [\"h:1\", \"h:1\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("twice"), "{e}");
        let e = p("[[target]]\nkind = \"jacoco\"\n\naddress = \"h\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":4:") && e.contains("host:port"), "{e}");
        let e = p("[[target]]\nname = \"orders\"\nkind = \"jacoco\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":1:") && e.contains("orders") && e.contains("`addresses = "),
            "{e}"
        );
    }

    #[test]
    fn keys_accept_one_or_many() {
        let c = p("[keys]\nquit = \"x\"\nhelp = [\"?\", \"h\"]\n").unwrap();
        assert_eq!(c.keys["quit"], vec!["x"]);
        assert_eq!(c.keys["help"].len(), 2);
        // The line of each entry, for the key map's errors.
        assert_eq!(c.key_lines["quit"], 2);
        assert_eq!(c.key_lines["help"], 3);
    }

    #[test]
    fn nonsense_durations_are_errors_naming_the_key_and_line() {
        let cases: [(&str, &str); 9] = [
            ("timeout = \"100000000000s\"", "longer than 24h"),
            ("timeout = 18446744073709551615", "longer than 24h"),
            ("timeout = \"0s\"", "would fail every poll"),
            ("timeout = -3", "is negative"),
            ("interval = -0.5", "not a positive duration"),
            ("timeout = true", "timeout = true is not a duration"),
            ("timeout = [3]", "timeout = [3] is not a duration"),
            ("interval = { s = 3 }", "is not a duration"),
            (
                "timeout = 1979-05-27",
                "timeout = 1979-05-27 is not a duration",
            ),
        ];
        for (line, want) in cases {
            let e = p(&format!("[poll]\n{line}\n")).unwrap_err().to_string();
            assert!(e.contains(":2:") && e.contains(want), "{line}: {e}");
            assert!(!e.contains("did not match any variant"), "{e}");
        }
        let c = p("[poll]\ntimeout = 1.5\n").unwrap();
        assert_eq!(c.poll.timeout, Duration::from_millis(1500));
        let e = p("[[target]]\nkind = \"goc\"\nurl = \"http://h:1\"\ntimeout = \"0ms\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("[[target]] timeout") && e.contains(":4:"), "{e}");
    }
}
