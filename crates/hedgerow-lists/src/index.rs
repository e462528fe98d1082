//! The compiled list index: every list entry in one finite-state transducer, stored in a file
//! that is used in place (memory-mapped) without parsing.
//!
//! Keys are host names written backwards (`moc.elpmaxe`), so one walk down the transducer
//! visits the entry for every parent of a host, from the top-level domain inwards; a match
//! counts only where the host has a label boundary. URL entries continue the same key past a
//! separator byte with their path, and address entries live under their own prefix byte so an
//! address can never be mistaken for the tail of a name. Each key's value names a *set* of lists
//! (the same domain often appears in several), kept in a small table beside the transducer.
//!
//! File layout (little-endian):
//!
//! ```text
//! 0   magic "HRWIDX01"
//! 8   format version (u32: 2 since URL entries' paths are normalised, see `path`)
//! 12  CRC-32 of every byte from offset 32
//! 16  total file length (u64)   24  metadata length (u32)   28  reserved
//! 32  metadata: lists and list sets, padded to 8 bytes
//! ..  the transducer (fst crate format), to the end of the file
//! ```

use std::collections::HashMap;
use std::net::Ipv4Addr;

use fst::raw::{Fst, Node, Output};

use crate::name::Host;
use crate::source::Entry;
use crate::target::Target;

const MAGIC: &[u8; 8] = b"HRWIDX01";
/// 2: URL entries' paths are stored normalised ([`crate::normalize_path`]); an index of
/// version 1 would miss requests spelled differently, so it is compiled again.
const FORMAT_VERSION: u32 = 2;
const HEADER_LEN: usize = 32;

/// Key prefix for address entries, so they never meet reversed names.
const ADDRESS_PREFIX: u8 = 0x01;
/// Separates a host from a path-prefix entry's path.
const PREFIX_SEPARATOR: u8 = 0x00;
/// Separates a host from an exact-URL entry's path.
const EXACT_SEPARATOR: u8 = 0x02;

/// Position of a list inside one index. Ids are only meaningful for the index that made them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListId(pub u16);

/// Whether a list is an ordinary category list or an illegal-content list, which nothing may
/// allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ListClass {
    Category,
    Illegal,
}

/// What the index knows about one source list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListInfo {
    /// The source list's name, e.g. `adult` for `adult.domains`.
    pub name: String,
    /// The Hedgerow category key this list feeds, from the taxonomy.
    pub category: String,
    pub class: ListClass,
    /// Entries kept from this list.
    pub entries: u32,
}

/// How a target met a list entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    /// The host or one of its parents is listed.
    Domain,
    /// The address literal is listed.
    Address,
    /// A listed path prefix on the host or a parent matched.
    UrlPrefix,
    /// The exact URL is listed.
    ExactUrl,
}

/// One list entry that a target met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    pub list: ListId,
    pub kind: MatchKind,
    /// How many trailing bytes of the host the entry covers (the listed name).
    pub host_len: u16,
    /// How many leading bytes of the path the entry covers (zero for domain matches).
    pub path_len: u16,
}

impl Match {
    /// The list entry that matched, written as it would appear in a list file.
    pub fn entry_text(&self, target: &Target) -> String {
        let host = target.host.as_text();
        let start = host.len().saturating_sub(self.host_len as usize);
        let listed_host = host.get(start..).unwrap_or(&host);
        match (self.kind, &target.path) {
            (MatchKind::UrlPrefix | MatchKind::ExactUrl, Some(path)) => {
                let listed_path = path.get(..self.path_len as usize).unwrap_or(path);
                format!("{listed_host}{listed_path}")
            }
            _ => listed_host.to_string(),
        }
    }
}

/// Why an index could not be built or opened.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("the index file is too short to be an index ({0} bytes); compile the lists again")]
    Truncated(usize),
    #[error("the file is not a Hedgerow list index (wrong magic number); compile the lists again")]
    BadMagic,
    #[error(
        "the index was written by an incompatible version (format {0}, expected {FORMAT_VERSION}); compile the lists again"
    )]
    Version(u32),
    #[error("the index file is damaged (its checksum does not match); compile the lists again")]
    Checksum,
    #[error("the index file is damaged ({0}); compile the lists again")]
    Corrupt(String),
    #[error("too many lists in one index (at most {max})", max = u16::MAX)]
    TooManyLists,
    #[error("building the index failed: {0}")]
    Build(String),
}

