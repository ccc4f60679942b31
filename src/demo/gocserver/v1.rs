//! goc v1: the center (`goc server`) and an in-process agent (`_cover_http_apis.go`).
//!
//! The center keeps goc's behaviour on purpose, including what covtop must defend against: it
//! pulls agents one after another with no timeout, force defaults to false (one dead agent fails
//! the whole profile), and a clear that fails half way answers 200 with the error appended.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::to_bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::profile::{dump_profile, keep_files, merge_profiles, parse_profile, skip_files};
use super::{
    GocServerError, MAX_REQUEST_BODY, ServeTask, SharedProfile, form_first, form_pairs,
    form_values, gin_json, gin_not_found, gin_text, post_agent, respond, serve_loopback,
};

/// The center's registry: service name -> agent addresses, plus the `_svrs_address.txt` lines.
#[derive(Debug, Default)]
struct Registry {
    services: BTreeMap<String, Vec<String>>,
    file_lines: Vec<String>,
}

impl Registry {
    fn add(&mut self, name: &str, address: &str) {
        // The file is appended on every registration; memory keeps one copy.
        self.file_lines.push(format!("{name}&{address}"));
        let addrs = self.services.entry(name.to_string()).or_default();
        if !addrs.iter().any(|a| a == address) {
            addrs.push(address.to_string());
        }
    }

    fn remove_address(&mut self, address: &str) {
        for addrs in self.services.values_mut() {
            addrs.retain(|a| a != address);
        }
        self.services.retain(|_, addrs| !addrs.is_empty());
        self.rewrite_file();
    }

    fn rewrite_file(&mut self) {
        self.file_lines = self
            .services
            .iter()
            .flat_map(|(n, addrs)| addrs.iter().map(move |a| format!("{n}&{a}")))
            .collect();
    }
}

#[derive(Debug)]
struct CenterState {
    registry: Mutex<Registry>,
    ip_revise: bool,
    client: reqwest::Client,
}

impl CenterState {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A goc v1 center on 127.0.0.1.
#[derive(Debug)]
pub struct Center {
    serve: ServeTask,
    state: Arc<CenterState>,
}

impl Center {
    /// Starts a center on a free port with `--ip_revise=true` (goc's default).
    pub async fn start() -> Result<Center, GocServerError> {
        Self::start_on(0, true).await
    }

    pub async fn start_on(port: u16, ip_revise: bool) -> Result<Center, GocServerError> {
        let state = Arc::new(CenterState {
            registry: Mutex::new(Registry::default()),
            ip_revise,
            client: super::loopback_client(),
        });
        let app = axum::Router::new()
            .fallback(center_dispatch)
            .with_state(state.clone());
        let serve = serve_loopback(port, app).await?;
        Ok(Center { serve, state })
    }

    pub fn addr(&self) -> SocketAddr {
        self.serve.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.serve.addr)
    }

    /// A snapshot of the registry (what `/v1/cover/list` answers).
    pub fn services(&self) -> BTreeMap<String, Vec<String>> {
        self.state.registry().services.clone()
    }

    /// Registers an address directly, as if an agent had (no IP revise).
    pub fn register(&self, name: &str, address: &str) {
        self.state.registry().add(name, address);
    }
}

/// What gin binds for `/v1/cover/profile|clear|remove` (`ProfileParam`).
#[derive(Debug, Default, PartialEq)]
struct ProfileParam {
    force: bool,
    service: Vec<String>,
    address: Vec<String>,
    coverfile: Vec<String>,
    skipfile: Vec<String>,
}

/// The parts of a request gin's binding looks at.
struct Incoming {
    method: Method,
    content_type: String,
    query: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Incoming {
    fn is_json(&self) -> bool {
        self.method != Method::GET && self.content_type == "application/json"
    }

    /// gin's Form binding: for a form-encoded POST the body values come first, then the query.
    fn form(&self) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        if self.method != Method::GET && self.content_type == "application/x-www-form-urlencoded" {
            pairs = form_pairs(&self.body);
        }
        pairs.extend(self.query.iter().cloned());
        pairs
    }

