//! From the repository's files to one [`HostSpec`] per selected host, and
//! from a spec plus the host's facts to its [`HostPlan`].
//!
//! Loading checks everything that does not depend on a host (syntax, types,
//! references, patterns, parameter declarations); rendering adds the host's
//! facts and checks the rendered values. Neither contacts a host.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use schedfleet_proto::Facts;
use serde_json::{Map, Value};

use super::fleet::FleetFile;
use super::inventory::{self, Host};
use super::kernels::KernelReq;
use super::overrides::OverrideFile;
use super::pattern::{GroupDef, HostPattern, Universe};
use super::scheduler::binary::{arg_text, BinaryPlan, BinarySource};
use super::scheduler::{flags, SchedulerFile, Source};
use super::template::{self, Templates};
use super::yaml::{self, Origin, Positions, Scalar, Step::Index, Step::Key};
use crate::artifact::Artifact;
use crate::repo::ConfigRepo;
use crate::BadInput;

/// A scheduler's `kernels:` with where it is written.
type KernelsAt = (KernelReq, Origin);

/// Names a template sees besides the variables; variables may not take them.
const RESERVED_VARS: [&str; 4] = ["host", "facts", "labels", "groups"];

#[derive(Debug, Default)]
pub struct LoadOptions<'a> {
    /// Read the inventory from this file instead of the repository.
    pub inventory_override: Option<&'a Path>,
    /// How `inventory_override` is written (`auto`: decided from its content).
    pub inventory_format: super::ansible::InventoryFormat,
    /// Only hosts matching this pattern.
    pub limit: Option<&'a str>,
}

/// The repository's desired state, checked, before any host's facts.
#[derive(Debug)]
pub struct DesiredState {
    pub commit: String,
    /// Config files changed in the working tree but not committed: not deployed.
    pub uncommitted: Vec<String>,
    pub fleet: FleetFile,
    /// Every inventory host, assigned or not.
    pub inventory: Vec<Host>,
    /// The selected hosts that have an assignment, in inventory order.
    pub hosts: Vec<HostSpec>,
}

/// What one host should run, with its parameters still to be rendered.
#[derive(Debug, Clone)]
pub struct HostSpec {
    pub host: Host,
    pub groups: Vec<String>,
    pub scheduler: String,
    pub artifact: Artifact,
    decl: Arc<SchedulerFile>,
    /// For an upstream binary (`source: scx:...`): the binary as loaded.
    binary: Option<Arc<BinarySource>>,
    /// The scheduler's `kernels:`, with where it is written.
    kernels: Option<KernelsAt>,
    /// Parameter values before rendering, with where each was written.
    params: BTreeMap<String, (Scalar, Origin)>,
    /// Variable layers, lowest first: fleet < inventory defaults < groups
    /// (inventory, then files) < host (inventory, then file). Shared between
    /// hosts, not copied per host (1 MB of group variables over 1,000 hosts
    /// is 1 MB, not 1 GB); merged only while one host renders.
    vars: Vec<VarLayer>,
    /// `fleet.yaml`'s `public:`: parameters whose rendered values may be shown.
    public: Arc<std::collections::BTreeSet<String>>,
}

/// One layer of variables, shared by every host that sees it.
type VarLayer = Arc<BTreeMap<String, Value>>;

/// A host's desired state, rendered: what the agent is asked to run.
#[derive(Debug, Clone)]
pub struct HostPlan {
    pub host: Host,
    pub scheduler: String,
    pub artifact: Artifact,
    /// Checked against the scheduler's declarations; defaults filled in.
    pub params: BTreeMap<String, String>,
    /// The parameters whose values may be shown (`public:` in `fleet.yaml`).
    pub public: Arc<std::collections::BTreeSet<String>>,
    /// For an upstream binary: its spec with the arguments rendered, and
    /// what is pushed. Its parameters are not sent to the agent: they are
    /// what the arguments were rendered from.
    pub binary: Option<BinaryPlan>,
}