/// Collects entries from any number of lists and writes the index bytes.
#[derive(Debug, Default)]
pub struct IndexBuilder {
    lists: Vec<ListInfo>,
    /// All keys, back to back; `keys` points into it. One arena keeps millions of entries to a
    /// few allocations.
    arena: Vec<u8>,
    keys: Vec<KeyRef>,
}

#[derive(Debug, Clone, Copy)]
struct KeyRef {
    offset: u32,
    len: u32,
    list: u16,
}

impl IndexBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a list; its entries are then added with [`IndexBuilder::add`].
    pub fn add_list(
        &mut self,
        name: &str,
        category: &str,
        class: ListClass,
    ) -> Result<ListId, IndexError> {
        let id = u16::try_from(self.lists.len()).map_err(|_| IndexError::TooManyLists)?;
        self.lists.push(ListInfo {
            name: name.to_string(),
            category: category.to_string(),
            class,
            entries: 0,
        });
        Ok(ListId(id))
    }

    /// Adds one entry to a registered list.
    pub fn add(&mut self, list: ListId, entry: &Entry) -> Result<(), IndexError> {
        let offset = u32::try_from(self.arena.len())
            .map_err(|_| IndexError::Build("more than 4 GiB of list keys".into()))?;
        match entry {
            Entry::Domain(host) => push_host_key(&mut self.arena, host),
            Entry::UrlPrefix { host, path } => {
                push_host_key(&mut self.arena, host);
                self.arena.push(PREFIX_SEPARATOR);
                self.arena.extend_from_slice(path.as_bytes());
            }
            Entry::ExactUrl { host, path } => {
                push_host_key(&mut self.arena, host);
                self.arena.push(EXACT_SEPARATOR);
                self.arena.extend_from_slice(path.as_bytes());
            }
        }
        let len = self.arena.len() as u32 - offset;
        self.keys.push(KeyRef {
            offset,
            len,
            list: list.0,
        });
        if let Some(info) = self.lists.get_mut(list.0 as usize) {
            info.entries += 1;
        }
        Ok(())
    }

    /// Number of entries added so far (before duplicates are merged).
    pub fn entry_count(&self) -> usize {
        self.keys.len()
    }

    /// Sorts, merges duplicates and writes the complete index file contents.
    pub fn build(mut self) -> Result<Vec<u8>, IndexError> {
        let arena = &self.arena;
        let key = |k: &KeyRef| &arena[k.offset as usize..(k.offset + k.len) as usize];
        self.keys
            .sort_unstable_by(|a, b| key(a).cmp(key(b)).then(a.list.cmp(&b.list)));

        let mut sets: HashMap<Vec<u16>, u64> = HashMap::new();
        let mut set_order: Vec<Vec<u16>> = Vec::new();
        let mut fst_builder = fst::raw::Builder::memory();
        let mut i = 0;
        let mut members = Vec::new();
        while i < self.keys.len() {
            let current = key(&self.keys[i]);
            members.clear();
            let mut j = i;
            while j < self.keys.len() && key(&self.keys[j]) == current {
                if members.last() != Some(&self.keys[j].list) {
                    members.push(self.keys[j].list);
                }
                j += 1;
            }
            let set_id = match sets.get(&members) {
                Some(id) => *id,
                None => {
                    let id = set_order.len() as u64;
                    sets.insert(members.clone(), id);
                    set_order.push(members.clone());
                    id
                }
            };
            fst_builder
                .insert(current, set_id)
                .map_err(|e| IndexError::Build(e.to_string()))?;
            i = j;
        }
        let fst_bytes = fst_builder
            .into_inner()
            .map_err(|e| IndexError::Build(e.to_string()))?;

        let mut meta = Vec::new();
        put_u32(&mut meta, self.lists.len() as u32);
        for list in &self.lists {
            meta.push(match list.class {
                ListClass::Category => 0,
                ListClass::Illegal => 1,
            });
            put_str(&mut meta, &list.name)?;
            put_str(&mut meta, &list.category)?;
            put_u32(&mut meta, list.entries);
        }
        put_u32(&mut meta, set_order.len() as u32);
        let mut offset = 0u32;
        for set in &set_order {
            put_u32(&mut meta, offset);
            offset += set.len() as u32;
        }
        put_u32(&mut meta, offset);
        for set in &set_order {
            for id in set {
                meta.extend_from_slice(&id.to_le_bytes());
            }
        }
        while meta.len() % 8 != 0 {
            meta.push(0);
        }

        let mut out = Vec::with_capacity(HEADER_LEN + meta.len() + fst_bytes.len());
        out.extend_from_slice(MAGIC);
        put_u32(&mut out, FORMAT_VERSION);
        put_u32(&mut out, 0); // checksum, filled in below
        out.extend_from_slice(&((HEADER_LEN + meta.len() + fst_bytes.len()) as u64).to_le_bytes());
        put_u32(&mut out, meta.len() as u32);
        put_u32(&mut out, 0);
        out.extend_from_slice(&meta);
        out.extend_from_slice(&fst_bytes);
        let crc = crc32fast::hash(&out[HEADER_LEN..]);
        out[12..16].copy_from_slice(&crc.to_le_bytes());
        Ok(out)
    }
}

