//! DNS wire format on the fast path: reading a query's header, question and OPT record straight
//! from the packet, and writing small responses straight into a byte buffer.
//!
//! Every read goes through `get`, so a short or lying packet ends in `None`/an error, never in
//! a panic. Names in questions must not be compressed (nothing precedes them to point at), and
//! when names elsewhere are followed, a pointer must point strictly backwards, which bounds the
//! walk and rules out loops.

use std::fmt::Write as _;

pub(crate) const HEADER_LEN: usize = 12;
pub(crate) const MAX_NAME_LEN: usize = 255;

pub(crate) const TYPE_A: u16 = 1;
pub(crate) const TYPE_CNAME: u16 = 5;
pub(crate) const TYPE_SOA: u16 = 6;
pub(crate) const TYPE_AAAA: u16 = 28;
pub(crate) const TYPE_OPT: u16 = 41;
pub(crate) const TYPE_IXFR: u16 = 251;
pub(crate) const TYPE_AXFR: u16 = 252;
pub(crate) const CLASS_IN: u16 = 1;

pub(crate) const RCODE_NOERROR: u8 = 0;
pub(crate) const RCODE_FORMERR: u8 = 1;
pub(crate) const RCODE_SERVFAIL: u8 = 2;
pub(crate) const RCODE_NXDOMAIN: u8 = 3;
pub(crate) const RCODE_NOTIMP: u8 = 4;
pub(crate) const RCODE_REFUSED: u8 = 5;
/// Extended RCODE 16: the high 8 bits (1) go in the OPT TTL, the low 4 bits (0) in the header.
pub(crate) const EXT_RCODE_BADVERS: u16 = 16;

pub(crate) const FLAG_QR: u16 = 0x8000;
pub(crate) const MASK_OPCODE: u16 = 0x7800;
pub(crate) const FLAG_AA: u16 = 0x0400;
pub(crate) const FLAG_TC: u16 = 0x0200;
pub(crate) const FLAG_RD: u16 = 0x0100;
pub(crate) const FLAG_RA: u16 = 0x0080;
pub(crate) const FLAG_AD: u16 = 0x0020;
pub(crate) const FLAG_CD: u16 = 0x0010;

/// EDNS option code of Extended DNS Errors (RFC 8914).
pub(crate) const EDNS_OPTION_EDE: u16 = 15;
/// EDE INFO-CODE "Censored": blocked because of an external requirement (illegal lists).
pub(crate) const EDE_CENSORED: u16 = 16;
/// EDE INFO-CODE "Filtered": blocked because the client's own policy asks for it.
pub(crate) const EDE_FILTERED: u16 = 17;
/// Longest EDE EXTRA-TEXT sent; keeps every block answer well inside 512 bytes.
const MAX_EDE_TEXT: usize = 128;

pub(crate) fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes(s.try_into().ok()?))
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(s.try_into().ok()?))
}

pub(crate) fn put_u16(b: &mut [u8], at: usize, v: u16) {
    if let Some(s) = b.get_mut(at..at + 2) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

pub(crate) fn put_u32(b: &mut [u8], at: usize, v: u32) {
    if let Some(s) = b.get_mut(at..at + 4) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

/// The client's EDNS(0) parameters, from its OPT record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Edns {
    pub payload: u16,
    pub dnssec_ok: bool,
    pub version: u8,
}

/// A query's parts the server needs, borrowed from the packet.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Query<'a> {
    pub id: u16,
    pub flags: u16,
    /// The question name in wire form with its terminating zero, in the client's case (0x20).
    pub qname: &'a [u8],
    pub qtype: u16,
    pub qclass: u16,
    pub edns: Option<Edns>,
}

/// The same, owned, for queries that wait for an upstream.
#[derive(Clone, Debug)]
pub(crate) struct OwnedQuery {
    pub id: u16,
    pub flags: u16,
    pub qname: Box<[u8]>,
    pub qtype: u16,
    pub qclass: u16,
    pub edns: Option<Edns>,
}

