//! The answer cache: upstream responses stored as ready-to-send bytes, with the offsets of their
//! TTL fields and their CNAME targets, so that a hit is a copy and a few patches.
//!
//! Memory is bounded per shard in bytes; eviction is CLOCK (second chance) over an insertion
//! queue, which costs one relaxed atomic store per hit and no reordering under the lock.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hickory_proto::op::Message;

use crate::wire::{
    self, FLAG_AA, FLAG_AD, FLAG_QR, FLAG_RA, FLAG_TC, HEADER_LEN, MASK_OPCODE, Query,
    RCODE_NOERROR, RCODE_NXDOMAIN, TYPE_CNAME, TYPE_OPT, TYPE_SOA, put_u16, put_u32, u16_at,
    u32_at,
};

const SHARDS: usize = 16;
/// Rough cost of a map slot, the `Arc`, and the allocator's overhead per entry.
const ENTRY_OVERHEAD: usize = 160;
/// Cost of an item in the CLOCK queue (key pointer, generation, deque slot).
const QUEUE_ITEM_COST: usize = 40;

/// One cached response.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The response without OPT: ID zero, question name lower-case, TTLs as received.
    bytes: Box<[u8]>,
    /// Where the TTL fields are in `bytes`.
    ttl_offsets: Box<[u16]>,
    /// CNAME targets in the answer section, in presentation form, for the per-client check.
    pub aliases: Box<[Box<str>]>,
    pub rcode: u8,
    /// True for the SERVFAIL we make up when every upstream failed.
    pub failure: bool,
    stored_at: Instant,
    expires: Instant,
    hit: AtomicBool,
}

impl Entry {
    fn cost(&self, key_len: usize) -> usize {
        ENTRY_OVERHEAD
            + key_len
            + self.bytes.len()
            + self.ttl_offsets.len() * 2
            + self.aliases.iter().map(|a| a.len() + 16).sum::<usize>()
    }

    /// Seconds this entry stays fresh from `now`.
    pub fn remaining_ttl(&self, now: Instant) -> u32 {
        u32::try_from(self.expires.saturating_duration_since(now).as_secs()).unwrap_or(u32::MAX)
    }

    /// The bytes with TTLs decremented to `now`, ID zero (for building derived answers).
    /// Still worth caching or serving at `now`.
    pub fn is_fresh(&self, now: Instant) -> bool {
        self.expires > now
    }

    pub fn bytes_at(&self, now: Instant) -> Vec<u8> {
        let mut out = self.bytes.to_vec();
        self.patch_ttls(&mut out, now);
        out
    }

    fn patch_ttls(&self, out: &mut [u8], now: Instant) {
        let elapsed = u32::try_from(now.saturating_duration_since(self.stored_at).as_secs())
            .unwrap_or(u32::MAX);
        for &off in &self.ttl_offsets {
            let off = usize::from(off);
            if let Some(ttl) = u32_at(&self.bytes, off) {
                put_u32(out, off, ttl.saturating_sub(elapsed));
            }
        }
    }

    /// Writes this entry as the answer to `q`: the client's ID, RD/CD and name case, TTLs
    /// counted down, OPT if the client sent one; TC with the question only if it does not fit.
    pub fn write_answer(
        &self,
        out: &mut Vec<u8>,
        q: &Query<'_>,
        now: Instant,
        limit: usize,
        payload: u16,
    ) {
        out.clear();
        out.extend_from_slice(&self.bytes);
        put_u16(out, 0, q.id);
        let stored = u16_at(&self.bytes, 2).unwrap_or(0);
        let client_bits = wire::FLAG_RD | wire::FLAG_CD;
        put_u16(out, 2, (stored & !client_bits) | (q.flags & client_bits));
        let name_end = HEADER_LEN + q.qname.len();
        if let Some(name) = out.get_mut(HEADER_LEN..name_end)
            && name.eq_ignore_ascii_case(q.qname)
        {
            name.copy_from_slice(q.qname);
        }
        self.patch_ttls(out, now);
        wire::finish_edns(out, q, payload, None);
        if out.len() > limit {
            wire::write_question_only(out, q, self.rcode, true, payload);
        }
    }
}

/// Cache size and contents, for tests and status pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Entries held (some may have expired and not yet been dropped).
    pub entries: usize,
    /// Accounted bytes, kept at or below `cache_max_bytes`.
    pub bytes: usize,
}

