//! Deterministic pseudo-random robustness test: mutated corpus requests, random bytes and
//! random limits through `parse_head`, and mangled chunked bodies through `ChunkedDecoder`.
//!
//! Beyond "does not panic" it checks the invariants the server relies on: a complete head lies
//! inside the buffer, spans lie inside the head, and the answer does not depend on how the
//! bytes were split (a prefix is `Partial` or fails with the same status).
#![allow(clippy::unwrap_used)]

mod common;

use common::{load_corpus, Rng};
use ferrocorn_proto::http1::{
    parse_head, ChunkedDecoder, HeaderMapPolicy, HttpError, Limits, Parsed, RequestHead, Span,
};

/// `PROTO_FUZZ_SCALE=50 cargo test --release --test never_panics` runs 50 times as many
/// rounds (and `PROTO_FUZZ_SEED` changes the seed) for a longer hunt than CI needs.
fn rounds(base: usize) -> usize {
    let scale = std::env::var("PROTO_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse().ok());
    base * scale.unwrap_or(1)
}

fn seed(base: u64) -> u64 {
    let extra = std::env::var("PROTO_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok());
    base ^ extra.unwrap_or(0).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1
}

/// Bytes that matter to the grammar, so mutations hit interesting paths more often.
const INTERESTING: &[u8] = b"\r\n\r\n \t:;,_-0159aAfF/?#%*=\"\\\x00\x01\x7f\x80\xff";

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], input: &mut Vec<u8>) {
    for _ in 0..=rng.below(4) {
        let len = input.len();
        let byte = if rng.chance(3) {
            rng.next() as u8
        } else {
            INTERESTING[rng.below(INTERESTING.len())]
        };
        match rng.below(8) {
            0 | 1 if len > 0 => input[rng.below(len)] = byte,
            2 => input.insert(rng.below(len + 1), byte),
            3 if len > 0 => {
                let at = rng.below(len);
                let n = rng.below(len - at).min(16);
                input.drain(at..at + n);
            }
            4 if len > 0 => {
                // Duplicate a slice (repeats headers, CRLFs, digits...).
                let at = rng.below(len);
                let n = (rng.below(len - at) + 1).min(40);
                let copy = input[at..at + n].to_vec();
                let to = rng.below(len + 1);
                input.splice(to..to, copy);
            }
            5 if len > 0 => input.truncate(rng.below(len)),
            6 => {
                // Splice in a piece of another seed.
                let other = &seeds[rng.below(seeds.len())];
                if !other.is_empty() {
                    let at = rng.below(other.len());
                    let n = rng.below(other.len() - at) + 1;
                    let to = rng.below(len + 1);
                    input.splice(to..to, other[at..at + n].iter().copied());
                }
            }
            _ => input.extend_from_slice(b"\r\n"),
        }
    }
}

fn random_limits(rng: &mut Rng) -> Limits {
    if rng.chance(3) {
        return Limits::default();
    }
    let small = |rng: &mut Rng| if rng.chance(4) { 0 } else { rng.below(200) };
    Limits {
        max_line: small(rng),
        max_fields: small(rng) / 10,
        max_field_size: small(rng),
        max_body: rng.below(100) as u64,
        permit_obsolete_folding: rng.chance(2),
        permit_unconventional_method: rng.chance(2),
        casefold_method: rng.chance(2),
        strip_header_spaces: rng.chance(2),
        header_map: [
            HeaderMapPolicy::Drop,
            HeaderMapPolicy::Refuse,
            HeaderMapPolicy::Dangerous,
        ][rng.below(3)],
        forwarder_headers: if rng.chance(4) {
            vec![b"X_A".to_vec()]
        } else {
            Vec::new()
        },
    }
}

type Outcome = (Result<Parsed, HttpError>, RequestHead);

fn parse(input: &[u8], limits: &Limits) -> Outcome {
    let mut buf = input.to_vec();
    let mut head = RequestHead::default();
    let result = parse_head(&mut buf, limits, &mut head);
    assert_eq!(buf.len(), input.len());
    if result == Ok(Parsed::Complete) {
        check_complete(&head, &buf, limits, input);
    }
    (result, head)
}

fn check_complete(head: &RequestHead, buf: &[u8], limits: &Limits, input: &[u8]) {
    assert!(
        head.head_len <= buf.len(),
        "head_len beyond buffer: {:?}",
        input.escape_ascii()
    );
    assert!(head.head_len <= limits.max_head_len());
    let inside = |s: Span| s.start <= s.end && s.end as usize <= head.head_len;
    let spans = [head.method, head.target, head.path, head.query];
    assert!(
        spans.iter().all(|&s| inside(s)),
        "span outside head: {head:?}"
    );
    assert!(head.host.map_or(true, inside) && head.authority.map_or(true, inside));
    assert!(head
        .headers
        .iter()
        .all(|h| inside(h.name) && inside(h.value)));
    assert!(!head.method.is_empty() && !head.target.is_empty());
    // Bytes after the head are never touched (they may be the body or the next request).
    assert_eq!(buf[head.head_len..], input[head.head_len..]);
}