impl HostPlan {
    /// `text` (an agent's error, say) with every value of a parameter not
    /// declared public replaced by `<redacted>`, wherever it stands as a
    /// whole word.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (name, value) in &self.params {
            if !self.public.contains(name) && !value.is_empty() {
                out = redact_word(&out, value);
            }
        }
        out
    }
}

/// Replaces `word` in `text` where it is not part of a longer word.
fn redact_word(text: &str, word: &str) -> String {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(word) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + word.len()..].chars().next();
        out.push_str(&rest[..at]);
        if before.is_some_and(is_word) || after.is_some_and(is_word) {
            out.push_str(word);
        } else {
            out.push_str("<redacted>");
        }
        rest = &rest[at + word.len()..];
    }
    out.push_str(rest);
    out
}

fn required(repo: &ConfigRepo, file: &str) -> Result<Vec<u8>> {
    repo.read(file)?.ok_or_else(|| {
        BadInput::new(format!("`{file}` is not in commit {}; commit it first", &repo.commit_id()[..12])).into()
    })
}

/// `fleet.yaml` at the commit, or a message that tells a config repository
/// with an uncommitted `fleet.yaml` from a directory that is none at all.
fn fleet_file(repo: &ConfigRepo) -> Result<Vec<u8>> {
    if let Some(bytes) = repo.read("fleet.yaml")? {
        return Ok(bytes);
    }
    let commit = &repo.commit_id()[..12];
    let on_disk = repo.dir_on_disk().map(|d| d.join("fleet.yaml"));
    if on_disk.as_ref().is_some_and(|p| p.is_file()) {
        return Err(BadInput::new(format!(
            "`fleet.yaml` is in the working tree of `{}` but not in commit {commit}; schedfleet reads only \
             committed content: commit it first (`git add fleet.yaml && git commit`)",
            repo.shown()
        ))
        .into());
    }
    Err(BadInput::new(format!(
        "`{}` is no schedfleet config repository: it has no `fleet.yaml`, neither in commit {commit} nor in the \
         working tree; point --repo DIR at a config repository (such as `--repo examples/quickstart` in the \
         schedfleet checkout), or create one with `schedfleet init DIR`",
        repo.shown()
    ))
    .into())
}