    fn json_object(&self, go_type: &str) -> Result<serde_json::Map<String, Value>, String> {
        if self.body.iter().all(|b| b.is_ascii_whitespace()) {
            return Err("EOF".into());
        }
        let value: Value =
            serde_json::from_slice(&self.body).map_err(|e| format!("invalid JSON: {e}"))?;
        match value {
            Value::Object(m) => Ok(m),
            Value::Null => Ok(Default::default()),
            other => Err(format!(
                "json: cannot unmarshal {} into Go value of type {go_type}",
                json_kind(&other)
            )),
        }
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// encoding/json matches keys case-insensitively.
fn json_field<'a>(m: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    m.get(key).or_else(|| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn json_string_list(
    m: &serde_json::Map<String, Value>,
    key: &str,
    strukt: &str,
) -> Result<Vec<String>, String> {
    match json_field(m, key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(format!(
                    "json: cannot unmarshal {} into Go struct field {strukt}.{key} of type string",
                    json_kind(other)
                )),
            })
            .collect(),
        Some(other) => Err(format!(
            "json: cannot unmarshal {} into Go struct field {strukt}.{key} of type []string",
            json_kind(other)
        )),
    }
}

fn json_string(
    m: &serde_json::Map<String, Value>,
    key: &str,
    strukt: &str,
) -> Result<String, String> {
    match json_field(m, key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!(
            "json: cannot unmarshal {} into Go struct field {strukt}.{key} of type string",
            json_kind(other)
        )),
    }
}

/// gin's form bool: empty is false, otherwise `strconv.ParseBool`.
fn go_parse_bool(v: &str) -> Result<bool, String> {
    match v {
        "" | "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        _ => Err(format!("strconv.ParseBool: parsing {v:?}: invalid syntax")),
    }
}

fn bind_profile_param(req: &Incoming) -> Result<ProfileParam, String> {
    if req.is_json() {
        let m = req.json_object("cover.ProfileParam")?;
        let force = match json_field(&m, "force") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(format!(
                    "json: cannot unmarshal {} into Go struct field ProfileParam.force of type bool",
                    json_kind(other)
                ));
            }
        };
        return Ok(ProfileParam {
            force,
            service: json_string_list(&m, "service", "ProfileParam")?,
            address: json_string_list(&m, "address", "ProfileParam")?,
            coverfile: json_string_list(&m, "coverfile", "ProfileParam")?,
            skipfile: json_string_list(&m, "skipfile", "ProfileParam")?,
        });
    }
    let form = req.form();
    let force = match form_first(&form, "force") {
        Some(v) => go_parse_bool(&v)?,
        None => false,
    };
    Ok(ProfileParam {
        force,
        service: form_values(&form, "service"),
        address: form_values(&form, "address"),
        coverfile: form_values(&form, "coverfile"),
        skipfile: form_values(&form, "skipfile"),
    })
}