/// A prefix must be Partial, or agree with the whole input.
fn check_prefix(input: &[u8], limits: &Limits, whole: &Outcome, k: usize) {
    let prefix = parse(&input[..k], limits);
    let ok = match (&prefix.0, &whole.0) {
        (Ok(Parsed::Partial), Ok(Parsed::Complete)) => k < whole.1.head_len,
        (Ok(Parsed::Partial), _) => true,
        (Err(p), Err(w)) => p.status == w.status,
        (Ok(Parsed::Complete), Ok(Parsed::Complete)) => prefix.1 == whole.1,
        _ => false,
    };
    assert!(
        ok,
        "prefix {k} of {:?} with {limits:?}: {:?} vs whole {:?}",
        input.escape_ascii().to_string(),
        prefix.0,
        whole.0
    );
}

#[test]
fn parse_head_never_panics_and_is_split_invariant() {
    let seeds: Vec<Vec<u8>> = load_corpus().into_iter().map(|c| c.raw).collect();
    let mut rng = Rng(seed(0x9e37_79b9_7f4a_7c15));
    for round in 0..rounds(20_000) {
        let mut input = if round % 10 == 0 {
            (0..rng.below(64)).map(|_| rng.next() as u8).collect()
        } else {
            seeds[rng.below(seeds.len())].clone()
        };
        mutate(&mut rng, &seeds, &mut input);
        let limits = random_limits(&mut rng);
        let whole = parse(&input, &limits);
        for _ in 0..3 {
            let k = rng.below(input.len() + 1);
            check_prefix(&input, &limits, &whole, k);
        }
    }
}

#[test]
fn every_prefix_of_every_mutation_is_consistent() {
    // Fewer inputs, every split point: catches order-of-checks bugs the sampling above misses.
    let seeds: Vec<Vec<u8>> = load_corpus().into_iter().map(|c| c.raw).collect();
    let mut rng = Rng(seed(42));
    for _ in 0..rounds(1_500) {
        let mut input = seeds[rng.below(seeds.len())].clone();
        mutate(&mut rng, &seeds, &mut input);
        let limits = random_limits(&mut rng);
        let whole = parse(&input, &limits);
        for k in 0..=input.len() {
            check_prefix(&input, &limits, &whole, k);
        }
    }
}

/// Decode `input` in pieces whose sizes come from `rng`; returns (body, rest, done) or status.
fn decode_in_pieces(
    input: &[u8],
    max_body: u64,
    rng: &mut Rng,
) -> Result<(Vec<u8>, usize, bool), u16> {
    let mut dec = ChunkedDecoder::new(max_body);
    let mut body = Vec::new();
    let mut start = 0; // first unconsumed byte of input
    let mut avail = 0; // bytes of input "received" so far
    loop {
        let window = &input[start..avail];
        let step = dec.decode(window).map_err(|e| e.status)?;
        assert!(step.consumed <= window.len());
        assert!(step.data.start <= step.data.end && step.data.end == step.consumed);
        body.extend_from_slice(&window[step.data.clone()]);
        start += step.consumed;
        if step.done {
            assert!(dec.is_done());
            return Ok((body, start, true));
        }
        if step.data.is_empty() {
            if avail == input.len() {
                return Ok((body, start, false));
            }
            avail = (avail + 1 + rng.below(8)).min(input.len());
        }
    }
}

fn random_chunked(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.below(5) {
        let n = rng.below(20) + 1;
        out.extend_from_slice(format!("{n:x}").as_bytes());
        if rng.chance(4) {
            out.extend_from_slice(b";ext=1");
        }
        out.extend_from_slice(b"\r\n");
        out.extend((0..n).map(|_| b'a' + rng.below(26) as u8));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n");
    if rng.chance(3) {
        out.extend_from_slice(b"X-Trailer: 1\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[test]
fn chunked_decoder_never_panics_and_is_split_invariant() {
    let mut rng = Rng(seed(7));
    let seeds: Vec<Vec<u8>> = (0..50).map(|_| random_chunked(&mut rng)).collect();
    for round in 0..rounds(20_000) {
        let mut input = if round % 10 == 0 {
            (0..rng.below(64)).map(|_| rng.next() as u8).collect()
        } else {
            seeds[rng.below(seeds.len())].clone()
        };
        if round % 5 != 1 {
            mutate(&mut rng, &seeds, &mut input);
        }
        let max_body = if rng.chance(2) {
            0
        } else {
            rng.below(80) as u64
        };
        let a = decode_in_pieces(&input, max_body, &mut rng);
        let b = decode_in_pieces(&input, max_body, &mut rng);
        assert_eq!(a, b, "{:?}", input.escape_ascii().to_string());
        let mut whole = ChunkedDecoder::new(max_body);
        let _ = whole.decode(&input);
    }
}