fn push_host_key(arena: &mut Vec<u8>, host: &Host) {
    match host {
        Host::Name(name) => arena.extend(name.bytes().rev()),
        Host::Ipv4(addr) => {
            arena.push(ADDRESS_PREFIX);
            arena.extend_from_slice(addr.to_string().as_bytes());
        }
        Host::Ipv6(addr) => {
            arena.push(ADDRESS_PREFIX);
            arena.extend_from_slice(addr.to_string().as_bytes());
        }
    }
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, value: &str) -> Result<(), IndexError> {
    let len = u16::try_from(value.len())
        .map_err(|_| IndexError::Build(format!("name too long: {value:?}")))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(value.as_bytes());
    Ok(())
}

/// Storage behind an open index: a memory map or an owned buffer.
pub type IndexBytes = Box<dyn AsRef<[u8]> + Send + Sync>;

/// The transducer's view of the storage: the tail of the file after the metadata.
struct FstBytes {
    data: IndexBytes,
    start: usize,
}

impl AsRef<[u8]> for FstBytes {
    fn as_ref(&self) -> &[u8] {
        &(*self.data).as_ref()[self.start..]
    }
}

/// An open, immutable index. Cheap to query from many threads at once.
pub struct ListIndex {
    lists: Vec<ListInfo>,
    set_offsets: Vec<u32>,
    set_members: Vec<u16>,
    fst: Fst<FstBytes>,
    size: usize,
    damaged: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for ListIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListIndex")
            .field("lists", &self.lists.len())
            .field("keys", &self.fst.len())
            .field("bytes", &self.size)
            .finish()
    }
}

impl ListIndex {
    /// Opens an index from its bytes, checking the header and checksum first so that a damaged
    /// file is refused rather than misread.
    pub fn open(data: IndexBytes) -> Result<Self, IndexError> {
        let bytes = (*data).as_ref();
        check_header(bytes.get(..HEADER_LEN).unwrap_or(bytes), bytes.len() as u64)?;
        if crc32fast::hash(&bytes[HEADER_LEN..]) != read_u32(bytes, 12)? {
            return Err(IndexError::Checksum);
        }
        Self::open_checked(data)
    }