/// `filterAddrs`: service and address are exclusive; unknown ones fail unless forced.
fn filter_addrs(
    param: &ProfileParam,
    force: bool,
    all: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<String>, String> {
    if !param.service.is_empty() && !param.address.is_empty() {
        return Err("use 'service' flag and 'address' flag at the same time may cause ambiguity, please use them separately".into());
    }
    let every: Vec<String> = all.values().flatten().cloned().collect();
    let mut out = Vec::new();
    for name in &param.service {
        match all.get(name) {
            Some(addrs) => out.extend(addrs.iter().cloned()),
            None if !force => return Err(format!("service [{name}] not found")),
            None => tracing::warn!("service [{name}] not found"),
        }
    }
    for addr in &param.address {
        if every.contains(addr) {
            out.push(addr.clone());
        } else if !force {
            return Err(format!("address [{addr}] not found"));
        } else {
            tracing::warn!("address [{addr}] not found");
        }
    }
    if param.service.is_empty() && param.address.is_empty() {
        out = every;
    }
    Ok(out)
}

fn err417(msg: impl Into<String>) -> Response {
    gin_json(
        StatusCode::EXPECTATION_FAILED,
        &json!({ "error": msg.into() }),
    )
}

fn err500(msg: impl Into<String>) -> Response {
    gin_json(
        StatusCode::INTERNAL_SERVER_ERROR,
        &json!({ "error": msg.into() }),
    )
}

/// Go's `%v` of a `[]string`.
fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

async fn center_dispatch(
    State(st): State<Arc<CenterState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let method = parts.method.clone();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let Ok(body) = to_bytes(body, MAX_REQUEST_BODY).await else {
        return gin_json(
            StatusCode::BAD_REQUEST,
            &json!({ "error": "http: request body too large" }),
        );
    };
    let incoming = Incoming {
        method: method.clone(),
        content_type,
        query: form_pairs(parts.uri.query().unwrap_or_default().as_bytes()),
        body: body.to_vec(),
    };
    match (method.as_str(), path.as_str()) {
        ("POST", "/v1/cover/register") => register(&st, peer, &incoming),
        ("GET" | "POST", "/v1/cover/profile") => profile(&st, &incoming).await,
        ("POST", "/v1/cover/clear") => clear(&st, &incoming).await,
        ("POST", "/v1/cover/init") => {
            let mut reg = st.registry();
            reg.services.clear();
            reg.file_lines.clear();
            gin_json(StatusCode::OK, &json!(""))
        }
        ("GET", "/v1/cover/list") => {
            let services = st.registry().services.clone();
            gin_json(StatusCode::OK, &json!(services))
        }
        ("POST", "/v1/cover/remove") => remove(&st, &incoming),
        ("GET" | "HEAD", "/static") => {
            let mut text = st.registry().file_lines.join("\n");
            if !text.is_empty() {
                text.push('\n');
            }
            respond(StatusCode::OK, Some("text/plain; charset=utf-8"), text)
        }
        _ => gin_not_found(),
    }
}

fn register(st: &CenterState, peer: SocketAddr, req: &Incoming) -> Response {
    let bad = |msg: String| gin_json(StatusCode::BAD_REQUEST, &json!({ "error": msg }));
    let (name, address, ip_revise) = if req.is_json() {
        let m = match req.json_object("cover.ServiceUnderTest") {
            Ok(m) => m,
            Err(e) => return bad(e),
        };
        let get = |k| json_string(&m, k, "ServiceUnderTest");
        match (get("name"), get("address"), get("ip_revise")) {
            (Ok(n), Ok(a), Ok(r)) => (n, a, r),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return bad(e),
        }
    } else {
        let form = req.form();
        let get = |k| form_first(&form, k).unwrap_or_default();
        (get("name"), get("address"), get("ip_revise"))
    };
    let mut missing = Vec::new();
    for (field, value) in [("Name", &name), ("Address", &address)] {
        if value.is_empty() {
            missing.push(format!(
                "Key: 'ServiceUnderTest.{field}' Error:Field validation for '{field}' failed on the 'required' tag"
            ));
        }
    }
    if !missing.is_empty() {
        return bad(missing.join("\n"));
    }
    let Some((scheme, authority)) = split_scheme_authority(&address) else {
        return bad("unsupport schema".into());
    };
    if scheme != "http" && scheme != "https" {
        return bad("unsupport schema".into());
    }
    let (host, port) = match split_host_port(authority) {
        Ok(hp) => hp,
        Err(e) => return bad(e),
    };
    let revise = if ip_revise.is_empty() {
        st.ip_revise
    } else {
        go_parse_bool(&ip_revise).unwrap_or(st.ip_revise)
    };
    let host = match peer.ip() {
        IpAddr::V4(ip) if revise => ip.to_string(),
        _ => host,
    };
    if host.is_empty() {
        return bad("empty host".into());
    }
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    st.registry()
        .add(&name, &format!("{scheme}://{host}:{port}"));
    gin_json(StatusCode::OK, &json!({ "result": "success" }))
}

fn split_scheme_authority(address: &str) -> Option<(String, &str)> {
    let (scheme, rest) = address.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Some((scheme.to_ascii_lowercase(), authority))
}

/// `net.SplitHostPort`, with its error texts.
fn split_host_port(hostport: &str) -> Result<(String, String), String> {
    let missing = || format!("address {hostport}: missing port in address");
    if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("address {hostport}: missing ']' in address"))?;
        let port = after.strip_prefix(':').ok_or_else(missing)?;
        return Ok((host.to_string(), port.to_string()));
    }
    let (host, port) = hostport.rsplit_once(':').ok_or_else(missing)?;
    if host.contains(':') {
        return Err(format!("address {hostport}: too many colons in address"));
    }
    Ok((host.to_string(), port.to_string()))
}