struct Slot {
    entry: Arc<Entry>,
    generation: u64,
    cost: usize,
}

struct Shard {
    map: HashMap<Arc<[u8]>, Slot>,
    queue: VecDeque<(Arc<[u8]>, u64)>,
    bytes: usize,
    generation: u64,
}

pub(crate) struct Cache {
    shards: Box<[Mutex<Shard>]>,
    shard_max: usize,
    hasher: RandomState,
}

impl Cache {
    pub fn new(max_bytes: usize) -> Self {
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    map: HashMap::new(),
                    queue: VecDeque::new(),
                    bytes: 0,
                    generation: 0,
                })
            })
            .collect();
        Cache {
            shards,
            shard_max: max_bytes / SHARDS,
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, key: &[u8]) -> MutexGuard<'_, Shard> {
        let i = (self.hasher.hash_one(key) as usize) % SHARDS;
        // A panic while holding the lock cannot leave the map inconsistent in a way that
        // matters for a cache, so a poisoned lock is simply taken over.
        match self.shards.get(i).unwrap_or(&self.shards[0]).lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    pub fn get(&self, key: &[u8], now: Instant) -> Option<Arc<Entry>> {
        let mut shard = self.shard(key);
        let slot = shard.map.get(key)?;
        if slot.entry.expires <= now {
            let cost = slot.cost;
            shard.map.remove(key);
            shard.bytes -= cost;
            return None;
        }
        if !slot.entry.hit.load(Ordering::Relaxed) {
            slot.entry.hit.store(true, Ordering::Relaxed);
        }
        Some(slot.entry.clone())
    }

    pub fn insert(&self, key: &[u8], entry: Arc<Entry>, now: Instant) {
        let cost = entry.cost(key.len());
        let queue_cost = QUEUE_ITEM_COST + key.len();
        if cost + queue_cost > self.shard_max {
            return;
        }
        let key: Arc<[u8]> = key.into();
        let mut shard = self.shard(&key);
        let shard = &mut *shard;
        while shard.bytes + cost + queue_cost > self.shard_max {
            let Some((old_key, generation)) = shard.queue.pop_front() else {
                break;
            };
            shard.bytes -= QUEUE_ITEM_COST + old_key.len();
            let Some(slot) = shard.map.get(&old_key) else {
                continue;
            };
            if slot.generation != generation {
                continue;
            }
            if slot.entry.hit.swap(false, Ordering::Relaxed) && slot.entry.expires > now {
                shard.bytes += QUEUE_ITEM_COST + old_key.len();
                shard.queue.push_back((old_key, generation));
                continue;
            }
            let cost = slot.cost;
            shard.map.remove(&old_key);
            shard.bytes -= cost;
        }
        shard.generation += 1;
        let generation = shard.generation;
        if let Some(old) = shard.map.insert(
            key.clone(),
            Slot {
                entry,
                generation,
                cost,
            },
        ) {
            shard.bytes -= old.cost;
        }
        shard.bytes += cost + queue_cost;
        shard.queue.push_back((key, generation));
    }

    pub fn stats(&self) -> CacheStats {
        let mut stats = CacheStats::default();
        for shard in &self.shards {
            let shard = match shard.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            stats.entries += shard.map.len();
            stats.bytes += shard.bytes;
        }
        stats
    }
}

/// Why an upstream response is not usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reject {
    /// Not a well-formed DNS message, or not an answer to our question.
    Malformed,
    /// SERVFAIL, REFUSED, NOTIMP or another RCODE that says "ask someone else".
    Rcode(u8),
    /// TC set: ask again over TCP.
    Truncated,
}

/// Limits applied when caching.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub max_ttl: u32,
}