    /// Opens an index whose checksum the caller has already verified with [`verify_stream`].
    ///
    /// The catalog verifies a memory-mapped file by reading it rather than through the map, so
    /// that verification does not pull the whole file into the process's resident memory while
    /// the old index is still in use.
    pub fn open_checked(data: IndexBytes) -> Result<Self, IndexError> {
        let bytes = (*data).as_ref();
        let size = bytes.len();
        check_header(bytes.get(..HEADER_LEN).unwrap_or(bytes), size as u64)?;
        let meta_len = read_u32(bytes, 24)? as usize;
        let meta_end = HEADER_LEN
            .checked_add(meta_len)
            .filter(|end| *end <= size)
            .ok_or_else(|| IndexError::Corrupt("metadata runs past the end".into()))?;
        let (lists, set_offsets, set_members) = read_meta(&bytes[HEADER_LEN..meta_end])?;
        let fst = Fst::new(FstBytes {
            data,
            start: meta_end,
        })
        .map_err(|e| IndexError::Corrupt(e.to_string()))?;
        let index = ListIndex {
            lists,
            set_offsets,
            set_members,
            fst,
            size,
            damaged: std::sync::atomic::AtomicBool::new(false),
        };
        index.check_values()?;
        Ok(index)
    }

    /// Opens an index held in memory (tests, and the compiler's self-check).
    pub fn from_vec(bytes: Vec<u8>) -> Result<Self, IndexError> {
        Self::open(Box::new(bytes))
    }

    /// Set members must name real lists. Keys are not walked here (that would cost a pass over
    /// millions of keys at every load); the checksum covers them, and lookups treat an unknown
    /// set as no match.
    fn check_values(&self) -> Result<(), IndexError> {
        let members_ok = self.set_offsets.windows(2).all(|w| w[0] <= w[1])
            && self
                .set_offsets
                .last()
                .is_none_or(|last| *last as usize == self.set_members.len())
            && self
                .set_members
                .iter()
                .all(|id| (*id as usize) < self.lists.len());
        if !members_ok {
            return Err(IndexError::Corrupt("list sets are inconsistent".into()));
        }
        Ok(())
    }

    /// The lists in this index, by [`ListId`].
    pub fn lists(&self) -> &[ListInfo] {
        &self.lists
    }

    pub fn list(&self, id: ListId) -> Option<&ListInfo> {
        self.lists.get(id.0 as usize)
    }

    /// Number of distinct keys (entries after merging duplicates).
    pub fn key_count(&self) -> u64 {
        self.fst.len() as u64
    }

    /// Size of the index file in bytes.
    pub fn byte_size(&self) -> usize {
        self.size
    }