async fn profile(st: &CenterState, req: &Incoming) -> Response {
    let param = match bind_profile_param(req) {
        Ok(p) => p,
        Err(e) => return err417(e),
    };
    let all = st.registry().services.clone();
    let addrs = match filter_addrs(&param, param.force, &all) {
        Ok(a) => a,
        Err(e) => return err417(e),
    };
    let mut instances = Vec::new();
    // Sequential and without a timeout, as goc does: a black-holed agent hangs this request.
    for addr in &addrs {
        let body = match post_agent(&st.client, addr, "/v1/cover/profile").await {
            Ok(b) => b,
            Err(e) if param.force => {
                tracing::warn!("failed to get profile from {addr}: {e}");
                continue;
            }
            Err(e) => {
                return err417(format!(
                    "failed to get profile from {addr}, service , error {e}"
                ));
            }
        };
        match parse_profile(&body) {
            Ok(p) => instances.push(p),
            Err(e) => return err417(e),
        }
    }
    if instances.is_empty() {
        return err417("no profiles");
    }
    let mut merged = match merge_profiles(instances) {
        Ok(m) => m,
        Err(e) => return err500(e),
    };
    if !param.coverfile.is_empty() {
        merged = match keep_files(&param.coverfile, merged) {
            Ok(m) => m,
            Err(e) => {
                return err500(format!(
                    "failed to filter profile based on the patterns: {}, error: {e}",
                    go_list(&param.coverfile)
                ));
            }
        };
    }
    if !param.skipfile.is_empty() {
        merged = match skip_files(&param.skipfile, merged) {
            Ok(m) => m,
            Err(e) => {
                return err500(format!(
                    "failed to skip profile based on the patterns: {}, error: {e}",
                    go_list(&param.skipfile)
                ));
            }
        };
    }
    match dump_profile(&merged) {
        Ok(text) => gin_text(StatusCode::OK, text),
        Err(e) => err500(e),
    }
}

async fn clear(st: &CenterState, req: &Incoming) -> Response {
    let param = match bind_profile_param(req) {
        Ok(p) => p,
        Err(e) => return err417(e),
    };
    let all = st.registry().services.clone();
    // Clear always forces: unknown services or addresses are only logged.
    let addrs = match filter_addrs(&param, true, &all) {
        Ok(a) => a,
        Err(e) => return err417(e),
    };
    let mut written = String::new();
    for addr in &addrs {
        match post_agent(&st.client, addr, "/v1/cover/clear").await {
            Ok(agent_body) => {
                written.push_str(&format!(
                    "Register service {addr} coverage counter {agent_body}"
                ));
            }
            Err(e) if written.is_empty() => return err417(e),
            Err(e) => {
                // The 200 and the lines before are already on the wire; gin appends the JSON.
                let mut body = written;
                body.push_str(&gin_json_text(&json!({ "error": e })));
                return gin_text(StatusCode::OK, body);
            }
        }
    }
    gin_text(StatusCode::OK, written)
}

fn remove(st: &CenterState, req: &Incoming) -> Response {
    let param = match bind_profile_param(req) {
        Ok(p) => p,
        Err(e) => return err417(e),
    };
    let mut reg = st.registry();
    let addrs = match filter_addrs(&param, true, &reg.services) {
        Ok(a) => a,
        Err(e) => return err417(e),
    };
    let mut written = String::new();
    for addr in &addrs {
        reg.remove_address(addr);
        written.push_str(&format!("Register service {addr} removed from the center."));
    }
    gin_text(StatusCode::OK, written)
}

fn gin_json_text(v: &Value) -> String {
    super::go_json(v)
}

/// An in-process goc v1 agent: serves a shared profile like the generated
/// `_cover_http_apis.go` (any method on every route, Go's ServeMux 404 elsewhere).
#[derive(Debug)]
pub struct Agent {
    serve: ServeTask,
    profile: SharedProfile,
}

