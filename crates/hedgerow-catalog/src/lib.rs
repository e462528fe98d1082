//! Finds list files on disk, compiles them into an index file, and maps index files for use.
//!
//! This is the I/O side of `hedgerow-lists`. It understands three layouts, which may be mixed
//! in one folder:
//!
//! - flat files `NAME.domains`, `NAME.urls` and `NAME.hosts` (the shared data set's layout);
//! - squidGuard/UT1 folders `NAME/domains` and `NAME/urls`;
//! - any of the above marked in the taxonomy with a format of their own (illegal-content lists
//!   arrive as exact URLs).
//!
//! Compilation never disturbs the index in use: the new file is written beside it and renamed
//! into place only when every list read cleanly enough, and a list file that could not be read
//! at all stops the compilation.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hedgerow_lists::{
    IndexBuilder, IndexError, LineError, ListClass, ListFormat, ListIndex, Taxonomy, parse_list,
};

/// A list file that is more than this share broken is treated as the wrong file, not a file
/// with a few bad lines.
const MAX_BROKEN_SHARE: f64 = 0.5;

/// Why compiling or opening failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read the list folder {path}: {source}; check that it exists and is readable")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the list file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the list file {path} is broken ({broken} of {lines} lines unreadable, first: {first}); the index in use was kept; fix or remove the file and compile again"
    )]
    BrokenFile {
        path: PathBuf,
        broken: usize,
        lines: usize,
        first: LineError,
    },
    #[error(
        "no list files were found in {0:?}; point --lists at a folder of .domains/.urls files or squidGuard category folders"
    )]
    NoLists(Vec<PathBuf>),
    #[error("cannot write the index to {path}: {source}; check free space and permissions")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the index {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the index {path} cannot be used: {source}")]
    Index { path: PathBuf, source: IndexError },
    #[error("{0}")]
    Build(#[from] IndexError),
}

/// One list file found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The list's name: the file stem or the category folder's name.
    pub list: String,
    pub path: PathBuf,
    pub format: ListFormat,
}

/// What compiling produced and what it skipped.
#[derive(Debug)]
pub struct CompileReport {
    pub files: Vec<FileReport>,
    /// Distinct lists in the index.
    pub lists: usize,
    /// Entries read, before duplicates were merged.
    pub entries: usize,
    pub bytes: Vec<u8>,
    pub elapsed: Duration,
}

/// One file's outcome.
#[derive(Debug)]
pub struct FileReport {
    pub source: SourceFile,
    pub entries: usize,
    /// Lines skipped, with reasons.
    pub errors: Vec<LineError>,
}

/// Finds the list files in the given folders, in a stable order.
pub fn discover(folders: &[PathBuf]) -> Result<Vec<SourceFile>, CatalogError> {
    let mut found = Vec::new();
    for folder in folders {
        let entries = fs::read_dir(folder).map_err(|source| CatalogError::Folder {
            path: folder.clone(),
            source,
        })?;
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            if path.is_dir() {
                // squidGuard/UT1 layout: CATEGORY/domains and CATEGORY/urls.
                let Some(list) = path.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                for (file, format) in [("domains", ListFormat::Domains), ("urls", ListFormat::Urls)]
                {
                    let candidate = path.join(file);
                    if candidate.is_file() {
                        found.push(SourceFile {
                            list: list.to_string(),
                            path: candidate,
                            format,
                        });
                    }
                }
            } else if let Some(source) = flat_file(&path) {
                found.push(source);
            }
        }
    }
    Ok(found)
}

fn flat_file(path: &Path) -> Option<SourceFile> {
    let stem = path.file_stem()?.to_str()?;
    let format = match path.extension()?.to_str()? {
        "domains" => ListFormat::Domains,
        "urls" => ListFormat::Urls,
        "hosts" => ListFormat::Hosts,
        _ => return None,
    };
    Some(SourceFile {
        list: stem.to_string(),
        path: path.to_path_buf(),
        format,
    })
}