    /// Appends to `out` every list entry the target meets, most general host first.
    ///
    /// A file that passed its checksum can still be malformed inside (a forged checksum, or a
    /// compiler bug), and the transducer library panics on such data. The walk is therefore
    /// fenced: a panic leaves `out` as it was and marks the index damaged, and callers must treat
    /// a damaged index as unable to vouch for anything (the policy engine blocks).
    pub fn lookup(&self, target: &Target, out: &mut Vec<Match>) {
        let before = out.len();
        let walked =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.walk(target, out)));
        if walked.is_err() {
            out.truncate(before);
            self.damaged
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// True once a lookup has met malformed data inside the index; see [`ListIndex::lookup`].
    pub fn is_damaged(&self) -> bool {
        self.damaged.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn walk(&self, target: &Target, out: &mut Vec<Match>) {
        let path = target.path.as_deref().map(str::as_bytes);
        match &target.host {
            Host::Name(name) => self.walk_name(name.as_bytes(), path, out),
            Host::Ipv4(addr) => {
                let mut buf = [0u8; 16];
                let text = ipv4_text(*addr, &mut buf);
                self.walk_address(text, path, out);
            }
            Host::Ipv6(addr) => self.walk_address(addr.to_string().as_bytes(), path, out),
        }
    }

    fn walk_name(&self, name: &[u8], path: Option<&[u8]>, out: &mut Vec<Match>) {
        let fst = &self.fst;
        let mut node = fst.root();
        let mut acc = Output::zero();
        let len = name.len();
        for consumed in 1..=len {
            let byte = name[len - consumed];
            match node.find_input(byte) {
                Some(i) => {
                    let t = node.transition(i);
                    acc = acc.cat(t.out);
                    node = fst.node(t.addr);
                }
                None => return,
            }
            let at_boundary = consumed == len || name[len - consumed - 1] == b'.';
            if !at_boundary {
                continue;
            }
            let host_len = consumed as u16;
            if node.is_final() {
                self.push_set(
                    acc.cat(node.final_output()),
                    MatchKind::Domain,
                    host_len,
                    0,
                    out,
                );
            }
            if let Some(path) = path {
                self.walk_path(node, acc, PREFIX_SEPARATOR, path, host_len, out);
                if consumed == len {
                    self.walk_path(node, acc, EXACT_SEPARATOR, path, host_len, out);
                }
            }
        }
    }

    fn walk_address(&self, text: &[u8], path: Option<&[u8]>, out: &mut Vec<Match>) {
        let fst = &self.fst;
        let mut node = fst.root();
        let mut acc = Output::zero();
        for byte in std::iter::once(ADDRESS_PREFIX).chain(text.iter().copied()) {
            match node.find_input(byte) {
                Some(i) => {
                    let t = node.transition(i);
                    acc = acc.cat(t.out);
                    node = fst.node(t.addr);
                }
                None => return,
            }
        }
        let host_len = text.len() as u16;
        if node.is_final() {
            self.push_set(
                acc.cat(node.final_output()),
                MatchKind::Address,
                host_len,
                0,
                out,
            );
        }
        if let Some(path) = path {
            self.walk_path(node, acc, PREFIX_SEPARATOR, path, host_len, out);
            self.walk_path(node, acc, EXACT_SEPARATOR, path, host_len, out);
        }
    }

    /// From the node for a host, follows a separator and the path. Prefix entries match at any
    /// point along the path; exact entries only at its end.
    fn walk_path(
        &self,
        from: Node<'_>,
        mut acc: Output,
        separator: u8,
        path: &[u8],
        host_len: u16,
        out: &mut Vec<Match>,
    ) {
        let fst = &self.fst;
        let Some(i) = from.find_input(separator) else {
            return;
        };
        let t = from.transition(i);
        acc = acc.cat(t.out);
        let mut node = fst.node(t.addr);
        let exact = separator == EXACT_SEPARATOR;
        for (at, byte) in path.iter().enumerate() {
            match node.find_input(*byte) {
                Some(i) => {
                    let t = node.transition(i);
                    acc = acc.cat(t.out);
                    node = fst.node(t.addr);
                }
                None => return,
            }
            let is_end = at + 1 == path.len();
            if node.is_final() && (!exact || is_end) {
                let kind = if exact {
                    MatchKind::ExactUrl
                } else {
                    MatchKind::UrlPrefix
                };
                let path_len = u16::try_from(at + 1).unwrap_or(u16::MAX);
                self.push_set(acc.cat(node.final_output()), kind, host_len, path_len, out);
            }
        }
    }

    /// Up to `per_list` entries of each list, as targets that meet them, indexed by
    /// [`ListId`]: what a self-test asks the policy about. The same index always gives the
    /// same samples (the first entries in key order, so names sorted by their last labels).
    ///
    /// The walk stops once every list has its samples, so a large index is read through only
    /// when some list cannot fill its quota. Illegal-content lists are sampled like any other;
    /// a caller that records samples must keep to [`ListIndex::entries_within`] for those,
    /// since their real entries are not to be written anywhere.
    pub fn sample_entries(&self, per_list: usize) -> Vec<Vec<Target>> {
        self.collect_entries(&[], per_list)
    }

    /// Up to `per_list` entries of each list that lie within `domain` (the name itself or
    /// below it), indexed by [`ListId`]: the check entries that the illegal-content lists
    /// carry on a reserved test domain, found without reading anything outside it.
    pub fn entries_within(&self, domain: &str, per_list: usize) -> Vec<Vec<Target>> {
        let prefix: Vec<u8> = domain
            .trim_end_matches('.')
            .to_ascii_lowercase()
            .bytes()
            .rev()
            .collect();
        if prefix.is_empty() {
            return vec![Vec::new(); self.lists.len()];
        }
        self.collect_entries(&prefix, per_list)
    }

    /// Walks the keys starting with `prefix` (all keys for an empty one) and keeps, for each
    /// list, the first `per_list` whose host is at a label boundary of the prefix. Fenced as
    /// [`ListIndex::lookup`] is: malformed data marks the index damaged and ends the walk.
    fn collect_entries(&self, prefix: &[u8], per_list: usize) -> Vec<Vec<Target>> {
        use fst::{IntoStreamer, Streamer};
        let mut samples: Vec<Vec<Target>> = vec![Vec::new(); self.lists.len()];
        if per_list == 0 {
            return samples;
        }
        // A list is full once it has its quota or all of its entries.
        let quota: Vec<usize> = self
            .lists
            .iter()
            .map(|l| per_list.min(l.entries as usize))
            .collect();
        let mut wanting = quota.iter().filter(|q| **q > 0).count();
        let walked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut builder = self.fst.range().ge(prefix);
            if let Some(end) = prefix_end(prefix) {
                builder = builder.lt(end);
            }
            let mut stream = builder.into_stream();
            while wanting > 0
                && let Some((key, output)) = stream.next()
            {
                let Some(target) = key_target(key, prefix) else {
                    continue;
                };
                let set = output.value() as usize;
                let (Some(start), Some(end)) =
                    (self.set_offsets.get(set), self.set_offsets.get(set + 1))
                else {
                    continue;
                };
                let Some(members) = self.set_members.get(*start as usize..*end as usize) else {
                    continue;
                };
                for list in members {
                    let list = *list as usize;
                    let (Some(taken), Some(quota)) = (samples.get_mut(list), quota.get(list))
                    else {
                        continue;
                    };
                    if taken.len() < *quota {
                        taken.push(target.clone());
                        if taken.len() == *quota {
                            wanting -= 1;
                        }
                    }
                }
            }
        }));
        if walked.is_err() {
            self.damaged
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        samples
    }

    fn push_set(
        &self,
        set: Output,
        kind: MatchKind,
        host_len: u16,
        path_len: u16,
        out: &mut Vec<Match>,
    ) {
        let set = set.value() as usize;
        // Bounds were checked when the index was opened; `get` keeps a damaged map harmless.
        let (Some(start), Some(end)) = (self.set_offsets.get(set), self.set_offsets.get(set + 1))
        else {
            return;
        };
        if let Some(members) = self.set_members.get(*start as usize..*end as usize) {
            out.extend(members.iter().map(|list| Match {
                list: ListId(*list),
                kind,
                host_len,
                path_len,
            }));
        }
    }
}