impl OwnedQuery {
    pub fn borrow(&self) -> Query<'_> {
        Query {
            id: self.id,
            flags: self.flags,
            qname: &self.qname,
            qtype: self.qtype,
            qclass: self.qclass,
            edns: self.edns,
        }
    }
}

impl Query<'_> {
    pub fn to_owned(self) -> OwnedQuery {
        OwnedQuery {
            id: self.id,
            flags: self.flags,
            qname: self.qname.into(),
            qtype: self.qtype,
            qclass: self.qclass,
            edns: self.edns,
        }
    }

    /// Largest response this client takes over UDP: 512 without EDNS (RFC 1035), else what it
    /// advertises, but never below 512 (RFC 6891) nor above our own limit.
    pub fn udp_limit(&self, max_udp_payload: u16) -> usize {
        match self.edns {
            None => 512,
            Some(e) => usize::from(e.payload.clamp(512, max_udp_payload.max(512))),
        }
    }
}

/// What to do with a packet that is not a well-formed query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// Too broken to answer (shorter than a header) or not a query (QR=1): say nothing, so
    /// responses cannot be bounced between servers.
    Drop,
    /// Answer with this RCODE and an empty body, echoing ID, opcode and RD.
    Reply { id: u16, flags: u16, rcode: u8 },
}

/// Reads a query: header, the single question, and the OPT record if any.
pub(crate) fn parse_query(p: &[u8]) -> Result<Query<'_>, ParseError> {
    let (Some(id), Some(flags)) = (u16_at(p, 0), u16_at(p, 2)) else {
        return Err(ParseError::Drop);
    };
    if p.len() < HEADER_LEN || flags & FLAG_QR != 0 {
        return Err(ParseError::Drop);
    }
    let reply = |rcode| ParseError::Reply { id, flags, rcode };
    if flags & MASK_OPCODE != 0 {
        return Err(reply(RCODE_NOTIMP));
    }
    let formerr = reply(RCODE_FORMERR);
    let count = |at| u16_at(p, at).unwrap_or(0);
    let (qd, an, ns, ar) = (count(4), count(6), count(8), count(10));
    if qd != 1 {
        return Err(formerr);
    }
    let name_end = question_name_end(p, HEADER_LEN).ok_or(formerr)?;
    let qname = p.get(HEADER_LEN..name_end).ok_or(formerr)?;
    let qtype = u16_at(p, name_end).ok_or(formerr)?;
    let qclass = u16_at(p, name_end + 2).ok_or(formerr)?;
    let mut pos = name_end + 4;
    // Queries rarely carry answer or authority records, but when they do they must be skipped
    // correctly to find the OPT record.
    for _ in 0..(u32::from(an) + u32::from(ns)) {
        pos = skip_record(p, pos).ok_or(formerr)?.end;
    }
    let mut edns = None;
    for _ in 0..ar {
        let rec = skip_record(p, pos).ok_or(formerr)?;
        if rec.rtype == TYPE_OPT {
            // RFC 6891: one OPT, owned by the root; anything else is a FORMERR.
            if edns.is_some() || rec.name_end != pos + 1 {
                return Err(formerr);
            }
            let ttl = u32_at(p, rec.name_end + 4).ok_or(formerr)?;
            edns = Some(Edns {
                payload: rec.class,
                dnssec_ok: ttl & 0x8000 != 0,
                version: (ttl >> 16) as u8,
            });
        }
        pos = rec.end;
    }
    Ok(Query {
        id,
        flags,
        qname,
        qtype,
        qclass,
        edns,
    })
}

/// End of an uncompressed name starting at `pos`, checking label and name lengths.
fn question_name_end(p: &[u8], mut pos: usize) -> Option<usize> {
    let start = pos;
    loop {
        let len = usize::from(*p.get(pos)?);
        if len == 0 {
            return Some(pos + 1);
        }
        // 0xC0 is a pointer, 0x40/0x80 are obsolete extended labels: none belong in a question.
        if len > 63 {
            return None;
        }
        pos += 1 + len;
        if pos - start >= MAX_NAME_LEN || pos > p.len() {
            return None;
        }
    }
}