pub fn load(repo: &ConfigRepo, opts: &LoadOptions<'_>) -> Result<DesiredState> {
    let fleet_bytes = fleet_file(repo)?;
    let fleet: FleetFile = yaml::parse("fleet.yaml", &fleet_bytes)?;
    let fleet_at = Positions::new("fleet.yaml", &fleet_bytes);
    fleet.check().map_err(|(path, why)| BadInput::new(format!("{}: {why}", fleet_at.origin(&path))))?;
    check_var_names(&fleet.vars, |k| fleet_at.origin(&[Key("vars"), Key(k)]).to_string())?;
    let public: Arc<std::collections::BTreeSet<String>> = Arc::new(fleet.public.iter().cloned().collect());
    let loaded = super::source::load_inventory(
        Some(repo),
        Some((&fleet, &fleet_at)),
        opts.inventory_override,
        opts.inventory_format,
    )?;
    let (inv_file, inv_at) = (loaded.file, loaded.positions);
    let inv_name = inv_at.file().to_owned();
    let hosts = inventory::resolve(&inv_at, &inv_file, &loaded.dir)?;
    check_var_names(&inv_file.defaults.vars, |k| inv_at.origin(&[Key("defaults"), Key("vars"), Key(k)]).to_string())?;
    for h in &hosts {
        check_var_names(&h.vars, |k| {
            format!("{}: host `{}`", inv_at.origin(&[Key("hosts"), Key(&h.name), Key("vars"), Key(k)]), h.name)
        })?;
    }
    let groups: BTreeMap<String, GroupDef> = inv_file
        .groups
        .iter()
        .map(|(name, g)| (name.clone(), GroupDef { hosts: g.hosts.clone(), children: g.children.clone() }))
        .collect();
    let universe = Universe::build(hosts.iter().map(|h| (h.name.clone(), h.labels.clone())).collect(), &groups)
        .map_err(|e| BadInput::new(format!("`{inv_name}`: {e}")))?;
    for (name, g) in &inv_file.groups {
        check_var_names(&g.vars, |k| {
            format!("{}: group `{name}`", inv_at.origin(&[Key("groups"), Key(name), Key("vars"), Key(k)]))
        })?;
    }
    let group_files = overrides(repo, "groups", |name| inv_file.groups.contains_key(name), "group")?;
    let host_files = overrides(repo, "hosts", |name| hosts.iter().any(|h| h.name == name), "host")?;

    // The first assignment that selects a host wins.
    let mut assigned: BTreeMap<String, usize> = BTreeMap::new();
    for (i, a) in fleet.assignments.iter().enumerate() {
        let pattern = HostPattern::parse(&a.hosts).and_then(|p| p.select(&universe)).map_err(|e| {
            let at = fleet_at.origin(&[Key("assignments"), Index(i), Key("hosts")]);
            BadInput::new(format!("{at}: assignment {} (`{}`): {e}", i + 1, a.hosts.escape_debug()))
        })?;
        for host in pattern {
            assigned.entry(host).or_insert(i);
        }
    }
    let selected: Option<Vec<String>> = opts
        .limit
        .map(|l| HostPattern::parse(l).and_then(|p| p.select(&universe)))
        .transpose()
        .map_err(|e| BadInput::new(format!("--limit: {e}")))?;
    // Each assignment's parameters with the line each is written on.
    let assignment_params: Vec<BTreeMap<String, (Scalar, Origin)>> = fleet
        .assignments
        .iter()
        .enumerate()
        .map(|(i, a)| {
            a.params
                .iter()
                .map(|(k, v)| {
                    (k.clone(), (v.clone(), fleet_at.origin(&[Key("assignments"), Index(i), Key("params"), Key(k)])))
                })
                .collect()
        })
        .collect();

    // Variable layers shared by the hosts that see them (see `HostSpec::vars`).
    let fleet_layer: VarLayer = Arc::new(fleet.vars.clone());
    let defaults_layer: VarLayer = Arc::new(inv_file.defaults.vars.clone());
    let group_layers: BTreeMap<&String, VarLayer> = inv_file
        .groups
        .iter()
        .filter(|(_, g)| !g.vars.is_empty())
        .map(|(n, g)| (n, Arc::new(g.vars.clone())))
        .collect();
    let group_file_layers: BTreeMap<&String, VarLayer> =
        group_files.iter().filter(|(_, f)| !f.vars.is_empty()).map(|(n, f)| (n, Arc::new(f.vars.clone()))).collect();
    type Loaded = (Arc<SchedulerFile>, Artifact, Option<KernelsAt>, Option<Arc<BinarySource>>);
    let mut schedulers: BTreeMap<String, Loaded> = BTreeMap::new();
    let mut specs = Vec::new();
    for host in &hosts {
        if selected.as_ref().is_some_and(|s| !s.contains(&host.name)) {
            continue;
        }
        let Some(&index) = assigned.get(&host.name) else {
            tracing::info!(host = %host.name, "no assignment in fleet.yaml; host left as it is");
            continue;
        };
        let assignment = &fleet.assignments[index];
        let name = &assignment.scheduler;
        if !schedulers.contains_key(name) {
            let at = fleet_at.origin(&[Key("assignments"), Index(index), Key("scheduler")]);
            let (decl, artifact, kernels, binary) = load_scheduler(repo, name, &at)?;
            schedulers.insert(name.clone(), (Arc::new(decl), artifact, kernels, binary.map(Arc::new)));
        }
        let (decl, artifact, kernels, binary) = schedulers[name].clone();
        let groups_of: Vec<String> = universe.groups_of(&host.name).into_iter().map(str::to_owned).collect();

        // Lowest to highest: fleet.yaml, inventory defaults, inventory groups,
        // groups/*.yaml, the inventory's host entry, hosts/<host>.yaml.
        let mut vars: Vec<VarLayer> = vec![fleet_layer.clone(), defaults_layer.clone()];
        vars.extend(groups_of.iter().filter_map(|g| group_layers.get(g).cloned()));
        vars.extend(groups_of.iter().filter_map(|g| group_file_layers.get(g).cloned()));
        if !host.vars.is_empty() {
            vars.push(Arc::new(host.vars.clone()));
        }
        let mut params = assignment_params[index].clone();
        for g in &groups_of {
            if let Some(f) = group_files.get(g) {
                params.extend(f.params.clone());
            }
        }
        if let Some(f) = host_files.get(&host.name) {
            vars.push(Arc::new(f.vars.clone()));
            params.extend(f.params.clone());
        }
        for (param, (value, origin)) in &params {
            let Some(d) = decl.params.get(param) else {
                let known: Vec<_> = decl.params.keys().map(String::as_str).collect();
                return Err(BadInput::new(format!(
                    "{origin}: scheduler `{name}` (assigned to `{}`) declares no parameter `{param}`; declared in `schedulers/{name}.yaml`: {}",
                    host.name,
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                ))
                .into());
            };
            // Values that are not templates are checked now, before any host is contacted.
            if !matches!(value, Scalar::Str(t) if template::is_template(t)) {
                d.check(param, value).map_err(|why| BadInput::new(format!("{origin}: {why}")))?;
            }
        }
        specs.push(HostSpec {
            host: host.clone(),
            groups: groups_of,
            scheduler: name.clone(),
            artifact,
            decl,
            binary,
            kernels,
            params,
            vars,
            public: public.clone(),
        });
    }
    // Scheduler files not loaded above (assigned to no selected host) are
    // checked too: a broken file must not wait for the commit that assigns it.
    for file in repo.list("schedulers")? {
        let Some(name) = file.strip_suffix(".yaml") else {
            return Err(BadInput::new(format!(
                "`schedulers/{file}`: only `<name>.yaml` files belong in `schedulers/`"
            ))
            .into());
        };
        if !schedulers.contains_key(name) {
            let at = Positions::new(&format!("schedulers/{file}"), b"").origin(&[]);
            load_scheduler(repo, name, &at)?;
        }
    }
    Ok(DesiredState {
        commit: repo.commit_id(),
        uncommitted: repo.uncommitted_changes(),
        fleet,
        inventory: hosts,
        hosts: specs,
    })
}

