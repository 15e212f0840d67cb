//! Copies a child's stdout or stderr into the attempt's log, one line at a time.

use flowctl_engine::job::{LogSink, LogStream};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// Longest log line kept whole: longer lines (a minified JSON dump, a progress bar without
/// newlines) are split into pieces of at most this size so memory stays bounded.
pub(crate) const MAX_LINE_BYTES: usize = 64 * 1024;

/// Reads `reader` to its end, writing each line (without its `\n` or `\r\n`) to `log`.
/// Invalid UTF-8 is replaced with U+FFFD rather than dropping the line.
pub(crate) async fn pump_lines<R>(reader: R, stream: LogStream, log: LogSink) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
{
    let mut reader = BufReader::with_capacity(MAX_LINE_BYTES, reader);
    let mut line = Vec::new();
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            // End of stream: a last line without a trailing newline still counts.
            if !line.is_empty() {
                emit(&mut line, stream, &log);
            }
            return Ok(());
        }
        let room = MAX_LINE_BYTES - line.len();
        let window = &buf[..buf.len().min(room)];
        let newline = window.iter().position(|&b| b == b'\n');
        let taken = newline.unwrap_or(window.len());
        line.extend_from_slice(&window[..taken]);
        reader.consume(taken + usize::from(newline.is_some()));
        if newline.is_some() {
            emit(&mut line, stream, &log);
        } else if line.len() >= MAX_LINE_BYTES {
            // Split a long line, but never inside a UTF-8 sequence: carry its start over.
            let carry = incomplete_utf8_tail(&line);
            let rest = line.split_off(line.len() - carry);
            emit(&mut line, stream, &log);
            line = rest;
        }
    }
}

fn emit(line: &mut Vec<u8>, stream: LogStream, log: &LogSink) {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    log.line(stream, String::from_utf8_lossy(line).into_owned());
    line.clear();
}

/// Length of an incomplete UTF-8 sequence at the end of `bytes` (0 if it ends on a
/// character boundary or with bytes that are invalid anyway).
fn incomplete_utf8_tail(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let byte = bytes[bytes.len() - back];
        if byte & 0b1100_0000 == 0b1000_0000 {
            continue; // a continuation byte: the sequence started earlier
        }
        let needed = match byte {
            0xF0.. => 4,
            0xE0.. => 3,
            0xC0.. => 2,
            _ => 1,
        };
        return if needed > back { back } else { 0 };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pump(bytes: &[u8]) -> Vec<String> {
        let (log, mut rx) = LogSink::channel();
        pump_lines(bytes, LogStream::Stderr, log).await.unwrap();
        let mut lines = Vec::new();
        while let Ok(line) = rx.try_recv() {
            assert_eq!(line.stream, LogStream::Stderr);
            lines.push(line.text);
        }
        lines
    }

    #[tokio::test]
    async fn splits_lines_and_keeps_a_last_unterminated_one() {
        assert_eq!(pump(b"a\r\n\nb\nlast").await, ["a", "", "b", "last"]);
        assert!(pump(b"").await.is_empty());
    }

    #[tokio::test]
    async fn replaces_invalid_utf8() {
        assert_eq!(
            pump(b"ok \xff\xfe done\n").await,
            ["ok \u{FFFD}\u{FFFD} done"]
        );
    }

    #[tokio::test]
    async fn splits_very_long_lines_on_character_boundaries() {
        // One ASCII byte shifts every 2-byte `é` so that a naive split would cut one in half.
        let mut bytes = b"x".to_vec();
        bytes.extend("é".repeat(MAX_LINE_BYTES).as_bytes());
        bytes.extend(b"\nnext\n");
        let lines = pump(&bytes).await;
        assert_eq!(
            lines.len(),
            4,
            "{:?}",
            lines.iter().map(String::len).collect::<Vec<_>>()
        );
        assert!(lines.iter().all(|l| l.len() <= MAX_LINE_BYTES));
        assert!(!lines.concat().contains('\u{FFFD}'));
        assert_eq!(
            lines[..3].concat(),
            format!("x{}", "é".repeat(MAX_LINE_BYTES))
        );
        assert_eq!(lines[3], "next");
    }

    #[test]
    fn finds_incomplete_sequences() {
        assert_eq!(incomplete_utf8_tail(b"ab"), 0);
        assert_eq!(incomplete_utf8_tail("aé".as_bytes()), 0);
        assert_eq!(incomplete_utf8_tail(&"é".as_bytes()[..1]), 1);
        assert_eq!(incomplete_utf8_tail(&"€".as_bytes()[..2]), 2);
        assert_eq!(incomplete_utf8_tail(&"😀".as_bytes()[..3]), 3);
        assert_eq!(incomplete_utf8_tail("😀".as_bytes()), 0);
    }
}