/// The fixed parts of one resource record, located without following compression.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordSpan {
    pub name_end: usize,
    pub rtype: u16,
    pub class: u16,
    pub rdata: usize,
    pub end: usize,
}

impl RecordSpan {
    pub fn ttl_offset(&self) -> usize {
        self.name_end + 4
    }
}

/// Position after a possibly compressed name (a pointer ends it; it is not followed).
pub(crate) fn skip_name(p: &[u8], mut pos: usize) -> Option<usize> {
    let start = pos;
    loop {
        let len = *p.get(pos)?;
        match len & 0xC0 {
            0x00 if len == 0 => return Some(pos + 1),
            0x00 => {
                pos += 1 + usize::from(len);
                if pos - start >= MAX_NAME_LEN || pos >= p.len() {
                    return None;
                }
            }
            0xC0 => return (pos + 2 <= p.len()).then_some(pos + 2),
            _ => return None,
        }
    }
}

pub(crate) fn skip_record(p: &[u8], pos: usize) -> Option<RecordSpan> {
    let name_end = skip_name(p, pos)?;
    let rtype = u16_at(p, name_end)?;
    let class = u16_at(p, name_end + 2)?;
    let rdlen = usize::from(u16_at(p, name_end + 8)?);
    let rdata = name_end + 10;
    let end = rdata + rdlen;
    (end <= p.len()).then_some(RecordSpan {
        name_end,
        rtype,
        class,
        rdata,
        end,
    })
}

/// Reads a possibly compressed name into uncompressed, lower-cased wire form (with the
/// terminating zero). Pointers must point strictly before the label that holds them, so every
/// hop goes backwards and the walk ends.
pub(crate) fn read_name(p: &[u8], mut pos: usize, out: &mut Vec<u8>) -> Option<()> {
    out.clear();
    loop {
        let len = *p.get(pos)?;
        match len & 0xC0 {
            0x00 if len == 0 => {
                out.push(0);
                return Some(());
            }
            0x00 => {
                let label = p.get(pos + 1..pos + 1 + usize::from(len))?;
                out.push(len);
                out.extend(label.iter().map(u8::to_ascii_lowercase));
                if out.len() >= MAX_NAME_LEN {
                    return None;
                }
                pos += 1 + usize::from(len);
            }
            0xC0 => {
                let target = usize::from(u16_at(p, pos)? & 0x3FFF);
                if target >= pos {
                    return None;
                }
                pos = target;
            }
            _ => return None,
        }
    }
}

/// Writes a wire-form name in presentation form, lower-cased, without the trailing dot.
/// Dots and backslashes inside labels and bytes outside printable ASCII are escaped as in
/// RFC 1035 (`\.`, `\\`, `\DDD`), so that a label cannot smuggle in a fake parent domain.
pub(crate) fn name_to_text(wire: &[u8], out: &mut String) {
    out.clear();
    let mut pos = 0;
    while let Some(&len) = wire.get(pos) {
        if len == 0 || len > 63 {
            break;
        }
        let Some(label) = wire.get(pos + 1..pos + 1 + usize::from(len)) else {
            break;
        };
        if !out.is_empty() {
            out.push('.');
        }
        for &b in label {
            match b {
                b'.' | b'\\' => {
                    out.push('\\');
                    out.push(char::from(b));
                }
                0x21..=0x7E => out.push(char::from(b.to_ascii_lowercase())),
                _ => {
                    let _ = write!(out, "\\{b:03}");
                }
            }
        }
        pos += 1 + usize::from(len);
    }
    if out.is_empty() {
        out.push('.');
    }
}