/// Refuses a variable named like something templates see already; `at`
/// says where a variable was written, for the message.
fn check_var_names(vars: &BTreeMap<String, Value>, at: impl Fn(&str) -> String) -> Result<(), BadInput> {
    match vars.keys().find(|k| RESERVED_VARS.contains(&k.as_str())) {
        Some(k) => Err(BadInput::new(format!(
            "{}: variable `{k}` is reserved (templates see {} themselves); rename it",
            at(k),
            RESERVED_VARS.join(", ")
        ))),
        None => Ok(()),
    }
}

/// A `groups/<group>.yaml` or `hosts/<host>.yaml`, its parameters with the
/// line each is written on.
struct Override {
    vars: BTreeMap<String, Value>,
    params: BTreeMap<String, (Scalar, Origin)>,
}

/// Reads every `<dir>/<name>.yaml`; a file for an unknown name is an error.
fn overrides(
    repo: &ConfigRepo,
    dir: &str,
    known: impl Fn(&str) -> bool,
    what: &str,
) -> Result<BTreeMap<String, Override>> {
    let mut out = BTreeMap::new();
    for file in repo.list(dir)? {
        let path = format!("{dir}/{file}");
        let Some(name) = file.strip_suffix(".yaml") else {
            return Err(BadInput::new(format!(
                "`{path}`: only `<name>.yaml` files belong in `{dir}/`; rename or remove the file"
            ))
            .into());
        };
        if !known(name) {
            return Err(BadInput::new(format!(
                "`{path}`: the inventory has no {what} `{name}`; rename or remove the file"
            ))
            .into());
        }
        let bytes = required(repo, &path)?;
        let parsed: OverrideFile = yaml::parse(&path, &bytes)?;
        let at = Positions::new(&path, &bytes);
        check_var_names(&parsed.vars, |k| at.origin(&[Key("vars"), Key(k)]).to_string())?;
        let params = parsed
            .params
            .into_iter()
            .map(|(k, v)| {
                let o = at.origin(&[Key("params"), Key(&k)]);
                (k, (v, o))
            })
            .collect();
        out.insert(name.to_owned(), Override { vars: parsed.vars, params });
    }
    Ok(out)
}