/// Reads every list in `folders` and builds index bytes, classifying lists by `taxonomy`.
///
/// Broken lines are skipped and reported; a file that cannot be read, or is mostly broken,
/// fails the whole compilation so that a bad download never replaces a good index.
pub fn compile(folders: &[PathBuf], taxonomy: &Taxonomy) -> Result<CompileReport, CatalogError> {
    let started = Instant::now();
    let sources = discover(folders)?;
    if sources.is_empty() {
        return Err(CatalogError::NoLists(folders.to_vec()));
    }
    let mut builder = IndexBuilder::new();
    let mut list_ids = std::collections::HashMap::new();
    let mut files = Vec::with_capacity(sources.len());
    for source in sources {
        let rule = taxonomy.rule_for(&source.list);
        let id = match list_ids.get(&source.list) {
            Some(id) => *id,
            None => {
                let id = builder.add_list(&source.list, &rule.category, rule.class)?;
                list_ids.insert(source.list.clone(), id);
                id
            }
        };
        // Illegal-content lists are delivered as exact URLs, whatever their file is called.
        let format = match (rule.format, rule.class, source.format) {
            (Some(format), _, _) => format,
            (None, ListClass::Illegal, ListFormat::Urls) => ListFormat::ExactUrls,
            (None, _, format) => format,
        };
        let bytes = fs::read(&source.path).map_err(|e| CatalogError::File {
            path: source.path.clone(),
            source: e,
        })?;
        let mut entries = Vec::new();
        let errors = parse_list(&bytes, format, |entry| entries.push(entry));
        let lines = entries.len() + errors.len();
        if !errors.is_empty() && (errors.len() as f64) > MAX_BROKEN_SHARE * lines as f64 {
            return Err(CatalogError::BrokenFile {
                path: source.path,
                broken: errors.len(),
                lines,
                first: errors[0].clone(),
            });
        }
        for entry in &entries {
            builder.add(id, entry)?;
        }
        files.push(FileReport {
            source,
            entries: entries.len(),
            errors,
        });
    }
    let entries = builder.entry_count();
    let lists = list_ids.len();
    let bytes = builder.build()?;
    Ok(CompileReport {
        files,
        lists,
        entries,
        bytes,
        elapsed: started.elapsed(),
    })
}