/// Converts a policy-given host name (dotted, no escapes) to lower-case wire form.
pub(crate) fn text_to_name(text: &str) -> Option<Vec<u8>> {
    let text = text.strip_suffix('.').unwrap_or(text);
    let mut out = Vec::with_capacity(text.len() + 2);
    if !text.is_empty() {
        for label in text.split('.') {
            let len = u8::try_from(label.len())
                .ok()
                .filter(|l| (1..=63).contains(l))?;
            if !label.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') {
                return None;
            }
            out.push(len);
            out.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
        }
    }
    out.push(0);
    (out.len() <= MAX_NAME_LEN).then_some(out)
}

/// Response flags for a query: QR, the query's opcode, RD and CD, RA, and the RCODE.
pub(crate) fn response_flags(query_flags: u16, rcode: u8) -> u16 {
    FLAG_QR | (query_flags & (MASK_OPCODE | FLAG_RD | FLAG_CD)) | FLAG_RA | u16::from(rcode & 0x0F)
}

pub(crate) fn write_header(out: &mut Vec<u8>, id: u16, flags: u16, counts: [u16; 4]) {
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    for c in counts {
        out.extend_from_slice(&c.to_be_bytes());
    }
}

/// A header-only answer (FORMERR, NOTIMP, REFUSED to a packet we did not read further).
pub(crate) fn write_error(out: &mut Vec<u8>, id: u16, query_flags: u16, rcode: u8) {
    out.clear();
    write_header(out, id, response_flags(query_flags, rcode), [0; 4]);
}

/// Extended DNS Error to attach to an OPT record.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ede<'a> {
    pub code: u16,
    pub text: &'a str,
}