/// `at` is where the assignment names the scheduler, for messages.
type LoadedScheduler = (SchedulerFile, Artifact, Option<KernelsAt>, Option<BinarySource>);

fn load_scheduler(repo: &ConfigRepo, name: &str, at: &Origin) -> Result<LoadedScheduler> {
    if inventory::check_name(name).is_err() {
        return Err(BadInput::new(format!(
            "{at}: scheduler name `{}` is not valid (letters, digits, `-`, `_`, `.`; starting with a letter or digit): it names the file `schedulers/<name>.yaml`",
            name.escape_debug()
        ))
        .into());
    }
    let file = format!("schedulers/{name}.yaml");
    let bytes = repo.read(&file)?.ok_or_else(|| {
        BadInput::new(format!(
            "{at} assigns scheduler `{name}`, but `{file}` is not in the commit; add and commit it, or fix the name"
        ))
    })?;
    let mut decl: SchedulerFile = yaml::parse(&file, &bytes)?;
    let positions = Positions::new(&file, &bytes);
    for (p, d) in &decl.params {
        let here = |step: Option<&str>| {
            let mut path = vec![Key("params"), Key(p)];
            path.extend(step.map(Key));
            positions.origin(&path)
        };
        d.check_bounds(p).map_err(|why| BadInput::new(format!("{}: {why}", here(None))))?;
        if let Some(default) = &d.default {
            d.check(p, default).map_err(|why| BadInput::new(format!("{}: default: {why}", here(Some("default")))))?;
        }
    }
    let kernels = match &decl.kernels {
        None => None,
        Some(text) => {
            let at = positions.origin(&[Key("kernels")]);
            let req = KernelReq::parse(text).map_err(|why| BadInput::new(format!("{at}: {why}")))?;
            Some((req, at))
        }
    };
    let source_at = positions.origin(&[Key("source")]);
    let source = Source::parse(&source_at, &decl.source)?;
    match (&source, &decl.binary) {
        (Source::ScxBinary(bin), Some(b)) => {
            let loaded = b.load(bin, repo, &positions)?;
            return Ok((decl, loaded.artifact.clone(), kernels, Some(loaded)));
        }
        (Source::ScxBinary(_), None) => {}
        (_, Some(_)) => {
            return Err(BadInput::new(format!(
                "{}: `binary:` describes an upstream binary (`source: scx:NAME`); this scheduler's source is `{}`: \
                 remove `binary:` or change `source:`",
                positions.origin(&[Key("binary")]),
                decl.source.escape_debug()
            ))
            .into())
        }
        (_, None) => {}
    }
    let artifact = source.artifact(&source_at, repo)?;
    decl.check_object(&artifact.name, &artifact.bytes).map_err(|(param, why)| {
        let at = match param {
            Some(p) => positions.origin(&[Key("params"), Key(p)]),
            None => source_at.clone(),
        };
        BadInput::new(format!("{at}: {why}"))
    })?;
    // A builtin knows the values its `ops.init` accepts: a declaration is
    // narrowed to them (after it was checked against the object as
    // written), so a value the scheduler would refuse in the kernel is
    // refused here, before any host is touched.
    if let Ok(Source::Builtin(builtin)) = Source::parse(&source_at, &decl.source) {
        for param in schedfleet_bpf::builtin(&builtin).map(|b| b.params).unwrap_or_default() {
            if let (Some(d), Some((lo, hi))) = (decl.params.get_mut(param.name), param.range) {
                d.narrow(lo, hi);
                d.check_bounds(param.name).map_err(|why| {
                    let at = positions.origin(&[Key("params"), Key(param.name)]);
                    BadInput::new(format!("{at}: {why} (builtin `{builtin}` accepts {lo}..={hi})"))
                })?;
                if let Some(default) = &d.default {
                    d.check(param.name, default).map_err(|why| {
                        let at = positions.origin(&[Key("params"), Key(param.name), Key("default")]);
                        BadInput::new(format!("{at}: default: {why} (builtin `{builtin}` accepts {lo}..={hi})"))
                    })?;
                }
            }
        }
    }
    Ok((decl, artifact, kernels, None))
}