/// Checks an upstream response to (`qname`, `qtype`, `qclass`) and turns it into an entry.
///
/// hickory-proto validates and re-encodes the whole message first (this is the slow path, once
/// per miss); then a walk over the records finds the TTL fields, the CNAME targets and the SOA of a
/// negative answer. The OPT record is cut off, with any additional records after it, because
/// each client gets its own OPT.
pub(crate) fn build_entry(
    resp: &[u8],
    qname: &[u8],
    qtype: u16,
    qclass: u16,
    now: Instant,
    limits: Limits,
) -> Result<Entry, Reject> {
    if resp.len() > usize::from(u16::MAX) {
        return Err(Reject::Malformed);
    }
    // Re-encoding gives compression pointers that point only at names hickory wrote. An
    // upstream's own pointers could aim into the header or a TTL field, which are patched on
    // every hit, and would then decode differently for each client.
    let canonical = Message::from_vec(resp)
        .ok()
        .and_then(|m| m.to_vec().ok())
        .ok_or(Reject::Malformed)?;
    let resp = canonical.as_slice();
    if resp.len() > usize::from(u16::MAX) {
        return Err(Reject::Malformed);
    }
    let flags = u16_at(resp, 2).ok_or(Reject::Malformed)?;
    if flags & FLAG_QR == 0 || flags & MASK_OPCODE != 0 {
        return Err(Reject::Malformed);
    }
    if flags & FLAG_TC != 0 {
        return Err(Reject::Truncated);
    }
    let rcode = (flags & 0x0F) as u8;
    if rcode != RCODE_NOERROR && rcode != RCODE_NXDOMAIN {
        return Err(Reject::Rcode(rcode));
    }
    if !wire::response_matches(resp, u16_at(resp, 0).unwrap_or(0), qname, qtype, qclass) {
        return Err(Reject::Malformed);
    }
    let count = |at| u16_at(resp, at).unwrap_or(0);
    let (an, ns, ar) = (count(6), count(8), count(10));
    let mut bytes = resp.to_vec();
    let mut pos = HEADER_LEN + qname.len() + 4;
    let mut ttl_offsets = Vec::new();
    let mut aliases = Vec::new();
    let mut min_answer_ttl = u32::MAX;
    let mut negative_ttl: Option<(usize, u32)> = None;
    let mut kept_additional = 0u16;
    let mut end = pos;
    let mut name_buf = Vec::new();
    let mut text = String::new();
    let sections = [(0u8, an), (1, ns), (2, ar)];
    'sections: for (section, n) in sections {
        for _ in 0..n {
            let rec = wire::skip_record(resp, pos).ok_or(Reject::Malformed)?;
            if rec.rtype == TYPE_OPT {
                if section != 2 {
                    return Err(Reject::Malformed);
                }
                break 'sections;
            }
            let ttl_at = rec.ttl_offset();
            let mut ttl = u32_at(resp, ttl_at).ok_or(Reject::Malformed)?;
            // RFC 2181 §8: a TTL with the top bit set means zero.
            if ttl > i32::MAX as u32 {
                ttl = 0;
                put_u32(&mut bytes, ttl_at, 0);
            }
            ttl_offsets.push(u16::try_from(ttl_at).map_err(|_| Reject::Malformed)?);
            match section {
                0 => {
                    min_answer_ttl = min_answer_ttl.min(ttl);
                    if rec.rtype == TYPE_CNAME {
                        wire::read_name(resp, rec.rdata, &mut name_buf).ok_or(Reject::Malformed)?;
                        wire::name_to_text(&name_buf, &mut text);
                        aliases.push(text.as_str().into());
                    }
                }
                1 if rec.rtype == TYPE_SOA && rec.end - rec.rdata >= 22 => {
                    // RFC 2308 §5: negative TTL is the lesser of the SOA's TTL and MINIMUM.
                    let minimum = u32_at(resp, rec.end - 4).ok_or(Reject::Malformed)?;
                    let neg = ttl.min(minimum);
                    if negative_ttl.is_none_or(|(_, t)| neg < t) {
                        negative_ttl = Some((ttl_at, neg));
                    }
                }
                2 => kept_additional += 1,
                _ => {}
            }
            pos = rec.end;
            end = pos;
        }
    }
    bytes.truncate(end);
    put_u16(&mut bytes, 0, 0);
    put_u16(&mut bytes, 10, kept_additional);
    // A forwarder's answer is not authoritative, TC was dealt with, and AD is not ours to
    // vouch for (DO is never set upstream).
    put_u16(
        &mut bytes,
        2,
        (flags & !(FLAG_AA | FLAG_TC | FLAG_AD)) | FLAG_RA,
    );
    let ttl = if rcode == RCODE_NOERROR && an > 0 {
        min_answer_ttl
    } else if let Some((at, neg)) = negative_ttl {
        // Clients see the negative TTL we use, not the SOA's own.
        put_u32(&mut bytes, at, neg);
        neg
    } else {
        // RFC 2308 §5: a negative answer without SOA is not cached.
        0
    };
    let ttl = ttl.min(limits.max_ttl);
    Ok(Entry {
        bytes: bytes.into(),
        ttl_offsets: ttl_offsets.into(),
        aliases: aliases.into(),
        rcode,
        failure: false,
        stored_at: now,
        expires: now + Duration::from_secs(u64::from(ttl)),
        hit: AtomicBool::new(false),
    })
}