/// Appends our OPT record: our payload size, the extended RCODE, DO echoed (RFC 3225), and an
/// optional EDE option.
pub(crate) fn write_opt(
    out: &mut Vec<u8>,
    payload: u16,
    ext_rcode: u16,
    dnssec_ok: bool,
    ede: Option<Ede<'_>>,
) {
    out.push(0);
    out.extend_from_slice(&TYPE_OPT.to_be_bytes());
    out.extend_from_slice(&payload.to_be_bytes());
    out.push((ext_rcode >> 4) as u8);
    out.push(0);
    out.extend_from_slice(&(if dnssec_ok { 0x8000u16 } else { 0 }).to_be_bytes());
    match ede {
        None => out.extend_from_slice(&0u16.to_be_bytes()),
        Some(ede) => {
            let text = truncate_utf8(ede.text, MAX_EDE_TEXT);
            let opt_len = 2 + text.len() as u16;
            out.extend_from_slice(&(opt_len + 4).to_be_bytes());
            out.extend_from_slice(&EDNS_OPTION_EDE.to_be_bytes());
            out.extend_from_slice(&opt_len.to_be_bytes());
            out.extend_from_slice(&ede.code.to_be_bytes());
            out.extend_from_slice(text.as_bytes());
        }
    }
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// Header and question of a response, with an empty body; counts are patched by the caller.
pub(crate) fn write_question_reply(out: &mut Vec<u8>, q: &Query<'_>, flags: u16) {
    out.clear();
    write_header(out, q.id, flags, [1, 0, 0, 0]);
    out.extend_from_slice(q.qname);
    out.extend_from_slice(&q.qtype.to_be_bytes());
    out.extend_from_slice(&q.qclass.to_be_bytes());
}

/// Adds the OPT record when the client sent one, bumping ARCOUNT.
pub(crate) fn finish_edns(out: &mut Vec<u8>, q: &Query<'_>, payload: u16, ede: Option<Ede<'_>>) {
    if let Some(e) = q.edns {
        write_opt(out, payload, 0, e.dnssec_ok, ede);
        let ar = u16_at(out, 10).unwrap_or(0).wrapping_add(1);
        put_u16(out, 10, ar);
    }
}

/// A response with only the question (and OPT), for an answer too big for the client's UDP
/// limit (TC=1) or for errors that carry the question (SERVFAIL, REFUSED).
pub(crate) fn write_question_only(
    out: &mut Vec<u8>,
    q: &Query<'_>,
    rcode: u8,
    truncated: bool,
    payload: u16,
) {
    let mut flags = response_flags(q.flags, rcode);
    if truncated {
        flags |= FLAG_TC;
    }
    write_question_reply(out, q, flags);
    finish_edns(out, q, payload, None);
}

/// BADVERS for an EDNS version we do not speak (RFC 6891 §6.1.3).
pub(crate) fn write_badvers(out: &mut Vec<u8>, q: &Query<'_>, payload: u16) {
    write_question_reply(out, q, response_flags(q.flags, 0));
    write_opt(out, payload, EXT_RCODE_BADVERS, false, None);
    put_u16(out, 10, 1);
}

/// How a blocked name is answered.
#[derive(Clone, Copy, Debug)]
pub(crate) enum BlockAnswer {
    Address { v4: [u8; 4], v6: [u8; 16] },
    NxDomain,
}

/// Writes the answer for a blocked name: the configured address for A/AAAA, NODATA for other
/// types, or NXDOMAIN; plus the EDE when the client speaks EDNS.
pub(crate) fn write_block(
    out: &mut Vec<u8>,
    q: &Query<'_>,
    answer: BlockAnswer,
    ttl: u32,
    payload: u16,
    ede: Ede<'_>,
) {
    let (rcode, rdata): (u8, &[u8]) = match &answer {
        BlockAnswer::NxDomain => (RCODE_NXDOMAIN, &[]),
        BlockAnswer::Address { v4, .. } if q.qtype == TYPE_A && q.qclass == CLASS_IN => {
            (RCODE_NOERROR, v4)
        }
        BlockAnswer::Address { v6, .. } if q.qtype == TYPE_AAAA && q.qclass == CLASS_IN => {
            (RCODE_NOERROR, v6)
        }
        BlockAnswer::Address { .. } => (RCODE_NOERROR, &[]),
    };
    write_address_answer(out, q, rcode, rdata, ttl, payload, Some(ede));
}

/// Writes the answer for a client held at the access portal: `v4` for A, `v6` for AAAA when
/// there is one, NODATA otherwise; with an EDE saying why when the client speaks EDNS.
pub(crate) fn write_portal(
    out: &mut Vec<u8>,
    q: &Query<'_>,
    v4: [u8; 4],
    v6: Option<[u8; 16]>,
    ttl: u32,
    payload: u16,
    ede: Ede<'_>,
) {
    let rdata: &[u8] = match (q.qtype, q.qclass, &v6) {
        (TYPE_A, CLASS_IN, _) => &v4,
        (TYPE_AAAA, CLASS_IN, Some(v6)) => v6,
        _ => &[],
    };
    write_address_answer(out, q, RCODE_NOERROR, rdata, ttl, payload, Some(ede));
}

/// Header, question, at most one address record of the question's type, and the OPT.
fn write_address_answer(
    out: &mut Vec<u8>,
    q: &Query<'_>,
    rcode: u8,
    rdata: &[u8],
    ttl: u32,
    payload: u16,
    ede: Option<Ede<'_>>,
) {
    write_question_reply(out, q, response_flags(q.flags, rcode));
    if !rdata.is_empty() {
        // Owner is a pointer to the question name at offset 12.
        out.extend_from_slice(&[0xC0, 0x0C]);
        out.extend_from_slice(&q.qtype.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&ttl.to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(rdata);
        put_u16(out, 6, 1);
    }
    finish_edns(out, q, payload, ede);
}

/// A query for an upstream: RD set, EDNS with our payload size, DO clear (the filter rewrites
/// answers, so it cannot pass DNSSEC through meaningfully).
pub(crate) fn write_upstream_query(
    out: &mut Vec<u8>,
    id: u16,
    qname: &[u8],
    qtype: u16,
    qclass: u16,
    payload: u16,
) {
    out.clear();
    write_header(out, id, FLAG_RD, [1, 0, 0, 1]);
    out.extend_from_slice(qname);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&qclass.to_be_bytes());
    write_opt(out, payload, 0, false, None);
}

/// Does `resp` answer our query `id` for this question? Checked before anything else is read.
pub(crate) fn response_matches(
    resp: &[u8],
    id: u16,
    qname: &[u8],
    qtype: u16,
    qclass: u16,
) -> bool {
    let (Some(rid), Some(flags), Some(qd)) = (u16_at(resp, 0), u16_at(resp, 2), u16_at(resp, 4))
    else {
        return false;
    };
    if rid != id || flags & FLAG_QR == 0 || flags & MASK_OPCODE != 0 || qd != 1 {
        return false;
    }
    let end = HEADER_LEN + qname.len();
    let Some(name) = resp.get(HEADER_LEN..end) else {
        return false;
    };
    name.eq_ignore_ascii_case(qname)
        && u16_at(resp, end) == Some(qtype)
        && u16_at(resp, end + 2) == Some(qclass)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &[u8], extra: &[u8], ar: u16) -> Vec<u8> {
        let mut p = Vec::new();
        write_header(&mut p, 0x1234, FLAG_RD, [1, 0, 0, ar]);
        p.extend_from_slice(name);
        p.extend_from_slice(&[0, 1, 0, 1]);
        p.extend_from_slice(extra);
        p
    }

    #[test]
    fn parses_question_and_edns() {
        let mut opt = Vec::new();
        write_opt(&mut opt, 4096, 0, true, None);
        let p = query(b"\x03WwW\x07example\x03com\x00", &opt, 1);
        let q = parse_query(&p).expect("valid query");
        assert_eq!(q.id, 0x1234);
        assert_eq!(q.qname, b"\x03WwW\x07example\x03com\x00");
        assert_eq!((q.qtype, q.qclass), (1, 1));
        assert_eq!(
            q.edns,
            Some(Edns {
                payload: 4096,
                dnssec_ok: true,
                version: 0
            })
        );
        let mut text = String::new();
        name_to_text(q.qname, &mut text);
        assert_eq!(text, "www.example.com");
    }

    #[test]
    fn escapes_odd_label_bytes() {
        let mut text = String::new();
        name_to_text(b"\x03a.b\x02\xC3Z\x03com\x00", &mut text);
        assert_eq!(text, "a\\.b.\\195z.com");
        name_to_text(b"\x00", &mut text);
        assert_eq!(text, ".");
    }

    #[test]
    fn rejects_compressed_question_and_double_opt() {
        let p = query(b"\xC0\x0C", &[], 0);
        assert!(matches!(
            parse_query(&p),
            Err(ParseError::Reply {
                rcode: RCODE_FORMERR,
                ..
            })
        ));
        let mut opts = Vec::new();
        write_opt(&mut opts, 1232, 0, false, None);
        write_opt(&mut opts, 1232, 0, false, None);
        let p = query(b"\x01a\x00", &opts, 2);
        assert!(matches!(
            parse_query(&p),
            Err(ParseError::Reply {
                rcode: RCODE_FORMERR,
                ..
            })
        ));
    }

    #[test]
    fn read_name_refuses_forward_and_self_pointers() {
        // A pointer to itself (offset 0) and one pointing forward.
        assert!(read_name(b"\xC0\x00", 0, &mut Vec::new()).is_none());
        assert!(read_name(b"\xC0\x02\x00", 0, &mut Vec::new()).is_none());
        let mut out = Vec::new();
        assert!(read_name(b"\x01A\x00\x01b\xC0\x00", 3, &mut out).is_some());
        assert_eq!(out, b"\x01b\x01a\x00");
    }

    #[test]
    fn text_to_name_round_trips() {
        let wire = text_to_name("ForceSafeSearch.Google.com").expect("valid name");
        let mut text = String::new();
        name_to_text(&wire, &mut text);
        assert_eq!(text, "forcesafesearch.google.com");
        assert!(text_to_name("a..b").is_none());
        assert_eq!(text_to_name(".").as_deref(), Some(&b"\x00"[..]));
    }
}
