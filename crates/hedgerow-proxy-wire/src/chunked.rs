//! An incremental decoder for the chunked transfer coding (RFC 9112 §7.1), fed whatever
//! bytes have arrived. Chunk extensions are skipped and trailer fields are dropped: the
//! proxy re-frames the body it forwards, and no browser-facing feature needs either.

/// Limits for the parts of a chunked body that are not data. The data itself is not
/// limited here; the proxy decides how much body it will pass or buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLimits {
    /// One chunk-size line including extensions, without CRLF. Extensions are otherwise an
    /// unbounded place to make the decoder spin without producing data.
    pub max_size_line: usize,
    /// The whole trailer section, including line endings.
    pub max_trailer: usize,
}

impl Default for ChunkLimits {
    fn default() -> Self {
        ChunkLimits {
            max_size_line: 4096,
            max_trailer: 8 * 1024,
        }
    }
}

/// Why a chunked body was refused. Once `feed` has returned an error the decoder keeps
/// returning it: the stream is out of step and nothing after it can be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("chunk size is not a hexadecimal number")]
    InvalidSize,
    #[error("chunk size does not fit in 64 bits")]
    SizeOverflow,
    #[error("chunk-size line is longer than {limit} bytes")]
    SizeLineTooLong { limit: usize },
    #[error("control character in a chunk extension")]
    BadExtension,
    #[error("CR not followed by LF")]
    BareCarriageReturn,
    #[error("line ends with a bare LF instead of CRLF")]
    BareLineFeed,
    #[error("chunk data is not followed by CRLF")]
    MissingCrlfAfterData,
    #[error("trailer section is longer than {limit} bytes")]
    TrailerTooLarge { limit: usize },
    #[error("control character in a trailer field")]
    BadTrailer,
}

/// What one call to [`ChunkedDecoder::feed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the input used. Less than the input only when the body ended: whatever
    /// follows belongs to the next message on the connection.
    pub consumed: usize,
    /// The last chunk and the trailer section have been read.
    pub done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size {
        size: u64,
        digits: usize,
    },
    /// Whitespace after the size, which may only lead to an extension.
    SizeSpace {
        size: u64,
    },
    Extension {
        size: u64,
    },
    SizeLf {
        size: u64,
    },
    Data {
        remaining: u64,
    },
    DataCr,
    DataLf,
    Trailer {
        line_len: usize,
    },
    TrailerLf {
        empty_line: bool,
    },
    Done,
}

/// Decodes one chunked body.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    limits: ChunkLimits,
    state: State,
    size_line: usize,
    trailer: usize,
    failed: Option<ChunkError>,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        Self::with_limits(ChunkLimits::default())
    }

    pub fn with_limits(limits: ChunkLimits) -> Self {
        ChunkedDecoder {
            limits,
            state: State::Size { size: 0, digits: 0 },
            size_line: 0,
            trailer: 0,
            failed: None,
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes as much of `input` as possible, appending chunk data to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Progress, ChunkError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let mut pos = 0;
        while let Some(rest) = input.get(pos..).filter(|r| !r.is_empty()) {
            match self.state {
                State::Done => break,
                State::Data { remaining } => {
                    let take = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(rest.len());
                    out.extend_from_slice(rest.get(..take).unwrap_or_default());
                    pos += take;
                    let remaining = remaining - take as u64;
                    self.state = if remaining == 0 {
                        State::DataCr
                    } else {
                        State::Data { remaining }
                    };
                }
                _ => {
                    let byte = rest.first().copied().unwrap_or_default();
                    pos += 1;
                    if let Err(error) = self.step(byte) {
                        self.failed = Some(error.clone());
                        return Err(error);
                    }
                }
            }
        }
        Ok(Progress {
            consumed: pos,
            done: self.is_done(),
        })
    }

    fn step(&mut self, byte: u8) -> Result<(), ChunkError> {
        if matches!(
            self.state,
            State::Size { .. } | State::SizeSpace { .. } | State::Extension { .. }
        ) {
            self.size_line += 1;
            if self.size_line > self.limits.max_size_line {
                return Err(ChunkError::SizeLineTooLong {
                    limit: self.limits.max_size_line,
                });
            }
        }
        if matches!(self.state, State::Trailer { .. } | State::TrailerLf { .. }) {
            self.trailer += 1;
            if self.trailer > self.limits.max_trailer {
                return Err(ChunkError::TrailerTooLarge {
                    limit: self.limits.max_trailer,
                });
            }
        }
        self.state = match (self.state, byte) {
            (State::Size { size, digits }, b) if b.is_ascii_hexdigit() => {
                let digit = u64::from(hex_value(b));
                let size = size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(digit))
                    .ok_or(ChunkError::SizeOverflow)?;
                State::Size {
                    size,
                    digits: digits + 1,
                }
            }
            (State::Size { digits: 0, .. }, _) => return Err(ChunkError::InvalidSize),
            (State::Size { size, .. } | State::SizeSpace { size }, b' ' | b'\t') => {
                State::SizeSpace { size }
            }
            (State::Size { size, .. } | State::SizeSpace { size }, b';') => {
                State::Extension { size }
            }
            (State::Size { size, .. } | State::Extension { size }, b'\r') => State::SizeLf { size },
            (State::Size { .. } | State::SizeSpace { .. }, _) => {
                return Err(ChunkError::InvalidSize);
            }
            (State::Extension { .. }, b'\n') => return Err(ChunkError::BareLineFeed),
            (State::Extension { size }, b) if b == b'\t' || b >= 0x20 && b != 0x7f => {
                State::Extension { size }
            }
            (State::Extension { .. }, _) => return Err(ChunkError::BadExtension),
            (State::SizeLf { size }, b'\n') => {
                self.size_line = 0;
                if size == 0 {
                    State::Trailer { line_len: 0 }
                } else {
                    State::Data { remaining: size }
                }
            }
            (State::TrailerLf { empty_line: true }, b'\n') => State::Done,
            (State::TrailerLf { empty_line: false }, b'\n') => State::Trailer { line_len: 0 },
            (State::SizeLf { .. } | State::TrailerLf { .. }, _) => {
                return Err(ChunkError::BareCarriageReturn);
            }
            (State::DataCr, b'\r') => State::DataLf,
            (State::DataLf, b'\n') => State::Size { size: 0, digits: 0 },
            (State::DataCr | State::DataLf, _) => return Err(ChunkError::MissingCrlfAfterData),
            (State::Trailer { line_len }, b'\r') => State::TrailerLf {
                empty_line: line_len == 0,
            },
            (State::Trailer { .. }, b'\n') => return Err(ChunkError::BareLineFeed),
            (State::Trailer { line_len }, b) if b == b'\t' || b >= 0x20 && b != 0x7f => {
                State::Trailer {
                    line_len: line_len + 1,
                }
            }
            (State::Trailer { .. }, _) => return Err(ChunkError::BadTrailer),
            // `feed` handles these without calling `step`.
            (State::Data { .. } | State::Done, _) => self.state,
        };
        Ok(())
    }
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}