/// The SERVFAIL we answer when every upstream failed, cached briefly.
pub(crate) fn failure_entry(
    qname: &[u8],
    qtype: u16,
    qclass: u16,
    now: Instant,
    ttl: u32,
) -> Entry {
    let mut bytes = Vec::with_capacity(HEADER_LEN + qname.len() + 4);
    wire::write_header(
        &mut bytes,
        0,
        FLAG_QR | FLAG_RA | u16::from(wire::RCODE_SERVFAIL),
        [1, 0, 0, 0],
    );
    bytes.extend_from_slice(qname);
    bytes.extend_from_slice(&qtype.to_be_bytes());
    bytes.extend_from_slice(&qclass.to_be_bytes());
    Entry {
        bytes: bytes.into(),
        ttl_offsets: Box::new([]),
        aliases: Box::new([]),
        rcode: wire::RCODE_SERVFAIL,
        failure: true,
        stored_at: now,
        expires: now + Duration::from_secs(u64::from(ttl)),
        hit: AtomicBool::new(false),
    }
}

/// Cache key: kind, type, class, lower-case wire name, and for safe-search the target name.
pub(crate) fn make_key(
    out: &mut Vec<u8>,
    kind: u8,
    qname: &[u8],
    qtype: u16,
    qclass: u16,
    extra: &[u8],
) {
    out.clear();
    out.push(kind);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&qclass.to_be_bytes());
    out.extend(qname.iter().map(u8::to_ascii_lowercase));
    out.extend_from_slice(extra);
}