/// The smallest key greater than every key starting with `prefix`; `None` for no bound.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The target a key stands for, if its host lies within the reversed-name `prefix` at a label
/// boundary (any key for an empty prefix). Keys that are not valid text are skipped.
fn key_target(key: &[u8], prefix: &[u8]) -> Option<Target> {
    let host_end = key
        .iter()
        .position(|b| *b == PREFIX_SEPARATOR || *b == EXACT_SEPARATOR)
        .unwrap_or(key.len());
    let (host_key, rest) = key.split_at(host_end);
    let at_boundary = prefix.is_empty()
        || host_key.len() == prefix.len()
        || host_key.get(prefix.len()) == Some(&b'.');
    if !at_boundary {
        return None;
    }
    let host = match host_key.split_first() {
        Some((&ADDRESS_PREFIX, text)) => {
            let text = std::str::from_utf8(text).ok()?;
            match text.parse::<std::net::IpAddr>().ok()? {
                std::net::IpAddr::V4(v4) => Host::Ipv4(v4),
                std::net::IpAddr::V6(v6) => Host::Ipv6(v6),
            }
        }
        _ => Host::Name(String::from_utf8(host_key.iter().rev().copied().collect()).ok()?),
    };
    let path = match rest.split_first() {
        Some((_, path)) => Some(String::from_utf8(path.to_vec()).ok()?),
        None => None,
    };
    Some(Target { host, path })
}