impl Agent {
    /// Starts serving `profile` on 127.0.0.1:`port` (0 = any), then registers as `name` with
    /// `center` when given, as an agent does once at process start.
    pub async fn start(
        name: &str,
        profile: SharedProfile,
        port: u16,
        center: Option<&str>,
    ) -> Result<Agent, GocServerError> {
        let app = axum::Router::new()
            .fallback(agent_dispatch)
            .with_state(profile.clone());
        let serve = serve_loopback(port, app).await?;
        let agent = Agent { serve, profile };
        if let Some(center) = center {
            agent.register(name, center).await?;
        }
        Ok(agent)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.serve.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.serve.addr
    }

    pub fn profile(&self) -> &SharedProfile {
        &self.profile
    }

    /// `POST <center>/v1/cover/register?name=&address=`.
    pub async fn register(&self, name: &str, center: &str) -> Result<(), GocServerError> {
        let url = format!("{}/v1/cover/register", center.trim_end_matches('/'));
        let fail = |reason: String| GocServerError::Register {
            url: url.clone(),
            reason,
        };
        let resp = super::loopback_client()
            .post(&url)
            .query(&[("name", name), ("address", &self.url())])
            .send()
            .await
            .map_err(|e| fail(super::error_chain_text(&e)))?;
        let status = resp.status();
        if status != reqwest::StatusCode::OK {
            let body = resp.text().await.unwrap_or_default();
            return Err(fail(format!("{status}: {body}")));
        }
        Ok(())
    }
}

async fn agent_dispatch(State(profile): State<SharedProfile>, req: Request) -> Response {
    let text = |body: String| respond(StatusCode::OK, Some("text/plain; charset=utf-8"), body);
    match req.uri().path() {
        "/v1/cover/profile" => text(profile.lock().render()),
        "/v1/cover/coverage" => text(profile.lock().coverage_text()),
        "/v1/cover/clear" => {
            profile.lock().clear();
            text("clear call successfully\n".into())
        }
        _ => respond(
            StatusCode::NOT_FOUND,
            Some("text/plain; charset=utf-8"),
            "404 page not found\n",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incoming(method: Method, ct: &str, query: &str, body: &str) -> Incoming {
        Incoming {
            method,
            content_type: ct.into(),
            query: form_pairs(query.as_bytes()),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn binding_follows_gin() {
        let q = incoming(Method::GET, "", "service=x,y&service=z&force=true", "");
        let p = bind_profile_param(&q).unwrap();
        assert_eq!(p.service, vec!["x,y", "z"]);
        assert!(p.force);
        let j = incoming(
            Method::POST,
            "application/json",
            "service=ignored",
            r#"{"Service":["a"],"force":false}"#,
        );
        assert_eq!(bind_profile_param(&j).unwrap().service, vec!["a"]);
        let bad = incoming(Method::POST, "application/json", "", r#"{"force":"true"}"#);
        assert_eq!(
            bind_profile_param(&bad).unwrap_err(),
            "json: cannot unmarshal string into Go struct field ProfileParam.force of type bool"
        );
        let form = incoming(
            Method::POST,
            "application/x-www-form-urlencoded",
            "address=q",
            "address=b",
        );
        assert_eq!(bind_profile_param(&form).unwrap().address, vec!["b", "q"]);
        let badbool = incoming(Method::GET, "", "force=yes", "");
        assert_eq!(
            bind_profile_param(&badbool).unwrap_err(),
            "strconv.ParseBool: parsing \"yes\": invalid syntax"
        );
    }

    #[test]
    fn host_port_splitting_matches_go() {
        assert_eq!(
            split_host_port("10.1.2.3:9000").unwrap(),
            ("10.1.2.3".into(), "9000".into())
        );
        assert_eq!(
            split_host_port("[::1]:80").unwrap(),
            ("::1".into(), "80".into())
        );
        assert_eq!(
            split_host_port("10.1.2.3").unwrap_err(),
            "address 10.1.2.3: missing port in address"
        );
    }
}