impl HostSpec {
    /// The template context of this host.
    pub fn context(&self, facts: &Facts) -> Value {
        let mut ctx = Map::new();
        for layer in &self.vars {
            ctx.extend(layer.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let ssh = self.host.ssh.as_ref();
        ctx.insert(
            "host".into(),
            serde_json::json!({
                "name": self.host.name,
                "address": ssh.map(|s| s.address.clone()),
                "port": ssh.map(|s| s.port),
                "user": ssh.map(|s| s.user.clone()),
                "labels": self.host.labels,
                "groups": self.groups,
            }),
        );
        ctx.insert("labels".into(), serde_json::to_value(&self.host.labels).expect("labels serialize"));
        ctx.insert("groups".into(), serde_json::to_value(&self.groups).expect("groups serialize"));
        ctx.insert("facts".into(), serde_json::to_value(facts).expect("facts serialize"));
        Value::Object(ctx)
    }

    /// Whether the scheduler's `kernels:` declares which kernels it supports.
    pub fn declares_kernels(&self) -> bool {
        self.kernels.is_some()
    }

    /// Checks the host's kernel `release` against the scheduler's
    /// `kernels:`; the error is the reason the host is refused.
    pub fn check_kernel(&self, release: &str) -> Result<(), BadInput> {
        let Some((req, at)) = &self.kernels else {
            return Ok(());
        };
        let refuse = |why: String| {
            BadInput::new(format!(
                "host `{}`: {why}; scheduler `{}` supports `kernels: {req}` ({at}), so nothing is changed on this host",
                self.host.name, self.scheduler
            ))
        };
        match req.allows(release) {
            Ok(true) => Ok(()),
            Ok(false) => Err(refuse(format!("kernel `{}` is outside what it supports", release.escape_debug()))),
            Err(why) => Err(refuse(why)),
        }
    }

    /// Checks the host's kernel (see [`HostSpec::check_kernel`]; not with
    /// placeholder facts, which know no kernel), renders the parameters with
    /// `facts` and checks them against the scheduler's declarations.
    pub fn render(&self, templates: &Templates, facts: &Facts) -> Result<HostPlan, BadInput> {
        if facts.kernel_release != PLACEHOLDER_RELEASE {
            self.check_kernel(&facts.kernel_release)?;
        }
        let ctx = self.context(facts);
        let mut params: BTreeMap<String, String> = BTreeMap::new();
        for (name, (value, origin)) in &self.params {
            let decl = &self.decl.params[name];
            let at = |why: String| BadInput::new(format!("{origin}: host `{}`: {why}", self.host.name));
            let value = match value {
                Scalar::Str(text) if template::is_template(text) => {
                    let out = templates
                        .render(text, &ctx)
                        .map_err(|e| at(format!("parameter `{name}`: template `{text}`: {e}")))?;
                    decl.typed(&out)
                }
                other => other.clone(),
            };
            let checked = decl.check(name, &value).map_err(|why| {
                if self.public.contains(name) {
                    at(why)
                } else {
                    at(format!(
                        "parameter `{name}`: its rendered value is not {} (the value is not shown: list `{name}` \
                         under `public:` in fleet.yaml to show it)",
                        decl.expected()
                    ))
                }
            })?;
            params.insert(name.clone(), checked);
        }
        for (name, d) in &self.decl.params {
            if let (false, Some(default)) = (params.contains_key(name), &d.default) {
                params.insert(name.clone(), d.check(name, default).map_err(BadInput::new)?);
            }
        }
        let binary = match &self.binary {
            None => None,
            Some(b) => Some(self.render_binary(b, templates, ctx, &params)?),
        };
        Ok(HostPlan {
            host: self.host.clone(),
            scheduler: self.scheduler.clone(),
            artifact: self.artifact.clone(),
            params,
            public: self.public.clone(),
            binary,
        })
    }

    /// Renders a binary's arguments: templates see the host's context plus
    /// the rendered parameters as `params.NAME`. The rendered list is then
    /// checked against the flags of known schedulers. A message never
    /// shows a rendered value that came from a parameter not declared
    /// public.
    fn render_binary(
        &self,
        b: &BinarySource,
        templates: &Templates,
        mut ctx: Value,
        params: &BTreeMap<String, String>,
    ) -> Result<BinaryPlan, BadInput> {
        let typed: Map<String, Value> = params
            .iter()
            .map(|(k, v)| {
                let value = match self.decl.params[k].typed(v) {
                    Scalar::Bool(b) => Value::from(b),
                    Scalar::Int(i) => Value::from(i),
                    Scalar::UInt(u) => Value::from(u),
                    Scalar::Str(s) => Value::from(s),
                };
                (k.clone(), value)
            })
            .collect();
        ctx.as_object_mut().expect("the context is an object").insert("params".into(), Value::Object(typed));
        let mut args = Vec::with_capacity(b.args.len());
        for (arg, origin) in &b.args {
            args.push(match arg {
                Scalar::Str(text) if template::is_template(text) => templates.render(text, &ctx).map_err(|e| {
                    BadInput::new(format!("{origin}: host `{}`: argument template `{text}`: {e}", self.host.name))
                })?,
                other => arg_text(other),
            });
        }
        if let Some(bad) = args.iter().find(|a| a.contains('\0')) {
            return Err(BadInput::new(format!(
                "host `{}`: scheduler `{}`: an argument renders to text with a NUL byte ({} bytes); fix its template",
                self.host.name,
                self.scheduler,
                bad.len()
            )));
        }
        flags::check(&b.ops_name, &args).map_err(|why| {
            let at = b.args.first().map(|(_, o)| o.to_string()).unwrap_or_default();
            let shown = self.redact_params(&why, params);
            BadInput::new(format!("{at}: host `{}`: scheduler `{}`: {shown}", self.host.name, self.scheduler))
        })?;
        Ok(b.plan(args))
    }

    /// `text` with the values of parameters not declared public replaced.
    fn redact_params(&self, text: &str, params: &BTreeMap<String, String>) -> String {
        let mut out = text.to_owned();
        for (name, value) in params {
            if !self.public.contains(name) && !value.is_empty() {
                out = redact_word(&out, value);
            }
        }
        out
    }
}

/// The kernel release of [`placeholder_facts`]: no kernel at all, so
/// `kernels:` is not checked against it.
const PLACEHOLDER_RELEASE: &str = "placeholder";

/// Facts for rendering when a host's own are not known (`validate` before
/// any `plan` or `apply`): a typical two-socket inference server, 32 cores
/// with two threads each (numbered as Linux numbers them: the second threads
/// from 32), and one NVIDIA GPU on each socket.
pub fn placeholder_facts() -> Facts {
    use schedfleet_proto::{NumaNode, PciGpu};
    let gpu = |pci_address: &str, node: u32, local_cpus: &str| PciGpu {
        pci_address: pci_address.into(),
        vendor: "nvidia".into(),
        vendor_id: "0x10de".into(),
        device_id: "0x2330".into(),
        class: "0x030200".into(),
        numa_node: Some(node),
        local_cpus: local_cpus.into(),
    };
    Facts {
        agent_version: "placeholder".into(),
        kernel_release: PLACEHOLDER_RELEASE.into(),
        arch: "x86_64".into(),
        sched_ext: true,
        btf: true,
        cpus: 64,
        numa_nodes: 2,
        cgroup_version: 2,
        is_root: true,
        numa: vec![NumaNode { id: 0, cpus: "0-15,32-47".into() }, NumaNode { id: 1, cpus: "16-31,48-63".into() }],
        smt_siblings: (0..32).map(|c| format!("{c},{}", c + 32)).collect(),
        gpus: vec![gpu("0000:17:00.0", 0, "0-15,32-47"), gpu("0000:b1:00.0", 1, "16-31,48-63")],
    }
}

#[cfg(test)]
mod secret_tests {
    use super::*;
    use crate::config::Templates;

    const FLEET: &str = "vars: { token: 4242 }\nassignments:\n  - { hosts: all, scheduler: simple, params: { slice_ns: '{{ token * 10 }}' } }\n";

    #[test]
    fn a_rendered_value_that_does_not_fit_is_not_shown_unless_public() {
        let d = crate::testing::desired_with_fleet(1, FLEET);
        let err = d.hosts[0].render(&Templates::default(), &placeholder_facts()).unwrap_err().to_string();
        assert!(!err.contains("42420"), "{err}");
        assert!(err.contains("within 100000..=100000000") && err.contains("public:"), "{err}");

        let public = format!("public: [slice_ns]\n{FLEET}");
        let d = crate::testing::desired_with_fleet(1, &public);
        let err = d.hosts[0].render(&Templates::default(), &placeholder_facts()).unwrap_err().to_string();
        assert!(err.contains("42420"), "a public parameter's value is shown: {err}");
    }

    #[test]
    fn redaction_replaces_whole_words_of_secret_values_only() {
        let fleet = "assignments:\n  - { hosts: all, scheduler: simple, params: { slice_ns: '{{ 300000 + 7 }}' } }\n";
        let d = crate::testing::desired_with_fleet(1, fleet);
        let plan = d.hosts[0].render(&Templates::default(), &placeholder_facts()).unwrap();
        assert_eq!(
            plan.redact("slice_ns=300007 rejected; 3000071 and x300007 are other words"),
            "slice_ns=<redacted> rejected; 3000071 and x300007 are other words"
        );
        let d = crate::testing::desired_with_fleet(1, &format!("public: [slice_ns]\n{fleet}"));
        let plan = d.hosts[0].render(&Templates::default(), &placeholder_facts()).unwrap();
        assert_eq!(plan.redact("slice_ns=300007"), "slice_ns=300007");
    }
}

#[cfg(test)]
mod placeholder_tests {
    use super::*;
    use crate::config::Templates;

    /// `validate` renders GPU-topology templates against the placeholders,
    /// so the examples that use them validate without hosts.
    #[test]
    fn placeholder_facts_offer_gpus_nodes_and_smt_siblings_to_templates() {
        let d = crate::testing::desired_with_fleet(1, "assignments:\n  - { hosts: all, scheduler: simple }\n");
        let ctx = d.hosts[0].context(&placeholder_facts());
        let render = |t: &str| Templates::default().render(t, &ctx).unwrap();
        assert_eq!(render("{{ facts.gpus[0].local_cpus }}"), "0-15,32-47");
        assert_eq!(
            render("{{ facts.gpus | length }} {{ facts.gpus[1].numa_node }} {{ facts.gpus[1].vendor }}"),
            "2 1 nvidia"
        );
        assert_eq!(render("{{ facts.numa[1].cpus }}"), "16-31,48-63");
        assert_eq!(render("{{ facts.smt_siblings[0] }}"), "0,32");
        // docs/config.md's worked example, with and without an NVIDIA GPU.
        let example = "{%- set nv = facts.gpus | selectattr(\"vendor\", \"equalto\", \"nvidia\") | list -%}\n\
            {{ nv[0].local_cpus if nv else \"0-\" ~ (facts.cpus - 1) }}";
        assert_eq!(render(example), "0-15,32-47");
        let mut bare = placeholder_facts();
        bare.gpus.clear();
        let ctx = d.hosts[0].context(&bare);
        assert_eq!(Templates::default().render(example, &ctx).unwrap(), "0-63");
    }
}
