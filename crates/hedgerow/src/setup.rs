//! Loading what every command shares: the configuration file, with its paths resolved, and the
//! engine snapshot built from it and the compiled index.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use hedgerow_config::Config;
use hedgerow_identity::Directory;
use hedgerow_lists::{ListIndex, Taxonomy};
use hedgerow_policy::Engine;

/// The name of the configuration file inside a data directory (written by `demo`).
pub const CONFIG_IN_DATA_DIR: &str = "hedgerow.toml";

/// The taxonomy shipped with Hedgerow, used when the configuration names none.
pub const BUILTIN_TAXONOMY: &str = include_str!("../../../lists/taxonomy.toml");

/// The illegal-content check lists shipped with Hedgerow, installed into the data directory
/// when the configuration names no illegal-list folder.
const BUILTIN_ILLEGAL_LISTS: &[(&str, &str)] = &[
    (
        "iwf-test.urls",
        include_str!("../../../lists/illegal/iwf-test.urls"),
    ),
    (
        "ctiru-test.urls",
        include_str!("../../../lists/illegal/ctiru-test.urls"),
    ),
];

/// The entries of the shipped illegal check lists, as request targets: what the start-up
/// self-check asks every group about.
pub fn builtin_illegal_checks() -> Vec<hedgerow_lists::Target> {
    use hedgerow_lists::{Entry, ListFormat, Target};
    let mut targets = Vec::new();
    for (_, text) in BUILTIN_ILLEGAL_LISTS {
        hedgerow_lists::parse_list(text.as_bytes(), ListFormat::ExactUrls, |entry| {
            targets.push(match entry {
                Entry::Domain(host) => Target::host_only(host),
                Entry::UrlPrefix { host, path } | Entry::ExactUrl { host, path } => Target {
                    host,
                    path: Some(path),
                },
            })
        });
    }
    targets
}

/// Lists every deployment compiles in, whatever list folders it names: the ways around the
/// filter (Private Relay, public DNS-over-HTTPS resolvers) that no school wants open.
const BUILTIN_LISTS: &[(&str, &str)] = &[(
    "circumvention-builtin.domains",
    include_str!("../../../lists/builtin/circumvention-builtin.domains"),
)];

/// Where a command finds its configuration: a file, or a data directory holding one.
#[derive(Args, Clone, Debug, Default)]
pub struct Source {
    /// The configuration file.
    #[arg(long, value_name = "FILE", conflicts_with = "data_dir")]
    pub config: Option<PathBuf>,
    /// A data directory made by `hedgerow demo` (its configuration is DIR/hedgerow.toml).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// A checked configuration with every path made absolute.
pub struct ConfigFile {
    pub path: PathBuf,
    pub config: Config,
    pub data_dir: PathBuf,
    pub list_folders: Vec<PathBuf>,
    pub illegal_folders: Vec<PathBuf>,
    /// `None`: the built-in taxonomy.
    pub taxonomy_path: Option<PathBuf>,
    pub index_path: PathBuf,
    pub database_url: String,
}

impl ConfigFile {
    pub fn load(source: &Source) -> anyhow::Result<Self> {
        let path = match (&source.config, &source.data_dir) {
            (Some(file), _) => file.clone(),
            (None, Some(dir)) => dir.join(CONFIG_IN_DATA_DIR),
            (None, None) => bail!(
                "say which configuration to use: --config FILE, or --data-dir DIR for a demo data directory"
            ),
        };
        Self::read(&path)
    }

    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!("cannot read the configuration file {}; check the path (a demo data directory holds {CONFIG_IN_DATA_DIR})", path.display())
        })?;
        let config = Config::parse(&text)
            .map_err(|errors| anyhow::anyhow!("{} has problems:\n{errors}", path.display()))?;
        let base = path
            .canonicalize()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("."));
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let data_dir = resolve(&config.data_dir);
        // The configuration crate's default store sits in the data directory as written; keep it
        // there once the directory is resolved against the configuration file's folder.
        let database_url = if config.database_url == sqlite_url(&config.data_dir) {
            sqlite_url(&data_dir)
        } else {
            config.database_url.clone()
        };
        let illegal_folders = if config.lists.illegal.is_empty() {
            vec![data_dir.join("lists").join("illegal")]
        } else {
            config.lists.illegal.iter().map(|p| resolve(p)).collect()
        };
        Ok(ConfigFile {
            path: path.to_path_buf(),
            list_folders: config.lists.sources.iter().map(|p| resolve(p)).collect(),
            illegal_folders,
            taxonomy_path: config.lists.taxonomy.as_deref().map(resolve),
            index_path: resolve(&config.lists.index),
            database_url,
            data_dir,
            config,
        })
    }

    /// Applies `serve`'s command-line overrides. A new data directory also moves the index and
    /// the SQLite store when the configuration left them at their defaults inside it.
    pub fn apply_overrides(&mut self, run: &crate::RunOptions) {
        if let Some(dir) = &run.data_dir {
            if self.index_path == self.data_dir.join("lists.hidx") {
                self.index_path = dir.join("lists.hidx");
            }
            if self.database_url == sqlite_url(&self.data_dir) {
                self.database_url = sqlite_url(dir);
            }
            if self.config.lists.illegal.is_empty() {
                self.illegal_folders = vec![dir.join("lists").join("illegal")];
            }
            self.data_dir = dir.clone();
        }
        if let Some(lists) = &run.lists {
            self.list_folders = vec![lists.clone()];
        }
    }

    pub fn taxonomy(&self) -> anyhow::Result<Taxonomy> {
        match &self.taxonomy_path {
            Some(path) => crate::lists::load_taxonomy(path),
            None => Ok(
                Taxonomy::parse(BUILTIN_TAXONOMY).context("the built-in taxonomy is invalid")?
            ),
        }
    }

    /// Installs the built-in lists into the data directory: always the circumvention list, and
    /// the illegal check lists when the configuration names no illegal-list folder of its own.
    pub fn ensure_builtin_lists(&self) -> anyhow::Result<()> {
        install_lists(&self.builtin_folder(), BUILTIN_LISTS)?;
        if self.config.lists.illegal.is_empty() {
            install_lists(&self.illegal_folders[0], BUILTIN_ILLEGAL_LISTS)?;
        }
        Ok(())
    }

    fn builtin_folder(&self) -> PathBuf {
        self.data_dir.join("lists").join("builtin")
    }

    /// Every folder that is compiled into the index.
    pub fn all_list_folders(&self) -> Vec<PathBuf> {
        self.list_folders
            .iter()
            .chain(&self.illegal_folders)
            .cloned()
            .chain(std::iter::once(self.builtin_folder()))
            .collect()
    }
}