/// Checks magic, version and recorded length.
fn check_header(header: &[u8], actual_len: u64) -> Result<(), IndexError> {
    if header.len() < HEADER_LEN {
        return Err(IndexError::Truncated(header.len()));
    }
    if &header[..8] != MAGIC {
        return Err(IndexError::BadMagic);
    }
    let version = read_u32(header, 8)?;
    if version != FORMAT_VERSION {
        return Err(IndexError::Version(version));
    }
    let stored_len = u64::from_le_bytes(header[16..24].try_into().unwrap_or_default());
    if stored_len != actual_len {
        return Err(IndexError::Truncated(actual_len as usize));
    }
    Ok(())
}

/// Verifies an index file's header and checksum by reading it from start to end.
///
/// `len` is the file's length as the file system reports it.
pub fn verify_stream(mut reader: impl std::io::Read, len: u64) -> Result<(), IndexError> {
    let mut header = [0u8; HEADER_LEN];
    reader
        .read_exact(&mut header)
        .map_err(|_| IndexError::Truncated(len as usize))?;
    check_header(&header, len)?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut seen = HEADER_LEN as u64;
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| IndexError::Corrupt(format!("reading failed: {e}")))?;
        if n == 0 {
            break;
        }
        seen += n as u64;
        hasher.update(&buf[..n]);
    }
    if seen != len {
        return Err(IndexError::Truncated(seen as usize));
    }
    if hasher.finalize() != read_u32(&header, 12)? {
        return Err(IndexError::Checksum);
    }
    Ok(())
}

fn ipv4_text(addr: Ipv4Addr, buf: &mut [u8; 16]) -> &[u8] {
    use std::io::Write;
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    let [a, b, c, d] = addr.octets();
    // 15 bytes at most ("255.255.255.255"), so this cannot run out of room.
    let _ = write!(cursor, "{a}.{b}.{c}.{d}");
    let len = cursor.position() as usize;
    &buf[..len]
}

fn read_u32(bytes: &[u8], at: usize) -> Result<u32, IndexError> {
    bytes
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| IndexError::Corrupt("metadata ends early".into()))
}

struct MetaReader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl MetaReader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], IndexError> {
        let slice = self
            .bytes
            .get(self.at..self.at.saturating_add(n))
            .ok_or_else(|| IndexError::Corrupt("metadata ends early".into()))?;
        self.at += n;
        Ok(slice)
    }
    fn u32(&mut self) -> Result<u32, IndexError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().unwrap_or_default(),
        ))
    }
    fn u16(&mut self) -> Result<u16, IndexError> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().unwrap_or_default(),
        ))
    }
    fn string(&mut self) -> Result<String, IndexError> {
        let len = self.u16()? as usize;
        String::from_utf8(self.take(len)?.to_vec())
            .map_err(|_| IndexError::Corrupt("a list name is not UTF-8".into()))
    }
}

type Meta = (Vec<ListInfo>, Vec<u32>, Vec<u16>);

