//! Incremental framing of JSON-RPC messages on an OVSDB byte stream.
//!
//! OVSDB (RFC 7047 §4) sends JSON objects back to back with no length prefix and no delimiter, and
//! a read may end anywhere inside one. [`FrameDecoder`] accumulates bytes and cuts complete
//! top-level objects out by tracking brace depth, skipping braces inside strings (and escaped
//! quotes inside strings). Because every structural character is ASCII and UTF-8 continuation
//! bytes are all ≥ 0x80, scanning bytes is safe for multi-byte text. Scanning resumes where it
//! stopped, so a large message arriving in many reads is scanned once.

use serde_json::Value as Json;

/// A byte stream that is not a sequence of JSON objects.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A message grew beyond the configured limit before it was complete.
    #[error("message exceeds {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Something other than `{` or whitespace appeared between messages.
    #[error("unexpected byte {byte:#04x} between messages")]
    NotAnObject {
        /// The offending byte.
        byte: u8,
    },
    /// A balanced `{…}` was not valid JSON.
    #[error("malformed JSON message")]
    Json(#[source] serde_json::Error),
}

/// Splits a byte stream into JSON objects. Feed it with [`FrameDecoder::extend`], then call
/// [`FrameDecoder::next_frame`] until it returns `Ok(None)`.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Index of the next byte to scan.
    pos: usize,
    /// Index of the `{` that starts the current message, once seen.
    start: Option<usize>,
    depth: usize,
    in_string: bool,
    escaped: bool,
    max_len: usize,
}

impl FrameDecoder {
    /// A decoder refusing messages longer than `max_len` bytes.
    pub fn new(max_len: usize) -> Self {
        Self {
            buf: Vec::new(),
            pos: 0,
            start: None,
            depth: 0,
            in_string: false,
            escaped: false,
            max_len,
        }
    }

    /// Appends bytes read from the stream.
    pub fn extend(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Number of buffered bytes not yet returned as messages.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete message, `Ok(None)` if more bytes are needed. After an error the stream
    /// is unusable and should be closed.
    pub fn next_frame(&mut self) -> Result<Option<Json>, FrameError> {
        while self.pos < self.buf.len() {
            let byte = self.buf[self.pos];
            self.pos += 1;
            if self.start.is_none() {
                match byte {
                    b' ' | b'\t' | b'\r' | b'\n' => continue,
                    b'{' => {
                        self.start = Some(self.pos - 1);
                        self.depth = 1;
                        continue;
                    }
                    byte => return Err(FrameError::NotAnObject { byte }),
                }
            }
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if byte == b'\\' {
                    self.escaped = true;
                } else if byte == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match byte {
                b'"' => self.in_string = true,
                b'{' => self.depth += 1,
                b'}' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        let start = self.start.take().expect("inside a message");
                        let parsed = serde_json::from_slice(&self.buf[start..self.pos]);
                        self.buf.drain(..self.pos);
                        self.pos = 0;
                        return parsed.map(Some).map_err(FrameError::Json);
                    }
                }
                _ => {}
            }
        }
        let pending = self.start.map_or(0, |s| self.buf.len() - s);
        if pending > self.max_len {
            return Err(FrameError::TooLarge { limit: self.max_len });
        }
        if self.start.is_none() {
            // Only whitespace is buffered; drop it.
            self.buf.clear();
            self.pos = 0;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn all_frames(dec: &mut FrameDecoder) -> Vec<Json> {
        let mut out = Vec::new();
        while let Some(v) = dec.next_frame().unwrap() {
            out.push(v);
        }
        out
    }

    #[test]
    fn back_to_back_objects_split_at_every_byte_boundary() {
        let messages = vec![
            json!({"id": 1, "result": {"a": [1, 2, {"b": "}"}]}, "error": null}),
            json!({"method": "echo", "params": ["{\"quoted\\\\\" }", "ünï{cødé}"], "id": "x"}),
            json!({"s": "\\", "t": "\\\"{", "u": {}}),
            json!({}),
        ];
        let mut stream = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            stream.extend(serde_json::to_vec(m).unwrap());
            if i % 2 == 0 {
                stream.extend(b" \n");
            }
        }
        for chunk in 1..=stream.len() {
            let mut dec = FrameDecoder::new(1 << 20);
            let mut got = Vec::new();
            for piece in stream.chunks(chunk) {
                dec.extend(piece);
                got.extend(all_frames(&mut dec));
            }
            assert_eq!(got, messages, "chunk size {chunk}");
            assert_eq!(dec.buffered(), 0);
        }
    }

    #[test]
    fn garbage_between_messages_is_an_error() {
        let mut dec = FrameDecoder::new(1024);
        dec.extend(b"{\"a\":1}[1]");
        assert_eq!(dec.next_frame().unwrap(), Some(json!({"a": 1})));
        assert!(matches!(dec.next_frame(), Err(FrameError::NotAnObject { byte: b'[' })));
    }

    #[test]
    fn balanced_but_invalid_json_is_an_error() {
        let mut dec = FrameDecoder::new(1024);
        dec.extend(b"{\"a\" 1}");
        assert!(matches!(dec.next_frame(), Err(FrameError::Json(_))));
    }

    #[test]
    fn oversized_messages_are_refused() {
        let mut dec = FrameDecoder::new(8);
        dec.extend(b"{\"abcdefghij\":");
        assert!(matches!(dec.next_frame(), Err(FrameError::TooLarge { limit: 8 })));
    }
}