/// Writes an index file so that readers see either the old file or the complete new one.
pub fn write_index(path: &Path, bytes: &[u8]) -> Result<(), CatalogError> {
    let write_err = |source| CatalogError::Write {
        path: path.to_path_buf(),
        source,
    };
    // Check before replacing anything: an index that does not open must never be installed.
    ListIndex::from_vec(bytes.to_vec()).map_err(|source| CatalogError::Index {
        path: path.to_path_buf(),
        source,
    })?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(write_err)?;
    let tmp = path.with_extension("hidx.tmp");
    {
        let mut file = fs::File::create(&tmp).map_err(write_err)?;
        file.write_all(bytes).map_err(write_err)?;
        file.sync_all().map_err(write_err)?;
    }
    fs::rename(&tmp, path).map_err(write_err)?;
    // Persist the rename itself; without this a power cut can leave the old name in place.
    if let Ok(dir) = fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Maps an index file into memory and opens it, without parsing its contents.
///
/// The checksum is verified by reading the file, not through the map, so that only pages the
/// lookups actually touch become resident; replacing a running index therefore costs little
/// more memory than the index being replaced.
pub fn open_index(path: &Path) -> Result<ListIndex, CatalogError> {
    let open_err = |source| CatalogError::Open {
        path: path.to_path_buf(),
        source,
    };
    let file = fs::File::open(path).map_err(open_err)?;
    let len = file.metadata().map_err(open_err)?.len();
    hedgerow_lists::verify_stream(std::io::BufReader::new(&file), len).map_err(|source| {
        CatalogError::Index {
            path: path.to_path_buf(),
            source,
        }
    })?;
    // SAFETY: the file is only ever replaced by rename (see `write_index`), never written in
    // place, so the mapped bytes cannot change underneath us while the map is alive.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(open_err)?;
    if map.len() as u64 != len {
        return Err(CatalogError::Index {
            path: path.to_path_buf(),
            source: IndexError::Truncated(map.len()),
        });
    }
    ListIndex::open_checked(Box::new(map)).map_err(|source| CatalogError::Index {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hedgerow_lists::Target;

    fn taxonomy() -> Taxonomy {
        Taxonomy::parse(
            "[sources]\ngames = \"online-games\"\nadult = \"pornography\"\niwf-test = { category = \"illegal-child-abuse\", class = \"illegal\" }\n",
        )
        .unwrap()
    }

    fn lists_of(index: &ListIndex, url: &str) -> Vec<String> {
        let mut out = Vec::new();
        index.lookup(&Target::parse(url).unwrap(), &mut out);
        out.iter()
            .map(|m| index.list(m.list).unwrap().name.clone())
            .collect()
    }

    #[test]
    fn flat_and_squidguard_layouts_compile_and_map() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("games.domains"), "play.example\n").unwrap();
        fs::write(dir.path().join("README.md"), "not a list").unwrap();
        fs::create_dir(dir.path().join("adult")).unwrap();
        fs::write(dir.path().join("adult/domains"), "x.example\n").unwrap();
        fs::write(dir.path().join("adult/urls"), "y.example/p\n").unwrap();
        fs::write(dir.path().join("iwf-test.urls"), "bad.example/a.jpg\n").unwrap();

        let report = compile(&[dir.path().to_path_buf()], &taxonomy()).unwrap();
        assert_eq!(report.lists, 3);
        let out = dir.path().join("out/index.hidx");
        write_index(&out, &report.bytes).unwrap();
        let index = open_index(&out).unwrap();
        assert_eq!(lists_of(&index, "www.play.example"), vec!["games"]);
        assert_eq!(lists_of(&index, "http://y.example/p/q"), vec!["adult"]);
        assert_eq!(
            lists_of(&index, "http://bad.example/a.jpg"),
            vec!["iwf-test"]
        );
        assert!(
            lists_of(&index, "http://bad.example/a.jpg.html").is_empty(),
            "illegal .urls are exact"
        );
        let iwf = index.lists().iter().find(|l| l.name == "iwf-test").unwrap();
        assert_eq!(iwf.class, ListClass::Illegal);
        assert_eq!(iwf.category, "illegal-child-abuse");
    }

    #[test]
    fn broken_lines_are_reported_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("games.domains"),
            "a.example\nb..example\nc.example\nd.example\n",
        )
        .unwrap();
        let report = compile(&[dir.path().to_path_buf()], &taxonomy()).unwrap();
        let file = &report.files[0];
        assert_eq!(file.entries, 3);
        assert_eq!(file.errors[0].line, 2);
        assert!(file.source.path.ends_with("games.domains"));
    }

    #[test]
    fn a_broken_file_never_replaces_the_index_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let lists = dir.path().join("lists");
        fs::create_dir(&lists).unwrap();
        fs::write(lists.join("games.domains"), "play.example\n").unwrap();
        let index_path = dir.path().join("index.hidx");
        write_index(
            &index_path,
            &compile(std::slice::from_ref(&lists), &taxonomy())
                .unwrap()
                .bytes,
        )
        .unwrap();
        let before = fs::read(&index_path).unwrap();

        // A download that went wrong: binary junk instead of a list.
        fs::write(
            lists.join("adult.domains"),
            b"\x00\x01<html>\n<body>\n\xff\xfe\n",
        )
        .unwrap();
        let err = compile(std::slice::from_ref(&lists), &taxonomy()).unwrap_err();
        assert!(matches!(err, CatalogError::BrokenFile { .. }), "{err}");
        assert!(err.to_string().contains("adult.domains"), "{err}");
        assert_eq!(fs::read(&index_path).unwrap(), before);
        assert_eq!(
            lists_of(&open_index(&index_path).unwrap(), "play.example"),
            vec!["games"]
        );
    }

    #[test]
    fn damaged_index_files_are_refused_on_open() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("games.domains"), "play.example\n").unwrap();
        let report = compile(&[dir.path().to_path_buf()], &taxonomy()).unwrap();
        let path = dir.path().join("index.hidx");
        let mut bytes = report.bytes.clone();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(open_index(&path), Err(CatalogError::Index { .. })));
        fs::write(&path, &report.bytes[..report.bytes.len() - 3]).unwrap();
        assert!(matches!(open_index(&path), Err(CatalogError::Index { .. })));
        assert!(matches!(
            open_index(&dir.path().join("missing")),
            Err(CatalogError::Open { .. })
        ));
    }

    #[test]
    fn missing_folders_and_empty_folders_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = compile(&[dir.path().join("nope")], &taxonomy()).unwrap_err();
        assert!(
            err.to_string().contains("cannot read the list folder"),
            "{err}"
        );
        let err = compile(&[dir.path().to_path_buf()], &taxonomy()).unwrap_err();
        assert!(matches!(err, CatalogError::NoLists(_)));
    }
}