fn read_meta(bytes: &[u8]) -> Result<Meta, IndexError> {
    let mut r = MetaReader { bytes, at: 0 };
    let list_count = r.u32()? as usize;
    if list_count > u16::MAX as usize + 1 {
        return Err(IndexError::TooManyLists);
    }
    let mut lists = Vec::with_capacity(list_count);
    for _ in 0..list_count {
        let class = match r.take(1)?[0] {
            0 => ListClass::Category,
            1 => ListClass::Illegal,
            other => return Err(IndexError::Corrupt(format!("unknown list class {other}"))),
        };
        let name = r.string()?;
        let category = r.string()?;
        let entries = r.u32()?;
        lists.push(ListInfo {
            name,
            category,
            class,
            entries,
        });
    }
    let set_count = r.u32()? as usize;
    // Each offset takes 4 bytes, so a count larger than the metadata is a lie.
    if set_count > bytes.len() / 4 {
        return Err(IndexError::Corrupt("too many list sets".into()));
    }
    let mut offsets = Vec::with_capacity(set_count + 1);
    for _ in 0..=set_count {
        offsets.push(r.u32()?);
    }
    let member_count = offsets.last().copied().unwrap_or(0) as usize;
    let raw = r.take(member_count.saturating_mul(2))?;
    let members = raw
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    Ok((lists, offsets, members))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{ListFormat, parse_list};

    fn index(lists: &[(&str, ListClass, ListFormat, &str)]) -> ListIndex {
        let mut builder = IndexBuilder::new();
        for (name, class, format, text) in lists {
            let id = builder.add_list(name, "uncategorised", *class).unwrap();
            let mut entries = Vec::new();
            let errors = parse_list(text.as_bytes(), *format, |e| entries.push(e));
            assert!(errors.is_empty(), "{errors:?}");
            for entry in &entries {
                builder.add(id, entry).unwrap();
            }
        }
        ListIndex::from_vec(builder.build().unwrap()).unwrap()
    }

    fn texts(targets: &[Target]) -> Vec<String> {
        targets
            .iter()
            .map(|t| format!("{}{}", t.host.as_text(), t.path.as_deref().unwrap_or("")))
            .collect()
    }

    #[test]
    fn samples_are_real_entries_of_each_list_in_key_order() {
        let index = index(&[
            (
                "games",
                ListClass::Category,
                ListFormat::Domains,
                "play.example\nzzz.example.org\ngames.example.com\n10.1.2.3\n",
            ),
            (
                "chat",
                ListClass::Category,
                ListFormat::Urls,
                "talk.example/rooms\nplay.example\n",
            ),
            ("empty", ListClass::Category, ListFormat::Domains, ""),
        ]);
        let samples = index.sample_entries(2);
        assert_eq!(samples.len(), 3);
        // Reversed names sort by their last labels: `...com` before `...elpmaxe` before
        // `...gro`; address entries (prefix byte 1) come first of all.
        assert_eq!(texts(&samples[0]), vec!["10.1.2.3", "play.example"]);
        assert_eq!(
            texts(&samples[1]),
            vec!["talk.example/rooms", "play.example"]
        );
        assert!(samples[2].is_empty());
        // Every sample meets its own list, so it tests that list.
        for (list, targets) in samples.iter().enumerate() {
            for target in targets {
                let mut found = Vec::new();
                index.lookup(target, &mut found);
                assert!(
                    found.iter().any(|m| m.list.0 as usize == list),
                    "{target:?} does not meet list {list}"
                );
            }
        }
        // The same index gives the same samples, and a larger quota takes everything.
        assert_eq!(index.sample_entries(2), samples);
        assert_eq!(index.sample_entries(10)[0].len(), 4);
        assert!(index.sample_entries(0).iter().all(Vec::is_empty));
    }

    #[test]
    fn entries_within_a_domain_stay_inside_it() {
        let index = index(&[
            (
                "illegal-test",
                ListClass::Illegal,
                ListFormat::ExactUrls,
                "check.hedgerow.test\nillegal-content-check.hedgerow.test/iwf/check-image.jpg\nreal.example\nxhedgerow.test\n",
            ),
            (
                "games",
                ListClass::Category,
                ListFormat::Domains,
                "hedgerow.test\nplay.example\n",
            ),
        ]);
        let within = index.entries_within("Hedgerow.Test.", 10);
        assert_eq!(
            texts(&within[0]),
            vec![
                "check.hedgerow.test",
                "illegal-content-check.hedgerow.test/iwf/check-image.jpg"
            ]
        );
        assert_eq!(texts(&within[1]), vec!["hedgerow.test"]);
        let mut found = Vec::new();
        index.lookup(&within[0][1], &mut found);
        assert!(found.iter().any(|m| m.kind == MatchKind::ExactUrl));
        assert!(index.entries_within("", 10).iter().all(Vec::is_empty));
        assert!(
            index
                .entries_within("nothing.test", 10)
                .iter()
                .all(Vec::is_empty)
        );
    }

    #[test]
    fn prefix_ends_are_the_next_key_up() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[b'a', 0xff]), Some(b"b".to_vec()));
        assert_eq!(prefix_end(&[0xff]), None);
        assert_eq!(prefix_end(b""), None);
    }
}