/// The default store: an SQLite file in the data directory.
fn sqlite_url(data_dir: &Path) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("hedgerow.db").display()
    )
}

/// Writes shipped list files into a folder, leaving files that already match alone (so their
/// times do not make the index look stale).
fn install_lists(folder: &Path, files: &[(&str, &str)]) -> anyhow::Result<()> {
    std::fs::create_dir_all(folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    for (name, text) in files {
        let path = folder.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(*text) {
            std::fs::write(&path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(())
}

/// Everything a decision needs, built together and replaced together.
pub struct Snapshot {
    pub index: Arc<ListIndex>,
    pub directory: Directory,
    pub engines: HashMap<String, Engine>,
}

impl Snapshot {
    /// Opens the compiled index and compiles every school's policy against it.
    pub fn build(config: &ConfigFile) -> anyhow::Result<Snapshot> {
        let index = hedgerow_catalog::open_index(&config.index_path).with_context(|| {
            format!(
                "the list index {} is not usable; run `hedgerow lists compile --config {}`",
                config.index_path.display(),
                config.path.display()
            )
        })?;
        Self::with_index(config, Arc::new(index))
    }

    pub fn with_index(config: &ConfigFile, index: Arc<ListIndex>) -> anyhow::Result<Snapshot> {
        Self::with_index_and_changes(config, index, &HashMap::new())
    }

    /// As [`Snapshot::with_index`], with the policy changes in force applied on top of each
    /// school's configured policy (change control: see `live_policy.rs`).
    pub fn with_index_and_changes(
        config: &ConfigFile,
        index: Arc<ListIndex>,
        changes: &crate::live_policy::ActiveChanges,
    ) -> anyhow::Result<Snapshot> {
        let directory = config
            .config
            .directory()
            .context("the configured users and devices are inconsistent")?;
        let mut engines = HashMap::new();
        for school in &config.config.schools {
            // Change control: the changes in force, applied to the configured policy. Should
            // the result not compile against these lists, the configured policy is used alone.
            let changed = crate::live_policy::apply_changes(
                &school.policy,
                changes.get(&school.policy.school),
            );
            let engine = match Engine::new(changed, Arc::clone(&index)) {
                Ok(engine) => engine,
                Err(e) => {
                    if changes
                        .get(&school.policy.school)
                        .is_some_and(|c| !c.is_empty())
                    {
                        tracing::warn!(school = %school.policy.school, "the policy changes in force do not fit these lists ({e}); using the configured policy alone");
                    }
                    Engine::new(school.policy.clone(), Arc::clone(&index)).with_context(|| {
                        format!(
                            "the policy of school {:?} cannot be used",
                            school.policy.school
                        )
                    })?
                }
            };
            engines.insert(school.policy.school.clone(), engine);
        }
        Ok(Snapshot {
            index,
            directory,
            engines,
        })
    }

    pub fn engine(&self, school: &str) -> anyhow::Result<&Engine> {
        self.engines
            .get(school)
            .with_context(|| format!("there is no school {school:?} in the configuration"))
    }
}

/// `hedgerow config check FILE`.
pub fn check_config(path: &Path) -> anyhow::Result<ExitCode> {
    let config = ConfigFile::read(path)?;
    let taxonomy = config.taxonomy()?;
    let groups: usize = config
        .config
        .schools
        .iter()
        .map(|s| s.policy.groups.len())
        .sum();
    let devices: usize = config
        .config
        .schools
        .iter()
        .map(|s| s.directory.devices.len())
        .sum();
    let users: usize = config
        .config
        .schools
        .iter()
        .map(|s| s.directory.users.len())
        .sum();
    println!(
        "{}: OK: {} school(s), {groups} groups, {devices} devices, {users} users; {} list folder(s), taxonomy of {} source lists",
        path.display(),
        config.config.schools.len(),
        config.list_folders.len(),
        taxonomy.sources.len()
    );
    // The built-in illegal check lists are installed at first start, so their folder may not
    // exist yet; any other missing folder is worth a warning.
    let builtin_illegal = config.config.lists.illegal.is_empty();
    for folder in config.all_list_folders() {
        let installed_later = (builtin_illegal && config.illegal_folders.contains(&folder))
            || folder == config.builtin_folder();
        if !folder.is_dir() && !installed_later {
            println!(
                "warning: the list folder {} does not exist yet",
                folder.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