pub(crate) const KEY_PLAIN: u8 = 0;
pub(crate) const KEY_SAFE_SEARCH: u8 = 1;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Edns, write_header};

    const QNAME: &[u8] = b"\x01a\x04test\x00";

    fn response(id: u16, rcode: u16, records: &[u8], an: u16, ns: u16) -> Vec<u8> {
        let mut r = Vec::new();
        write_header(&mut r, id, FLAG_QR | FLAG_RA | rcode, [1, an, ns, 0]);
        r.extend_from_slice(QNAME);
        r.extend_from_slice(&[0, 1, 0, 1]);
        r.extend_from_slice(records);
        r
    }

    fn a_record(owner: &[u8], ttl: u32) -> Vec<u8> {
        let mut r = owner.to_vec();
        r.extend_from_slice(&[0, 1, 0, 1]);
        r.extend_from_slice(&ttl.to_be_bytes());
        r.extend_from_slice(&[0, 4, 192, 0, 2, 1]);
        r
    }

    fn client(id: u16) -> Query<'static> {
        Query {
            id,
            flags: wire::FLAG_RD,
            qname: QNAME,
            qtype: 1,
            qclass: 1,
            edns: Some(Edns {
                payload: 1232,
                dnssec_ok: false,
                version: 0,
            }),
        }
    }

    const LIMITS: Limits = Limits { max_ttl: 86_400 };

    #[test]
    fn pointer_into_the_header_does_not_survive_id_patching() {
        // With ID 0 the header starts with a zero byte, which reads as the root name, so an
        // upstream could point an owner name at offset 0. Patching the client's ID in would
        // turn that name into garbage; re-encoding removes the pointer.
        let resp = response(0, 0, &a_record(b"\xC0\x00", 300), 1, 0);
        let now = Instant::now();
        let entry = build_entry(&resp, QNAME, 1, 1, now, LIMITS).expect("accepted");
        let mut out = Vec::new();
        entry.write_answer(&mut out, &client(0x1234), now, 1232, 1232);
        let msg = Message::from_vec(&out).expect("the answer still parses");
        assert_eq!(msg.metadata.id, 0x1234);
        assert!(msg.answers[0].name.is_root());
    }

    #[test]
    fn ttl_is_least_answer_ttl_and_negative_ttl_follows_soa() {
        let now = Instant::now();
        let records = [a_record(b"\xC0\x0C", 300), a_record(b"\xC0\x0C", 30)].concat();
        let entry = build_entry(&response(7, 0, &records, 2, 0), QNAME, 1, 1, now, LIMITS)
            .expect("accepted");
        assert_eq!(entry.remaining_ttl(now), 30);
        let mut soa = b"\xC0\x0C\x00\x06\x00\x01\x00\x00\x0e\x10\x00\x18".to_vec();
        soa.extend_from_slice(&[0xC0, 0x0C, 0xC0, 0x0C]);
        soa.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 90]);
        let entry =
            build_entry(&response(7, 3, &soa, 0, 1), QNAME, 1, 1, now, LIMITS).expect("accepted");
        assert_eq!(entry.rcode, RCODE_NXDOMAIN);
        assert_eq!(
            entry.remaining_ttl(now),
            90,
            "min(SOA TTL 3600, MINIMUM 90)"
        );
        // Without SOA a negative answer is not kept.
        let entry =
            build_entry(&response(7, 3, &[], 0, 0), QNAME, 1, 1, now, LIMITS).expect("accepted");
        assert!(!entry.is_fresh(now));
    }

    #[test]
    fn refuses_failures_truncation_and_other_questions() {
        let now = Instant::now();
        let servfail = response(1, 2, &[], 0, 0);
        assert_eq!(
            build_entry(&servfail, QNAME, 1, 1, now, LIMITS).err(),
            Some(Reject::Rcode(2))
        );
        let mut tc = response(1, 0, &[], 0, 0);
        tc[2] |= 0x02;
        assert_eq!(
            build_entry(&tc, QNAME, 1, 1, now, LIMITS).err(),
            Some(Reject::Truncated)
        );
        let ok = response(1, 0, &a_record(b"\xC0\x0C", 60), 1, 0);
        assert_eq!(
            build_entry(&ok, b"\x01b\x04test\x00", 1, 1, now, LIMITS).err(),
            Some(Reject::Malformed)
        );
        assert_eq!(
            build_entry(&ok, QNAME, 28, 1, now, LIMITS).err(),
            Some(Reject::Malformed)
        );
        assert_eq!(
            build_entry(&ok[..ok.len() - 1], QNAME, 1, 1, now, LIMITS).err(),
            Some(Reject::Malformed)
        );
    }

    #[test]
    fn answers_count_ttls_down_and_truncate_to_the_client_limit() {
        let stored = Instant::now();
        let entry = build_entry(
            &response(9, 0, &a_record(b"\xC0\x0C", 300), 1, 0),
            QNAME,
            1,
            1,
            stored,
            LIMITS,
        )
        .expect("accepted");
        let mut out = Vec::new();
        let later = stored + Duration::from_secs(100);
        entry.write_answer(&mut out, &client(5), later, 1232, 1232);
        let msg = Message::from_vec(&out).expect("parses");
        assert_eq!(msg.answers[0].ttl, 200);
        assert!(msg.edns.is_some());
        entry.write_answer(&mut out, &client(5), later, 40, 1232);
        let msg = Message::from_vec(&out).expect("parses");
        assert!(msg.metadata.truncation && msg.answers.is_empty());
    }

    #[test]
    fn memory_bound_holds_under_churn() {
        let max = 16 * 4096;
        let cache = Cache::new(max);
        let now = Instant::now();
        for i in 0..5_000u32 {
            let entry = build_entry(
                &response(1, 0, &a_record(b"\xC0\x0C", 300), 1, 0),
                QNAME,
                1,
                1,
                now,
                LIMITS,
            )
            .expect("accepted");
            cache.insert(&i.to_be_bytes(), Arc::new(entry), now);
            // Touch an early key so CLOCK keeps it.
            cache.get(&0u32.to_be_bytes(), now);
        }
        let stats = cache.stats();
        assert!(stats.bytes <= max, "{stats:?}");
        assert!(stats.entries > 50, "{stats:?}");
        assert!(
            cache.get(&0u32.to_be_bytes(), now).is_some(),
            "a hot entry survives"
        );
        assert!(
            cache.get(&1u32.to_be_bytes(), now).is_none(),
            "a cold one does not"
        );
    }
}
